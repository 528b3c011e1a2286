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
import math
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, get_origin

from loguru import logger

from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DiscobaseError,
)
from discobase.storage.codec import Codec, CodecError, Op
from discobase.storage.ids import IdGenerator
from discobase.storage.transport import HISTORY_PAGE, MessageEvent, RawAttachment, RawMessage, Transport

if TYPE_CHECKING:
    from discobase.table import Table

__all__ = ["TableCursor", "TableMeta"]

M = TypeVar("M", bound="Table")

#: Operations packed into one message at most (besides the byte budget).
MAX_OPS_PER_MESSAGE = 5000


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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_channels": [str(c) for c in self.data_channels],
            "index_channel": str(self.index_channel),
            "fields": self.fields,
            "schema_hash": self.schema_hash,
            "schema_version": self.schema_version,
            "json_schema": self.json_schema,
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
        )


@dataclass(slots=True)
class _Pending:
    op: Op
    future: asyncio.Future[bool]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def index_key(value: Any, is_set: bool = False) -> Hashable:
    """A hashable key for a JSON value; equal keys ⇔ equal stored values.

    Strings, ints and None are their own keys (bools are tagged, since
    ``True == 1``); floats and containers become canonical JSON (so ``nan``
    finds ``nan``); a set field's list is sorted first.
    """
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return ("b", value)
    if kind is float:
        return ("f", repr(value) if math.isnan(value) or math.isinf(value) else value)
    if is_set and kind is list:
        value = sorted(value, key=_canonical)
    return ("j", _canonical(value))


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
        self._indexes: dict[str, dict[Hashable, set[int]]] | None = None
        self._set_fields = {
            name
            for name, info in model.model_fields.items()
            if get_origin(info.annotation) in (set, frozenset)
        }
        self._applied: set[int] = set()  # data message ids already applied
        self._confirmed: dict[int, int] = dict.fromkeys(meta.data_channels, 0)  # scanned through, per channel
        self._queues: dict[int, deque[_Pending]] = {c: deque() for c in meta.data_channels}
        self._writers: dict[int, asyncio.Task[None]] = {}
        self._buffer: list[MessageEvent] | None = None  # events that arrive while opening
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        self._snapshot_task: asyncio.Task[None] | None = None
        self._snapshot_starts: list[int] = []  # first message id of each known snapshot, oldest first
        self._previous_hw: dict[int, int] = {}
        self._closed = False

    # ------------------------------------------------------------------ open
    async def open(self) -> None:
        """Load the newest snapshot, then replay the data channels after it."""
        self._buffer = []
        await self._load_snapshot()
        for channel_id in self.meta.data_channels:
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

    def _apply_ops(self, channel_id: int, message_id: int, ops: Sequence[Op]) -> list[bool]:
        """Apply a message's operations (once); returns per operation whether it took effect."""
        if message_id in self._applied:
            return [True] * len(ops)
        self._applied.add(message_id)
        results = []
        for op in ops:
            results.append(self._apply(op, message_id))
        self._ops_since_snapshot += len(ops)
        self._messages_since_snapshot += 1
        return results

    def _apply(self, op: Op, version: int) -> bool:
        rid = op.rid
        if self.versions.get(rid, 0) >= version:
            return False  # an older operation arriving late
        if op.kind == "d":
            self.versions[rid] = version
            old = self.records.pop(rid, None)
            if old is not None:
                self._unindex(rid, old)
            return old is not None
        if op.kind == "u" and rid not in self.records:
            return False  # updating a record that was deleted meanwhile
        if op.kind == "i" and rid in self.versions and rid not in self.records:
            return False  # inserting over a tombstone
        assert op.data is not None
        self.versions[rid] = version
        old = self.records.get(rid)
        if old is not None:
            self._unindex(rid, old)
        self.records[rid] = op.data
        self._index(rid, op.data)
        return True

    # ------------------------------------------------------------------ indexes
    def _build_indexes(self) -> dict[str, dict[Hashable, set[int]]]:
        if self._indexes is None:
            self._indexes = {name: {} for name in self.model.model_fields}
            for rid, data in self.records.items():
                self._index(rid, data)
        return self._indexes

    def _index(self, rid: int, data: str) -> None:
        if self._indexes is None:
            return
        values = json.loads(data)
        for name, index in self._indexes.items():
            key = index_key(values.get(name), name in self._set_fields)
            index.setdefault(key, set()).add(rid)

    def _unindex(self, rid: int, data: str) -> None:
        if self._indexes is None:
            return
        values = json.loads(data)
        for name, index in self._indexes.items():
            key = index_key(values.get(name), name in self._set_fields)
            bucket = index.get(key)
            if bucket is not None:
                bucket.discard(rid)
                if not bucket:
                    del index[key]

    def query_key(self, model: type[Table], name: str, value: Any) -> Hashable:
        """The index key of ``value`` for field ``name``, validated and
        serialized exactly as a stored record's field would be."""
        probe = model.model_construct()
        model.__pydantic_validator__.validate_assignment(probe, name, value)
        dumped = json.loads(probe.model_dump_json(include={name}))
        return index_key(dumped.get(name), name in self._set_fields)

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
            indexes = self._build_indexes()
            buckets = []
            for name, value in filters.items():
                buckets.append(indexes[name].get(self.query_key(model, name, value), set()))
            buckets.sort(key=len)
            ids = sorted(set(buckets[0]).intersection(*buckets[1:]))
        return [self.materialize(model, rid) for rid in ids]

    def materialize(self, model: type[M], rid: int) -> M:
        instance = model.model_validate_json(self.records[rid])
        instance._disco_id = rid
        return instance

    # ------------------------------------------------------------------ writes
    def _serialize(self, instance: Table) -> str:
        return instance.model_dump_json()

    async def insert(self, instance: M) -> M:
        rid = self.ids.next()
        data = self._serialize(instance)
        await self._submit(Op("i", rid, data))
        instance._disco_id = rid
        return instance

    async def update(self, instance: M) -> M:
        rid = instance._disco_id
        if rid not in self.records:
            raise DatabaseLookupError(f"record {rid} does not exist (was it deleted?)", table=self.name)
        applied = await self._submit(Op("u", rid, self._serialize(instance)))
        if not applied:
            raise DatabaseLookupError(f"record {rid} was deleted before this update landed", table=self.name)
        return instance

    async def delete(self, instance: Table) -> None:
        rid = instance._disco_id
        await self._submit(Op("d", rid, None))
        instance._disco_id = -1

    async def _submit(self, op: Op) -> bool:
        if self._closed:
            raise DatabaseStorageError("the table is closed", table=self.name)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        channel_id = self._channel_of(op.rid)
        self._queues[channel_id].append(_Pending(op, future))
        writer = self._writers.get(channel_id)
        if writer is None or writer.done():
            self._writers[channel_id] = loop.create_task(self._writer(channel_id))
        return await future

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
            try:
                encoded = self.codec.encode_batch(ops, schema_version=self.meta.schema_version)
                message = await self.transport.send(channel_id, encoded.content, encoded.files)
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
            results = self._apply_ops(channel_id, message.id, ops)
            for pending, applied in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(applied)
            logger.debug("table {}: {} op(s) in message {}", self.name, len(ops), message.id)
            self._maybe_snapshot()

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
            await self._apply_message(event.message)

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
