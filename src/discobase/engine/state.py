"""A table's replica state: reading it (snapshot + replay), catch-up from history, applying operations.

State: every live record as its JSON text, keyed by record id, plus the
indexes of :mod:`~discobase.engine.indexes`. Reading = newest snapshot (index
channel) + replay of the data messages after the snapshot's high-water marks.
Opening, gateway events and recovery after lost events are
:mod:`~discobase.engine.recovery`; own writes are deduplicated by message id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from discobase.engine.group import Pending, PendingRun, Reservations, UniqueColumns
from discobase.engine.indexes import TableIndexes
from discobase.engine.meta import Manifest, TableMeta, mark_valid
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
)
from discobase.model.changes import ChangeRejected, Changes
from discobase.storage.codec import Codec, CodecError, Inserts, Op
from discobase.storage.ids import IdGenerator
from discobase.storage.transport import (
    HISTORY_PAGE,
    MessageEvent,
    RawAttachment,
    RawMessage,
    Transport,
)
from discobase.storage.wire import has_changes, landed_key

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
        #: first attempt, and the retry must meet the first copy (see sender.py).
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
        # With the unique keys of a bulk insert's share, when the writer computed them.
        self._own_ops: dict[int, tuple[Sequence[Op], UniqueColumns | None]] = {}
        # Per unique constraint, the values writes in flight hold (see group.Reservations).
        self._reserved: dict[tuple[str, ...], Reservations] = {}
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
        self._landed: dict[tuple[int, int, int, int], int] = {}  # by ``landed_key``
        # Whether events may be missing: the gateway connection is lost
        # (``_disconnected``), or events were lost and the table has not caught up
        # yet (``_held`` is not None; see :meth:`_recover`). Meanwhile no snapshot is
        # written (see :attr:`gap`).
        self._disconnected = False
        self._must_reload = False  # the catch-up must read the table again
        self._recover_again = False  # events were lost again during a catch-up
        self._recovery: asyncio.Task[None] | None = None
        # While the table catches up after lost events: the events that arrive
        # meanwhile, applied after it, in order (None when it is caught up).
        self._held: list[MessageEvent] | None = None
        self._opened = False
        self._reload_lock = asyncio.Lock()
        self._reloads = 0
        self._queues: dict[int, deque[Pending | PendingRun]] = {c: deque() for c in meta.data_channels}
        self._writers: dict[int, asyncio.Task[None]] = {}
        self._buffer: list[MessageEvent] | None = []  # events that arrive before it is open
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        self._snapshot_task: asyncio.Task[None] | None = None
        self._snapshot_id: int | None = None  # the manifest this cursor opened from
        self._resync_after_open = False
        self._closed = False
        # Per model, an instance that lookups validate values on, and its defaults (planner).
        self._probes: dict[type[Table], tuple[Table, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ open
    def keep(self, events: Sequence[MessageEvent]) -> None:
        """Keep events of this table's channels received before the cursor existed.

        They are applied after the open, like those that arrive during it."""
        if self._buffer is None:
            raise DatabaseStorageError("the table is already open", table=self.name)
        self._buffer[:0] = events

    async def _load(self, listed: Mapping[int, int | None] | None = None) -> int | None:
        """Read the state from the newest valid snapshot and the data channels.

        Returns the snapshot's manifest id (see :meth:`open`)."""
        for _attempt in range(OPEN_ATTEMPTS):
            snapshot_id = None
            if not nothing_after(listed, self.meta.index_channel, 0):
                snapshot_id = await self._load_snapshot()  # fills the unique maps too
            if snapshot_id is None:
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
        """The messages holding the records' current versions (and tombstones).

        A record read from the snapshot counts as its channel's snapshot mark."""
        marks = set(self.versions.values())
        versions, covered = self.versions, self._covered
        marks.update(covered[self._channel_of(rid)] for rid in self.records if rid not in versions)
        return marks

    def _context_of(self, channel_id: int, author_id: int) -> str:
        """Where a message is stored, authenticated with its encrypted payload.

        An encrypted message copied to another table or channel, or re-posted by another
        account, does not decrypt."""
        return f"{self.name}/{channel_id}/{author_id}"

    def _context(self, message: RawMessage) -> str:
        return self._context_of(message.channel_id, message.author_id)

    async def _read(self, attachment: RawAttachment) -> bytes:
        return await self.transport.read_attachment(attachment)

    async def _manifests(self) -> tuple[list[RawMessage], list[Manifest]]:
        """The newest page of the index channel and the snapshot manifests on it.

        The manifests are oldest first, each marked valid or not (see :func:`mark_valid`)."""
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
                keys = meta.get("keys", [])
                if not isinstance(keys, list) or not all(type(k) is int for k in keys):
                    keys = []  # the key index is optional: the records are decoded instead
            except (CodecError, ValueError, TypeError, AttributeError) as error:
                self._problem(self.meta.index_channel, message.id, f"unreadable snapshot manifest: {error}")
                continue
            manifests.append(
                Manifest(
                    message.id, hw, tuple(part_ids), message.author_id, delay_ms=delay_ms, keys=tuple(keys)
                )
            )
        mark_valid(manifests, self.meta.data_channels)
        return page, manifests

    async def _snapshot_messages(
        self, ids: Sequence[int], by_id: Mapping[int, RawMessage]
    ) -> list[RawMessage]:
        """The index-channel messages ``ids`` (from the page already read, else fetched)."""
        found: list[RawMessage] = []
        for message_id in ids:
            message = by_id.get(message_id) or await self.transport.fetch(self.meta.index_channel, message_id)
            if message is None:
                raise CodecError(f"snapshot message {message_id} is missing")
            found.append(message)
        return found

    async def _load_keys(
        self, manifest: Manifest, by_id: Mapping[int, RawMessage], context: str, ids: Sequence[int]
    ) -> bool:
        """Fill the unique maps from the snapshot's key index; False when it has none that fits.

        ``ids`` are the snapshot's record ids in the order of its parts.

        The key index spares decoding every record at open (docs/storage.md). One that is
        missing or unreadable is no problem: the records are decoded instead."""
        if not manifest.keys or not self.indexes.unique:
            return False
        try:
            parts = await self._snapshot_messages(manifest.keys, by_id)
            count, text = await self.codec.decode_snapshot_keys(parts, self._read, context=context)
        except CodecError as error:
            logger.info("table {}: key index of snapshot {} not used: {}", self.name, manifest.id, error)
            return False
        loaded = count == len(ids) and self.indexes.load_keys(text, ids)
        if not loaded:
            logger.info("table {}: key index of snapshot {} does not fit its records", self.name, manifest.id)
        return loaded

    async def _load_snapshot(self) -> int | None:
        """Load the newest valid snapshot and fill the unique maps; its manifest's id, or None."""
        page, manifests = await self._manifests()
        by_id = {m.id: m for m in page}
        for manifest in reversed([m for m in manifests if m.valid]):
            context = self._context_of(self.meta.index_channel, manifest.author_id)
            try:
                parts = await self._snapshot_messages(manifest.parts, by_id)
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
            ids = [rid for rid, _ in records] if manifest.keys and self.indexes.unique else []
            del records
            if not await self._load_keys(manifest, by_id, context, ids):
                self.indexes.load_unique(self.records)
            for channel_id in self.meta.data_channels:
                self._confirmed[channel_id] = self._seen[channel_id] = hw.get(channel_id, 0)
                self._covered[channel_id] = hw.get(channel_id, 0)
            logger.debug("table {}: snapshot {} with {} records", self.name, manifest.id, len(self.records))
            return manifest.id
        return None

    async def catch_up(self, channel_id: int, *, since_seen: bool = False) -> int:
        """Replay every message after the confirmed mark; returns the newest id read from history.

        With ``since_seen``, replay after the newest message applied in order instead. The
        newest id read from history, not the newest event applied, is what a snapshot may
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

    def _resync_start(self, channel_id: int) -> int:
        """Where a catch-up after lost events starts: a little before the newest applied message.

        The margin before the newest message applied in order is there in case an event of an older
        message was still on its way when the events stopped (a server may send them out
        of order)."""
        seen = self._seen[channel_id] - (RESYNC_MARGIN_MS << 22)
        return max(self._confirmed[channel_id], seen, 0)

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
        keys = None
        if own is not None:
            ops, keys = own  # our own message, still in memory: no download, no decoding
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
            self._landed[landed_key(ops)] = message.id
            if len(self._landed) > RECENT_RESULTS:
                del self._landed[next(iter(self._landed))]
        self._apply_ops(message.channel_id, message.id, ops, keys)

    def _apply_ops(
        self, channel_id: int, message_id: int, ops: Sequence[Op], keys: UniqueColumns | None = None
    ) -> list[str | None]:
        """Apply a message's operations (once); returns, per operation, why it did not take effect.

        Per operation None if it took effect, else why not (``stale``, ``missing``,
        ``unique:<fields>``, ``invalid:<why>``); an atomic change that took effect gives
        :data:`APPLIED` and the record it made."""
        if message_id in self._applied:
            return self._results.get(message_id, [None] * len(ops))
        self._applied.add(message_id)
        results = self._apply_inserts(ops, message_id, keys) if len(ops) > 1 else None
        if results is None:
            results = [self._apply(op, message_id) for op in ops]
        self._ops_since_snapshot += len(ops)
        self._messages_since_snapshot += 1
        if self.ordered or has_changes(ops):  # a writer waits for these results
            self._results[message_id] = results
            if len(self._results) > RECENT_RESULTS:
                del self._results[next(iter(self._results))]
            waiter = self._echo.pop(message_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(results)
        return results

    def _apply_inserts(
        self, ops: Sequence[Op], version: int, keys: UniqueColumns | None
    ) -> list[str | None] | None:
        """Apply a message of new records at once (a bulk insert), or None to apply it op by op.

        Taken when every operation inserts a record this replica has never seen (no
        tombstone either), no two of them the same, and no unique value clashes with a
        stored record or another of the message: then each would take effect, and the
        records, versions and indexes are updated as columns. Anything else (a clash
        to resolve in message order, a repeated id) goes op by op.

        ``keys``: the unique keys of the operations, when this process's writer computed
        them for its own bulk insert (else they are decoded). Its ids are new and distinct
        (taken at once from this process's id generator) and so are its keys (it checked),
        so only clashes with the records stored meanwhile are looked for then."""
        own = keys is not None
        if isinstance(ops, Inserts):
            rids, datas = ops.rids, ops.datas
        elif all(op.kind == "i" for op in ops):
            rids = [op.rid for op in ops]
            datas = [op.data for op in ops]  # type: ignore[misc]  # inserts carry data
        else:
            return None
        records, versions = self.records, self.versions
        if (
            not versions.keys().isdisjoint(rids)
            or not records.keys().isdisjoint(rids)
            or (not own and len(set(rids)) != len(rids))
        ):
            return None
        indexes = self.indexes
        values: list[dict[str, Any]] | None = None
        if indexes.active:
            if keys is None or indexes.hash or indexes.sorted is not None:
                values = json.loads("[" + ",".join(datas) + "]")
            if keys is None:
                assert values is not None
                keys = [(fields, indexes.unique_keys(fields, values)) for fields in indexes.unique_maps]
            for fields, column in keys:
                held = indexes.unique_maps[fields]
                if (not own and len(set(column)) != len(column)) or not held.keys().isdisjoint(column):
                    return None
        records.update(zip(rids, datas, strict=True))
        versions.update(zip(rids, itertools.repeat(version)))
        if keys is not None:
            indexes.add_many(rids, values, keys)
        return [None] * len(ops)

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
        values = json.loads(data) if indexes.active else None
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
    def _maybe_snapshot(self) -> None:
        """Start a background snapshot when enough operations were applied (see :class:`TableReplica`)."""
