"""The gateway hub: every session of the server, the ``/gateway`` route and the event fan-out."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import WSMsgType, web
from loguru import logger

from discobase._discord.gateway import (
    CLIENT_OPCODES,
    CLOSE_REASONS,
    INTENT_MESSAGE_CONTENT,
    MAX_CLIENT_PAYLOAD,
    NON_RESUMABLE_CLOSE_CODES,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_RECONNECT,
    OP_REQUEST_GUILD_MEMBERS,
    OP_RESUME,
    SUPPORTED_VERSIONS,
    required_intent,
)
from discobase._discord.snowflakes import coerce_snowflake
from discobase.local import jsonbody
from discobase.local.gateway import frames
from discobase.local.gateway.handshake import Handshake
from discobase.local.gateway.session import (
    CLOSE_TIMEOUT,
    Connection,
    GatewayBackend,
    GatewayFaultSource,
    GatewaySession,
)

__all__ = ["GatewayHub"]

_GUILD_LIFECYCLE_EVENTS: Final = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})

#: Events whose payload is a message and is subject to MESSAGE_CONTENT blanking.
_CONTENT_EVENTS: Final = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE"})


class GatewayHub(Handshake):
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
        self._connections: set[Connection] = set()
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

        conn = Connection(ws, request, frames.make_encoder(query.get("compress")), self.stats)
        self._connections.add(conn)
        self.stats[f"GATEWAY COMPRESS {conn.encoder.compression or 'none'}"] += 1
        logger.debug("gateway connection {} opened ({})", conn.cid, conn.encoder.compression or "plain")
        conn.send(frames.control(OP_HELLO, {"heartbeat_interval": self.heartbeat_interval_ms}))
        try:
            await self._read_loop(conn)
        finally:
            await self._teardown(conn)
        return ws

    async def _read_loop(self, conn: Connection) -> None:
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

    async def _teardown(self, conn: Connection) -> None:
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

    def _process(self, conn: Connection, raw: str | bytes) -> None:
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
                conn.send(frames.control(OP_HEARTBEAT_ACK, None))
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

    def _reconnect(self, conn: Connection) -> asyncio.Future[bool] | None:
        """Send op 7 on ``conn``; its session stays resumable."""
        if conn.session is not None:
            self._detach(conn.session, resumable=True)
        self.stats["GATEWAY RECONNECT"] += 1
        done = conn.send(frames.control(OP_RECONNECT, None), wait=True)
        conn.start_grace()
        return done

    def _drop(self, conn: Connection) -> None:
        """Abort ``conn``'s transport; its session stays resumable."""
        if conn.session is not None:
            self._detach(conn.session, resumable=True)
        conn.abort()

    def _apply_fault(self, conn: Connection, fault: tuple[str, int | bool]) -> bool:
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
            and not frames.mentions_user(data, session.user_id)
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
            author_id = frames.author_id(data)
        subject_user = None
        if event == "GUILD_MEMBER_UPDATE" and isinstance(data.get("user"), dict):
            subject_user = coerce_snowflake(data["user"].get("id"))
        subject_guild = guild_id
        if subject_guild is None and event in _GUILD_LIFECYCLE_EVENTS:
            subject_guild = coerce_snowflake(data.get("id"))
        full_json: str | None = None
        blank_json: str | None = None
        pending: list[tuple[Connection, asyncio.Future[bool]]] = []
        for session in list(self._sessions.values()):
            if wanted is not None and session.user_id not in wanted:
                continue
            if not self._receives(session, event, guild_id, channel_id, subject_guild, subject_user):
                continue
            if self._blanks_content(session, event, guild_id, author_id, data):
                if blank_json is None:
                    blank_json = frames.dumps(frames.blank_content(data))
                d_json = blank_json
            else:
                if full_json is None:
                    full_json = frames.dumps(data)
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
        self, pending: list[tuple[Connection, asyncio.Future[bool]]], timeout: float
    ) -> None:
        """Wait for queued writes; abort the connections that are too slow."""
        if not pending:
            return
        await asyncio.wait([done for _, done in pending], timeout=timeout)
        for conn, done in pending:
            if not done.done():
                logger.warning("gateway connection {} too slow, dropping it", conn.cid)
                self._drop(conn)

    def _targets(self, user_id: int | None, *, identified_only: bool) -> list[Connection]:
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

    async def _wait_closed(self, targets: list[Connection]) -> None:
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
