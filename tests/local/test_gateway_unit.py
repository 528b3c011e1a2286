"""Unit tests of the local server's Gateway v10 side (``discobase.local.gateway``).

The hub is served on a real ``127.0.0.1:0`` socket with a small fake backend.
Raw aiohttp websocket clients check the protocol frame by frame (decoding the
compressed streams with discord.py's own decompression contexts), and one test
drives an unmodified ``discord.Client`` against it.
"""

from __future__ import annotations

import ast
import asyncio
import json
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import discord.utils
import pytest
import yarl
from aiohttp import WSMsgType, web

from discobase._discord.gateway import KNOWN_INTENTS, required_intent
from discobase.local.gateway import GatewayHub, GatewayIdentity

TOKEN = "bot-token-1"
OTHER_TOKEN = "other-token-2"
BOT_ID = 1_300_000_000_000_000_001
APP_ID = 1_300_000_000_000_000_001
OTHER_ID = 1_300_000_000_000_000_002
OWNER_ID = 1_300_000_000_000_000_003
GUILD_ID = 1_300_000_000_000_000_100
BIG_GUILD_ID = GUILD_ID + (1 << 22)
FOREIGN_GUILD_ID = GUILD_ID + (2 << 22)
GENERAL_ID = 1_300_000_000_000_000_101
SECRET_ID = 1_300_000_000_000_000_102  # visible to OTHER_ID only

GUILDS = 1 << 0
MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15
BASIC_INTENTS = GUILDS | GUILD_MESSAGES
ALL_INTENTS = BASIC_INTENTS | MEMBERS | MESSAGE_CONTENT


def user_payload(user_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": user_id == BOT_ID,
    }


def member_payload(user_id: int, name: str) -> dict[str, Any]:
    return {
        "user": user_payload(user_id, name),
        "roles": [],
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def message_payload(author_id: int, content: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(GENERAL_ID + 1000),
        "channel_id": str(GENERAL_ID),
        "guild_id": str(GUILD_ID),
        "type": 0,
        "content": content,
        "author": user_payload(author_id, "author"),
        "timestamp": "2024-01-01T00:00:00.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            {"id": "1", "filename": "a.txt", "size": 1, "url": "http://x/a", "proxy_url": "http://x/a"}
        ],
        "embeds": [{"title": "t"}],
        "components": [],
        "pinned": False,
        "flags": 0,
    }
    data.update(extra)
    return data


class FakeBackend:
    """Two users; GUILD_ID holds both (SECRET_ID only visible to OTHER_ID),
    BIG_GUILD_ID holds the bot and 2500 fake members, FOREIGN_GUILD_ID only OTHER_ID."""

    def __init__(self) -> None:
        self.identities = {
            TOKEN: GatewayIdentity(user_id=BOT_ID, application_id=APP_ID, user=user_payload(BOT_ID, "Bot")),
            OTHER_TOKEN: GatewayIdentity(
                user_id=OTHER_ID, application_id=OTHER_ID, user=user_payload(OTHER_ID, "Other")
            ),
        }
        big_members = [member_payload(BOT_ID, "Bot")]
        big_members += [member_payload(2_000_000_000_000_000 + i, f"user{i}") for i in range(2499)]
        self.members: dict[int, list[dict[str, Any]]] = {
            GUILD_ID: [member_payload(BOT_ID, "Bot"), member_payload(OTHER_ID, "Other")],
            BIG_GUILD_ID: big_members,
            FOREIGN_GUILD_ID: [member_payload(OTHER_ID, "Other")],
        }

    def _is_member(self, guild_id: int, user_id: int) -> bool:
        return any(int(m["user"]["id"]) == user_id for m in self.members.get(guild_id, []))

    def authenticate(self, token: str) -> GatewayIdentity | None:
        return self.identities.get(token)

    def guild_ids_for(self, user_id: int) -> list[int]:
        return [gid for gid in self.members if self._is_member(gid, user_id)]

    def guild_create_payload(
        self, guild_id: int, user_id: int, *, presences: bool = False, large_threshold: int = 50
    ) -> dict[str, Any]:
        channels: list[dict[str, Any]] = [
            {
                "id": str(cid),
                "type": 0,
                "guild_id": str(guild_id),
                "name": name,
                "position": pos,
                "permission_overwrites": [],
                "parent_id": None,
                "nsfw": False,
                "topic": None,
            }
            for pos, (cid, name) in enumerate([(GENERAL_ID, "general"), (SECRET_ID, "secret")])
            if guild_id == GUILD_ID and self.can_see(user_id, guild_id, cid)
        ]
        members = self.members[guild_id]
        return {
            "id": str(guild_id),
            "name": f"guild-{guild_id % 1000}",
            "owner_id": str(OWNER_ID),
            "icon": None,
            "features": [],
            "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": "8", "position": 0}],
            "emojis": [],
            "stickers": [],
            "channels": channels,
            "members": members[:2],
            "member_count": len(members),
            "large": len(members) > 250,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "voice_states": [],
            "presences": [],
            "threads": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        if not self._is_member(guild_id, user_id):
            return False
        return channel_id != SECRET_ID or user_id == OTHER_ID

    def member_chunk(
        self, guild_id: int, user_id: int, query: str | None, limit: int, user_ids: list[int] | None
    ) -> list[dict[str, Any]]:
        members = self.members.get(guild_id, [])
        if user_ids is not None:
            return [m for m in members if int(m["user"]["id"]) in user_ids]
        members = [m for m in members if m["user"]["username"].startswith(query or "")]
        return members[:limit] if limit else members


@dataclass
class FakeFaults:
    """Returns each queued fault once, for the named event."""

    queued: dict[str, list[tuple[str, int | bool]]] = field(default_factory=dict)

    def gateway_fault(self, event: str) -> tuple[str, int | bool] | None:
        faults = self.queued.get(event)
        return faults.pop(0) if faults else None


@dataclass
class Harness:
    hub: GatewayHub
    backend: FakeBackend
    faults: FakeFaults
    stats: Counter[str]
    base: str
    session: aiohttp.ClientSession

    @property
    def ws_url(self) -> str:
        return "ws" + self.base[4:] + "/gateway"

    async def connect(self, compress: str | None = None, **query: str) -> RawClient:
        params = {"v": "10", "encoding": "json", **query}
        if compress:
            params["compress"] = compress
        ws = await self.session.ws_connect(self.ws_url, params=params, autoclose=True)
        decompressor: Any = None
        if compress == "zlib-stream":
            decompressor = ZLIB_CONTEXT()
        elif compress == "zstd-stream":
            decompressor = discord.utils._ZstdDecompressionContext()
        return RawClient(ws, decompressor)

    async def identified(
        self, token: str = TOKEN, intents: int = BASIC_INTENTS, compress: str | None = None, **extra: Any
    ) -> RawClient:
        """A connected client that has received READY and its GUILD_CREATEs."""
        client = await self.connect(compress)
        await client.hello()
        await client.identify(token, intents, **extra)
        return client


class Closed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class RawClient:
    """A bare gateway client: JSON in, JSON out, optional discord.py decompression."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, decompressor: Any) -> None:
        self.ws = ws
        self.decompressor = decompressor
        self.frame_types: list[WSMsgType] = []
        self.ready: dict[str, Any] = {}
        self.guild_creates: list[dict[str, Any]] = []
        self.seq = 0

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise Closed(self.ws.close_code)
            self.frame_types.append(msg.type)
            if msg.type is WSMsgType.BINARY:
                assert self.decompressor is not None, "binary frame without compression"
                text = self.decompressor.decompress(msg.data)
                if text is None:
                    continue
            else:
                text = msg.data
            payload: dict[str, Any] = json.loads(text)
            if payload.get("s") is not None:
                self.seq = payload["s"]
            return payload

    async def recv_dispatch(self, timeout: float = 3.0) -> dict[str, Any]:
        payload = await self.recv(timeout)
        assert payload["op"] == 0, payload
        return payload

    async def send(self, op: int, d: Any) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": d}))

    async def hello(self) -> dict[str, Any]:
        payload = await self.recv()
        assert payload["op"] == 10
        return payload

    async def identify(self, token: str = TOKEN, intents: int = BASIC_INTENTS, **extra: Any) -> None:
        await self.send(2, {"token": token, "intents": intents, "properties": {"os": "linux"}, **extra})
        ready = await self.recv_dispatch()
        assert ready["t"] == "READY", ready
        self.ready = ready["d"]
        for _ in ready["d"]["guilds"]:
            payload = await self.recv_dispatch()
            assert payload["t"] == "GUILD_CREATE"
            self.guild_creates.append(payload["d"])

    async def expect_close(self, timeout: float = 3.0) -> int | None:
        """Skip frames until the server closes; the close code (None if it just dropped)."""
        while True:
            try:
                await self.recv(timeout)
            except Closed as closed:
                return closed.code

    async def expect_nothing(self) -> None:
        """Everything queued before a heartbeat arrives before its ACK."""
        await self.send(1, self.seq or None)
        payload = await self.recv()
        assert payload["op"] == 11, payload

    async def close(self) -> None:
        await self.ws.close()


def _discordpy_zlib_context() -> type:
    """discord.py's ``_ZlibDecompressionContext``, compiled from its own source.

    discord.py only defines it when zstandard is missing (it is installed
    here), so the class body is taken verbatim from ``discord/utils.py``.
    """
    source_path = Path(discord.utils.__file__)
    tree = ast.parse(source_path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "_ZlibDecompressionContext":
            namespace: dict[str, Any] = {"zlib": zlib}
            exec(compile(ast.Module(body=[node], type_ignores=[]), str(source_path), "exec"), namespace)
            return namespace[node.name]  # type: ignore[no-any-return]
    raise AssertionError("discord.py has no _ZlibDecompressionContext")


ZLIB_CONTEXT = _discordpy_zlib_context()


async def _user_me(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bot {TOKEN}":
        return web.Response(
            status=401,
            body=json.dumps({"message": "401: Unauthorized", "code": 0}).encode(),
            content_type="application/json",
        )
    return web.Response(
        body=json.dumps(user_payload(BOT_ID, "Bot")).encode(), content_type="application/json"
    )


async def _app_me(request: web.Request) -> web.Response:
    app_info = {
        "id": str(APP_ID),
        "name": "Bot",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user_payload(OWNER_ID, "Owner"),
        "verify_key": "0" * 64,
        "flags": 0,
    }
    return web.Response(body=json.dumps(app_info).encode(), content_type="application/json")


async def _serve(**hub_options: Any) -> AsyncIterator[Harness]:
    stats: Counter[str] = Counter()
    backend = FakeBackend()
    faults = FakeFaults()
    hub = GatewayHub(backend, stats=stats, faults=faults, **hub_options)
    app = web.Application()
    app.router.add_get("/gateway", hub.handle)
    app.router.add_get("/gateway/", hub.handle)
    app.router.add_get("/api/v10/users/@me", _user_me)
    app.router.add_get("/api/v10/oauth2/applications/@me", _app_me)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    hub.url = f"ws://127.0.0.1:{port}/gateway"
    session = aiohttp.ClientSession()
    try:
        yield Harness(hub, backend, faults, stats, base, session)
    finally:
        await session.close()
        await hub.close()
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Harness]:
    async for harness in _serve():
        yield harness


@pytest.fixture
async def fast_server() -> AsyncIterator[Harness]:
    """Small heartbeat interval, resume window and replay buffer."""
    async for harness in _serve(heartbeat_interval_ms=100, resume_window=0.3, replay_limit=3):
        yield harness


# --------------------------------------------------------------------------- handshake


async def test_hello_identify_ready_guild_create(server: Harness) -> None:
    client = await server.connect()
    hello = await client.hello()
    assert hello == {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}
    await client.send(2, {"token": TOKEN, "intents": BASIC_INTENTS, "properties": {}, "shard": [0, 1]})

    ready = await client.recv()
    assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
    d = ready["d"]
    assert d["v"] == 10
    assert d["user"]["id"] == str(BOT_ID)
    assert len(d["session_id"]) == 32
    int(d["session_id"], 16)
    assert d["resume_gateway_url"] == server.hub.url
    assert d["guilds"] == [
        {"id": str(GUILD_ID), "unavailable": True},
        {"id": str(BIG_GUILD_ID), "unavailable": True},
    ]
    assert d["application"] == {"id": str(APP_ID), "flags": 0}
    assert d["shard"] == [0, 1]

    first = await client.recv_dispatch()
    second = await client.recv_dispatch()
    assert (first["t"], first["s"], first["d"]["id"]) == ("GUILD_CREATE", 2, str(GUILD_ID))
    assert (second["t"], second["s"], second["d"]["id"]) == ("GUILD_CREATE", 3, str(BIG_GUILD_ID))
    assert first["d"]["unavailable"] is False
    assert [c["name"] for c in first["d"]["channels"]] == ["general"]  # SECRET_ID is hidden
    assert client.frame_types == [WSMsgType.TEXT] * 4

    assert server.hub.session_count() == 1
    assert server.stats["GATEWAY CONNECT"] == 1
    assert server.stats["GATEWAY IDENTIFY"] == 1
    assert server.stats["GATEWAY DISPATCH READY"] == 1
    assert server.stats["GATEWAY DISPATCH GUILD_CREATE"] == 2
    await client.close()


async def test_heartbeat_is_acked(server: Harness) -> None:
    client = await server.connect()
    await client.hello()
    await client.send(1, None)  # allowed before IDENTIFY, as discord.py does
    assert await client.recv() == {"op": 11, "d": None, "s": None, "t": None}
    await client.identify()
    await client.send(1, client.seq)
    assert (await client.recv())["op"] == 11


async def test_shard_only_gets_its_guilds(server: Harness) -> None:
    shard_of = {gid: (gid >> 22) % 2 for gid in (GUILD_ID, BIG_GUILD_ID)}
    assert len(set(shard_of.values())) == 2, "test ids must land on different shards"
    for shard_id in (0, 1):
        client = await server.connect()
        await client.hello()
        await client.identify(shard=[shard_id, 2])
        expected = [str(gid) for gid, s in shard_of.items() if s == shard_id]
        assert [g["id"] for g in client.ready["guilds"]] == expected
        assert client.ready["shard"] == [shard_id, 2]
        await client.close()


@pytest.mark.parametrize(
    ("payloads", "code"),
    [
        ([{"op": 2, "d": {"token": "wrong", "intents": BASIC_INTENTS, "properties": {}}}], 4004),
        ([{"op": 2, "d": {"token": TOKEN, "intents": 1 << 18, "properties": {}}}], 4013),
        ([{"op": 2, "d": {"token": TOKEN, "properties": {}}}], 4013),
        ([{"op": 2, "d": {"token": TOKEN, "intents": 1, "shard": [2, 2], "properties": {}}}], 4010),
        ([{"op": 8, "d": {"guild_id": str(GUILD_ID), "query": "", "limit": 0}}], 4003),
        ([{"op": 3, "d": {"status": "online"}}], 4003),
        ([{"op": 5, "d": None}], 4001),
        ([{"op": 11, "d": None}], 4001),
        ([{"d": None}], 4002),
        ("this is not json", 4002),
        ({"op": 1, "d": "x" * 5000}, 4002),
        (
            [
                {"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}},
                {"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}},
            ],
            4005,
        ),
    ],
    ids=[
        "bad-token",
        "unknown-intent",
        "missing-intents",
        "bad-shard",
        "op8-first",
        "op3-first",
        "unknown-op",
        "server-op",
        "no-op",
        "not-json",
        "too-large",
        "identify-twice",
    ],
)
async def test_protocol_errors_close_with_discord_codes(server: Harness, payloads: Any, code: int) -> None:
    client = await server.connect()
    await client.hello()
    if isinstance(payloads, str):
        await client.ws.send_str(payloads)
    else:
        for payload in payloads if isinstance(payloads, list) else [payloads]:
            await client.ws.send_str(json.dumps(payload))
    assert await client.expect_close() == code


@pytest.mark.parametrize(("query", "code"), [({"v": "8"}, 4012), ({"encoding": "etf"}, 4002)])
async def test_bad_version_or_encoding(server: Harness, query: dict[str, str], code: int) -> None:
    client = await server.connect(**query)
    assert await client.expect_close() == code


async def test_identify_accepts_every_known_intent(server: Harness) -> None:
    assert discord.Intents.all().value == KNOWN_INTENTS
    client = await server.identified(intents=KNOWN_INTENTS)
    assert client.ready["user"]["id"] == str(BOT_ID)


def test_required_intent_table() -> None:
    assert required_intent("GUILD_CREATE", True) == GUILDS
    assert required_intent("CHANNEL_PINS_UPDATE", True) == GUILDS
    assert required_intent("CHANNEL_PINS_UPDATE", False) == 1 << 12
    assert required_intent("MESSAGE_CREATE", True) == GUILD_MESSAGES
    assert required_intent("MESSAGE_CREATE", False) == 1 << 12
    assert required_intent("MESSAGE_REACTION_ADD", True) == 1 << 10
    assert required_intent("GUILD_MEMBER_ADD", True) == MEMBERS
    assert required_intent("GUILD_MEMBERS_CHUNK", True) == 0
    assert required_intent("INTERACTION_CREATE", True) == 0


# --------------------------------------------------------------------------- members


async def test_request_guild_members_chunks(server: Harness) -> None:
    client = await server.identified(intents=ALL_INTENTS)
    await client.send(
        8, {"guild_id": str(GUILD_ID), "query": "", "limit": 0, "nonce": "n1", "presences": False}
    )
    chunk = await client.recv_dispatch()
    assert chunk["t"] == "GUILD_MEMBERS_CHUNK"
    d = chunk["d"]
    assert d["guild_id"] == str(GUILD_ID)
    assert (d["chunk_index"], d["chunk_count"], d["nonce"], d["not_found"]) == (0, 1, "n1", [])
    assert {m["user"]["id"] for m in d["members"]} == {str(BOT_ID), str(OTHER_ID)}

    # 2500 members -> chunks of 1000
    await client.send(8, {"guild_id": [str(BIG_GUILD_ID)], "query": "", "limit": 0, "nonce": "big"})
    chunks = [(await client.recv_dispatch())["d"] for _ in range(3)]
    assert [len(c["members"]) for c in chunks] == [1000, 1000, 500]
    assert [(c["chunk_index"], c["chunk_count"], c["nonce"]) for c in chunks] == [
        (0, 3, "big"),
        (1, 3, "big"),
        (2, 3, "big"),
    ]

    # by user ids, with one unknown; a guild the bot is not in is ignored
    await client.send(
        8,
        {
            "guild_id": [str(FOREIGN_GUILD_ID), str(GUILD_ID)],
            "user_ids": [str(OTHER_ID), "42"],
            "nonce": "ids",
        },
    )
    d = (await client.recv_dispatch())["d"]
    assert [m["user"]["id"] for m in d["members"]] == [str(OTHER_ID)]
    assert d["not_found"] == ["42"]
    await client.expect_nothing()
    assert server.stats["GATEWAY DISPATCH GUILD_MEMBERS_CHUNK"] == 5


# --------------------------------------------------------------------------- compression


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream"])
async def test_compressed_streams_decode_with_discordpy_contexts(server: Harness, compress: str) -> None:
    client = await server.connect(compress=compress)
    await client.hello()
    await client.identify()
    for i in range(20):  # many messages through the same stream context
        await server.hub.dispatch(
            "MESSAGE_CREATE", message_payload(BOT_ID, f"hello {i} " + "x" * i * 50), guild_id=GUILD_ID
        )
        payload = await client.recv_dispatch()
        assert payload["d"]["content"].startswith(f"hello {i} ")
    await client.send(1, client.seq)
    assert (await client.recv())["op"] == 11
    assert set(client.frame_types) == {WSMsgType.BINARY}
    assert client.seq == 1 + 2 + 20


# --------------------------------------------------------------------------- dispatch


async def test_dispatch_respects_visibility(server: Harness) -> None:
    bot = await server.identified()
    other = await server.identified(OTHER_TOKEN)
    assert [g["id"] for g in other.ready["guilds"]] == [str(GUILD_ID), str(FOREIGN_GUILD_ID)]

    secret_msg = message_payload(OTHER_ID, "psst", channel_id=str(SECRET_ID))
    await server.hub.dispatch("MESSAGE_CREATE", secret_msg, guild_id=GUILD_ID, channel_id=SECRET_ID)
    assert (await other.recv_dispatch())["d"]["content"] == "psst"
    await bot.expect_nothing()

    await server.hub.dispatch("GUILD_UPDATE", {"id": str(FOREIGN_GUILD_ID)}, guild_id=FOREIGN_GUILD_ID)
    assert (await other.recv_dispatch())["t"] == "GUILD_UPDATE"
    await bot.expect_nothing()

    # user_ids narrows the audience
    channel = {"id": str(GENERAL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "general", "position": 0}
    await server.hub.dispatch(
        "CHANNEL_UPDATE", channel, guild_id=GUILD_ID, channel_id=GENERAL_ID, user_ids=[OTHER_ID]
    )
    assert (await other.recv_dispatch())["t"] == "CHANNEL_UPDATE"
    await bot.expect_nothing()

    # both see the general channel; sequence numbers are per session
    await server.hub.dispatch("CHANNEL_UPDATE", channel, guild_id=GUILD_ID, channel_id=GENERAL_ID)
    b, o = await bot.recv_dispatch(), await other.recv_dispatch()
    assert (b["s"], o["s"]) == (4, 7)


async def test_dispatch_respects_intents(server: Harness) -> None:
    guilds_only = await server.identified(intents=GUILDS)
    channel = {"id": str(GENERAL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "general", "position": 0}
    await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, "hi"), guild_id=GUILD_ID)
    await server.hub.dispatch("CHANNEL_CREATE", channel, guild_id=GUILD_ID, channel_id=GENERAL_ID)
    assert (await guilds_only.recv_dispatch())["t"] == "CHANNEL_CREATE"
    await server.hub.dispatch("INTERACTION_CREATE", {"id": "1"}, guild_id=GUILD_ID)
    assert (await guilds_only.recv_dispatch())["t"] == "INTERACTION_CREATE"


async def test_message_content_blanking(server: Harness) -> None:
    no_content = await server.identified(intents=BASIC_INTENTS)
    with_content = await server.identified(OTHER_TOKEN, intents=BASIC_INTENTS | MESSAGE_CONTENT)

    foreign = message_payload(OTHER_ID, "secret words", poll={"question": {"text": "?"}})
    original = json.loads(json.dumps(foreign))
    await server.hub.dispatch("MESSAGE_CREATE", foreign, guild_id=GUILD_ID, channel_id=GENERAL_ID)
    blank = (await no_content.recv_dispatch())["d"]
    assert (blank["content"], blank["embeds"], blank["attachments"], blank["components"]) == ("", [], [], [])
    assert "poll" not in blank
    assert blank["id"] == foreign["id"]
    assert (await with_content.recv_dispatch())["d"]["content"] == "secret words"
    assert foreign == original, "the caller's dict must not be mutated"

    # own messages (author_id explicit or taken from the payload) keep content
    own = message_payload(BOT_ID, "mine")
    await server.hub.dispatch(
        "MESSAGE_UPDATE", own, guild_id=GUILD_ID, channel_id=GENERAL_ID, author_id=BOT_ID
    )
    assert (await no_content.recv_dispatch())["d"]["content"] == "mine"
    await server.hub.dispatch("MESSAGE_CREATE", own, guild_id=GUILD_ID, channel_id=GENERAL_ID)
    assert (await no_content.recv_dispatch())["d"]["attachments"] != []

    # messages mentioning the bot keep content
    mention = message_payload(OTHER_ID, "hey <@bot>", mentions=[user_payload(BOT_ID, "Bot")])
    await server.hub.dispatch("MESSAGE_CREATE", mention, guild_id=GUILD_ID, channel_id=GENERAL_ID)
    assert (await no_content.recv_dispatch())["d"]["content"] == "hey <@bot>"


async def test_guild_delete_reaches_sessions_that_had_the_guild(server: Harness) -> None:
    client = await server.identified()
    gone = server.backend.members.pop(BIG_GUILD_ID)  # the bot left: can_see is now False
    await server.hub.dispatch("GUILD_DELETE", {"id": str(BIG_GUILD_ID)}, guild_id=BIG_GUILD_ID)
    assert (await client.recv_dispatch())["d"] == {"id": str(BIG_GUILD_ID)}
    await server.hub.dispatch("GUILD_DELETE", {"id": str(BIG_GUILD_ID)}, guild_id=BIG_GUILD_ID)
    await client.expect_nothing()

    # the bot joins again: GUILD_CREATE without guild_id, addressed by user id
    server.backend.members[BIG_GUILD_ID] = gone
    payload = server.backend.guild_create_payload(BIG_GUILD_ID, BOT_ID)
    await server.hub.dispatch("GUILD_CREATE", payload, guild_id=None, user_ids=[BOT_ID])
    assert (await client.recv_dispatch())["d"]["id"] == str(BIG_GUILD_ID)
    await server.hub.dispatch("GUILD_DELETE", {"id": str(BIG_GUILD_ID)}, guild_id=BIG_GUILD_ID)
    assert (await client.recv_dispatch())["t"] == "GUILD_DELETE"


# --------------------------------------------------------------------------- resume


async def _resume(server: Harness, session_id: str, seq: int | None, token: str = TOKEN) -> RawClient:
    client = await server.connect()
    await client.hello()
    await client.send(6, {"token": token, "session_id": session_id, "seq": seq})
    return client


async def test_resume_after_drop_replays_missed_events(server: Harness) -> None:
    client = await server.identified()
    session_id, seq = client.ready["session_id"], client.seq
    assert await server.hub.drop_connections() == 1
    assert await client.expect_close() in (None, 1006)
    assert server.hub.session_count() == 0

    for i in range(3):
        await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, f"missed {i}"), guild_id=GUILD_ID)

    resumed = await _resume(server, session_id, seq)
    replayed = [await resumed.recv_dispatch() for _ in range(4)]
    assert [p["t"] for p in replayed] == ["MESSAGE_CREATE"] * 3 + ["RESUMED"]
    assert [p["s"] for p in replayed] == [seq + 1, seq + 2, seq + 3, seq + 4]
    assert [p["d"]["content"] for p in replayed[:3]] == ["missed 0", "missed 1", "missed 2"]
    assert replayed[3]["d"] == {}
    assert server.hub.session_count() == 1
    assert server.stats["GATEWAY RESUME"] == 1

    await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, "live"), guild_id=GUILD_ID)
    live = await resumed.recv_dispatch()
    assert (live["s"], live["d"]["content"]) == (seq + 5, "live")


async def test_resume_partial_replay_and_takeover(server: Harness) -> None:
    client = await server.identified()
    session_id = client.ready["session_id"]
    await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, "one"), guild_id=GUILD_ID)
    await client.recv_dispatch()
    await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, "two"), guild_id=GUILD_ID)
    # resume while the old connection is still open, from the seq before "two"
    resumed = await _resume(server, session_id, client.seq)
    assert (await resumed.recv_dispatch())["d"]["content"] == "two"
    assert (await resumed.recv_dispatch())["t"] == "RESUMED"
    # the old connection got "two" live and is then kicked off the session
    assert (await client.recv_dispatch())["d"]["content"] == "two"
    assert await client.expect_close() == 4000
    assert server.hub.session_count() == 1


async def test_resume_with_bad_session_is_invalid(server: Harness) -> None:
    client = await server.identified()
    bad = await _resume(server, "0" * 32, 1)
    assert await bad.recv() == {"op": 9, "d": False, "s": None, "t": None}
    # another user's session id is not resumable either
    other = await _resume(server, client.ready["session_id"], 1, token=OTHER_TOKEN)
    assert (await other.recv())["d"] is False
    # a bad token closes with 4004
    wrong = await _resume(server, client.ready["session_id"], 1, token="nope")
    assert await wrong.expect_close() == 4004
    # a sequence from the future is 4007
    future = await _resume(server, client.ready["session_id"], client.seq + 10)
    assert await future.expect_close() == 4007


async def test_resume_older_than_replay_buffer_is_invalid(fast_server: Harness) -> None:
    client = await fast_server.identified()
    session_id, seq = client.ready["session_id"], client.seq
    await fast_server.hub.drop_connections()
    for i in range(5):  # replay_limit=3
        await fast_server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, f"m{i}"), guild_id=GUILD_ID)
    resumed = await _resume(fast_server, session_id, seq)
    assert (await resumed.recv())["d"] is False


async def test_resume_window_expires(fast_server: Harness) -> None:
    client = await fast_server.identified()
    session_id, seq = client.ready["session_id"], client.seq
    await fast_server.hub.drop_connections()
    await client.expect_close()
    await asyncio.sleep(0.5)  # resume_window=0.3
    resumed = await _resume(fast_server, session_id, seq)
    assert (await resumed.recv())["d"] is False


async def test_missed_heartbeats_close_resumably(fast_server: Harness) -> None:
    client = await fast_server.identified()
    assert await client.expect_close(timeout=3.0) == 4000  # heartbeat_timeout is 0.25 s
    resumed = await _resume(fast_server, client.ready["session_id"], client.seq)
    assert (await resumed.recv_dispatch())["t"] == "RESUMED"


# --------------------------------------------------------------------------- faults and control


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        (("close", 4000), "close"),
        (("drop", 0), "close"),
        (("reconnect", 0), "op7"),
        (("invalid_session", True), "op9"),
    ],
)
async def test_fault_then_resume_replays_the_event(
    server: Harness, fault: tuple[str, int | bool], expect: str
) -> None:
    client = await server.identified()
    session_id, seq = client.ready["session_id"], client.seq
    server.faults.queued["MESSAGE_CREATE"] = [fault]
    await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, "faulted"), guild_id=GUILD_ID)
    if expect == "close":
        code = await client.expect_close()
        assert code == (4000 if fault[0] == "close" else code)
    else:
        payload = await client.recv()
        assert payload["op"] == (7 if expect == "op7" else 9)
        if expect == "op9":
            assert payload["d"] is True
        await client.close()

    resumed = await _resume(server, session_id, seq)
    replay = await resumed.recv_dispatch()
    assert (replay["t"], replay["s"], replay["d"]["content"]) == ("MESSAGE_CREATE", seq + 1, "faulted")
    assert (await resumed.recv_dispatch())["t"] == "RESUMED"


async def test_fault_close_with_non_resumable_code(server: Harness) -> None:
    client = await server.identified()
    server.faults.queued["MESSAGE_CREATE"] = [("close", 4009)]
    await server.hub.dispatch("MESSAGE_CREATE", message_payload(BOT_ID, "x"), guild_id=GUILD_ID)
    assert await client.expect_close() == 4009
    resumed = await _resume(server, client.ready["session_id"], client.seq)
    assert (await resumed.recv())["d"] is False


async def test_close_sessions(server: Harness) -> None:
    bot = await server.identified()
    other = await server.identified(OTHER_TOKEN)
    assert await server.hub.close_sessions(4000, user_id=BOT_ID) == 1
    assert await bot.expect_close() == 4000
    await other.expect_nothing()
    resumed = await _resume(server, bot.ready["session_id"], bot.seq)
    assert (await resumed.recv_dispatch())["t"] == "RESUMED"

    assert await server.hub.close_sessions(1000) == 2
    assert await resumed.expect_close() == 1000
    assert await other.expect_close() == 1000
    again = await _resume(server, other.ready["session_id"], other.seq, token=OTHER_TOKEN)
    assert (await again.recv())["d"] is False
    assert server.hub.session_count() == 0


async def test_send_reconnect(server: Harness) -> None:
    client = await server.identified()
    assert await server.hub.send_reconnect() == 1
    assert await client.recv() == {"op": 7, "d": None, "s": None, "t": None}
    assert server.hub.session_count() == 0
    await client.ws.close(code=4000)
    resumed = await _resume(server, client.ready["session_id"], client.seq)
    assert (await resumed.recv_dispatch())["t"] == "RESUMED"


async def test_send_invalid_session(server: Harness) -> None:
    client = await server.identified()
    assert await server.hub.send_invalid_session(False) == 1
    assert (await client.recv())["d"] is False
    resumed = await _resume(server, client.ready["session_id"], client.seq)
    assert (await resumed.recv())["d"] is False
    # a fresh IDENTIFY on the same connection works after op 9
    await client.identify()
    assert server.hub.session_count() == 1

    assert await server.hub.send_invalid_session(True, user_id=BOT_ID) == 1
    assert (await client.recv())["d"] is True
    resumed = await _resume(server, client.ready["session_id"], client.seq)
    assert (await resumed.recv_dispatch())["t"] == "RESUMED"


async def test_hub_close_refuses_new_connections(server: Harness) -> None:
    client = await server.identified()
    await server.hub.close()
    assert await client.expect_close() == 1001
    late = await server.connect()
    assert await late.expect_close() == 1001


# --------------------------------------------------------------------------- discord.py end to end


@pytest.mark.parametrize("compression", ["zstd-stream", "zlib-stream"])
async def test_discord_py_client_end_to_end(
    server: Harness, monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", server.base + "/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.ws_url))
    if compression == "zlib-stream":
        monkeypatch.setattr(discord.utils, "_ActiveDecompressionContext", ZLIB_CONTEXT)

    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.1)
    ready, resumed = asyncio.Event(), asyncio.Event()
    messages: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_ready() -> None:
        ready.set()

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    @client.event
    async def on_message(message: discord.Message) -> None:
        messages.put_nowait(message)

    async def wait(event: asyncio.Event) -> None:
        waiter = asyncio.ensure_future(event.wait())
        done, _ = await asyncio.wait({waiter, runner}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if runner in done:
            runner.result()  # raise what stopped the client
        assert waiter in done, "timed out"

    runner = asyncio.create_task(client.start(TOKEN))
    try:
        await wait(ready)
        assert client.user is not None
        assert client.user.id == BOT_ID
        assert client.application_id == APP_ID
        assert sorted(g.id for g in client.guilds) == [GUILD_ID, BIG_GUILD_ID]
        guild = client.get_guild(GUILD_ID)
        assert guild is not None
        assert guild.name == "guild-100"
        assert [c.name for c in guild.text_channels] == ["general"]
        big = client.get_guild(BIG_GUILD_ID)
        assert big is not None
        assert big.chunked
        assert len(big.members) == 2500
        assert guild.chunked  # all members came in GUILD_CREATE: no op 8 for it
        assert server.stats["GATEWAY DISPATCH GUILD_MEMBERS_CHUNK"] == 3
        assert server.hub.session_count() == 1

        await server.hub.dispatch("MESSAGE_CREATE", message_payload(OTHER_ID, "hello bot"), guild_id=GUILD_ID)
        message = await asyncio.wait_for(messages.get(), 5)
        assert (message.content, message.guild) == ("hello bot", guild)

        # the connection drops; events sent meanwhile arrive after the RESUME
        await server.hub.drop_connections()
        await server.hub.dispatch(
            "MESSAGE_CREATE", message_payload(OTHER_ID, "while away"), guild_id=GUILD_ID
        )
        await wait(resumed)
        message = await asyncio.wait_for(messages.get(), 5)
        assert message.content == "while away"
        assert server.stats["GATEWAY RESUME"] == 1
        assert server.stats["GATEWAY IDENTIFY"] == 1
        assert server.stats[f"GATEWAY COMPRESS {compression}"] == 2
    finally:
        await client.close()
        await asyncio.wait({runner}, timeout=5)
    assert runner.done()
    assert runner.exception() is None
    # Client.close() asks for 1000, but its reader task usually wins the race
    # with close(4000), so (as on Discord) the session may stay resumable.
    for _ in range(100):
        if server.hub.session_count() == 0:
            break
        await asyncio.sleep(0.01)
    assert server.hub.session_count() == 0
