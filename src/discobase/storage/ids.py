"""Record ids: client-generated snowflakes, unique across processes.

``(ms since 2015) << 22 | worker (10 bits) << 12 | counter`` — time-ordered
like Discord's, so a record's id also tells when it was made. Two processes
never hold the same worker number at once: each leases one (:class:`WorkerLease`)
in the catalog channel before it writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Sequence

from loguru import logger

from discobase._discord.snowflakes import DISCORD_EPOCH as DISCORD_EPOCH_MS
from discobase.exceptions import DatabaseLookupError, DatabaseStorageError
from discobase.storage.transport import HISTORY_PAGE, RawMessage, Transport

__all__ = ["EPOCH_MS", "WORKERS", "WORKER_MARKER", "IdGenerator", "WorkerLease", "id_time_ms"]

EPOCH_MS = DISCORD_EPOCH_MS
#: Worker numbers (10 bits).
WORKERS = 1024
#: Seconds a burst of ids may run ahead of the clock before a release waits no longer.
MAX_AHEAD = 5.0
#: Content prefix of a worker claim in the catalog channel.
WORKER_MARKER = "dbW1 "


def id_time_ms(record_id: int) -> int:
    """Unix milliseconds at which ``record_id`` was made."""
    return (record_id >> 22) + EPOCH_MS


class IdGenerator:
    """Strictly increasing ids for one worker number.

    Without a worker the generator draws a random one (enough for a single
    process); a database sets the worker it leased with :meth:`lease`, after
    which ids are refused once the lease is no longer known to be held.
    """

    def __init__(self, worker: int | None = None) -> None:
        self._worker = (worker if worker is not None else int.from_bytes(os.urandom(2), "big")) & 0x3FF
        self._last_ms = 0  # milliseconds since the epoch of the last id (may run ahead of the clock)
        self._counter = 0
        self._lock = threading.Lock()
        self._valid_until: float | None = None  # time.monotonic() deadline of a leased worker

    @property
    def worker(self) -> int:
        return self._worker

    @property
    def last_time_ms(self) -> int:
        """Unix milliseconds of the last id made.

        It runs ahead of the clock after a burst of more than 4096 ids in a millisecond.
        """
        return self._last_ms + EPOCH_MS

    def lease(self, worker: int, valid_until: float | None) -> None:
        """Use ``worker`` until ``valid_until`` (``time.monotonic()``; None: for ever)."""
        with self._lock:
            self._worker = worker & 0x3FF
            self._valid_until = valid_until

    def next(self) -> int:
        return self.take(1)[0]

    def take(self, count: int) -> list[int]:
        """``count`` new ids, in increasing order (what ``count`` calls of :meth:`next` give).

        Made a millisecond's worth at a time, as ranges: a bulk insert of a million
        records gets its ids in a few milliseconds."""
        with self._lock:
            if self._valid_until is not None and time.monotonic() > self._valid_until:
                raise DatabaseStorageError(
                    f"the lease of record-id worker {self._worker} could not be renewed (is Discord "
                    "reachable?); no record is written until it is, so that ids stay unique"
                )
            now = max(int(time.time() * 1000) - EPOCH_MS, 0)
            if now > self._last_ms:
                self._last_ms, self._counter = now, -1
            # Always the current worker's bits: after a new lease, ids of the old
            # number (now perhaps another process's) are never made again.
            worker = self._worker << 12
            ids: list[int] = []
            while len(ids) < count:
                if self._counter >= 0xFFF:  # exhausted: borrow the next millisecond
                    self._last_ms, self._counter = self._last_ms + 1, -1
                first = self._counter + 1
                last = min(0xFFF, first + count - len(ids) - 1)
                base = (self._last_ms << 22) | worker
                ids.extend(range(base | first, (base | last) + 1))
                self._counter = last
            return ids


def _claim_of(message: RawMessage) -> tuple[int, str, float] | None:
    """``(worker, owner, expires)`` of a worker claim, or None."""
    if not message.content.startswith(WORKER_MARKER):
        return None
    try:
        data = json.loads(message.content[len(WORKER_MARKER) :])
        worker, owner, expires = int(data["w"]), str(data["owner"]), float(data["expires"])
    except (ValueError, KeyError, TypeError):
        return None
    return (worker, owner, expires) if 0 <= worker < WORKERS else None


class WorkerLease:
    """A worker number held by this process, as a claim message in a channel.

    To lease, a process posts a claim on a random number, then reads the
    channel: if an earlier live claim names the same number, it withdraws and
    claims a free one (reading what was posted since), and so on.
    Message ids order the claims alike for every process, so no two live
    claims keep one number. The holder renews its claim (an edit) every third
    of the lease; the generator refuses ids once a renewal is overdue, and a
    claim that expired (a crashed process) is deleted by the next process that
    leases. Expiry times are wall-clock times: processes' clocks must agree to
    well within ``margin``.
    """

    def __init__(
        self,
        transport: Transport,
        channel_id: int,
        ids: IdGenerator,
        *,
        lease: float = 600.0,
        margin: float = 60.0,
    ) -> None:
        self.transport = transport
        self.channel_id = channel_id
        self.ids = ids
        self.lease = lease
        self.margin = margin
        self.owner = os.urandom(8).hex()
        self.worker: int | None = None
        self._claim: int | None = None
        self._started = 0.0
        self._renewer: asyncio.Task[None] | None = None

    def _content(self, worker: int) -> str:
        claim = {"w": worker, "owner": self.owner, "expires": time.time() + self.lease}
        return WORKER_MARKER + json.dumps(claim, separators=(",", ":"))

    async def post(self) -> None:
        """Post a claim on a random worker number, before the channel is read.

        The read which follows then shows it; see :meth:`confirm`.
        """
        self.worker = random.randrange(WORKERS)
        self._started = time.monotonic()
        self._claim = (await self.transport.send(self.channel_id, self._content(self.worker))).id

    async def confirm(self, seen: Sequence[RawMessage], *, attempts: int = 8) -> int:
        """Keep the posted claim, or withdraw it and claim a free number.

        The claim stays if no earlier live claim names its number. ``seen`` is the channel's
        history read after :meth:`post` (oldest first); only what follows it is read again.
        """
        if self._claim is None or self.worker is None:
            raise DatabaseStorageError("post() a worker claim before confirming it", channel=self.channel_id)
        now = time.time()
        live: dict[int, int] = {}  # worker -> id of its earliest live claim
        expired: list[int] = []
        last = 0
        for message in seen:
            last = max(last, message.id)
            claim = _claim_of(message)
            if claim is None:
                continue
            if claim[2] <= now:
                expired.append(message.id)
            elif claim[0] not in live or message.id < live[claim[0]]:
                live[claim[0]] = message.id
        if expired:  # claims of processes that ended without withdrawing them
            await self.transport.delete_messages(self.channel_id, expired)
        for _ in range(attempts):
            mine, worker = self._claim, self.worker
            if live.get(worker, mine) >= mine:
                self.ids.lease(worker, self._started + self.lease - self.margin)
                self._renewer = asyncio.get_running_loop().create_task(self._renew())
                logger.debug("leased record-id worker {}", worker)
                return worker
            await self.transport.delete_messages(self.channel_id, [mine])
            free = [w for w in range(WORKERS) if w not in live]
            if not free:
                raise DatabaseStorageError(
                    f"all {WORKERS} record-id workers are leased: too many processes use this database",
                    channel=self.channel_id,
                )
            self.worker = random.choice(free)
            self._started = time.monotonic()
            self._claim = mine = (await self.transport.send(self.channel_id, self._content(self.worker))).id
            live = {w: i for w, i in live.items() if i != mine}
            while True:
                page = await self.transport.history(self.channel_id, after=last, limit=HISTORY_PAGE)
                now = time.time()
                for message in page:
                    last = message.id
                    claim = _claim_of(message)
                    if claim is not None and claim[2] > now and message.id != mine:
                        live[claim[0]] = min(live.get(claim[0], message.id), message.id)
                if len(page) < HISTORY_PAGE:
                    break
        raise DatabaseStorageError(
            f"could not lease a record-id worker in {attempts} attempts", channel=self.channel_id
        )

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            claim, worker = self._claim, self.worker
            if claim is None or worker is None:
                return
            started = time.monotonic()
            try:
                await self.transport.edit(self.channel_id, claim, self._content(worker))
            except DatabaseLookupError:
                logger.warning("the claim of record-id worker {} is gone; no new ids until reopened", worker)
                self.ids.lease(worker, started)  # refuse ids from now on
                return
            except DatabaseStorageError as error:  # the next renewal tries again
                logger.warning("could not renew the lease of record-id worker {}: {}", worker, error)
                continue
            self.ids.lease(worker, started + self.lease - self.margin)

    async def release(self) -> None:
        """Stop renewing and withdraw the claim (best effort: it expires anyway).

        The claim is withdrawn only once the clock has passed the last id made
        with it (a burst of ids can run a few milliseconds ahead), so that the
        next holder of the number never makes an id this process made."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
        ahead = (self.ids.last_time_ms - time.time() * 1000) / 1000
        if 0 <= ahead <= MAX_AHEAD:
            await asyncio.sleep(ahead + 0.002)
        elif ahead > MAX_AHEAD:  # the clock went back: keep the claim until it expires instead
            logger.warning(
                "record ids ran {:.0f} s ahead of the clock; the worker claim is left to expire", ahead
            )
            self._claim = None
            return
        claim, self._claim = self._claim, None
        if claim is not None:
            try:
                await self.transport.delete_messages(self.channel_id, [claim])
            except DatabaseStorageError as error:
                logger.debug("could not withdraw the record-id worker claim: {}", error)
