"""``TableReplica``: one table's records in memory, kept in step with Discord.

The class is layered by job: :mod:`~discobase.engine.state` (reading, catch-up,
applying operations), :mod:`~discobase.engine.recovery` (open, events, recovery
after lost events), :mod:`~discobase.engine.planner` (reads),
:mod:`~discobase.engine.writer` (the write operations),
:mod:`~discobase.engine.sender` (group commit), and here snapshots, compaction
and close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from loguru import logger

from discobase.engine.group import PendingRun
from discobase.engine.indexes import index_key
from discobase.exceptions import (
    DatabaseStorageError,
    DiscobaseError,
)
from discobase.storage.codec import Codec
from discobase.storage.transport import (
    HISTORY_PAGE,
    RawMessage,
)

if TYPE_CHECKING:
    pass

from discobase.engine.meta import TableMeta, age_ms
from discobase.engine.state import ORPHAN_AGE_MS
from discobase.engine.writer import ReplicaWriter

__all__ = ["TableCursor", "TableMeta", "TableReplica", "index_key"]


class TableReplica(ReplicaWriter):
    """State and storage of one table: records, indexes, writer, snapshots."""

    # ------------------------------------------------------------------ snapshots and compaction
    def _maybe_snapshot(self) -> None:
        """Start a background snapshot when enough operations were applied since the last.

        Not while the rest of a bulk insert is queued: its next message would make the
        snapshot stale at once, and writing it would hold up that message (the writer
        calls this again after each message, the run's last included)."""
        if self._ops_since_snapshot < self.snapshot_every:
            return
        if any(isinstance(item, PendingRun) for queue in self._queues.values() for item in queue):
            return
        if self._snapshot_task is None or self._snapshot_task.done():
            self._snapshot_task = asyncio.get_running_loop().create_task(self._snapshot_quietly())

    async def _snapshot_quietly(self) -> None:
        try:
            await self.snapshot()
        except DiscobaseError as error:
            logger.warning("table {}: background snapshot failed: {}", self.name, error)

    async def rewrite_all(self, codec: Codec) -> None:
        """Switch to ``codec`` and write the whole table again with it (a key rotation).

        Writes a snapshot, then deletes every older snapshot and every data message it
        covers. Other processes must not write meanwhile."""
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
        keep = manifest.messages
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
        hw = {channel_id: await self.catch_up(channel_id) for channel_id in self.meta.data_channels}
        self._ops_since_snapshot = 0
        self._messages_since_snapshot = 0
        records = list(self.records.items())
        keys = self.indexes.export_keys([rid for rid, _ in records])  # with the records: no await between
        meta: dict[str, object] = {
            "table": self.name,
            "hw": {str(k): str(v) for k, v in hw.items()},
            "count": len(records),
            "schema": self.meta.schema_version,
            "cd": int(self.compaction_delay * 1000),  # see ReplicaRecovery._compacted_past
        }
        part_ids: list[int] = []
        context = self._context_of(self.meta.index_channel, self.transport.user_id)
        for part in self.codec.encode_snapshot(records, meta=meta, context=context):
            sent = await self.transport.send(self.meta.index_channel, part.content, part.files)
            part_ids.append(sent.id)
        if keys is not None:  # after the parts, so that compaction by older versions keeps it
            key_ids: list[int] = []
            for part in self.codec.encode_snapshot_keys(keys, count=len(records), context=context):
                sent = await self.transport.send(self.meta.index_channel, part.content, part.files)
                key_ids.append(sent.id)
            meta["keys"] = key_ids
        manifest = self.codec.manifest(meta, part_ids, context=context)
        sent = await self.transport.send(self.meta.index_channel, manifest.content, manifest.files)
        logger.debug("table {}: snapshot {} of {} records", self.name, sent.id, len(records))
        return sent.id

    async def _compact(self, snapshot_id: int) -> None:
        """Delete the snapshots and data messages that no opener can need.

        With the valid manifests of the index channel read after our snapshot
        was posted, keep the newest two (a process may be opening from the
        older one): first delete older snapshots, then the data messages at or
        below the marks of the oldest valid snapshot left, once they are older
        than :attr:`compaction_delay` seconds. Every snapshot an
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
        doomed = {p for m in manifests if m.id < cutoff for p in m.messages}
        doomed -= {p for m in kept for p in m.messages}
        await self._delete_index_before(cutoff, doomed, page)
        oldest = valid[-2]
        # Data messages younger than compaction_delay (by Discord's clock: our
        # manifest's snowflake) are kept: a retry of their send may still come.
        young = snapshot_id - (int(self.compaction_delay * 1000) << 22)
        for channel_id in self.meta.data_channels:
            mark = oldest.hw.get(channel_id, 0)
            if mark and young > 0:
                await self._delete_before(channel_id, min(mark + 1, young))

    async def _delete_index_before(self, cutoff: int, doomed: set[int], page: Sequence[RawMessage]) -> None:
        """Delete index-channel messages older than ``cutoff``.

        That is the ``doomed`` snapshots, and other messages once they are old enough to be
        orphans."""
        channel_id = self.meta.index_channel
        ids = [m.id for m in page if m.id < cutoff and (m.id in doomed or age_ms(m.id) > ORPHAN_AGE_MS)]
        if ids:
            await self.transport.delete_messages(channel_id, ids)
        older = min((m.id for m in page), default=cutoff)
        if len(page) == HISTORY_PAGE and older < cutoff:  # more below the page: old enough by now?
            await self._delete_before(channel_id, older, keep=lambda mid: age_ms(mid) <= ORPHAN_AGE_MS)

    async def _delete_before(
        self, channel_id: int, before: int, max_pages: int = 10, keep: Callable[[int], bool] | None = None
    ) -> None:
        """Delete messages older than ``before``, with bounded work per call.

        The rest goes next time. Messages this process could not read and those ``keep``
        names are kept."""
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
        """Flush writes, then snapshot if replaying the tail would take more than one page.

        A tail that fits in one history page is cheaper to replay than to snapshot."""
        await self.flush()
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if self._recovery is not None and not self._recovery.done():
            # Still catching up after lost events (Discord unavailable?): a snapshot
            # is not allowed meanwhile anyway, and waiting could take long.
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        if snapshot and (
            self._messages_since_snapshot >= HISTORY_PAGE or self._ops_since_snapshot >= self.snapshot_every
        ):
            await self._snapshot_quietly()
        self._closed = True

    def channel_ids(self) -> list[int]:
        return [*self.meta.data_channels, self.meta.index_channel]


#: The earlier name of :class:`TableReplica` (it was never a cursor).
TableCursor = TableReplica
