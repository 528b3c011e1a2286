"""What the local server refuses, and how (docs/security.md, "Local server").

Bounded JSON nesting on REST, multipart, the admin API and the gateway; ids checked as
snowflakes before they reach SQLite; Discord's rule for permission overwrites; signed,
expiring attachment URLs; a private data file holding token digests only; and a data path
that must be a path. Raw requests use aiohttp; where a client is involved it is an
unmodified discord.py client on a real socket.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from aiohttp import WSMsgType

from discobase.exceptions import LocalServerError
from discobase.local import DEFAULT_BOT_PERMISSIONS, BotAccount, LocalDiscord, Permission
from discobase.local.cdn import GONE_MESSAGE, AttachmentSigner
from discobase.local.jsonbody import MAX_JSON_DEPTH, nesting_exceeds
from discobase.local.store import Store, hash_token
from tests.conftest import ConnectFactory, start_client, stop_client
from tests.local.logwatch import LogWatch
from tests.local.test_errors import Client, form_error, leaf

INVALID_JSON = {"message": "The request body contains invalid JSON.", "code": 50109}
MISSING_PERMISSIONS = {"message": "Missing Permissions", "code": 50013}
UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}


def nested(depth: int, leaf_value: str = "[]") -> bytes:
    """A JSON object whose ``content`` holds arrays nested ``depth`` deep in all."""
    return ('{"content": ' + "[" * (depth - 2) + leaf_value + "]" * (depth - 2) + "}").encode()


def not_snowflake(name: str, value: object) -> dict[str, Any]:
    return form_error({name: leaf("NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')})


@pytest.fixture
def watch() -> Iterator[LogWatch]:
    """Fails the test if the server logged a traceback or an error while it ran."""
    with LogWatch() as log:
        yield log
    assert log.clean(), log.problems


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(session: aiohttp.ClientSession, server: LocalDiscord, bot: BotAccount) -> Client:
    return Client(session, server, bot.token)


@pytest.fixture
def channel_id(server: LocalDiscord, guild_id: int) -> int:
    return server.create_channel(guild_id, "security")


async def raw(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, str, bytes]:
    async with session.request(method, url, **kwargs) as response:
        return response.status, response.content_type, await response.read()


# ------------------------------------------------------------------ 1. bounded JSON nesting


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 200, 1000, 5000])
async def test_deeply_nested_json_bodies_are_invalid_json(
    api: Client,
    server: LocalDiscord,
    bot: BotAccount,
    guild_id: int,
    channel_id: int,
    depth: int,
    watch: LogWatch,
) -> None:
    sent = await api.send("POST", f"/channels/{channel_id}/messages", json={"content": "anchor"})
    message_id = sent[2]["id"]
    body = nested(depth)
    json_header = {"Content-Type": "application/json"}
    routes = [
        ("POST", f"/channels/{channel_id}/messages"),
        ("PATCH", f"/channels/{channel_id}/messages/{message_id}"),
        ("PATCH", f"/channels/{channel_id}"),  # also read for its rate limit sub-bucket
        ("POST", f"/guilds/{guild_id}/channels"),
        ("PUT", f"/channels/{channel_id}/permissions/{guild_id}"),
        ("POST", f"/channels/{channel_id}/messages/bulk-delete"),
        ("POST", f"/channels/{channel_id}/invites"),
        ("PUT", f"/applications/{bot.application_id}/commands"),
    ]
    for method, path in routes:
        await api.expect(method, path, 400, INVALID_JSON, data=body, headers=json_header)
    form = aiohttp.FormData()
    form.add_field("payload_json", io.BytesIO(body), content_type="application/json")
    form.add_field("files[0]", io.BytesIO(b"x"), filename="x.bin")
    await api.expect("POST", f"/channels/{channel_id}/messages", 400, INVALID_JSON, data=form)


async def test_nesting_up_to_the_bound_is_accepted(api: Client, channel_id: int, watch: LogWatch) -> None:
    """The bound is far above real payloads: components nested to it still make a message."""
    component: dict[str, Any] = {"type": 10, "content": "deepest", "extra": []}
    for _ in range((MAX_JSON_DEPTH - 4) // 2):  # each level: an object and its "components" array
        component = {"type": 17, "components": [component]}
    document = {"content": "deep", "components": [component]}
    assert nesting_exceeds(document, MAX_JSON_DEPTH - 1)
    assert not nesting_exceeds(document, MAX_JSON_DEPTH)
    status, _, body = await api.send("POST", f"/channels/{channel_id}/messages", json=document)
    assert status == 200, body
    assert body["components"][0]["id"] == 1


async def test_admin_api_answers_bad_bodies_with_4xx(
    session: aiohttp.ClientSession, server: LocalDiscord, watch: LogWatch
) -> None:
    admin = server.url + "/_local"
    cases: list[tuple[str, str, bytes]] = [
        ("POST", "/gateway/close", b'{"code": "abc"}'),
        ("POST", "/gateway/close", b'{"code": 1e400}'),
        ("POST", "/gateway/close", b'{"code": 99999999999999999999999}'),
        ("POST", "/gateway/close", b'{"code": true}'),
        ("POST", "/gateway/close", b'{"code": 1006}'),
        ("POST", "/gateway/close", b"[1, 2]"),
        ("POST", "/gateway/close", b"{not json"),
        ("POST", "/gateway/close", b"[" * 3000 + b"]" * 3000),
        ("POST", "/gateway/invalid_session", b'{"resumable": "yes"}'),
        ("POST", "/faults", b"[" * 3000 + b"]" * 3000),
        ("POST", "/faults", nested(100)),
        ("POST", "/faults", b"\xff\xfe\x00"),
        ("POST", "/faults", b""),
        ("POST", "/faults", b'{"kind": ["status"]}'),
        ("POST", "/faults", b'{"kind": "latency", "latency": 1e300}'),
        ("POST", "/faults", b'{"kind": "ratelimit", "retry_after": 1' + b"0" * 400 + b"}"),
        ("POST", "/faults", b'{"kind": "status", "status": "500"}'),
    ]
    for method, path, body in cases:
        status, content_type, answer = await raw(session, method, admin + path, data=body)
        assert 400 <= status < 500, (path, body[:40], status, answer[:200])
        assert content_type == "application/json", (path, body[:40])
        error = json.loads(answer)
        assert isinstance(error["message"], str), error
        assert isinstance(error["code"], int), error
    assert await raw(session, "GET", admin + "/faults") == (200, "application/json", b"[]")
    status, _, answer = await raw(session, "POST", admin + "/gateway/close", data=b'{"code": 4000}')
    assert (status, json.loads(answer)) == (200, {"sessions": 0})
    status, _, _ = await raw(session, "POST", admin + "/gateway/bogus", data=b"{}")
    assert status == 404


# ------------------------------------------------------------------ 2. gateway frames


async def gateway_exchange(
    server: LocalDiscord, frames: list[str | bytes], *, sentinel: bool = True
) -> tuple[list[dict[str, Any]], int | None]:
    """Send ``frames`` after HELLO (then a heartbeat as a sentinel); read until the heartbeat is
    acknowledged or the connection closes. Returns the payloads read and the close code
    (``None`` while the connection is still open)."""
    got: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.gateway_url + "?v=10&encoding=json") as ws,
    ):
        hello = await ws.receive_json(timeout=10)
        assert hello["op"] == 10
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        if sentinel:
            await ws.send_str('{"op": 1, "d": null}')
        while True:
            msg = await ws.receive(timeout=10)
            if msg.type is WSMsgType.TEXT:
                payload = json.loads(msg.data)
                got.append(payload)
                if payload["op"] == 11:
                    return got, None
                continue
            return got, ws.close_code


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 2000 + "]" * 2000,  # under the 4096-byte frame limit, over Python's recursion limit
        '{"op": 1, "d": ' + "[" * 500 + "]" * 500 + "}",
        '{"op": 2, "d": {"token": "x", "properties": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}}",
        b"\xff\xfe\xfd not utf-8",
        "not json",
        '{"op": "1"}',
    ],
    ids=["array-2000", "heartbeat-d-500", "identify-300", "binary-not-utf8", "text", "op-string"],
)
async def test_undecodable_gateway_frames_close_with_4002(
    server: LocalDiscord, frame: str | bytes, watch: LogWatch
) -> None:
    got, code = await gateway_exchange(server, [frame])
    assert got == []
    assert code == 4002


async def test_non_ascii_digits_in_request_guild_members_are_a_decode_error(
    server: LocalDiscord, bot: BotAccount, guild_id: int, watch: LogWatch
) -> None:
    identify = json.dumps({"op": 2, "d": {"token": bot.token, "intents": 1 | 2, "properties": {}}})
    for bad in ("\u00b2", "\u0661\u0662", str(2**63), "9" * 3000):
        request = json.dumps({"op": 8, "d": {"guild_id": [str(guild_id), bad], "limit": 0, "query": ""}})
        got, code = await gateway_exchange(server, [identify, request])
        assert [p.get("t") for p in got] == ["READY", "GUILD_CREATE"]
        assert code == 4002


# ------------------------------------------------------------------ 3. ids are snowflakes


async def test_out_of_range_ids_never_reach_the_store(
    api: Client,
    session: aiohttp.ClientSession,
    server: LocalDiscord,
    guild_id: int,
    channel_id: int,
    watch: LogWatch,
) -> None:
    messages = f"/channels/{channel_id}/messages"
    for value in (2**63, 2**64 - 1):
        await api.expect("GET", f"{messages}/{value}", 400, not_snowflake("message_id", value))
        await api.expect("DELETE", f"{messages}/{value}", 400, not_snowflake("message_id", value))
        await api.expect("GET", f"/channels/{value}", 400, not_snowflake("channel_id", value))
        await api.expect("GET", f"/guilds/{value}", 400, not_snowflake("guild_id", value))
        for anchor in ("before", "after", "around"):
            await api.expect("GET", f"{messages}?{anchor}={value}", 400, not_snowflake(anchor, value))
        status, _, body = await api.send(
            "POST", f"{messages}/bulk-delete", json={"messages": [str(value), str(value + 1)]}
        )
        assert (status, body["code"]) == (400, 50035), body
        assert set(body["errors"]["messages"]) == {"0", "1"}
        status, _, body = await api.send(
            "POST", f"/guilds/{guild_id}/channels", json={"name": "x", "parent_id": str(value)}
        )
        assert (status, body) == (400, not_snowflake("parent_id", value))
    # Digits that are not ASCII: the rate limiter reads the message id of a DELETE too.
    for value in ("\u00b2", "\u0661\u0662", "9" * 5000):
        status, _, body = await api.send("DELETE", f"{messages}/{value}")
        assert (status, body) == (400, not_snowflake("message_id", value))
    # 0 is a well-formed snowflake that names nothing; discord.py pages from after=0.
    await api.expect("GET", "/channels/0", 404, UNKNOWN_CHANNEL)
    status, _, listed = await api.send("GET", f"{messages}?after=0")
    assert (status, listed) == (200, [])


async def test_the_cdn_route_refuses_out_of_range_ids_without_a_token(
    session: aiohttp.ClientSession, server: LocalDiscord, channel_id: int, watch: LogWatch
) -> None:
    for channel, attachment in (
        (channel_id, 2**63),
        (2**63, 1),
        (2**64 - 1, 2**64 - 1),
        (channel_id, 0),
        (channel_id, "\u00b2"),
        ("9" * 5000, 1),
        (-1, 1),
    ):
        status, content_type, body = await raw(
            session, "GET", f"{server.url}/attachments/{channel}/{attachment}/x"
        )
        assert (status, content_type, body.decode()) == (404, "text/plain", GONE_MESSAGE), (
            channel,
            attachment,
        )


# ------------------------------------------------------------------ 4. permission overwrites


async def test_a_bot_cannot_grant_itself_a_permission_it_lacks(
    server: LocalDiscord, connect: ConnectFactory, watch: LogWatch
) -> None:
    owner = server.create_bot("owner-bot")
    guild_id = server.create_guild("overwrites", owner=owner)
    weak = server.create_bot("weak-bot")
    server.add_member(guild_id, weak, permissions=DEFAULT_BOT_PERMISSIONS & ~int(Permission.MANAGE_MESSAGES))
    channel_id = server.create_channel(guild_id, "shared")
    owner_client = await connect(owner)
    weak_client = await connect(weak)
    owners_channel = owner_client.get_channel(channel_id)
    channel = weak_client.get_channel(channel_id)
    assert isinstance(owners_channel, discord.TextChannel)
    assert isinstance(channel, discord.TextChannel)
    posted = await owners_channel.send("the owner's message")
    me = channel.guild.me

    # Edit Channel Permissions (PUT): granting itself Manage Messages is refused ...
    with pytest.raises(discord.Forbidden) as refused:
        await channel.set_permissions(me, manage_messages=True)
    assert refused.value.code == 50013
    # ... so it still cannot delete another bot's message.
    message = await channel.fetch_message(posted.id)
    with pytest.raises(discord.Forbidden) as delete:
        await message.delete()
    assert delete.value.code == 50013
    # Denying it is setting it too.
    with pytest.raises(discord.Forbidden):
        await channel.set_permissions(channel.guild.default_role, manage_messages=False)
    # Modify Channel (PATCH permission_overwrites) and Create Guild Channel follow the same rule.
    with pytest.raises(discord.Forbidden):
        await channel.edit(overwrites={me: discord.PermissionOverwrite(manage_messages=True)})
    with pytest.raises(discord.Forbidden):
        await channel.guild.create_text_channel(
            "escalate", overwrites={me: discord.PermissionOverwrite(manage_messages=True)}
        )
    # Manage Roles in a new channel's overwrites is for administrators only, even for a bot that has it.
    with pytest.raises(discord.Forbidden):
        await channel.guild.create_text_channel(
            "roles", overwrites={me: discord.PermissionOverwrite(manage_roles=True)}
        )
    assert sorted(c.name for c in channel.guild.text_channels) == ["general", "shared"]
    assert server.store.channels[channel_id].overwrites == []

    # Permissions it has can be allowed and denied (how discobase hides its channels).
    await channel.set_permissions(me, send_messages=True, attach_files=True)
    hidden = await channel.guild.create_text_channel(
        "hidden",
        overwrites={
            channel.guild.default_role: discord.PermissionOverwrite(view_channel=False),
            me: discord.PermissionOverwrite(view_channel=True, send_messages=True, read_message_history=True),
        },
    )
    assert hidden.overwrites_for(me).view_channel is True

    # The owner may grant it; then the weak bot can delete, and re-sending what the owner set
    # (changing only bits it has) is not granting anything.
    weak_member = owners_channel.guild.get_member(weak.user_id)
    assert weak_member is not None
    await owners_channel.set_permissions(weak_member, manage_messages=True)
    async with aiohttp.ClientSession() as session:
        weak_api = Client(session, server, weak.token)
        bits = int(Permission.MANAGE_MESSAGES | Permission.SEND_MESSAGES)
        await weak_api.expect(
            "PUT",
            f"/channels/{channel_id}/permissions/{weak.user_id}",
            204,
            None,
            json={"type": 1, "allow": str(bits), "deny": "0"},
        )
        await weak_api.expect(
            "PUT",
            f"/channels/{channel_id}/permissions/{weak.user_id}",
            403,
            MISSING_PERMISSIONS,
            json={"type": 1, "allow": "0", "deny": str(int(Permission.MANAGE_MESSAGES))},
        )
    await message.delete()


# ------------------------------------------------------------------ 5. signed attachment URLs


def test_signed_urls_expire_and_name_one_file() -> None:
    now = [1_700_000_000.0]
    signer = AttachmentSigner(b"k" * 32, lifetime=3600, clock=lambda: now[0])
    url = yarl.URL(signer.url("http://h", 11, 22, "a b.txt"))
    assert url.path == "/attachments/11/22/a b.txt"
    query = dict(url.query)
    assert query["ex"] == f"{1_700_003_600:08x}"
    assert query["is"] == f"{1_700_000_000:08x}"
    assert signer.verify(11, 22, "a b.txt", query)
    assert not signer.verify(11, 22, "a b.tx", query)
    assert not signer.verify(12, 22, "a b.txt", query)
    assert not signer.verify(11, 23, "a b.txt", query)
    assert not signer.verify(11, 22, "a b.txt", {**query, "ex": f"{1_800_000_000:08x}"})
    assert not signer.verify(11, 22, "a b.txt", {**query, "hm": "0" * 64})
    assert not signer.verify(11, 22, "a b.txt", {k: v for k, v in query.items() if k != "hm"})
    assert not AttachmentSigner(b"j" * 32, lifetime=3600, clock=lambda: now[0]).verify(
        11, 22, "a b.txt", query
    )
    now[0] += 3599
    assert signer.verify(11, 22, "a b.txt", query)
    now[0] += 1
    assert not signer.verify(11, 22, "a b.txt", query)
    with pytest.raises(ValueError, match="lifetime"):
        AttachmentSigner(b"k" * 32, lifetime=-1)


async def test_attachment_urls_are_signed_and_checked(
    server: LocalDiscord,
    bot: BotAccount,
    guild_id: int,
    channel_id: int,
    connect: ConnectFactory,
    watch: LogWatch,
) -> None:
    client = await connect(bot)
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("file", file=discord.File(io.BytesIO(b"secret bytes"), "secret.bin"))
    attachment = sent.attachments[0]
    url = yarl.URL(attachment.url)
    assert sorted(url.query) == ["ex", "hm", "is"]
    assert int(url.query["ex"], 16) - int(url.query["is"], 16) == 86400
    assert attachment.proxy_url == attachment.url
    assert await attachment.read() == b"secret bytes"
    # The MESSAGE_CREATE the client cached carries a signed URL too, and so does a fetch.
    cached = client._connection._get_message(sent.id)  # the copy that came with MESSAGE_CREATE
    assert cached is not None
    assert await cached.attachments[0].read() == b"secret bytes"
    fetched = await channel.fetch_message(sent.id)
    assert "hm=" in fetched.attachments[0].url
    history = [m async for m in channel.history(limit=1)]
    assert await history[0].attachments[0].read() == b"secret bytes"
    edited = await sent.edit(content="edited")
    assert await edited.attachments[0].read() == b"secret bytes"
    # Any file name: percent-encoded in the URL (a "/" too) and signed as it is.
    odd = await channel.send(file=discord.File(io.BytesIO(b"odd"), "a b/{c}%?#é.txt"))
    assert odd.attachments[0].filename == "a b/{c}%?#é.txt"
    assert await odd.attachments[0].read() == b"odd"

    other = await channel.send("other", file=discord.File(io.BytesIO(b"other"), "other.bin"))
    other_id = other.attachments[0].id
    tampered = [
        url.with_query(None),
        url.update_query(hm="0" * 64),
        url.update_query(ex=f"{int(url.query['ex'], 16) + 86400:08x}"),
        url.update_query(hm=url.query["hm"].upper()),
        url.with_name("other.bin"),
        url.with_path(url.path.replace(str(attachment.id), str(other_id))),
        url.with_path(url.path.replace(str(channel_id), str(server.create_channel(guild_id, "elsewhere")))),
    ]
    async with aiohttp.ClientSession() as session:
        for bad in tampered:
            status, content_type, body = await raw(session, "GET", str(bad))
            assert (status, content_type, body.decode()) == (404, "text/plain", GONE_MESSAGE), bad
        # The genuine URL needs no token, like Discord's CDN.
        assert (await raw(session, "GET", str(url)))[0] == 200


async def test_expired_attachment_urls_are_refused(tmp_path: Path) -> None:
    async with LocalDiscord(rate_limits="off", attachment_url_lifetime=0) as server:
        bot = server.create_bot("expiry")
        guild_id = server.create_guild("expiry guild", owner=bot)
        channel_id = server.create_channel(guild_id, "expiry")
        client = await start_client(server, bot)
        try:
            channel = client.get_channel(channel_id)
            assert isinstance(channel, discord.TextChannel)
            sent = await channel.send(file=discord.File(io.BytesIO(b"gone"), "gone.bin"))
            with pytest.raises(discord.NotFound):
                await sent.attachments[0].read()
        finally:
            await stop_client(client)


async def test_attachment_urls_stay_valid_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "local.sqlite3"
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.create_bot("keeper")
        guild_id = server.create_guild("keeper guild", owner=bot)
        channel_id = server.create_channel(guild_id, "kept")
        async with aiohttp.ClientSession() as session:
            form = aiohttp.FormData()
            form.add_field("payload_json", '{"content": "x"}', content_type="application/json")
            form.add_field("files[0]", io.BytesIO(b"kept"), filename="kept.bin")
            _, _, body = await Client(session, server, bot.token).send(
                "POST", f"/channels/{channel_id}/messages", data=form
            )
        path_and_query = yarl.URL(body["attachments"][0]["url"]).path_qs
    async with LocalDiscord(data, rate_limits="off") as server, aiohttp.ClientSession() as session:
        assert await raw(session, "GET", server.url + path_and_query) == (
            200,
            "application/octet-stream",
            b"kept",
        )


# ------------------------------------------------------------------ 6. the data file


def stored_bytes(data: Path) -> bytes:
    """Everything SQLite wrote for ``data``: the file and its ``-wal``/``-shm`` companions."""
    return b"".join(p.read_bytes() for p in data.parent.iterdir() if p.name.startswith(data.name))


def file_modes(data: Path) -> dict[str, int]:
    return {
        p.name: stat.S_IMODE(p.stat().st_mode) for p in data.parent.iterdir() if p.name.startswith(data.name)
    }


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
async def test_the_data_file_is_private_and_keeps_token_digests_only(tmp_path: Path) -> None:
    data = tmp_path / "state" / "local.sqlite3"
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.create_bot("private")
        token = bot.token
        server.create_guild("private guild", owner=bot)
        modes = file_modes(data)
        assert set(modes) >= {"local.sqlite3", "local.sqlite3-wal"}
        assert set(modes.values()) == {0o600}, modes
        assert stat.S_IMODE(data.parent.stat().st_mode) == 0o700
        stored = stored_bytes(data)
        assert token.encode() not in stored
        assert hash_token(token).encode() in stored
        assert token not in repr(bot)
    async with LocalDiscord(data, rate_limits="off") as server, aiohttp.ClientSession() as session:
        again = server.bot("private")
        assert again is not None
        assert again.issued_token is None
        with pytest.raises(LocalServerError, match="shown when it was made"):
            _ = again.token
        me = Client(session, server, token)
        status, _, body = await me.send("GET", "/users/@me")  # verified by its digest
        assert (status, body["id"]) == (200, str(again.user_id))
        assert (await Client(session, server, token + "x").send("GET", "/users/@me"))[0] == 401


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_an_existing_data_file_readable_by_others_is_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "old.sqlite3"
    sqlite3.connect(data).close()
    data.chmod(0o644)
    Store(data).close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o600


async def test_plain_tokens_of_an_older_data_file_are_replaced_by_digests(tmp_path: Path) -> None:
    data = tmp_path / "legacy.sqlite3"
    store = Store(data)
    bot = store.create_bot("legacy")
    token = bot.token
    legacy = {"user_id": bot.user_id, "application_id": bot.application_id, "name": "legacy", "token": token}
    store._db.execute("UPDATE bots SET data = ? WHERE user_id = ?", (json.dumps(legacy), bot.user_id))
    store.close()
    async with LocalDiscord(data, rate_limits="off") as server, aiohttp.ClientSession() as session:
        migrated = server.bot("legacy")
        assert migrated is not None
        assert migrated.token == token  # read in this run: shown once more
        assert (await Client(session, server, token).send("GET", "/users/@me"))[0] == 200
    assert token.encode() not in stored_bytes(data)


async def test_reset_token_revokes_the_old_one(
    server: LocalDiscord, bot: BotAccount, guild_id: int, session: aiohttp.ClientSession, watch: LogWatch
) -> None:
    old = bot.token
    client = await start_client(server, bot)
    try:
        new = server.reset_token(bot)
        assert new != old
        assert bot.token == new
        assert (await Client(session, server, old).send("GET", "/users/@me"))[0] == 401
        assert (await Client(session, server, new).send("GET", "/users/@me"))[0] == 200
        identify = json.dumps({"op": 2, "d": {"token": old, "intents": 1, "properties": {}}})
        assert (await gateway_exchange(server, [identify]))[1] == 4004
        for _ in range(100):  # the open session is closed with 4004 in the background
            if server.gateway.session_count() == 0:
                break
            await asyncio.sleep(0.05)
        assert server.gateway.session_count() == 0
    finally:
        await stop_client(client)


# ------------------------------------------------------------------ 7. the data path


@pytest.mark.parametrize("path", [None, b"local.sqlite3", 3, Path("x").parts])
def test_a_data_path_must_be_a_path(path: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"str or os\.PathLike"):
        LocalDiscord(path)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"str or os\.PathLike"):
        Store(path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # no file named "None" (or anything else)


def test_an_empty_data_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="file path"):
        LocalDiscord("")
    assert list(tmp_path.iterdir()) == []
