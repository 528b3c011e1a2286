"""Gateway sessions and connections: what RESUME needs to survive, and one writer per socket."""

from __future__ import annotations

import asyncio
import collections
import itertools
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypedDict

from aiohttp import web
from loguru import logger

from discobase._discord.gateway import CLOSE_REASONS, LARGE_THRESHOLD
from discobase.local.gateway.frames import FrameEncoder, dispatch_text

__all__ = [
    "CLOSE_TIMEOUT",
    "DETACHED_GRACE",
    "Connection",
    "GatewayBackend",
    "GatewayFaultSource",
    "GatewayIdentity",
    "GatewaySession",
]

#: Seconds to wait for a close handshake before aborting the transport.
CLOSE_TIMEOUT: Final = 2.0
#: Seconds a connection may stay open after op 7 / op 9 detached it from its session.
DETACHED_GRACE: Final = 5.0


class GatewayIdentity(TypedDict):
    """Who a token belongs to, as returned by :meth:`GatewayBackend.authenticate`."""

    user_id: int
    application_id: int
    #: The user object sent in READY (snowflakes as strings).
    user: dict[str, Any]


class GatewayBackend(Protocol):
    """What the hub needs to know about the world; implemented by the server's state."""

    def authenticate(self, token: str) -> GatewayIdentity | None:
        """The identity owning ``token`` (given without the ``Bot`` prefix), or ``None``."""
        ...

    def guild_ids_for(self, user_id: int) -> list[int]:
        """The guilds ``user_id`` is a member of."""
        ...

    def guild_create_payload(
        self, guild_id: int, user_id: int, *, presences: bool = False, large_threshold: int = LARGE_THRESHOLD
    ) -> dict[str, Any]:
        """The full GUILD_CREATE ``d`` for ``guild_id`` as ``user_id`` sees it; ``presences``:
        the session has the GUILD_PRESENCES intent (else ``members`` is the user's own only);
        ``large_threshold``: the session's IDENTIFY value (a larger guild lists no offline
        members)."""
        ...

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        """Whether ``user_id`` is in the guild and (if given) may view the channel."""
        ...

    def member_chunk(
        self, guild_id: int, user_id: int, query: str | None, limit: int, user_ids: list[int] | None
    ) -> list[dict[str, Any]]:
        """Member payloads for REQUEST_GUILD_MEMBERS.

        ``query`` is a username prefix (``""`` matches everyone) and is ``None``
        when ``user_ids`` is given; ``limit`` 0 means "no limit".
        """
        ...


class GatewayFaultSource(Protocol):
    """Injects gateway faults (used by the server's chaos/fault configuration)."""

    def gateway_fault(self, event: str) -> tuple[str, int | bool] | None:
        """Called before ``event`` is sent to a connected session.

        Return ``None`` to send normally, or one of ``("close", code)``,
        ``("invalid_session", resumable)``, ``("reconnect", 0)``, ``("drop", 0)``.
        The event is recorded in the session's replay buffer either way, so
        nothing is lost if the client resumes.
        """
        ...


# --------------------------------------------------------------------------- encoders


def _resolve(future: asyncio.Future[bool] | None, value: bool) -> None:
    """Settle ``future`` (if any and not yet settled) with ``value``."""
    if future is not None and not future.done():
        future.set_result(value)


@dataclass(slots=True)
class _Frame:
    """One queued outgoing message; ``event`` is set for dispatches (for stats)."""

    text: str
    event: str | None
    done: asyncio.Future[bool] | None


@dataclass(slots=True)
class _Shutdown:
    """Queued request to close the websocket with ``code`` after earlier frames."""

    code: int
    done: asyncio.Future[bool] | None


class GatewaySession:
    """An identified gateway session; survives its connection for RESUME.

    Holds the sequence counter and the bounded replay buffer of every dispatch
    (``(seq, event, text)``).  ``dropped_through`` is the highest sequence
    evicted from the buffer: a RESUME from an older sequence cannot be served.
    """

    def __init__(
        self,
        session_id: str,
        identity: GatewayIdentity,
        intents: int,
        shard: tuple[int, int] | None,
        replay_limit: int,
    ) -> None:
        self.session_id = session_id
        self.user_id = identity["user_id"]
        self.application_id = identity["application_id"]
        self.user = identity["user"]
        self.intents = intents
        self.shard = shard
        self.replay_limit = max(replay_limit, 1)
        self.seq = 0
        self.dropped_through = 0
        self.buffer: collections.deque[tuple[int, str, str]] = collections.deque()
        self.guild_ids: set[int] = set()
        #: IDENTIFY's ``large_threshold`` (see :func:`large_threshold`).
        self.large_threshold = LARGE_THRESHOLD
        self.connection: Connection | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def record(self, event: str, d_json: str) -> str:
        """Assign the next sequence to a dispatch, buffer it and return its text."""
        self.seq += 1
        text = dispatch_text(event, self.seq, d_json)
        self.buffer.append((self.seq, event, text))
        while len(self.buffer) > self.replay_limit:
            self.dropped_through = self.buffer.popleft()[0]
        return text

    def unbuffered(self, event: str, d_json: str) -> str:
        """A dispatch with the next sequence that is not replayed (RESUMED)."""
        self.seq += 1
        return dispatch_text(event, self.seq, d_json)

    def replay_after(self, seq: int) -> list[tuple[str, str]]:
        """``(event, text)`` of every buffered dispatch with a sequence above ``seq``."""
        return [(event, text) for s, event, text in self.buffer if s > seq]

    def in_shard(self, guild_id: int | None) -> bool:
        """Whether events for ``guild_id`` (``None``: DMs, which go to shard 0) belong here."""
        if self.shard is None:
            return True
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % shard_count == shard_id


class Connection:
    """One websocket connection and its writer task.

    Frames are queued with :meth:`send` and written in order by one task, so
    the streaming compressor sees them in the order they go out.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        encoder: FrameEncoder,
        stats: collections.Counter[str],
    ) -> None:
        self.cid = next(self._ids)
        self.ws = ws
        self.transport = request.transport
        self.encoder = encoder
        self.stats = stats
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[_Frame | _Shutdown] = asyncio.Queue()
        self.session: GatewaySession | None = None
        self.last_heartbeat = self.loop.time()
        self.closing = False
        self.shutdown_queued = False
        self.close_code: int | None = None
        self.client_close_code: int | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.writer = asyncio.create_task(self._write_loop(), name=f"gateway-writer-{self.cid}")

    def send(self, text: str, event: str | None = None, *, wait: bool = False) -> asyncio.Future[bool] | None:
        """Queue a frame; with ``wait`` return a future resolved once it is written."""
        done: asyncio.Future[bool] | None = self.loop.create_future() if wait else None
        if self.closing or self.writer.done():
            _resolve(done, False)
        else:
            self.queue.put_nowait(_Frame(text, event, done))
        return done

    def request_close(self, code: int) -> asyncio.Future[bool]:
        """Close with ``code`` once the frames queued before are written."""
        done: asyncio.Future[bool] = self.loop.create_future()
        if self.closing or self.writer.done():
            done.set_result(False)
            return done
        self.closing = True
        self.shutdown_queued = True
        self.close_code = code
        self.cancel_grace()
        self.queue.put_nowait(_Shutdown(code, done))
        return done

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def start_grace(self) -> None:
        """Close this (session-less) connection if the client does not leave by itself."""
        self.cancel_grace()
        self.grace = self.loop.call_later(DETACHED_GRACE, self.request_close, 4000)

    def cancel_grace(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, _Shutdown):
                    await self._close_ws(item.code)
                    _resolve(item.done, True)
                    return
                try:
                    data = self.encoder.encode(item.text)
                    if isinstance(data, bytes):
                        await self.ws.send_bytes(data)
                    else:
                        await self.ws.send_str(data)
                except Exception as exc:
                    logger.debug("gateway connection {} send failed: {!r}", self.cid, exc)
                    _resolve(item.done, False)
                    self.abort()
                    return
                if item.event is not None:
                    self.stats[f"GATEWAY DISPATCH {item.event}"] += 1
                _resolve(item.done, True)
        finally:
            while not self.queue.empty():
                _resolve(self.queue.get_nowait().done, False)

    async def _close_ws(self, code: int) -> None:
        reason = CLOSE_REASONS.get(code, "").encode()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT * 2):
                await self.ws.close(code=code, message=reason)
        except Exception as exc:
            logger.debug("gateway connection {} close failed: {!r}", self.cid, exc)
            self.abort()

    async def finish(self) -> None:
        """Stop the writer (letting a requested close finish first, briefly)."""
        self.cancel_grace()
        if self.shutdown_queued and not self.writer.done():
            await asyncio.wait({self.writer}, timeout=CLOSE_TIMEOUT)
        if not self.writer.done():
            self.writer.cancel()
            await asyncio.wait({self.writer})


# --------------------------------------------------------------------------- the hub
