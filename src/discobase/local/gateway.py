"""The Gateway v10 websocket side of the local Discord-compatible server.

:class:`GatewayHub` is an aiohttp handler (mounted at ``GET /gateway``) that
speaks the Discord gateway protocol well enough for an unmodified discord.py
2.7 client (the protocol: https://docs.discord.com/developers/events/gateway and
https://docs.discord.com/developers/topics/opcodes-and-status-codes#gateway):

* HELLO / heartbeat / ACK, with a zombie check that closes silent connections;
* IDENTIFY -> READY + one GUILD_CREATE per guild, RESUME with a bounded replay
  buffer, INVALID_SESSION, RECONNECT and Discord's close codes;
* REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK;
* transport compression (``zlib-stream`` and ``zstd-stream``) or plain text;
* intent and visibility filtering of dispatched events, including the
  MESSAGE_CONTENT blanking rules.

The data itself lives elsewhere: the hub asks a :class:`GatewayBackend` who a
token belongs to, which guilds a user is in and what they may see.  The REST
side calls :meth:`GatewayHub.dispatch` to fan events out.

Every connection has one writer task fed by a queue, so frames leave in the
order they were queued (which keeps the streaming compressors and sequence
numbers consistent) and a slow client never blocks the others.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import secrets
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypedDict

import zstandard
from aiohttp import WSMsgType, web
from loguru import logger

from discobase._discord.gateway import (
    CLIENT_OPCODES,
    CLOSE_REASONS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    KNOWN_INTENTS,
    LARGE_THRESHOLD,
    MAX_CLIENT_PAYLOAD,
    MAX_LARGE_THRESHOLD,
    MEMBER_CHUNK_SIZE,
    NON_RESUMABLE_CLOSE_CODES,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    OP_REQUEST_GUILD_MEMBERS,
    OP_RESUME,
    SUPPORTED_VERSIONS,
    required_intent,
)
from discobase._discord.snowflakes import coerce_snowflake
from discobase.local import jsonbody

__all__ = [
    "FrameEncoder",
    "GatewayBackend",
    "GatewayFaultSource",
    "GatewayHub",
    "GatewayIdentity",
    "GatewaySession",
    "PlainEncoder",
    "ZlibStreamEncoder",
    "ZstdStreamEncoder",
    "make_encoder",
]

# --------------------------------------------------------------------------- protocol constants
# Discord's opcodes, intents and close codes are in discobase._discord.gateway.

#: Seconds to wait for a close handshake before aborting the transport.
CLOSE_TIMEOUT: Final = 2.0
#: Seconds a connection may stay open after op 7 / op 9 detached it from its session.
DETACHED_GRACE: Final = 5.0

#: Events whose payload is a guild (its ``id`` names the guild when ``guild_id`` is not given).
_GUILD_LIFECYCLE_EVENTS: Final = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})

#: Events whose payload is a message and is subject to MESSAGE_CONTENT blanking.
_CONTENT_EVENTS: Final = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE"})


# --------------------------------------------------------------------------- backend interfaces


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


class FrameEncoder(Protocol):
    """Turns one JSON gateway message into one websocket frame."""

    compression: str | None

    def encode(self, text: str) -> str | bytes:
        """A ``str`` becomes a TEXT frame, ``bytes`` a BINARY frame."""
        ...


class PlainEncoder:
    """No transport compression: every message is a TEXT frame of JSON."""

    compression: str | None = None

    def encode(self, text: str) -> str | bytes:
        """Return the JSON text unchanged."""
        return text


class ZlibStreamEncoder:
    """``compress=zlib-stream``: one zlib stream per connection.

    Each message is ``compress(json) + flush(Z_SYNC_FLUSH)``, so every frame
    ends with ``00 00 ff ff`` and discord.py's ``_ZlibDecompressionContext``
    inflates it with its single per-connection ``decompressobj``.
    """

    compression: str | None = "zlib-stream"

    def __init__(self) -> None:
        self._compressor = zlib.compressobj()

    def encode(self, text: str) -> str | bytes:
        """Compress one message and sync-flush it."""
        return self._compressor.compress(text.encode("utf-8")) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamEncoder:
    """``compress=zstd-stream``: one zstd stream per connection.

    Each message is compressed and flushed with ``COMPRESSOBJ_FLUSH_BLOCK``:
    the frame is never ended, but every websocket frame decodes to exactly one
    complete message with discord.py's single streaming decompressor.
    """

    compression: str | None = "zstd-stream"

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor().compressobj()

    def encode(self, text: str) -> str | bytes:
        """Compress one message and flush the current block."""
        return self._compressor.compress(text.encode("utf-8")) + self._compressor.flush(
            zstandard.COMPRESSOBJ_FLUSH_BLOCK
        )


def make_encoder(compress: str | None) -> FrameEncoder:
    """The encoder for a ``compress`` query value (unknown values fall back to plain text)."""
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    if compress == "zstd-stream":
        return ZstdStreamEncoder()
    return PlainEncoder()


# --------------------------------------------------------------------------- helpers


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _control(op: int, d: Any) -> str:
    """A non-dispatch payload (``s`` and ``t`` are null)."""
    return _dumps({"op": op, "d": d, "s": None, "t": None})


def _dispatch_text(event: str, seq: int, d_json: str) -> str:
    """An op 0 payload built around an already serialised ``d``."""
    return '{"op":0,"t":' + _dumps(event) + ',"s":' + str(seq) + ',"d":' + d_json + "}"


def _snowflake(value: Any) -> int | None:
    """``value`` as a snowflake int (a JSON int or a string of ASCII digits, ``0..2**63-1``),
    else ``None``."""
    return coerce_snowflake(value)


def _snowflake_list(value: Any) -> list[int] | None:
    """A snowflake or list of snowflakes as a list, or ``None`` if malformed."""
    items = value if isinstance(value, list) else [value]
    result = [_snowflake(item) for item in items]
    if any(item is None for item in result):
        return None
    return [item for item in result if item is not None]


def _author_id(data: dict[str, Any]) -> int | None:
    author = data.get("author")
    return _snowflake(author.get("id")) if isinstance(author, dict) else None


def _mentions_user(data: dict[str, Any], user_id: int) -> bool:
    mentions = data.get("mentions")
    if not isinstance(mentions, list):
        return False
    return any(isinstance(m, dict) and _snowflake(m.get("id")) == user_id for m in mentions)


def _blank_content(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a message payload as seen without the MESSAGE_CONTENT intent."""
    blanked = dict(data)
    blanked.update(content="", embeds=[], attachments=[], components=[])
    blanked.pop("poll", None)
    return blanked


def _large_threshold(value: Any) -> int:
    """IDENTIFY's ``large_threshold``: an integer from 50 to 250 (default 50), clamped into
    that range (https://discord.com/developers/docs/events/gateway-events#identify)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return LARGE_THRESHOLD
    return min(max(value, LARGE_THRESHOLD), MAX_LARGE_THRESHOLD)


def _resolve(future: asyncio.Future[bool] | None, value: bool) -> None:
    if future is not None and not future.done():
        future.set_result(value)


# --------------------------------------------------------------------------- sessions and connections


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
        #: IDENTIFY's ``large_threshold`` (see :func:`_large_threshold`).
        self.large_threshold = LARGE_THRESHOLD
        self.connection: _Connection | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def record(self, event: str, d_json: str) -> str:
        """Assign the next sequence to a dispatch, buffer it and return its text."""
        self.seq += 1
        text = _dispatch_text(event, self.seq, d_json)
        self.buffer.append((self.seq, event, text))
        while len(self.buffer) > self.replay_limit:
            self.dropped_through = self.buffer.popleft()[0]
        return text

    def unbuffered(self, event: str, d_json: str) -> str:
        """A dispatch with the next sequence that is not replayed (RESUMED)."""
        self.seq += 1
        return _dispatch_text(event, self.seq, d_json)

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


class _Connection:
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


class GatewayHub:
    """All gateway sessions of the server; its :meth:`handle` is the ``/gateway`` route.

    ``url`` is the public ``ws://`` URL of the gateway, sent as
    ``resume_gateway_url`` in READY; the server sets it after binding (if it
    is empty the URL is derived from the request's Host).  ``send_timeout``
    bounds how long :meth:`dispatch` waits for one connection's write; a
    connection slower than that is dropped (its session stays resumable).
    ``heartbeat_timeout`` (seconds) is how long a connection may stay silent
    between heartbeats before it is closed with 4000.
    """

    def __init__(
        self,
        backend: GatewayBackend,
        *,
        stats: collections.Counter[str],
        faults: GatewayFaultSource | None = None,
        heartbeat_interval_ms: int = 41250,
        resume_window: float = 300.0,
        replay_limit: int = 5000,
    ) -> None:
        self.backend = backend
        self.stats = stats
        self.faults = faults
        self.heartbeat_interval_ms = heartbeat_interval_ms
        interval = heartbeat_interval_ms / 1000
        self.heartbeat_timeout = interval * 1.5 + min(5.0, interval)
        self.resume_window = resume_window
        self.replay_limit = replay_limit
        self.send_timeout = 2.0
        self.url = ""
        self._sessions: dict[str, GatewaySession] = {}
        self._connections: set[_Connection] = set()
        self._closed = False

    # ------------------------------------------------------------------ websocket handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one gateway connection (``GET /gateway?v=10&encoding=json[&compress=...]``)."""
        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        self.stats["GATEWAY CONNECT"] += 1
        query = request.query
        early_close: int | None = None
        if self._closed:
            early_close = 1001
        elif query.get("v", "10") not in SUPPORTED_VERSIONS:
            early_close = 4012
        elif query.get("encoding", "json") != "json":
            early_close = 4002
        if early_close is not None:
            logger.debug("gateway connection refused with {}", early_close)
            await ws.close(code=early_close, message=CLOSE_REASONS[early_close].encode())
            return ws

        conn = _Connection(ws, request, make_encoder(query.get("compress")), self.stats)
        self._connections.add(conn)
        self.stats[f"GATEWAY COMPRESS {conn.encoder.compression or 'none'}"] += 1
        logger.debug("gateway connection {} opened ({})", conn.cid, conn.encoder.compression or "plain")
        conn.send(_control(OP_HELLO, {"heartbeat_interval": self.heartbeat_interval_ms}))
        try:
            await self._read_loop(conn)
        finally:
            await self._teardown(conn)
        return ws

    async def _read_loop(self, conn: _Connection) -> None:
        ws = conn.ws
        while True:
            remaining = conn.last_heartbeat + self.heartbeat_timeout - conn.loop.time()
            if remaining <= 0:
                if conn.closing:
                    logger.debug("gateway connection {} did not close in time, aborting", conn.cid)
                    conn.abort()
                    return
                logger.debug("gateway connection {} missed its heartbeat", conn.cid)
                self._protocol_close(conn, 4000)
                # Give the close handshake CLOSE_TIMEOUT * 2 before aborting.
                conn.last_heartbeat = conn.loop.time() - self.heartbeat_timeout + CLOSE_TIMEOUT * 2
                continue
            try:
                msg = await ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                self._process(conn, msg.data)
            elif msg.type is WSMsgType.CLOSE:
                conn.client_close_code = msg.data if isinstance(msg.data, int) else None
                return
            elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    async def _teardown(self, conn: _Connection) -> None:
        self._connections.discard(conn)
        session = conn.session
        if session is not None:
            code = conn.close_code if conn.close_code is not None else conn.client_close_code
            self._detach(session, resumable=code not in NON_RESUMABLE_CLOSE_CODES)
        await conn.finish()
        if not conn.ws.closed:
            conn.abort()
        logger.debug(
            "gateway connection {} closed (server code {}, client code {})",
            conn.cid,
            conn.close_code,
            conn.client_close_code,
        )

    # ------------------------------------------------------------------ incoming payloads

    def _process(self, conn: _Connection, raw: str | bytes) -> None:
        """Handle one client frame (synchronously: replies are queued)."""
        if conn.closing:
            return
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size > MAX_CLIENT_PAYLOAD:
            self._protocol_close(conn, 4002)
            return
        try:
            payload = jsonbody.decode(raw)
        except jsonbody.UndecodableJSON:  # malformed, not UTF-8, or nested too deeply
            self._protocol_close(conn, 4002)
            return
        op = payload.get("op") if isinstance(payload, dict) else None
        if not isinstance(op, int) or isinstance(op, bool):
            self._protocol_close(conn, 4002)
            return
        d = payload.get("d")
        try:
            if op == OP_HEARTBEAT:
                conn.last_heartbeat = conn.loop.time()
                conn.send(_control(OP_HEARTBEAT_ACK, None))
            elif op == OP_IDENTIFY:
                self._identify(conn, d)
            elif op == OP_RESUME:
                self._resume(conn, d)
            elif op not in CLIENT_OPCODES:
                self._protocol_close(conn, 4001)
            elif conn.session is None:
                self._protocol_close(conn, 4003)
            elif op == OP_REQUEST_GUILD_MEMBERS:
                self._request_members(conn, conn.session, d)
            # op 3 (presence), 4 (voice state), 31, 43: accepted and ignored.
        except Exception:
            logger.exception("gateway connection {} failed handling op {}", conn.cid, op)
            self._protocol_close(conn, 4000)

    def _protocol_close(self, conn: _Connection, code: int) -> None:
        """Close ``conn`` with ``code``, ending its session if the code is not resumable."""
        logger.debug("gateway connection {} closing with {}", conn.cid, code)
        if conn.session is not None:
            self._detach(conn.session, resumable=code not in NON_RESUMABLE_CLOSE_CODES)
        conn.request_close(code)

    def _identify(self, conn: _Connection, d: Any) -> None:
        if conn.session is not None:
            self._protocol_close(conn, 4005)
            return
        if not isinstance(d, dict):
            self._protocol_close(conn, 4002)
            return
        identity = self._authenticate(d.get("token"))
        if identity is None:
            self._protocol_close(conn, 4004)
            return
        intents = d.get("intents")
        if (
            not isinstance(intents, int)
            or isinstance(intents, bool)
            or intents < 0
            or intents & ~KNOWN_INTENTS
        ):
            self._protocol_close(conn, 4013)
            return
        raw_shard = d.get("shard")
        shard = self._parse_shard(raw_shard)
        if raw_shard is not None and shard is None:
            self._protocol_close(conn, 4010)
            return

        session = GatewaySession(secrets.token_hex(16), identity, intents, shard, self.replay_limit)
        session.large_threshold = _large_threshold(d.get("large_threshold"))
        self._sessions[session.session_id] = session
        self._attach(session, conn)
        guild_ids = [gid for gid in self.backend.guild_ids_for(session.user_id) if session.in_shard(gid)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": session.user,
            "session_type": "normal",
            "session_id": session.session_id,
            "resume_gateway_url": self.url or f"ws://{self._host(conn)}/gateway",
            "guilds": [{"id": str(gid), "unavailable": True} for gid in guild_ids],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "application": {"id": str(session.application_id), "flags": 0},
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        conn.send(session.record("READY", _dumps(ready)), "READY")
        for gid in guild_ids:
            guild = dict(
                self.backend.guild_create_payload(
                    gid,
                    session.user_id,
                    presences=bool(session.intents & INTENT_GUILD_PRESENCES),
                    large_threshold=session.large_threshold,
                )
            )
            guild.setdefault("unavailable", False)
            session.guild_ids.add(gid)
            conn.send(session.record("GUILD_CREATE", _dumps(guild)), "GUILD_CREATE")
        self.stats["GATEWAY IDENTIFY"] += 1
        logger.debug("gateway session {} identified on connection {}", session.session_id, conn.cid)

    def _resume(self, conn: _Connection, d: Any) -> None:
        if conn.session is not None:
            self._protocol_close(conn, 4005)
            return
        if not isinstance(d, dict):
            self._protocol_close(conn, 4002)
            return
        identity = self._authenticate(d.get("token"))
        if identity is None:
            self._protocol_close(conn, 4004)
            return
        seq = d.get("seq")
        if seq is None:
            seq = 0
        if not isinstance(seq, int) or isinstance(seq, bool):
            self._protocol_close(conn, 4002)
            return
        session_id = d.get("session_id")
        session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None or session.user_id != identity["user_id"]:
            logger.debug("gateway connection {} tried to resume an unknown session", conn.cid)
            self._invalid_session(conn, resumable=False)
            return
        if seq > session.seq:
            self._forget(session)
            self._protocol_close(conn, 4007)
            return
        if seq < session.dropped_through:
            logger.debug("gateway session {} cannot replay from seq {}", session.session_id, seq)
            self._forget(session)
            self._invalid_session(conn, resumable=False)
            return

        self._attach(session, conn)
        for event, text in session.replay_after(seq):
            conn.send(text, event)
        conn.send(session.unbuffered("RESUMED", "{}"), "RESUMED")
        self.stats["GATEWAY RESUME"] += 1
        logger.debug(
            "gateway session {} resumed from seq {} on connection {}", session.session_id, seq, conn.cid
        )

    def _request_members(self, conn: _Connection, session: GatewaySession, d: Any) -> None:
        if not isinstance(d, dict):
            self._protocol_close(conn, 4002)
            return
        guild_ids = _snowflake_list(d.get("guild_id"))
        raw_user_ids = d.get("user_ids")
        user_ids = None if raw_user_ids is None else _snowflake_list(raw_user_ids)
        query = d.get("query")
        limit = d.get("limit", 0)
        nonce = d.get("nonce")
        if (
            not guild_ids
            or (raw_user_ids is not None and user_ids is None)
            or not isinstance(query, str | None)
            or not isinstance(limit, int)
            or not isinstance(nonce, str | None)
        ):
            self._protocol_close(conn, 4002)
            return
        if user_ids is not None:
            query = None
        elif query is None:
            query = ""
        for guild_id in guild_ids:
            if not self.backend.can_see(session.user_id, guild_id, None):
                continue
            members = self.backend.member_chunk(guild_id, session.user_id, query, max(limit, 0), user_ids)
            not_found: list[str] = []
            if user_ids is not None:
                found = {_snowflake(m.get("user", {}).get("id")) for m in members}
                not_found = [str(uid) for uid in user_ids if uid not in found]
            chunks = [members[i : i + MEMBER_CHUNK_SIZE] for i in range(0, len(members), MEMBER_CHUNK_SIZE)]
            chunks = chunks or [[]]
            for index, chunk in enumerate(chunks):
                data: dict[str, Any] = {
                    "guild_id": str(guild_id),
                    "members": chunk,
                    "chunk_index": index,
                    "chunk_count": len(chunks),
                    "not_found": not_found if index == 0 else [],
                }
                if d.get("presences"):
                    data["presences"] = []
                if nonce is not None:
                    data["nonce"] = nonce
                conn.send(session.record("GUILD_MEMBERS_CHUNK", _dumps(data)), "GUILD_MEMBERS_CHUNK")

    def _authenticate(self, token: Any) -> GatewayIdentity | None:
        if not isinstance(token, str) or not token:
            return None
        if token.startswith("Bot "):
            token = token[4:]
        return self.backend.authenticate(token)

    @staticmethod
    def _parse_shard(value: Any) -> tuple[int, int] | None:
        """``(id, count)`` from IDENTIFY's ``shard``, or ``None`` when absent or invalid."""
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] < value[1]
        ):
            return (value[0], value[1])
        return None

    @staticmethod
    def _host(conn: _Connection) -> str:
        transport = conn.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            return f"{sockname[0]}:{sockname[1]}"
        return "127.0.0.1"

    # ------------------------------------------------------------------ session bookkeeping

    def _attach(self, session: GatewaySession, conn: _Connection) -> None:
        """Bind ``session`` to ``conn`` (kicking an older connection off it)."""
        old = session.connection
        if old is not None and old is not conn:
            old.session = None
            old.request_close(4000)
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        conn.cancel_grace()
        session.connection = conn
        conn.session = session

    def _detach(self, session: GatewaySession, *, resumable: bool) -> None:
        """Unbind ``session`` from its connection; keep it for RESUME or forget it."""
        conn = session.connection
        if conn is not None:
            conn.session = None
            session.connection = None
        if not resumable:
            self._forget(session)
            return
        if session.expiry is None and self._sessions.get(session.session_id) is session:
            loop = asyncio.get_running_loop()
            session.expiry = loop.call_later(self.resume_window, self._expire, session)
        logger.debug("gateway session {} disconnected (resumable)", session.session_id)

    def _expire(self, session: GatewaySession) -> None:
        session.expiry = None
        if session.connection is None:
            logger.debug("gateway session {} expired", session.session_id)
            self._forget(session)

    def _forget(self, session: GatewaySession) -> None:
        """Invalidate ``session`` for good."""
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        if session.connection is not None:
            session.connection.session = None
            session.connection = None
        if self._sessions.get(session.session_id) is session:
            del self._sessions[session.session_id]
            logger.debug("gateway session {} invalidated", session.session_id)

    def _invalid_session(self, conn: _Connection, *, resumable: bool) -> asyncio.Future[bool] | None:
        """Send op 9 on ``conn`` (its session, if any, is kept only when ``resumable``)."""
        if conn.session is not None:
            self._detach(conn.session, resumable=resumable)
        self.stats["GATEWAY INVALID_SESSION"] += 1
        done = conn.send(_control(OP_INVALID_SESSION, resumable), wait=True)
        conn.start_grace()
        return done

    def _reconnect(self, conn: _Connection) -> asyncio.Future[bool] | None:
        """Send op 7 on ``conn``; its session stays resumable."""
        if conn.session is not None:
            self._detach(conn.session, resumable=True)
        self.stats["GATEWAY RECONNECT"] += 1
        done = conn.send(_control(OP_RECONNECT, None), wait=True)
        conn.start_grace()
        return done

    def _drop(self, conn: _Connection) -> None:
        """Abort ``conn``'s transport; its session stays resumable."""
        if conn.session is not None:
            self._detach(conn.session, resumable=True)
        conn.abort()

    def _apply_fault(self, conn: _Connection, fault: tuple[str, int | bool]) -> bool:
        """Perform an injected fault on ``conn``; ``False`` if the action is unknown."""
        action, value = fault
        logger.debug("gateway connection {} fault {} {}", conn.cid, action, value)
        if action == "close":
            self._protocol_close(conn, int(value))
        elif action == "invalid_session":
            self._invalid_session(conn, resumable=bool(value))
        elif action == "reconnect":
            self._reconnect(conn)
        elif action == "drop":
            self._drop(conn)
        else:
            logger.warning("unknown gateway fault action {!r} ignored", action)
            return False
        return True

    def _receives(
        self,
        session: GatewaySession,
        event: str,
        guild_id: int | None,
        channel_id: int | None,
        subject_guild: int | None,
        subject_user: int | None = None,
    ) -> bool:
        """Whether ``session`` gets ``event`` (intents, shard, visibility).

        ``subject_guild`` is the guild the event is about: ``guild_id``, or the
        ``id`` of a GUILD_CREATE/UPDATE/DELETE payload dispatched without one.
        ``subject_user`` is the member of a GUILD_MEMBER_UPDATE: a session gets the update
        of its own member without GUILD_MEMBERS (gateway docs, "Caveats").
        """
        needed = required_intent(event, subject_guild is not None)
        own_member = subject_user is not None and subject_user == session.user_id
        if needed and not session.intents & needed and not own_member:
            return False
        if not session.in_shard(subject_guild):
            return False
        if event == "GUILD_DELETE" and subject_guild is not None:
            return subject_guild in session.guild_ids
        if guild_id is None:
            return True
        return self.backend.can_see(session.user_id, guild_id, channel_id)

    def _blanks_content(
        self,
        session: GatewaySession,
        event: str,
        guild_id: int | None,
        author_id: int | None,
        data: dict[str, Any],
    ) -> bool:
        """Whether ``session`` gets the message without content (no MESSAGE_CONTENT intent)."""
        return (
            event in _CONTENT_EVENTS
            and guild_id is not None
            and not session.intents & INTENT_MESSAGE_CONTENT
            and author_id != session.user_id
            and not _mentions_user(data, session.user_id)
        )

    # ------------------------------------------------------------------ public API

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None = None,
        author_id: int | None = None,
        user_ids: Iterable[int] | None = None,
    ) -> None:
        """Send an op 0 ``event`` to every session that may receive it.

        A session receives it when its intents cover the event, the guild is
        in its shard and the backend says its user can see ``guild_id`` /
        ``channel_id``.  GUILD_DELETE instead goes to the sessions that had
        the guild (the user may already have left it).  Events with
        ``guild_id=None`` (DMs, user events, or a GUILD_CREATE addressed by
        ``user_ids``) skip the visibility check and go to every session, so
        pass ``user_ids`` for them; for GUILD_CREATE/UPDATE/DELETE the
        payload's ``id`` still decides the shard.  ``user_ids`` restricts the
        recipients to those users.  Without MESSAGE_CONTENT, MESSAGE_CREATE /
        UPDATE in guilds from another author (``author_id``, else
        ``data["author"]["id"]``) that do not mention the user lose their
        content, embeds, attachments, components and poll (in a copy).

        The event is buffered for RESUME in every recipient session, including
        disconnected resumable ones, and this waits until it has been written
        to every connected recipient (at most ``send_timeout`` per connection;
        a slower connection is dropped and can resume).
        """
        wanted = None if user_ids is None else {int(uid) for uid in user_ids}
        if author_id is None and event in _CONTENT_EVENTS:
            author_id = _author_id(data)
        subject_user = None
        if event == "GUILD_MEMBER_UPDATE" and isinstance(data.get("user"), dict):
            subject_user = _snowflake(data["user"].get("id"))
        subject_guild = guild_id
        if subject_guild is None and event in _GUILD_LIFECYCLE_EVENTS:
            subject_guild = _snowflake(data.get("id"))
        full_json: str | None = None
        blank_json: str | None = None
        pending: list[tuple[_Connection, asyncio.Future[bool]]] = []
        for session in list(self._sessions.values()):
            if wanted is not None and session.user_id not in wanted:
                continue
            if not self._receives(session, event, guild_id, channel_id, subject_guild, subject_user):
                continue
            if self._blanks_content(session, event, guild_id, author_id, data):
                if blank_json is None:
                    blank_json = _dumps(_blank_content(data))
                d_json = blank_json
            else:
                if full_json is None:
                    full_json = _dumps(data)
                d_json = full_json
            text = session.record(event, d_json)
            if subject_guild is not None and event == "GUILD_CREATE":
                session.guild_ids.add(subject_guild)
            elif subject_guild is not None and event == "GUILD_DELETE" and not data.get("unavailable"):
                session.guild_ids.discard(subject_guild)
            conn = session.connection
            if conn is None:
                continue
            fault = self.faults.gateway_fault(event) if self.faults is not None else None
            if fault is not None and self._apply_fault(conn, fault):
                continue
            done = conn.send(text, event, wait=True)
            if done is not None:
                pending.append((conn, done))
        await self._wait_sent(pending, self.send_timeout)

    async def _wait_sent(
        self, pending: list[tuple[_Connection, asyncio.Future[bool]]], timeout: float
    ) -> None:
        """Wait for queued writes; abort the connections that are too slow."""
        if not pending:
            return
        await asyncio.wait([done for _, done in pending], timeout=timeout)
        for conn, done in pending:
            if not done.done():
                logger.warning("gateway connection {} too slow, dropping it", conn.cid)
                self._drop(conn)

    def _targets(self, user_id: int | None, *, identified_only: bool) -> list[_Connection]:
        """Open connections, optionally only those of ``user_id`` / only identified ones."""
        result = []
        for conn in list(self._connections):
            if conn.closing:
                continue
            session = conn.session
            if session is None and (identified_only or user_id is not None):
                continue
            if user_id is not None and session is not None and session.user_id != user_id:
                continue
            result.append(conn)
        return result

    async def close_sessions(self, code: int = 4000, *, user_id: int | None = None) -> int:
        """Close connections with ``code``; returns how many.

        Sessions stay resumable unless ``code`` is in
        :data:`NON_RESUMABLE_CLOSE_CODES`.  Without ``user_id`` connections
        that have not identified yet are closed too.
        """
        targets = self._targets(user_id, identified_only=False)
        for conn in targets:
            self._protocol_close(conn, code)
        await self._wait_closed(targets)
        return len(targets)

    async def _wait_closed(self, targets: list[_Connection]) -> None:
        if not targets:
            return
        await asyncio.wait([conn.writer for conn in targets], timeout=CLOSE_TIMEOUT * 2)
        for conn in targets:
            if not conn.writer.done():
                conn.abort()

    async def send_reconnect(self, *, user_id: int | None = None) -> int:
        """Send op 7 RECONNECT to identified connections; returns how many."""
        targets = self._targets(user_id, identified_only=True)
        pending = [(conn, self._reconnect(conn)) for conn in targets]
        await self._wait_sent([(c, f) for c, f in pending if f is not None], self.send_timeout)
        return len(targets)

    async def send_invalid_session(self, resumable: bool, *, user_id: int | None = None) -> int:
        """Send op 9 INVALID_SESSION (``d`` = ``resumable``); returns how many.

        Non-resumable sessions are forgotten at once; the client is expected
        to reconnect (the connection is closed after a grace period otherwise).
        """
        targets = self._targets(user_id, identified_only=True)
        pending = [(conn, self._invalid_session(conn, resumable=resumable)) for conn in targets]
        await self._wait_sent([(c, f) for c, f in pending if f is not None], self.send_timeout)
        return len(targets)

    async def drop_connections(self, *, user_id: int | None = None) -> int:
        """Abort TCP connections without a close frame (sessions stay resumable)."""
        targets = self._targets(user_id, identified_only=False)
        for conn in targets:
            self._drop(conn)
        return len(targets)

    async def close(self) -> None:
        """Shut down: close every connection with 1001 and forget every session."""
        self._closed = True
        targets = self._targets(None, identified_only=False)
        for conn in targets:
            self._protocol_close(conn, 1001)
        await self._wait_closed(targets)
        for session in list(self._sessions.values()):
            self._forget(session)
        for conn in list(self._connections):
            conn.cancel_grace()
            if not conn.writer.done():
                conn.writer.cancel()

    def session_count(self) -> int:
        """How many identified sessions are connected right now."""
        return sum(1 for session in self._sessions.values() if session.connection is not None)

    def resumable_count(self) -> int:
        """How many sessions are disconnected but can still be resumed."""
        return sum(1 for session in self._sessions.values() if session.connection is None)
