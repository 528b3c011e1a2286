"""The gateway's sessions: IDENTIFY, RESUME and REQUEST_GUILD_MEMBERS, and their bookkeeping."""

from __future__ import annotations

import asyncio
import collections
import secrets
from typing import Any

from loguru import logger

from discobase._discord.gateway import (
    INTENT_GUILD_PRESENCES,
    KNOWN_INTENTS,
    MEMBER_CHUNK_SIZE,
    NON_RESUMABLE_CLOSE_CODES,
    OP_INVALID_SESSION,
)
from discobase._discord.snowflakes import coerce_snowflake
from discobase.local.gateway import frames
from discobase.local.gateway.session import Connection, GatewayBackend, GatewayIdentity, GatewaySession

__all__ = ["Handshake"]


class Handshake:
    """The hub's answers to IDENTIFY, RESUME and REQUEST_GUILD_MEMBERS, and its table of sessions.

    A part of :class:`~discobase.local.gateway.hub.GatewayHub`, which sets the
    attributes declared here.
    """

    backend: GatewayBackend
    stats: collections.Counter[str]
    url: str
    replay_limit: int
    resume_window: float
    _sessions: dict[str, GatewaySession]

    def _protocol_close(self, conn: Connection, code: int) -> None:
        """Close ``conn`` with ``code``, ending its session if the code is not resumable."""
        logger.debug("gateway connection {} closing with {}", conn.cid, code)
        if conn.session is not None:
            self._detach(conn.session, resumable=code not in NON_RESUMABLE_CLOSE_CODES)
        conn.request_close(code)

    def _greeting(self, conn: Connection, d: Any) -> GatewayIdentity | None:
        """Who an IDENTIFY or RESUME ``d`` authenticates; ``None`` once ``conn`` is being closed.

        Closes with 4005 when ``conn`` already has a session, 4002 when ``d`` is not an
        object and 4004 when its token authenticates nobody.
        """
        if conn.session is not None:
            self._protocol_close(conn, 4005)
            return None
        if not isinstance(d, dict):
            self._protocol_close(conn, 4002)
            return None
        identity = self._authenticate(d.get("token"))
        if identity is None:
            self._protocol_close(conn, 4004)
        return identity

    def _identify(self, conn: Connection, d: Any) -> None:
        """IDENTIFY: a new session, READY and one GUILD_CREATE per guild in its shard."""
        identity = self._greeting(conn, d)
        if identity is None:
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
        session.large_threshold = frames.large_threshold(d.get("large_threshold"))
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
        conn.send(session.record("READY", frames.dumps(ready)), "READY")
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
            conn.send(session.record("GUILD_CREATE", frames.dumps(guild)), "GUILD_CREATE")
        self.stats["GATEWAY IDENTIFY"] += 1
        logger.debug("gateway session {} identified on connection {}", session.session_id, conn.cid)

    def _resume(self, conn: Connection, d: Any) -> None:
        """RESUME: the session's missed dispatches then RESUMED, or INVALID_SESSION."""
        identity = self._greeting(conn, d)
        if identity is None:
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

    def _request_members(self, conn: Connection, session: GatewaySession, d: Any) -> None:
        if not isinstance(d, dict):
            self._protocol_close(conn, 4002)
            return
        guild_ids = frames.snowflake_list(d.get("guild_id"))
        raw_user_ids = d.get("user_ids")
        user_ids = None if raw_user_ids is None else frames.snowflake_list(raw_user_ids)
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
                found = {coerce_snowflake(m.get("user", {}).get("id")) for m in members}
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
                conn.send(session.record("GUILD_MEMBERS_CHUNK", frames.dumps(data)), "GUILD_MEMBERS_CHUNK")

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
    def _host(conn: Connection) -> str:
        transport = conn.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            return f"{sockname[0]}:{sockname[1]}"
        return "127.0.0.1"

    # ------------------------------------------------------------------ session bookkeeping

    def _attach(self, session: GatewaySession, conn: Connection) -> None:
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

    def _invalid_session(self, conn: Connection, *, resumable: bool) -> asyncio.Future[bool] | None:
        """Send op 9 on ``conn`` (its session, if any, is kept only when ``resumable``)."""
        if conn.session is not None:
            self._detach(conn.session, resumable=resumable)
        self.stats["GATEWAY INVALID_SESSION"] += 1
        done = conn.send(frames.control(OP_INVALID_SESSION, resumable), wait=True)
        conn.start_grace()
        return done
