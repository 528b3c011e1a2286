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
import secrets
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger
from pydantic import ValidationError

from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseUnavailableError,
    DiscobaseError,
    InvalidRecordError,
    MigrationError,
    QueryError,
    UniqueViolationError,
)
from discobase.storage._common import DISCORD_EPOCH_MS
from discobase.storage.codec import Codec, CodecError, Op
from discobase.storage.ids import IdGenerator
from discobase.storage.indexes import TableIndexes, index_key
from discobase.storage.transport import (
    HISTORY_PAGE,
    FileData,
    MessageEvent,
    RawAttachment,
    RawMessage,
    Transport,
)

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
#: A catch-up after lost events reads back this far before the newest message
#: applied in order (milliseconds of snowflake time).
RESYNC_MARGIN_MS = 30_000
#: Times an open starts over when compaction replaced its snapshot meanwhile.
OPEN_ATTEMPTS = 5
#: Index-channel messages that no snapshot manifest names (parts of a snapshot
#: still being written, or left by a crashed writer) are kept this long.
ORPHAN_AGE_MS = 15 * 60 * 1000
#: Attempts of a write whose outcome is unknown (network error, 5xx) before it
#: fails; each retry uses the same nonce, so a write that landed is not repeated.
SEND_ATTEMPTS = 4
#: Seconds before the first retry of such a write (doubled after each).
RETRY_DELAY = 0.5


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
class _Manifest:
    """A snapshot manifest seen in the index channel: its high-water marks (per
    data channel, the newest message the snapshot covers) and part messages."""

    id: int
    hw: dict[int, int]
    parts: tuple[int, ...]
    author_id: int = 0
    valid: bool = False

    @property
    def start(self) -> int:
        """The oldest message of the snapshot (a part, or the manifest itself)."""
        return min((*self.parts, self.id))


def _mark_valid(manifests: Sequence[_Manifest], channels: Sequence[int]) -> None:
    """Mark the manifests (oldest first) that openers may use.

    A manifest is valid when its mark on every data channel is at least that
    of every valid manifest posted before it. Valid manifests therefore cover
    more and more in message order, and the newest valid one covers the most.
    A snapshot whose writer read the channels before another snapshot was
    posted (two processes snapshotting at once) can carry older marks than
    that one although its message is newer: it is not valid, and is never
    read, since compaction may already have deleted data messages it needs.
    """
    frontier = dict.fromkeys(channels, 0)
    for manifest in manifests:
        manifest.valid = all(manifest.hw.get(c, 0) >= frontier[c] for c in channels)
        if manifest.valid:
            frontier = {c: manifest.hw.get(c, 0) for c in channels}


def _age_ms(message_id: int) -> int:
    """How old a message is, from its snowflake."""
    return int(time.time() * 1000) - ((message_id >> 22) + DISCORD_EPOCH_MS)


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
        self._options = options
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
        # Records the model rejected on reads, not yet collected by the database
        # (Database.problems), and the version each was rejected at (reported once).
        self.rejected: list[DatabaseCorruptionError] = []
        self._rejected_versions: dict[int, int] = {}
        self._index_options: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] = (
            tuple(options.indexes) if options is not None else (),
            tuple(options.unique) if options is not None else (),
        )
        self.indexes = TableIndexes(model, meta.name, *self._index_options)
        # Writes to tables with unique constraints take effect in message order
        # (their own gateway echo), so every process resolves conflicts alike.
        self.ordered = bool(self.indexes.unique)
        self._results: dict[int, list[str | None]] = {}
        self._sending: dict[int, asyncio.Future[None]] = {}  # channel -> send in flight
        self._echo: dict[int, asyncio.Future[list[str | None]]] = {}
        self._reserved: dict[tuple[tuple[str, ...], tuple[Hashable, ...]], int] = {}
        self._applied: set[int] = set()  # data message ids already applied
        # Per data channel: read from history through this id (every message up to
        # it is applied), and the newest message applied in channel order (history
        # or gateway events, never an own write applied at send time).
        self._confirmed: dict[int, int] = dict.fromkeys(meta.data_channels, 0)
        self._seen: dict[int, int] = dict.fromkeys(meta.data_channels, 0)
        # Messages of a channel are applied by one path at a time, in order.
        self._order_locks: dict[int, asyncio.Lock] = {c: asyncio.Lock() for c in meta.data_channels}
        self._unreadable: set[int] = set()  # messages skipped as problems: never deleted
        # Our own recent batches applied from events or history, by their operations:
        # a send whose reply was lost finds its message here.
        self._landed: dict[tuple[Op, ...], int] = {}
        self._queues: dict[int, deque[_Pending]] = {c: deque() for c in meta.data_channels}
        self._writers: dict[int, asyncio.Task[None]] = {}
        self._buffer: list[MessageEvent] | None = []  # events that arrive before it is open
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        self._snapshot_task: asyncio.Task[None] | None = None
        self._snapshot_id: int | None = None  # the manifest this cursor opened from
        self._resync_after_open = False
        #: Whether events may be missing (the gateway connection was lost and no
        #: new session has caught up yet): no snapshot is written meanwhile, since
        #: messages this process missed may already be compacted away.
        self.gap = False
        self._reload_lock = asyncio.Lock()
        self._reloads = 0
        self._closed = False

    # ------------------------------------------------------------------ open
    def keep(self, events: Sequence[MessageEvent]) -> None:
        """Events of this table's channels received before the cursor existed:
        applied after the open, like those that arrive during it."""
        if self._buffer is None:
            raise DatabaseStorageError("the table is already open", table=self.name)
        self._buffer[:0] = events

    async def open(self, listed: Mapping[int, int | None] | None = None) -> None:
        """Load the newest valid snapshot, then replay the data channels after it.

        ``listed`` maps channel ids to their last message id, from a channel
        list read before any event of theirs could be missed: a channel whose
        last message is not newer than what the cursor has is not read (an
        index channel without any message holds no snapshot).

        When the replay read history, the snapshot is looked up once more
        afterwards: compaction removes a snapshot before it deletes the data
        messages that only that snapshot needed, so a snapshot that is gone
        means the replay may have missed messages, and the open starts over.
        """
        if self._buffer is None:
            raise DatabaseStorageError("the table is already open", table=self.name)
        snapshot_id = await self._load(listed)
        self._snapshot_id = snapshot_id
        if self._resync_after_open:  # a session was lost while opening
            for channel_id in self.meta.data_channels:
                await self._catch_up(channel_id, since_seen=True)
            self.gap = False
        buffered, self._buffer = self._buffer, None
        for event in buffered:
            await self.on_event(event)
        logger.debug("opened table {} with {} records", self.name, len(self.records))

    async def _load(self, listed: Mapping[int, int | None] | None = None) -> int | None:
        """Read the state from the newest valid snapshot and the data channels
        (see :meth:`open`); the snapshot's manifest id."""
        for _attempt in range(OPEN_ATTEMPTS):
            snapshot_id = None
            if not _nothing_after(listed, self.meta.index_channel, 0):
                snapshot_id = await self._load_snapshot()
            self.indexes.load_unique(self.records)
            replayed = False
            for channel_id in self.meta.data_channels:
                if not _nothing_after(listed, channel_id, self._confirmed[channel_id]):
                    replayed = True
                    await self._catch_up(channel_id)
            if (
                snapshot_id is None
                or not replayed
                or await self.transport.fetch(self.meta.index_channel, snapshot_id) is not None
            ):
                return snapshot_id
            logger.info(
                "table {}: snapshot {} was compacted while opening; reading again", self.name, snapshot_id
            )
            self._reset()
            listed = None
        raise DatabaseStorageError(
            f"table {self.name!r} could not be opened: its snapshots were replaced {OPEN_ATTEMPTS} times "
            "while it was read",
            table=self.name,
            channel=self.meta.index_channel,
        )

    def _reset(self) -> None:
        """Forget the state read so far (before opening again)."""
        self.records.clear()
        self.versions.clear()
        self._applied.clear()
        self._results.clear()
        self.problems.clear()
        self._unreadable.clear()
        self.indexes = TableIndexes(self.model, self.name, self._index_options[0], self._index_options[1])
        for channel_id in self.meta.data_channels:
            self._confirmed[channel_id] = self._seen[channel_id] = 0

    def _context_of(self, channel_id: int, author_id: int) -> str:
        """Where a message is stored, authenticated with its encrypted payload:
        an encrypted message copied to another table or channel, or re-posted
        by another account, does not decrypt."""
        return f"{self.name}/{channel_id}/{author_id}"

    def _context(self, message: RawMessage) -> str:
        return self._context_of(message.channel_id, message.author_id)

    async def _read(self, attachment: RawAttachment) -> bytes:
        return await self.transport.read_attachment(attachment)

    async def _manifests(self) -> tuple[list[RawMessage], list[_Manifest]]:
        """The newest page of the index channel and the snapshot manifests on it,
        oldest first, each marked valid or not (see :func:`_mark_valid`)."""
        page = await self.transport.history(self.meta.index_channel, limit=HISTORY_PAGE)
        manifests: list[_Manifest] = []
        for message in page:
            if not self.codec.is_snapshot_manifest(message.content):
                continue
            try:
                meta, part_ids = await self.codec.decode_manifest(
                    message, self._read, context=self._context(message)
                )
                hw = {int(k): int(v) for k, v in dict(meta.get("hw", {})).items()}
            except (CodecError, ValueError, TypeError, AttributeError) as error:
                self._problem(self.meta.index_channel, message.id, f"unreadable snapshot manifest: {error}")
                continue
            manifests.append(_Manifest(message.id, hw, tuple(part_ids), message.author_id))
        _mark_valid(manifests, self.meta.data_channels)
        return page, manifests

    async def _load_snapshot(self) -> int | None:
        """Load the newest valid snapshot; its manifest's id, or None if there is none."""
        page, manifests = await self._manifests()
        by_id = {m.id: m for m in page}
        for manifest in reversed([m for m in manifests if m.valid]):
            try:
                parts: list[RawMessage] = []
                for part_id in manifest.parts:
                    part = by_id.get(part_id) or await self.transport.fetch(self.meta.index_channel, part_id)
                    if part is None:
                        raise CodecError(f"snapshot part {part_id} is missing")
                    parts.append(part)
                context = self._context_of(self.meta.index_channel, manifest.author_id)
                records = await self.codec.decode_snapshot_parts(parts, self._read, context=context)
            except CodecError as error:
                self._problem(self.meta.index_channel, manifest.id, f"unreadable snapshot: {error}")
                continue
            hw = manifest.hw
            for rid, data in records:
                self.records[rid] = data
                self.versions[rid] = hw.get(self._channel_of(rid), 0)
            for channel_id in self.meta.data_channels:
                self._confirmed[channel_id] = self._seen[channel_id] = hw.get(channel_id, 0)
            logger.debug("table {}: snapshot {} with {} records", self.name, manifest.id, len(self.records))
            return manifest.id
        return None

    async def _catch_up(self, channel_id: int, *, since_seen: bool = False) -> int:
        """Replay every message after the confirmed mark (or, with ``since_seen``,
        after the newest message applied in order); returns the newest id seen."""
        async with self._order_locks[channel_id]:
            start = self._resync_start(channel_id) if since_seen else self._confirmed[channel_id]
            after = start
            while True:
                page = await self.transport.history(channel_id, after=after, limit=HISTORY_PAGE)
                for message in page:
                    await self._apply_message(message)
                    after = message.id
                if len(page) < HISTORY_PAGE:
                    break
            if start <= self._confirmed[channel_id]:
                self._confirmed[channel_id] = max(self._confirmed[channel_id], after)
            self._seen[channel_id] = max(self._seen[channel_id], after)
            return max(after, self._seen[channel_id])

    async def resync(self) -> None:
        """Catch up every data channel from history: after a gateway session that
        did not resume, the events sent in between never arrive."""
        if self._closed:
            return
        if self._buffer is not None:  # still opening: catch up once open
            self._resync_after_open = True
            return
        _, manifests = await self._manifests()
        valid = [m for m in manifests if m.valid]
        if valid and any(valid[0].hw.get(c, 0) > self._resync_start(c) for c in self.meta.data_channels):
            # Compaction may have deleted messages this process never applied (it
            # deletes up to the marks of the oldest valid snapshot): read the table again.
            await self._reload()
            self.gap = False
            logger.debug("table {}: read again after a new gateway session", self.name)
            return
        for channel_id in self.meta.data_channels:
            await self._catch_up(channel_id, since_seen=True)
        self.gap = False
        logger.debug("table {}: caught up after a new gateway session", self.name)

    async def _catch_up_safely(self, channel_id: int) -> None:
        """Catch up a channel from history; while events may be missing (a gap),
        first make sure compaction did not delete messages this process never
        applied, and read the table again if it may have."""
        if self.gap:
            _, manifests = await self._manifests()
            valid = [m for m in manifests if m.valid]
            channels = self.meta.data_channels
            if valid and any(valid[0].hw.get(c, 0) > self._confirmed[c] for c in channels):
                await self._reload()
                return
        await self._catch_up(channel_id)

    def _resync_start(self, channel_id: int) -> int:
        """Where a catch-up after lost events starts: a little before the newest
        message applied in order, in case an event of an older message was still
        on its way when the events stopped (a server may send them out of order)."""
        seen = self._seen[channel_id] - (RESYNC_MARGIN_MS << 22)
        return max(self._confirmed[channel_id], seen, 0)

    async def _reload(self) -> None:
        """Read the whole state again from the newest valid snapshot, into a new
        state that replaces the current one once complete: reads and writes go
        on meanwhile, and events are held, then applied to the new state."""
        generation = self._reloads
        async with self._reload_lock:
            if self._reloads != generation:
                return  # another reload finished meanwhile: its state is as fresh
            await self._reload_now()
            self._reloads += 1

    async def _reload_now(self) -> None:
        self._buffer = []
        try:
            fresh = TableCursor(
                model=self.model,
                meta=self.meta,
                transport=self.transport,
                codec=self.codec,
                ids=self.ids,
                snapshot_every=self.snapshot_every,
                compaction=self.compaction,
                options=self._options,
            )
            snapshot_id = await fresh._load()
            self.records, self.versions, self.indexes = fresh.records, fresh.versions, fresh.indexes
            self._applied, self._confirmed, self._seen = fresh._applied, fresh._confirmed, fresh._seen
            self.problems.extend(p for p in fresh.problems if p not in self.problems)
            self._unreadable |= fresh._unreadable
            self._snapshot_id = snapshot_id
            for message_id, results in fresh._results.items():
                self._results[message_id] = results
                waiter = self._echo.pop(message_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(results)
        finally:
            buffered, self._buffer = self._buffer, None
            for event in buffered:
                await self.on_event(event)
        logger.info("table {}: read again from its snapshot after missing events", self.name)

    def _problem(self, channel_id: int, message_id: int, what: str) -> None:
        self._unreadable.add(message_id)
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
            _, ops = await self.codec.decode_batch(message, self._read, context=self._context(message))
        except CodecError as error:
            self._applied.add(message.id)
            self._problem(message.channel_id, message.id, str(error))
            return
        if message.author_id == self.transport.user_id:
            self._landed[tuple(ops)] = message.id
            if len(self._landed) > RECENT_RESULTS:
                del self._landed[next(iter(self._landed))]
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
        serialized exactly as a stored record's field would be; a value the
        field refuses is a :class:`~discobase.exceptions.QueryError` (the
        Pydantic error chained)."""
        probe = model.model_construct()
        try:
            model.__pydantic_validator__.validate_assignment(probe, name, value)
        except ValidationError as error:
            reason = error.errors()[0]["msg"] if error.errors() else str(error)
            raise QueryError(
                f"cannot look up {model.__name__}.{name} == {value!r}: {reason}",
                table=self.name,
                field=name,
            ) from error
        dumped = json.loads(probe.model_dump_json(include={name}))
        return self.indexes.key(name, dumped.get(name))

    def find(self, model: type[M], filters: dict[str, Any]) -> list[M]:
        """Records whose fields equal every filter (AND), oldest record first."""
        unknown = [name for name in filters if name not in model.model_fields]
        if unknown:
            raise QueryError(
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
        found = [self._readable(model, rid) for rid in ids]
        return [instance for instance in found if instance is not None]

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
            instance = self._readable(model, rid)
            if instance is not None and all(condition.matches(instance) for condition in residual):
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

    def _readable(self, model: type[M], rid: int) -> M | None:
        """Record ``rid`` as a ``model``, or None if the model rejects it (e.g. a
        validator added after it was stored): reads skip such a record rather
        than fail as a whole, and it is reported once per version in
        :attr:`problems` and :attr:`rejected`."""
        try:
            return self.materialize(model, rid)
        except ValidationError as error:
            version = self.versions.get(rid, 0)
            if self._rejected_versions.get(rid) != version:
                self._rejected_versions[rid] = version
                self._reject(model, rid, error)
            return None

    def _reject(self, model: type[Table], rid: int, error: ValidationError) -> None:
        details = error.errors()
        where = details[0]["loc"] if details else ()
        field = str(where[0]) if where else None
        reason = details[0]["msg"] if details else str(error)
        problem = InvalidRecordError(
            f"record {rid} of table {self.name!r} is stored but {model.__name__} rejects it "
            f"({'.'.join(map(str, where)) or 'record'}: {reason}); reads skip it. Relax the model, "
            "or remove the record (an instance from model_construct() with __disco_id__ set to its id, "
            "then delete())",
            table=self.name,
            field=field,
            record=rid,
            channel=self._channel_of(rid),
        )
        logger.warning("{}", problem)
        self.problems.append(problem)
        self.rejected.append(problem)

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

    def _encode(self, channel_id: int, ops: Sequence[Op]) -> tuple[str, Sequence[FileData]]:
        """A batch message for ``ops``; a record too large for one message is refused."""
        try:
            encoded = self.codec.encode_batch(
                ops,
                schema_version=self.meta.schema_version,
                context=self._context_of(channel_id, self.transport.user_id),
            )
        except ValueError as error:
            size = sum(map(self.codec.estimate, ops))
            raise DatabaseStorageError(
                f"a record of about {size} bytes is too large for one Discord message "
                f"(at most {self.codec.max_batch_bytes} bytes after compression): {error}",
                table=self.name,
                channel=channel_id,
            ) from error
        return encoded.content, encoded.files

    async def _send(
        self, channel_id: int, content: str, files: Sequence[FileData], ops: Sequence[Op]
    ) -> RawMessage:
        """Send a batch; a send whose outcome is unknown is retried with the same
        nonce (Discord returns the stored message instead of posting it again).
        When every attempt failed so, the channel's history tells whether the
        batch landed after all."""
        nonce = secrets.token_hex(12)
        mark = self._seen[channel_id]  # the message, if stored, is newer than this
        delay = RETRY_DELAY
        for attempt in range(1, SEND_ATTEMPTS + 1):
            if attempt > 1:
                # Before sending again, make sure the batch did not land: the nonce
                # protects a retry only while the first message still exists (and
                # while the server remembers it), and compaction may delete it.
                found = await self._find_landed(channel_id, ops, mark)
                if found is not None:
                    return found
            try:
                return await self.transport.send(channel_id, content, files, nonce=nonce)
            except DatabaseUnavailableError as error:
                if attempt == SEND_ATTEMPTS:
                    found = await self._find_landed(channel_id, ops, mark)
                    if found is not None:
                        return found
                    raise
                logger.info(
                    "table {}: write of {} op(s) failed ({}); retrying in {} s",
                    self.name,
                    len(ops),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _find_landed(self, channel_id: int, ops: Sequence[Op], after: int) -> RawMessage | None:
        """Our message carrying exactly ``ops``: one applied from the gateway
        (whose reply was lost), else one in the channel's history after ``after``."""
        applied = self._landed.get(tuple(ops))
        if applied is not None and applied > after:
            user = self.transport.user_id
            return RawMessage(id=applied, channel_id=channel_id, author_id=user, content="")
        wanted = list(ops)
        while True:
            page = await self.transport.history(channel_id, after=after, limit=HISTORY_PAGE)
            for message in page:
                if message.author_id != self.transport.user_id or not self.codec.is_batch(message.content):
                    continue
                try:
                    _, found = await self.codec.decode_batch(
                        message, self._read, context=self._context(message)
                    )
                except CodecError:
                    continue
                if found == wanted:
                    return message
            if len(page) < HISTORY_PAGE:
                return None
            after = page[-1].id

    async def _writer(self, channel_id: int) -> None:
        queue = self._queues[channel_id]
        while queue:
            batch = self._take_batch(queue)
            ops = [p.op for p in batch]
            sending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sending[channel_id] = sending
            try:
                try:
                    content, files = self._encode(channel_id, ops)
                    message = await self._send(channel_id, content, files, ops)
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
            await self._catch_up_safely(channel_id)
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
            channel_id = message.channel_id
            async with self._order_locks[channel_id]:
                sending = self._sending.get(channel_id)
                if sending is not None and message.author_id == self.transport.user_id:
                    # Probably the echo of the message being sent: once the send returns we
                    # know its id and need not decode it (its attachments would be downloaded).
                    await asyncio.shield(sending)
                await self._apply_message(message)
                self._seen[channel_id] = max(self._seen[channel_id], message.id)

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

    async def rewrite_all(self, codec: Codec) -> None:
        """Switch to ``codec`` and write the whole table again with it: a snapshot,
        then every older snapshot and every data message it covers is deleted
        (a key rotation; other processes must not write meanwhile)."""
        await self.flush()
        self.codec = codec
        if self.problems:
            raise DatabaseStorageError(
                f"table {self.name!r} has {len(self.problems)} unreadable message(s); resolve them "
                "before rotating the key",
                table=self.name,
            )
        snapshot_id = await self._write_snapshot()
        page = await self.transport.history(self.meta.index_channel, limit=HISTORY_PAGE)
        manifest = next(m for m in (await self._manifests())[1] if m.id == snapshot_id)
        keep = {snapshot_id, *manifest.parts}
        older = [m.id for m in page if m.id < snapshot_id and m.id not in keep]
        if older:
            await self.transport.delete_messages(self.meta.index_channel, older)
        await self._delete_before(self.meta.index_channel, min(keep))
        for channel_id, mark in manifest.hw.items():
            if mark and channel_id in self._queues:
                await self._delete_before(channel_id, mark + 1)

    async def snapshot(self) -> None:
        """Write the table's state to the index channel, then drop what it makes obsolete.

        Each data channel is first read up to its newest message (so the
        snapshot misses nothing another process wrote), which fixes the
        snapshot's high-water marks. Compaction (see :meth:`_compact`) follows.
        A table that met unreadable messages writes no snapshot: its state is
        incomplete, and a snapshot of it would let compaction delete the data.
        """
        await self.flush()
        if self.problems:
            logger.warning(
                "table {}: no snapshot while {} unreadable message(s) are unresolved",
                self.name,
                len(self.problems),
            )
            return
        if self.gap:
            logger.debug("table {}: no snapshot while gateway events may be missing", self.name)
            return
        sent_id = await self._write_snapshot()
        if self.compaction:
            await self._compact(sent_id)

    async def _write_snapshot(self) -> int:
        """Catch up, post a snapshot of the state; the id of its manifest."""
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
        context = self._context_of(self.meta.index_channel, self.transport.user_id)
        for part in self.codec.encode_snapshot(records, meta=meta, context=context):
            sent = await self.transport.send(self.meta.index_channel, part.content, part.files)
            part_ids.append(sent.id)
        manifest = self.codec.manifest(meta, part_ids, context=context)
        sent = await self.transport.send(self.meta.index_channel, manifest.content, manifest.files)
        logger.debug("table {}: snapshot {} of {} records", self.name, sent.id, len(records))
        return sent.id

    async def _compact(self, snapshot_id: int) -> None:
        """Delete the snapshots and data messages that no opener can need.

        With the valid manifests of the index channel read after our snapshot
        was posted, keep the newest two (a process may be opening from the
        older one): first delete older snapshots, then the data messages at or
        below the marks of the oldest valid snapshot left. Every snapshot an
        opener could choose has marks at least those (valid marks only grow),
        and an opener whose snapshot is deleted first notices and starts over
        (see :meth:`open`). Messages this process could not read are never
        deleted.
        """
        page, manifests = await self._manifests()
        valid = [m for m in manifests if m.valid]
        if not any(m.id == snapshot_id for m in valid) or len(valid) < 2:
            return  # our snapshot is not valid (a newer one covers more), or nothing is obsolete yet
        kept = [m for m in manifests if m.id >= valid[-2].id]
        cutoff = min(m.start for m in kept)
        doomed = {m.id for m in manifests if m.id < cutoff}
        doomed |= {p for m in manifests if m.id < cutoff for p in m.parts}
        doomed -= {p for m in kept for p in m.parts}
        await self._delete_index_before(cutoff, doomed, page)
        oldest = valid[-2]
        for channel_id in self.meta.data_channels:
            mark = oldest.hw.get(channel_id, 0)
            if mark:
                await self._delete_before(channel_id, mark + 1)

    async def _delete_index_before(self, cutoff: int, doomed: set[int], page: Sequence[RawMessage]) -> None:
        """Delete index-channel messages older than ``cutoff``: the ``doomed``
        snapshots, and other messages once they are old enough to be orphans."""
        channel_id = self.meta.index_channel
        ids = [m.id for m in page if m.id < cutoff and (m.id in doomed or _age_ms(m.id) > ORPHAN_AGE_MS)]
        if ids:
            await self.transport.delete_messages(channel_id, ids)
        older = min((m.id for m in page), default=cutoff)
        if len(page) == HISTORY_PAGE and older < cutoff:  # more below the page: old enough by now?
            await self._delete_before(channel_id, older, keep=lambda mid: _age_ms(mid) <= ORPHAN_AGE_MS)

    async def _delete_before(
        self, channel_id: int, before: int, max_pages: int = 10, keep: Callable[[int], bool] | None = None
    ) -> None:
        """Delete messages older than ``before`` (bounded work per call; the rest
        goes next time), except those this process could not read and those
        ``keep`` names."""
        deleted = 0
        for _ in range(max_pages):
            page = await self.transport.history(channel_id, before=before, limit=HISTORY_PAGE)
            if not page:
                break
            ids = [m.id for m in page if m.id not in self._unreadable and (keep is None or not keep(m.id))]
            if ids:
                await self.transport.delete_messages(channel_id, ids)
            deleted += len(ids)
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
