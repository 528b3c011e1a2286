"""A table's replica state: open (snapshot + replay), catch-up, and applying operations.

State: every live record as its JSON text, keyed by record id, plus hash
indexes on every field. Open = newest snapshot (index channel) + replay of the
data messages after the snapshot's high-water marks. Gateway events keep the
state coherent with other processes; own writes are deduplicated by message id.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from discobase.engine.indexes import TableIndexes
from discobase.engine.meta import Manifest, TableMeta, mark_valid
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DiscobaseError,
)
from discobase.model.changes import ChangeRejected, Changes
from discobase.storage.codec import Codec, CodecError, Op
from discobase.storage.ids import IdGenerator
from discobase.storage.transport import (
    HISTORY_PAGE,
    MessageEvent,
    RawAttachment,
    RawMessage,
    Transport,
)

if TYPE_CHECKING:
    from discobase.model.table import Table, TableOptions


__all__ = ["ReplicaState", "TableMeta"]

M = TypeVar("M", bound="Table")

#: Results of recently applied messages, for writers waiting on their echo.
RECENT_RESULTS = 2048
#: How the result of an atomic change (an ``a`` operation) that took effect
#: starts; the record it made follows, so that its writer returns exactly the
#: value its change produced in message order.
APPLIED = "="
#: A catch-up after lost events reads back this far before the newest message
#: applied in order (milliseconds of snowflake time).
RESYNC_MARGIN_MS = 30_000
#: Times an open starts over when compaction replaced its snapshot meanwhile.
OPEN_ATTEMPTS = 5
#: Index-channel messages that no snapshot manifest names (parts of a snapshot
#: still being written, or left by a crashed writer) are kept this long.
ORPHAN_AGE_MS = 15 * 60 * 1000
#: Seconds before a failed catch-up after lost events is tried again (doubled
#: after each failure, up to ``RECOVERY_MAX_DELAY``).
RECOVERY_DELAY = 0.5
#: Default of :attr:`ReplicaState.compaction_delay`: twice the writer's ``SEND_WINDOW``.
COMPACTION_DELAY = 120.0
RECOVERY_MAX_DELAY = 30.0


@dataclass(slots=True)
class Pending:
    op: Op
    future: asyncio.Future[str | None]


def nothing_after(listed: Mapping[int, int | None] | None, channel_id: int, mark: int) -> bool:
    """Whether ``listed`` shows that ``channel_id`` has no message newer than ``mark``."""
    if listed is None or channel_id not in listed:
        return False
    last = listed[channel_id]
    return last is None or last <= mark


class ReplicaState:
    """A table's records in memory and how they are read from Discord."""

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
        compaction_delay: float = COMPACTION_DELAY,
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
        #: Seconds a data message is kept at least, even when a snapshot covers it:
        #: a send whose reply was lost may be retried until ``SEND_WINDOW`` after its
        #: first attempt, and the retry must meet the first copy (see writer.py).
        self.compaction_delay = compaction_delay
        self.records: dict[int, str] = {}
        # Record id -> id of the message of its last operation (none for a record
        # read from the snapshot and not written since: see ``_load_snapshot``).
        self.versions: dict[int, int] = {}
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
        # Operations of our own messages sent and waiting to be applied in order (by id).
        self._own_ops: dict[int, Sequence[Op]] = {}
        self._reserved: dict[tuple[tuple[str, ...], Hashable], int] = {}
        self._applied: set[int] = set()  # data message ids already applied
        # Per data channel: read from history through this id (every message up to
        # it is applied), and the newest message applied in channel order (history
        # or gateway events, never an own write applied at send time).
        self._confirmed: dict[int, int] = dict.fromkeys(meta.data_channels, 0)
        self._seen: dict[int, int] = dict.fromkeys(meta.data_channels, 0)
        # Per data channel, the mark of the snapshot the state was read from: a
        # message at or below it is in the snapshot already, and an event of one
        # (held while opening or reading again) is not applied a second time. It
        # could otherwise bring back a record deleted before the snapshot.
        self._covered: dict[int, int] = dict.fromkeys(meta.data_channels, 0)
        # Messages of a channel are applied by one path at a time, in order.
        self._order_locks: dict[int, asyncio.Lock] = {c: asyncio.Lock() for c in meta.data_channels}
        self._unreadable: set[int] = set()  # messages skipped as problems: never deleted
        # Our own recent batches applied from events or history, by their operations:
        # a send whose reply was lost finds its message here.
        self._landed: dict[tuple[Op, ...], int] = {}
        # Whether events may be missing: the gateway connection is lost
        # (``_disconnected``), or events were lost and the table has not caught up
        # yet (``_stale``; see :meth:`_recover`). Meanwhile no snapshot is written
        # (see :attr:`gap`).
        self._disconnected = False
        self._stale = False
        self._must_reload = False  # the catch-up must read the table again
        self._recover_again = False  # events were lost again during a catch-up
        self._recovery: asyncio.Task[None] | None = None
        # Events that arrive while the table catches up: applied after it, in order.
        self._held: list[MessageEvent] | None = None
        self._opened = False
        self._reload_lock = asyncio.Lock()
        self._reloads = 0
        self._queues: dict[int, deque[Pending]] = {c: deque() for c in meta.data_channels}
        self._writers: dict[int, asyncio.Task[None]] = {}
        self._buffer: list[MessageEvent] | None = []  # events that arrive before it is open
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        self._snapshot_task: asyncio.Task[None] | None = None
        self._snapshot_id: int | None = None  # the manifest this cursor opened from
        self._resync_after_open = False
        self._closed = False
        # Records being inserted and their decoded values, by id (from the writer's
        # unique checks): applying them need not decode the JSON again.
        self._decoded: dict[int, tuple[str, dict[str, Any]]] = {}
        # Per model, an instance that lookups validate values on, and its defaults (planner).
        self._probes: dict[type[Table], tuple[Table, dict[str, Any]]] = {}

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
        self._opened = True
        if self._resync_after_open:  # a session was lost while opening: catch up first
            self._request_recovery(reload=False)
        buffered, self._buffer = self._buffer, None
        for event in buffered:
            await self.on_event(event)
        logger.debug("opened table {} with {} records", self.name, len(self.records))

    async def _load(self, listed: Mapping[int, int | None] | None = None) -> int | None:
        """Read the state from the newest valid snapshot and the data channels
        (see :meth:`open`); the snapshot's manifest id."""
        for _attempt in range(OPEN_ATTEMPTS):
            snapshot_id = None
            if not nothing_after(listed, self.meta.index_channel, 0):
                snapshot_id = await self._load_snapshot()
            self.indexes.load_unique(self.records)
            replayed = False
            try:
                for channel_id in self.meta.data_channels:
                    if not nothing_after(listed, channel_id, self._confirmed[channel_id]):
                        replayed = True
                        await self.catch_up(channel_id)
            except DatabaseLookupError as error:  # a message compacted between listing and reading
                logger.info("table {}: {}; reading again", self.name, error)
            else:
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
            self._confirmed[channel_id] = self._seen[channel_id] = self._covered[channel_id] = 0

    def version_messages(self) -> set[int]:
        """The messages holding the records' current versions (and tombstones);
        a record read from the snapshot counts as its channel's snapshot mark."""
        marks = set(self.versions.values())
        versions, covered = self.versions, self._covered
        marks.update(covered[self._channel_of(rid)] for rid in self.records if rid not in versions)
        return marks

    def _context_of(self, channel_id: int, author_id: int) -> str:
        """Where a message is stored, authenticated with its encrypted payload:
        an encrypted message copied to another table or channel, or re-posted
        by another account, does not decrypt."""
        return f"{self.name}/{channel_id}/{author_id}"

    def _context(self, message: RawMessage) -> str:
        return self._context_of(message.channel_id, message.author_id)

    async def _read(self, attachment: RawAttachment) -> bytes:
        return await self.transport.read_attachment(attachment)

    async def _manifests(self) -> tuple[list[RawMessage], list[Manifest]]:
        """The newest page of the index channel and the snapshot manifests on it,
        oldest first, each marked valid or not (see :func:`mark_valid`)."""
        page = await self.transport.history(self.meta.index_channel, limit=HISTORY_PAGE)
        manifests: list[Manifest] = []
        for message in page:
            if not self.codec.is_snapshot_manifest(message.content):
                continue
            try:
                meta, part_ids = await self.codec.decode_manifest(
                    message, self._read, context=self._context(message)
                )
                hw = {int(k): int(v) for k, v in dict(meta.get("hw", {})).items()}
                delay_ms = max(0, int(meta.get("cd", 0)))
            except (CodecError, ValueError, TypeError, AttributeError) as error:
                self._problem(self.meta.index_channel, message.id, f"unreadable snapshot manifest: {error}")
                continue
            manifests.append(Manifest(message.id, hw, tuple(part_ids), message.author_id, delay_ms=delay_ms))
        mark_valid(manifests, self.meta.data_channels)
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
            # No version is kept for a record read from the snapshot: every message
            # at or below the snapshot's marks is skipped (``_covered``), so its
            # version (the mark) would never be compared; ``version_messages``
            # gives it back. That is about 50 bytes less per record.
            self.records.update(records)
            for channel_id in self.meta.data_channels:
                self._confirmed[channel_id] = self._seen[channel_id] = hw.get(channel_id, 0)
                self._covered[channel_id] = hw.get(channel_id, 0)
            logger.debug("table {}: snapshot {} with {} records", self.name, manifest.id, len(self.records))
            return manifest.id
        return None

    async def catch_up(self, channel_id: int, *, since_seen: bool = False) -> int:
        """Replay every message after the confirmed mark (or, with ``since_seen``,
        after the newest message applied in order); returns the newest id read
        from history. That, not the newest event applied, is what a snapshot may
        claim to cover: an event can arrive before an older message's event."""
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
            return after

    @property
    def gap(self) -> bool:
        """Whether events may be missing: the gateway connection is lost, or events
        were lost and the table has not caught up yet. No snapshot is written
        meanwhile, since messages this process missed may already be compacted."""
        return self._disconnected or self._stale

    def mark_disconnected(self, lost: bool) -> None:
        """The gateway connection was lost (``True``), or resumed with the events
        missed meanwhile replayed (``False``)."""
        self._disconnected = lost

    async def resync(self) -> None:
        """Catch up from history: after a gateway session that did not resume, the
        events sent in between never arrive. The catch-up runs in the background
        (see :meth:`_recover`); events are held until it is done."""
        if self._closed:
            return
        self._disconnected = False
        if not self._opened:  # still opening: catch up once open
            self._resync_after_open = True
            return
        self._request_recovery(reload=False)

    async def wait_caught_up(self) -> None:
        """Wait until a catch-up after lost events (if any) is done."""
        while self._recovery is not None and not self._recovery.done():
            await asyncio.shield(self._recovery)

    def _request_recovery(self, *, reload: bool) -> None:
        """Start catching up (``reload``: by reading the table again), unless a
        catch-up is running, which then goes round once more."""
        self._stale = True
        self._must_reload |= reload
        self._recover_again = True
        if self._held is None:
            self._held = []
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Catch up after lost events until it succeeds, then apply the events held
        meanwhile, in order. A failure (Discord unavailable) is retried with a
        growing delay: giving up would leave the table silently stale. Until it is
        done :attr:`gap` is set, so no snapshot is written, and a write that
        depends on order (unique fields) waits for its own message in order."""
        while not self._closed:
            await self._catch_up_after_loss()
            held = self._held or []
            while held and not self._lost_again():
                self._held = []
                for index, event in enumerate(held):
                    await self._on_event_now(event)
                    if self._lost_again():  # keep the rest for after the next catch-up
                        self._held[:0] = held[index + 1 :]
                        break
                held = self._held
            if self._lost_again():
                continue
            self._held = None
            self._stale = False
            return

    def _lost_again(self) -> bool:
        """Whether events were lost again since the last catch-up began."""
        return self._recover_again

    async def _catch_up_after_loss(self) -> None:
        delay = RECOVERY_DELAY
        while self._recover_again and not self._closed:
            self._recover_again = False
            reload, self._must_reload = self._must_reload, False
            try:
                if reload or await self._compacted_past(self._resync_start):
                    await self._reload()
                    logger.debug("table {}: read again after missing events", self.name)
                else:
                    for channel_id in self.meta.data_channels:
                        await self.catch_up(channel_id, since_seen=True)
                    logger.debug("table {}: caught up after missing events", self.name)
            except DiscobaseError as error:
                self._must_reload |= reload
                self._recover_again = True
                logger.warning(
                    "table {}: catching up after missing events failed ({}); trying again in {} s",
                    self.name,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECOVERY_MAX_DELAY)

    async def _catch_up_safely(self, channel_id: int) -> None:
        """Catch up a channel from history; while events may be missing (a gap),
        first make sure compaction did not delete messages this process never
        applied, and read the table again if it may have."""
        if not self.gap:
            await self.catch_up(channel_id)
        elif await self._compacted_past(self._resync_start):
            await self._reload()
        else:
            await self.catch_up(channel_id, since_seen=True)

    async def _compacted_past(self, start: Callable[[int], int]) -> bool:
        """Whether compaction may have deleted messages after ``start(channel)`` on
        some data channel, so that a catch-up from there could miss them (read
        the table again instead). Compaction deletes up to the marks of the
        oldest valid snapshot, and only messages older than its writer's
        ``compaction_delay`` before its snapshot: nothing newer than the newest
        manifest minus the smallest delay the manifests state (and ours)."""
        _, manifests = await self._manifests()
        valid = [m for m in manifests if m.valid]
        if not valid:
            return False
        delay_ms = min(int(self.compaction_delay * 1000), *(m.delay_ms for m in manifests))
        kept = max(m.id for m in manifests) - (delay_ms << 22)  # messages after it were never deleted
        return any(kept > start(c) < valid[0].hw.get(c, 0) for c in self.meta.data_channels)

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
            fresh = type(self)(
                model=self.model,
                meta=self.meta,
                transport=self.transport,
                codec=self.codec,
                ids=self.ids,
                snapshot_every=self.snapshot_every,
                compaction=self.compaction,
                compaction_delay=self.compaction_delay,
                options=self._options,
            )
            snapshot_id = await fresh._load()
            self.records, self.versions, self.indexes = fresh.records, fresh.versions, fresh.indexes
            self._applied, self._confirmed, self._seen = fresh._applied, fresh._confirmed, fresh._seen
            self._covered = fresh._covered
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
        if message.id <= self._covered[message.channel_id]:
            return  # in the snapshot the state was read from
        own = self._own_ops.pop(message.id, None)
        if own is not None:
            ops = list(own)  # our own message, still in memory: no download, no decoding
        elif not self.codec.is_batch(message.content):
            self._applied.add(message.id)
            self._problem(message.channel_id, message.id, "foreign content")
            return
        else:
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
        effect, else why not (``stale``, ``missing``, ``unique:<fields>``,
        ``invalid:<why>``); an atomic change that took effect gives
        :data:`APPLIED` and the record it made."""
        if message_id in self._applied:
            return self._results.get(message_id, [None] * len(ops))
        self._applied.add(message_id)
        results = [self._apply(op, message_id) for op in ops]
        self._ops_since_snapshot += len(ops)
        self._messages_since_snapshot += 1
        if self.ordered or any(op.kind == "a" for op in ops):  # a writer waits for these results
            self._results[message_id] = results
            if len(self._results) > RECENT_RESULTS:
                del self._results[next(iter(self._results))]
            waiter = self._echo.pop(message_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(results)
        return results

    def _apply(self, op: Op, version: int) -> str | None:
        rid = op.rid
        if self.versions.get(rid, 0) > version:
            # An older operation arriving late. (Equal: an earlier operation of the
            # same message, e.g. a batch of increments of one record, applied in order.)
            return "stale"
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
        if op.kind in ("u", "a") and old is None:
            return "missing"  # updating a record that was deleted meanwhile
        if op.kind == "i" and rid in self.versions and old is None:
            return "missing"  # inserting over a tombstone
        data = op.data
        assert data is not None
        if op.kind == "a":
            assert old is not None
            try:
                data = Changes.from_json(data).apply(self.model, old)
            except ChangeRejected as error:
                return f"invalid:{error}"  # the same in every process: the record stays as it was
        hint = self._decoded.pop(rid, None) if self._decoded else None
        if not indexes.active:
            values = None
        elif hint is not None and hint[0] is data:
            values = hint[1]
        else:
            values = json.loads(data)
        if values is not None and indexes.unique:
            clash = indexes.conflict(rid, values)
            if clash is not None:
                return "unique:" + ",".join(clash[0])  # the earlier message holds the value
        self.versions[rid] = version
        if old is not None and values is not None:
            indexes.remove(rid, json.loads(old))
        self.records[rid] = data
        if values is not None:
            indexes.add(rid, values)
        return APPLIED + data if op.kind == "a" else None

    # ------------------------------------------------------------------ events from other processes
    async def on_event(self, event: MessageEvent) -> None:
        if event.channel_id not in self._queues:
            return
        if self._buffer is not None:
            self._buffer.append(event)
            return
        if self._held is not None:
            self._held.append(event)
            return
        await self._on_event_now(event)

    async def _on_event_now(self, event: MessageEvent) -> None:
        if event.kind == "create" and event.message is not None:
            message = event.message
            channel_id = message.channel_id
            async with self._order_locks[channel_id]:
                sending = self._sending.get(channel_id)
                if sending is not None and message.author_id == self.transport.user_id:
                    # Probably the echo of the message being sent: once the send returns we
                    # know its id and need not decode it (its attachments would be downloaded).
                    await asyncio.shield(sending)
                try:
                    await self._apply_message(message)
                except DatabaseLookupError as error:
                    # Its attachments are gone: compaction deleted the message before this
                    # process read it, so a snapshot holds it now. Until the table is read
                    # again, events are missing: no snapshot may claim to cover it.
                    logger.info("table {}: {}; reading the table again", self.name, error)
                    self._request_recovery(reload=True)
                    return
                self._seen[channel_id] = max(self._seen[channel_id], message.id)

    def _maybe_snapshot(self) -> None:
        """Start a background snapshot when enough operations were applied (see :class:`TableReplica`)."""
