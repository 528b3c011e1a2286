"""A lock held in Discord: lease claims as messages in a channel.

To take the lock named ``name``, a process posts a claim ``dbL1 {...}`` (its
owner id and when its lease expires), then reads the channel: the **earliest
live claim** (lowest message id, lease not expired) holds the lock. A process
that does not hold it withdraws its claim and retries later. The holder
refreshes its lease while it works and deletes its claim to release the lock;
if it crashes, its lease expires and the next claim wins. Message ids give
every process the same order, so at most one holds the lock at a time (as
long as clocks agree to well within the lease).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from types import TracebackType

from loguru import logger

from discobase.exceptions import DatabaseStorageError
from discobase.storage.transport import HISTORY_PAGE, Transport

__all__ = ["LOCK_MARKER", "DiscordLock"]

LOCK_MARKER = "dbL1 "


class DiscordLock:
    """``async with DiscordLock(transport, channel_id, "migrations"):`` — see the module docstring."""

    def __init__(
        self,
        transport: Transport,
        channel_id: int,
        name: str,
        *,
        lease: float = 60.0,
        poll: float = 0.25,
        timeout: float = 600.0,
    ) -> None:
        self.transport = transport
        self.channel_id = channel_id
        self.name = name
        self.lease = lease
        self.poll = poll
        self.timeout = timeout
        self.owner = os.urandom(8).hex()
        self._claim: int | None = None
        self._refresher: asyncio.Task[None] | None = None

    def _content(self) -> str:
        claim = {"lock": self.name, "owner": self.owner, "expires": time.time() + self.lease}
        return LOCK_MARKER + json.dumps(claim, separators=(",", ":"))

    async def _live_claims(self) -> list[tuple[int, str]]:
        """``(message id, owner)`` of the live claims on this lock, oldest first."""
        page = await self.transport.history(self.channel_id, limit=HISTORY_PAGE)
        now = time.time()
        claims = []
        for message in page:
            if not message.content.startswith(LOCK_MARKER):
                continue
            try:
                claim = json.loads(message.content[len(LOCK_MARKER) :])
                if claim["lock"] == self.name and float(claim["expires"]) > now:
                    claims.append((message.id, str(claim["owner"])))
            except (ValueError, KeyError, TypeError):
                continue
        return sorted(claims)

    async def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            message = await self.transport.send(self.channel_id, self._content())
            self._claim = message.id
            claims = await self._live_claims()
            if claims and claims[0][1] == self.owner:
                self._refresher = asyncio.get_running_loop().create_task(self._refresh())
                logger.debug("lock {} taken by {}", self.name, self.owner)
                return
            await self._withdraw()
            holder = claims[0][1] if claims else "?"
            logger.debug("lock {} is held by {}; waiting", self.name, holder)
            while True:
                if time.monotonic() > deadline:
                    raise DatabaseStorageError(
                        f"could not take the {self.name!r} lock within {self.timeout:.0f} s "
                        f"(held by {holder})",
                        channel=self.channel_id,
                    )
                await asyncio.sleep(self.poll)
                if not await self._live_claims():
                    break

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            claim = self._claim
            if claim is None:
                return
            try:
                await self.transport.edit(self.channel_id, claim, self._content())
            except DatabaseStorageError as error:  # the next refresh tries again
                logger.warning("could not refresh the {} lock: {}", self.name, error)

    async def _withdraw(self) -> None:
        claim, self._claim = self._claim, None
        if claim is not None:
            await self.transport.delete_messages(self.channel_id, [claim])

    async def release(self) -> None:
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
        await self._withdraw()
        logger.debug("lock {} released by {}", self.name, self.owner)

    async def __aenter__(self) -> DiscordLock:
        await self.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()
