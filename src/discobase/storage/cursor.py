"""``TableCursor``: one table's state in memory, kept in step with Discord.

State: every live record as its JSON text, keyed by record id, plus hash
indexes on every field (built on first use, then maintained). Writes go
through **group commit**: concurrent operations on a table are packed into one
message per data channel; each caller resumes when Discord acknowledged the
message that carries its operation. A record always goes to the same data
channel (``id % channels``), so its operations are totally ordered by message
id, which is also how every process resolves them.

Open = newest snapshot (index channel) + replay of the data messages after the
snapshot's high-water marks. Gateway events keep the state coherent with other
processes; own writes are deduplicated by message id.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DiscobaseError,
    MigrationError,
    UniqueViolationError,
)
from discobase.storage.codec import Codec, CodecError, Op
from discobase.storage.ids import IdGenerator
from discobase.storage.indexes import TableIndexes, index_key
from discobase.storage.transport import HISTORY_PAGE, MessageEvent, RawAttachment, RawMessage, Transport

if TYPE_CHECKING:
    from discobase.query import Condition
    from discobase.table import Table, TableOptions

__all__ = ["TableCursor", "TableMeta", "index_key"]

M = TypeVar("M", bound="Table")

#: Operations packed into one message at most (besides the byte budget).
MAX_OPS_PER_MESSAGE = 100_000
#: How long a write on a table with unique constraints waits for its own
#: gateway echo (which orders it among other processes' writes) before it
#: reads the channel's history instead.
ECHO_TIMEOUT = 2.0
#: Results of recently applied messages, for writers waiting on their echo.
RECENT_RESULTS = 2048


@dataclass
class TableMeta:
    """A table's entry in the ``_dbmetadata`` catalog."""

    name: str
    data_channels: list[int]
    index_channel: int
    fields: list[str] = field(default_factory=list)
    schema_hash: str = ""
    schema_version: int = 1
    json_schema: dict[str, Any] = field(default_factory=dict)
    message_id: int | None = None
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)  # field summaries (discobase.schema)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_channels": [str(c) for c in self.data_channels],
            "index_channel": str(self.index_channel),
            "fields": self.fields,
            "schema_hash": self.schema_hash,
            "schema_version": self.schema_version,
            "json_schema": self.json_schema,
            "schema": self.schema,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], message_id: int | None = None) -> TableMeta:
        return cls(
            name=str(data["name"]),
            data_channels=[int(c) for c in data["data_channels"]],
            index_channel=int(data["index_channel"]),
            fields=[str(f) for f in data.get("fields", [])],
            schema_hash=str(data.get("schema_hash", "")),
            schema_version=int(data.get("schema_version", 1)),
            json_schema=dict(data.get("json_schema", {})),
            message_id=message_id,
            schema=dict(data.get("schema", {})),
        )


@dataclass(slots=True)
class _Pending:
    op: Op
    future: asyncio.Future[str | None]


class _Progress:
    """Progress of a long operation: a rich bar (``True``), a callback, or nothing."""

    def __init__(self, progress: bool | Callable[[int, int], object], total: int, label: str) -> None:
        self.total = total
        self.done = 0
        self.callback = progress if callable(progress) else None
        self.bar: Any = None
        self.task: Any = None
        if progress is True:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        if self.callback is not None:
            self.callback(self.done, self.total)


def _nothing_after(listed: Mapping[int, int | None] | None, channel_id: int, mark: int) -> bool:
    """Whether ``listed`` shows that ``channel_id`` has no message newer than ``mark``."""
    if listed is None or channel_id not in listed:
        return False
    last = listed[channel_id]
    return last is None or last <= mark


class TableCursor:
    """State and storage of one table (see the module docstring)."""

    def __init__(
        self,
        *,
        model: type[Table],
        meta: TableMeta,
        transport: Transport,
        codec: Codec,
        ids: IdGenerator,
        snapshot_every: int = 5000,
        compaction: bool = True,
        options: TableOptions | None = None,
    ) -> None:
        self.model = model
        self.meta = meta
        self.name = meta.name
        self.transport = transport
        self.codec = codec
        self.ids = ids
        self.snapshot_every = snapshot_every
        self.compaction = compaction
        self.records: dict[int, str] = {}
        self.versions: dict[int, int] = {}  # record id -> id of the message of its last operation
        self.problems: list[DatabaseCorruptionError] = []
        self.indexes = TableIndexes(
            model,
            meta.name,
            options.indexes if options is not None else (),
            options.unique if options is not None else (),
        )
        # Writes to tables with unique constraints take effect in message order
        # (their own gateway echo), so every process resolves conflicts alike.
        self.ordered = bool(self.indexes.unique)
        self._results: dict[int, list[str | None]] = {}
        self._sending: dict[int, asyncio.Future[None]] = {}  # channel -> send in flight
        self._echo: dict[int, asyncio.Future[list[str | None]]] = {}
        self._reserved: dict[tuple[tuple[str, ...], tuple[Hashable, ...]], int] = {}
        self._applied: set[int] = set()  # data message ids already applied
        self._confirmed: dict[int, int] = dict.fromkeys(meta.data_channels, 0)  # scanned through, per channel
        self._queues: dict[int, deque[_Pending]] = {c: deque() for c in meta.data_channels}
        self._writers: dict[int, asyncio.Task[None]] = {}
        self._buffer: list[MessageEvent] | None = []  # events that arrive before it is open
        self._holding = False  # the buffer holds events while resync() replays a gap
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        self._snapshot_task: asyncio.Task[None] | None = None
        self._snapshot_starts: list[int] = []  # first message id of each known snapshot, oldest first
        self._previous_hw: dict[int, int] = {}
        self._closed = False

    # ------------------------------------------------------------------ open
    def keep(self, events: Sequence[MessageEvent]) -> None:
        """Events of this table's channels received before the cursor existed:
        applied after the open, like those that arrive during it."""
        if self._buffer is None:
            raise DatabaseStorageError("the table is already open", table=self.name)
        self._buffer[:0] = events

    async def open(self, listed: Mapping[int, int | None] | None = None) -> None:
        """Load the newest snapshot, then replay the data channels after it.

        ``listed`` maps channel ids to their last message id, from a channel
        list read before any event of theirs could be missed: a channel whose
        last message is not newer than what the cursor has is not read (an
        index channel without any message holds no snapshot).
        """
        if self._buffer is None:
            raise DatabaseStorageError("the table is already open", table=self.name)
        if not _nothing_after(listed, self.meta.index_channel, 0):
            await self._load_snapshot()
        self.indexes.load_unique(self.records)
        for channel_id in self.meta.data_channels:
            if not _nothing_after(listed, channel_id, self._confirmed[channel_id]):
                await self._catch_up(channel_id)
        buffered, self._buffer = self._buffer, None
        for event in buffered:
            await self.on_event(event)
        logger.debug("opened table {} with {} records", self.name, len(self.records))

    async def _read(self, attachment: RawAttachment) -> bytes:
        return await self.transport.read_attachment(attachment)

    async def _load_snapshot(self) -> None:
        page = await self.transport.history(self.meta.index_channel, limit=HISTORY_PAGE)
        by_id = {m.id: m for m in page}
        for message in reversed(page):
            if not self.codec.is_snapshot_manifest(message.content):
                continue
            try:
                meta, part_ids = await self.codec.decode_manifest(message, self._read)
                parts: list[RawMessage] = []
                for part_id in part_ids:
                    part = by_id.get(part_id) or await self.transport.fetch(self.meta.index_channel, part_id)
                    if part is None:
                        raise CodecError(f"snapshot part {part_id} is missing")
                    parts.append(part)
                records = await self.codec.decode_snapshot_parts(parts, self._read)
            except CodecError as error:
                self._problem(self.meta.index_channel, message.id, f"unreadable snapshot: {error}")
                continue
            hw = {int(k): int(v) for k, v in dict(meta.get("hw", {})).items()}
            for rid, data in records:
                self.records[rid] = data
                self.versions[rid] = hw.get(self._channel_of(rid), 0)
            for channel_id in self.meta.data_channels:
                self._confirmed[channel_id] = hw.get(channel_id, 0)
            self._previous_hw = hw
            self._snapshot_starts = [min([*part_ids, message.id])]
            logger.debug("table {}: snapshot {} with {} records", self.name, message.id, len(self.records))
            return

    async def _catch_up(self, channel_id: int) -> int:
        """Replay every message after the confirmed mark; returns the newest id seen."""
        after = self._confirmed[channel_id]
        while True:
            page = await self.transport.history(channel_id, after=after, limit=HISTORY_PAGE)
            for message in page:
                await self._apply_message(message)
                after = message.id
            if len(page) < HISTORY_PAGE:
                break
        self._confirmed[channel_id] = max(self._confirmed[channel_id], after)
        return after

    def _problem(self, channel_id: int, message_id: int, what: str) -> None:
        error = DatabaseCorruptionError(
            f"message {message_id} in channel {channel_id} of table {self.name!r} is not discobase data "
            f"({what}); it was skipped. Remove it, or restore the table from a backup.",
            table=self.name,
            channel=channel_id,
        )
        logger.warning("{}", error)
        self.problems.append(error)

    # ------------------------------------------------------------------ applying operations
    def _channel_of(self, rid: int) -> int:
        channels = self.meta.data_channels
        return channels[rid % len(channels)]

    async def _apply_message(self, message: RawMessage) -> None:
        if message.id in self._applied or message.channel_id not in self._queues:
            return
        if not self.codec.is_batch(message.content):
            self._applied.add(message.id)
            self._problem(message.channel_id, message.id, "foreign content")
            return
        try:
            _, ops = await self.codec.decode_batch(message, self._read)
        except CodecError as error:
            self._applied.add(message.id)
            self._problem(message.channel_id, message.id, str(error))
            return
        self._apply_ops(message.channel_id, message.id, ops)

    def _apply_ops(self, channel_id: int, message_id: int, ops: Sequence[Op]) -> list[str | None]:
        """Apply a message's operations (once); per operation None if it took
        effect, else why not (``stale``, ``missing``, ``unique:<fields>``)."""
        if message_id in self._applied:
            return self._results.get(message_id, [None] * len(ops))
        self._applied.add(message_id)
        results = [self._apply(op, message_id) for op in ops]
        self._ops_since_snapshot += len(ops)
        self._messages_since_snapshot += 1
        if self.ordered:
            self._results[message_id] = results
            if len(self._results) > RECENT_RESULTS:
                del self._results[next(iter(self._results))]
            waiter = self._echo.pop(message_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(results)
        return results

    def _apply(self, op: Op, version: int) -> str | None:
        rid = op.rid
        if self.versions.get(rid, 0) >= version:
            return "stale"  # an older operation arriving late
        indexes = self.indexes
        old = self.records.get(rid)
        if op.kind == "d":
            self.versions[rid] = version
            if old is None:
                return "missing"
            del self.records[rid]
            if indexes.active:
                indexes.remove(rid, json.loads(old))
            return None
        if op.kind == "u" and old is None:
            return "missing"  # updating a record that was deleted meanwhile
        if op.kind == "i" and rid in self.versions and old is None:
            return "missing"  # inserting over a tombstone
        assert op.data is not None
        values = json.loads(op.data) if indexes.active else None
        if values is not None and indexes.unique:
            clash = indexes.conflict(rid, values)
            if clash is not None:
                return "unique:" + ",".join(clash[0])  # the earlier message holds the value
        self.versions[rid] = version
        if old is not None and values is not None:
            indexes.remove(rid, json.loads(old))
        self.records[rid] = op.data
        if values is not None:
            indexes.add(rid, values)
        return None

    def query_key(self, model: type[Table], name: str, value: Any) -> Hashable:
        """The index key of ``value`` for field ``name``, validated and
        serialized exactly as a stored record's field would be."""
        probe = model.model_construct()
        model.__pydantic_validator__.validate_assignment(probe, name, value)
        dumped = json.loads(probe.model_dump_json(include={name}))
        return self.indexes.key(name, dumped.get(name))

    def find(self, model: type[M], filters: dict[str, Any]) -> list[M]:
        """Records whose fields equal every filter (AND), oldest record first."""
        unknown = [name for name in filters if name not in model.model_fields]
        if unknown:
            raise DatabaseLookupError(
                f"{model.__name__} has no field {unknown[0]!r}; its fields are {sorted(model.model_fields)}",
                table=self.name,
                field=unknown[0],
            )
        if not filters:
            ids: Iterable[int] = sorted(self.records)
        else:
            self.indexes.build(self.records)
            indexes = self.indexes.hash
            assert indexes is not None
            buckets = []
            for name, value in filters.items():
                buckets.append(indexes[name].get(self.query_key(model, name, value), set()))
            buckets.sort(key=len)
            ids = sorted(set(buckets[0]).intersection(*buckets[1:]))
        return [self.materialize(model, rid) for rid in ids]

    def _candidates(self, model: type[Table], condition: Condition) -> set[int] | None:
        """Record ids a hash index gives for ``condition`` exactly, or None (no usable index;
        ranges on sorted indexes are planned in :meth:`_plan`)."""
        field = condition.field
        if field is None or len(field.path) != 1:
            return None
        name = field.path[0]
        self.indexes.build(self.records)
        hashes = self.indexes.hash
        assert hashes is not None
        if condition.op in ("eq", "is_none"):
            return set(hashes[name].get(self.query_key(model, name, condition.value), ()))
        if condition.op == "in":
            found: set[int] = set()
            for value in condition.value:
                found |= hashes[name].get(self.query_key(model, name, value), set())
            return found
        return None

    def _plan(
        self, model: type[Table], conditions: Sequence[Condition]
    ) -> tuple[set[int] | None, list[Condition]]:
        """Candidate ids from every condition an index answers exactly (intersected;
        range conditions on one sorted field become one interval), and the
        conditions left to check on the candidates."""
        conjuncts = [part for condition in conditions for part in condition.conjuncts()]
        candidates: set[int] | None = None
        residual: list[Condition] = []
        self.indexes.build(self.records)
        ranges = self.indexes.sorted or {}
        bounds: dict[str, list[tuple[Any, bool] | None]] = {}
        for condition in conjuncts:
            field = condition.field
            if (
                field is not None
                and len(field.path) == 1
                and field.path[0] in ranges
                and condition.op in ("lt", "le", "gt", "ge")
                and condition.value is not None
            ):
                lower, upper = bounds.setdefault(field.path[0], [None, None])
                inclusive = condition.op in ("le", "ge")
                bound = (condition.value, inclusive)
                try:
                    if condition.op in ("gt", "ge"):
                        if lower is None or (bound[0], not inclusive) > (lower[0], not lower[1]):
                            bounds[field.path[0]][0] = bound
                    elif upper is None or (bound[0], inclusive) < (upper[0], upper[1]):
                        bounds[field.path[0]][1] = bound
                    continue
                except TypeError:  # bounds that do not compare: check the condition record by record
                    residual.append(condition)
                    continue
            ids = self._candidates(model, condition)
            if ids is None:
                residual.append(condition)
            elif candidates is None:
                candidates = ids
            else:
                candidates &= ids
        for name, (lower, upper) in bounds.items():
            found = ranges[name].between(lower, upper)
            if found is None:
                residual.extend(
                    c
                    for c in conjuncts
                    if c.field is not None and c.field.path == (name,) and c.op in ("lt", "le", "gt", "ge")
                )
                continue
            candidates = set(found) if candidates is None else candidates & set(found)
        if candidates is None and conjuncts:
            logger.debug(
                "table {}: no index for {}; scanning {} records", self.name, conjuncts, len(self.records)
            )
        return candidates, residual

    def select(
        self, model: type[M], conditions: Sequence[Condition], stop_after: int | None = None
    ) -> list[M]:
        """Records matching every condition, oldest record first; at most
        ``stop_after`` of them when given."""
        candidates, residual = self._plan(model, conditions)
        ids = sorted(self.records if candidates is None else candidates)
        found: list[M] = []
        for rid in ids:
            if stop_after is not None and len(found) >= stop_after:
                break
            instance = self.materialize(model, rid)
            if all(condition.matches(instance) for condition in residual):
                found.append(instance)
        return found

    def count(self, model: type[Table], conditions: Sequence[Condition]) -> int:
        """How many records match, without building them when the indexes answer alone."""
        candidates, residual = self._plan(model, conditions)
        if not residual:
            return len(self.records) if candidates is None else len(candidates)
        return len(self.select(model, conditions))

    def materialize(self, model: type[M], rid: int) -> M:
        instance = model.model_validate_json(self.records[rid])
        instance._disco_id = rid
        return instance

    # ------------------------------------------------------------------ writes
    def _serialize(self, instance: Table) -> str:
        """The record's JSON, refused (before anything is sent) unless it reads
        back: a record that does not validate would make every ``find`` that
        meets it raise. Pydantic writes a few such values, e.g. ints over 4300
        digits, or ``nan`` in a nested model without ``ser_json_inf_nan``."""
        model = type(instance)
        if model.__disco_json_reads_back__:
            return instance.model_dump_json()
        try:
            data = instance.model_dump_json()
            model.model_validate_json(data)
        except Exception as error:
            raise DatabaseStorageError(
                f"this {model.__name__} cannot be stored: its JSON would not read back ({error})",
                table=self.name,
            ) from error
        return data

    def _violation(self, fields: tuple[str, ...], value: tuple[Any, ...]) -> UniqueViolationError:
        shown = value[0] if len(value) == 1 else value
        names = fields[0] if len(fields) == 1 else fields
        return UniqueViolationError(
            f"table {self.name!r} already has a record with {names} = {shown!r}",
            fields=fields,
            value=shown,
            table=self.name,
        )

    def _reserve(self, rid: int, data: str) -> list[tuple[tuple[str, ...], tuple[Hashable, ...]]]:
        """Check unique constraints against stored records and writes in flight;
        reserve this write's values until it lands. Raises before any request."""
        indexes = self.indexes
        if not indexes.unique:
            return []
        values = json.loads(data)
        clash = indexes.conflict(rid, values)
        if clash is not None:
            raise self._violation(*clash)
        keys = []
        for fields in indexes.unique:
            key = (fields, indexes.unique_key(fields, values))
            holder = self._reserved.get(key)
            if holder is not None and holder != rid:
                raise self._violation(fields, tuple(values.get(name) for name in fields))
            keys.append(key)
        for key in keys:
            self._reserved[key] = rid
        return keys

    def _release(self, keys: list[tuple[tuple[str, ...], tuple[Hashable, ...]]], rid: int) -> None:
        for key in keys:
            if self._reserved.get(key) == rid:
                del self._reserved[key]

    def _check_result(self, result: str | None, rid: int, data: str | None) -> None:
        if result is None:
            return
        if result.startswith("unique:"):
            fields = tuple(result[len("unique:") :].split(","))
            values = json.loads(data) if data is not None else {}
            raise self._violation(fields, tuple(values.get(name) for name in fields))
        if result == "missing":
            raise DatabaseLookupError(f"record {rid} was deleted before this write landed", table=self.name)

    async def _write(self, op: Op) -> str | None:
        keys = self._reserve(op.rid, op.data) if op.data is not None else []
        try:
            return await self._submit(op)
        finally:
            self._release(keys, op.rid)

    async def insert(self, instance: M) -> M:
        rid = self.ids.next()
        data = self._serialize(instance)
        self._check_result(await self._write(Op("i", rid, data)), rid, data)
        instance._disco_id = rid
        return instance

    async def update(self, instance: M) -> M:
        rid = instance._disco_id
        if rid not in self.records:
            raise DatabaseLookupError(f"record {rid} does not exist (was it deleted?)", table=self.name)
        data = self._serialize(instance)
        self._check_result(await self._write(Op("u", rid, data)), rid, data)
        return instance

    async def delete(self, instance: Table) -> None:
        rid = instance._disco_id
        await self._submit(Op("d", rid, None))
        instance._disco_id = -1

    async def insert_many(
        self, instances: Sequence[Table], *, progress: bool | Callable[[int, int], object] = False
    ) -> None:
        """Insert new records concurrently, so group commit packs them into few
        messages; raises the first record's error once every write has settled."""
        for error in await self.insert_each(instances, progress=progress):
            if error is not None:
                raise error

    async def insert_each(
        self, instances: Sequence[Table], *, progress: bool | Callable[[int, int], object] = False
    ) -> list[DiscobaseError | None]:
        """Insert new records concurrently; per record, ``None`` when it was
        stored or the error that kept it out (a batch can fail part-way).
        Unique constraints are checked before anything is sent, and a
        violation there is raised."""
        total = len(instances)
        rids = [self.ids.next() for _ in instances]
        datas = [self._serialize(instance) for instance in instances]
        if self.indexes.unique:  # check the batch against itself and the table before sending anything
            seen: dict[tuple[tuple[str, ...], tuple[Hashable, ...]], int] = {}
            for rid, data in zip(rids, datas, strict=True):
                values = json.loads(data)
                clash = self.indexes.conflict(rid, values)
                if clash is not None:
                    raise self._violation(*clash)
                for fields in self.indexes.unique:
                    key = (fields, self.indexes.unique_key(fields, values))
                    if key in seen or key in self._reserved:
                        raise self._violation(fields, tuple(values.get(name) for name in fields))
                    seen[key] = rid
        keys: list[tuple[tuple[str, ...], tuple[Hashable, ...]]] = []
        if self.indexes.unique:
            for rid, data in zip(rids, datas, strict=True):
                values = json.loads(data)
                for fields in self.indexes.unique:
                    key = (fields, self.indexes.unique_key(fields, values))
                    self._reserved[key] = rid
                    keys.append(key)
        outcomes: list[DiscobaseError | None] = []
        try:
            with _Progress(progress, total, f"inserting into {self.name}") as report:
                futures = self._enqueue([Op("i", rid, data) for rid, data in zip(rids, datas, strict=True)])
                for instance, rid, data, future in zip(instances, rids, datas, futures, strict=True):
                    try:
                        self._check_result(await future, rid, data)
                    except DiscobaseError as error:
                        outcomes.append(error)
                    else:
                        instance._disco_id = rid
                        outcomes.append(None)
                    report.advance()
        finally:
            for key in keys:
                self._reserved.pop(key, None)
        return outcomes

    async def rewrite(
        self, transform: Callable[[dict[str, Any]], dict[str, Any]], *, progress: bool = False
    ) -> int:
        """Write every record again as ``transform(old record as a dict)``,
        validated by the model (a record migration). Returns how many changed."""
        ops = []
        for rid, data in list(self.records.items()):
            try:
                new = self.model.model_validate(transform(json.loads(data)))
            except Exception as error:
                raise MigrationError(
                    f"record migration of table {self.name!r} failed on record {rid}: {error}",
                    table=self.name,
                ) from error
            text = self._serialize(new)
            if text != data:
                ops.append(Op("u", rid, text))
        with _Progress(progress, len(ops), f"migrating {self.name}") as report:
            for future in self._enqueue(ops):
                await future
                report.advance()
        logger.info("table {}: record migration rewrote {} records", self.name, len(ops))
        return len(ops)

    async def delete_many(self, instances: Sequence[Table]) -> int:
        futures = self._enqueue([Op("d", i._disco_id, None) for i in instances])
        deleted = 0
        for instance, future in zip(instances, futures, strict=True):
            if await future is None:
                deleted += 1
            instance._disco_id = -1
        return deleted

    async def update_many(self, instances: Sequence[M], values: dict[str, Any]) -> int:
        """Set ``values`` on every instance and write those that changed; returns how many changed."""
        changed: list[M] = []
        for instance in instances:
            before = self.records.get(instance._disco_id)
            for name, value in values.items():
                type(instance).__pydantic_validator__.validate_assignment(instance, name, value)
            if self._serialize(instance) != before:
                changed.append(instance)
        await asyncio.gather(*(self.update(instance) for instance in changed))
        return len(changed)

    async def _submit(self, op: Op) -> str | None:
        return await self._enqueue([op])[0]

    def _enqueue(self, ops: Sequence[Op]) -> list[asyncio.Future[str | None]]:
        """Queue operations for their channels' writers (started as needed);
        each future resolves when Discord acknowledged the operation's message."""
        if self._closed:
            raise DatabaseStorageError("the table is closed", table=self.name)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[str | None]] = []
        touched = set()
        for op in ops:
            future: asyncio.Future[str | None] = loop.create_future()
            channel_id = self._channel_of(op.rid)
            self._queues[channel_id].append(_Pending(op, future))
            futures.append(future)
            touched.add(channel_id)
        for channel_id in touched:
            writer = self._writers.get(channel_id)
            if writer is None or writer.done():
                self._writers[channel_id] = loop.create_task(self._writer(channel_id))
        return futures

    def _take_batch(self, queue: deque[_Pending]) -> list[_Pending]:
        batch: list[_Pending] = []
        budget = self.codec.max_batch_bytes
        while queue and len(batch) < MAX_OPS_PER_MESSAGE:
            cost = self.codec.estimate(queue[0].op)
            if batch and cost > budget:
                break
            budget -= cost
            batch.append(queue.popleft())
        return batch

    async def _writer(self, channel_id: int) -> None:
        queue = self._queues[channel_id]
        while queue:
            batch = self._take_batch(queue)
            ops = [p.op for p in batch]
            sending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sending[channel_id] = sending
            try:
                encoded = self.codec.encode_batch(ops, schema_version=self.meta.schema_version)
                try:
                    message = await self.transport.send(channel_id, encoded.content, encoded.files)
                finally:
                    self._sending.pop(channel_id, None)
                    sending.set_result(None)
                if self.ordered:
                    results = await self._await_echo(channel_id, message, ops)
                else:
                    results = self._apply_ops(channel_id, message.id, ops)
            except asyncio.CancelledError:
                for pending in batch:
                    pending.future.cancel()
                raise
            except Exception as error:
                failure = (
                    error
                    if isinstance(error, DiscobaseError)
                    else DatabaseStorageError(
                        f"writing {len(ops)} operation(s) to table {self.name!r} failed: {error}",
                        table=self.name,
                        channel=channel_id,
                    )
                )
                if failure is not error:
                    failure.__cause__ = error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(failure)
                continue
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
            logger.debug("table {}: {} op(s) in message {}", self.name, len(ops), message.id)
            self._maybe_snapshot()

    async def _await_echo(self, channel_id: int, message: RawMessage, ops: Sequence[Op]) -> list[str | None]:
        """Results of our own message, applied in message order: from its gateway
        echo, or (if that is late) from reading the channel's history."""
        if message.id in self._applied:
            return self._results.get(message.id, [None] * len(ops))
        waiter: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._echo[message.id] = waiter
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), ECHO_TIMEOUT)
        except TimeoutError:
            await self._catch_up(channel_id)
            if message.id not in self._applied:  # not in the history either: apply it ourselves
                return self._apply_ops(channel_id, message.id, ops)
            return self._results.get(message.id, [None] * len(ops))
        finally:
            self._echo.pop(message.id, None)

    async def flush(self) -> None:
        """Wait until every queued write has been sent."""
        while True:
            writers = [w for w in self._writers.values() if not w.done()]
            if not writers:
                return
            await asyncio.gather(*writers, return_exceptions=True)

    # ------------------------------------------------------------------ events from other processes
    async def on_event(self, event: MessageEvent) -> None:
        if event.channel_id not in self._queues:
            return
        if self._buffer is not None:
            self._buffer.append(event)
            return
        if event.kind == "create" and event.message is not None:
            message = event.message
            sending = self._sending.get(message.channel_id)
            if sending is not None and message.author_id == self.transport.user_id:
                # Probably the echo of the message being sent: once the send returns we
                # know its id and need not decode it (its attachments would be downloaded).
                await asyncio.shield(sending)
            await self._apply_message(message)

    def hold_events(self) -> None:
        """Keep incoming events until :meth:`resync` has replayed a gap in the event
        stream (a new gateway session that did not resume), so that they are
        applied after the messages that came before them. No-op while opening:
        :meth:`open` replays the channels itself."""
        if self._buffer is None and not self._closed:
            self._buffer = []
            self._holding = True

    async def resync(self) -> None:
        """After :meth:`hold_events`: replay every data channel's history from the
        confirmed mark (what arrived while no event could), then the held events."""
        if not self._holding:
            return
        try:
            for channel_id in self.meta.data_channels:
                await self._catch_up(channel_id)
        finally:
            held, self._buffer, self._holding = self._buffer or [], None, False
            for event in held:
                await self.on_event(event)

    # ------------------------------------------------------------------ snapshots and compaction
    def _maybe_snapshot(self) -> None:
        if self._ops_since_snapshot < self.snapshot_every:
            return
        if self._snapshot_task is None or self._snapshot_task.done():
            self._snapshot_task = asyncio.get_running_loop().create_task(self._snapshot_quietly())

    async def _snapshot_quietly(self) -> None:
        try:
            await self.snapshot()
        except DiscobaseError as error:
            logger.warning("table {}: background snapshot failed: {}", self.name, error)

    async def snapshot(self) -> None:
        """Write the table's state to the index channel, then drop what it makes obsolete.

        Each data channel is first scanned up to its newest message (so the
        snapshot misses nothing another process wrote), which fixes the
        high-water marks. With compaction, data messages at or below the
        *previous* snapshot's marks are deleted, and snapshots older than the
        previous one too: a process that is opening from the previous
        snapshot still finds everything it needs.
        """
        await self.flush()
        hw = {channel_id: await self._catch_up(channel_id) for channel_id in self.meta.data_channels}
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        records = list(self.records.items())
        meta = {
            "table": self.name,
            "hw": {str(k): str(v) for k, v in hw.items()},
            "count": len(records),
            "schema": self.meta.schema_version,
        }
        part_ids: list[int] = []
        for part in self.codec.encode_snapshot(records, meta=meta):
            sent = await self.transport.send(self.meta.index_channel, part.content, part.files)
            part_ids.append(sent.id)
        manifest = self.codec.manifest(meta, part_ids)
        sent = await self.transport.send(self.meta.index_channel, manifest.content, manifest.files)
        self._snapshot_starts.append(min([*part_ids, sent.id]))
        logger.debug("table {}: snapshot {} of {} records", self.name, sent.id, len(records))
        if self.compaction:
            await self._compact(self._previous_hw)
        self._previous_hw = hw

    async def _compact(self, previous_hw: dict[int, int]) -> None:
        if len(self._snapshot_starts) > 2:
            await self._delete_before(self.meta.index_channel, self._snapshot_starts[-2])
            del self._snapshot_starts[:-2]
        for channel_id, mark in previous_hw.items():
            if mark:
                await self._delete_before(channel_id, mark + 1)

    async def _delete_before(self, channel_id: int, before: int, max_pages: int = 10) -> None:
        """Delete messages older than ``before`` (bounded work per call; the rest goes next time)."""
        deleted = 0
        for _ in range(max_pages):
            page = await self.transport.history(channel_id, before=before, limit=HISTORY_PAGE)
            if not page:
                break
            await self.transport.delete_messages(channel_id, [m.id for m in page])
            deleted += len(page)
            before = page[0].id
            if len(page) < HISTORY_PAGE:
                break  # that was the oldest page: no need to ask for another
        if deleted:
            logger.debug("table {}: compaction deleted {} messages in {}", self.name, deleted, channel_id)

    async def close(self, *, snapshot: bool = True) -> None:
        """Flush writes; snapshot if replaying the tail would take more than one
        history page (a short tail is cheaper to replay than to snapshot)."""
        await self.flush()
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if snapshot and (
            self._messages_since_snapshot >= HISTORY_PAGE or self._ops_since_snapshot >= self.snapshot_every
        ):
            await self._snapshot_quietly()
        self._closed = True

    def channel_ids(self) -> list[int]:
        return [*self.meta.data_channels, self.meta.index_channel]
