"""Events and recovery of a table replica.

Covers opening (then applying the events that arrived meanwhile), gateway events
from other processes, and catching up after lost events (from history, or by
reading the table again).

The state itself (records, versions, snapshot loading, catch-up from history,
applying operations) is :class:`~discobase.engine.state.ReplicaState`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from loguru import logger

from discobase.engine.state import RECOVERY_DELAY, RECOVERY_MAX_DELAY, ReplicaState
from discobase.exceptions import DatabaseLookupError, DatabaseStorageError, DiscobaseError
from discobase.storage.transport import MessageEvent

__all__ = ["ReplicaRecovery"]


class ReplicaRecovery(ReplicaState):
    """A replica state kept in step with Discord: open, events, catch-up after loss."""

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

    @property
    def gap(self) -> bool:
        """Whether events may be missing.

        True while the gateway connection is lost, or events were lost and the table has
        not caught up yet. No snapshot is written meanwhile, since messages this process
        missed may already be compacted."""
        return self._disconnected or self._held is not None

    def mark_disconnected(self, lost: bool) -> None:
        """Record that the gateway connection was lost or resumed.

        ``lost`` is True when it was lost, False when it resumed with the events missed
        meanwhile replayed."""
        self._disconnected = lost

    async def resync(self) -> None:
        """Catch up from history after a gateway session that did not resume.

        The events sent in between never arrive. The catch-up runs in the background (see
        :meth:`_recover`); events are held until it is done."""
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
        """Start catching up, unless a catch-up is running (which then goes round once more).

        With ``reload``, catch up by reading the table again."""
        self._must_reload |= reload
        self._recover_again = True
        if self._held is None:
            self._held = []
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Catch up after lost events until it succeeds, then apply the held events in order.

        A failure (Discord unavailable) is retried with a growing delay: giving up would
        leave the table silently stale. Until it is done :attr:`gap` is set, so no snapshot
        is written, and a write that depends on order (unique fields) waits for its own
        message in order."""
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
            self._held = None  # caught up
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
                if reload:
                    await self._reload()
                else:
                    await self._catch_up_or_reload(self.meta.data_channels)
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
        """Catch up a channel from history, reading the table again if compaction got ahead.

        While events may be missing (a gap), first make sure compaction did not delete
        messages this process never applied, and read the table again if it may have."""
        if self.gap:
            await self._catch_up_or_reload([channel_id])
        else:
            await self.catch_up(channel_id)

    async def _catch_up_or_reload(self, channels: Sequence[int]) -> None:
        """Catch ``channels`` up after missed events, or read the table again if needed.

        The catch-up starts a little before the newest message applied in order; when
        compaction may have deleted messages after that, the table is read again."""
        if await self._compacted_past(self._resync_start):
            await self._reload()
            logger.debug("table {}: read again after missing events", self.name)
        else:
            for channel_id in channels:
                await self.catch_up(channel_id, since_seen=True)
            logger.debug("table {}: caught up after missing events", self.name)

    async def _compacted_past(self, start: Callable[[int], int]) -> bool:
        """Whether compaction may have deleted messages after ``start(channel)`` on a channel.

        If so, a catch-up from there could miss them (read the table again instead).
        Compaction deletes up to the marks of the oldest valid snapshot, and only messages
        older than its writer's ``compaction_delay`` before its snapshot: nothing newer
        than the newest manifest minus the smallest delay the manifests state (and ours)."""
        _, manifests = await self._manifests()
        valid = [m for m in manifests if m.valid]
        if not valid:
            return False
        delay_ms = min(int(self.compaction_delay * 1000), *(m.delay_ms for m in manifests))
        kept = max(m.id for m in manifests) - (delay_ms << 22)  # messages after it were never deleted
        return any(kept > start(c) < valid[0].hw.get(c, 0) for c in self.meta.data_channels)

    async def _reload(self) -> None:
        """Read the whole state again from the newest valid snapshot, into a new state.

        The new state replaces the current one once complete: reads and writes go on
        meanwhile, and events are held, then applied to the new state."""
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
