"""Every limit and error of the local server answers with Discord's status, code and body.

Raw aiohttp requests against ``server.api_url`` (rate limits off unless a test makes its own
server). Expected bodies follow ``shared/reference/discord-api-facts.md`` §2-§3 and Discord's
"JSON Error Codes" table. Also: the 429 shapes of the rate limiter, HTTP fault injection, and
discord.py's reaction to 5xx faults.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from discobase.local import BotAccount, Fault, LocalDiscord, Overwrite, Permission, RateLimitProfile
from discobase.local.snowflake import iso_timestamp, snowflake_at
from discobase.local.store import Message
from tests.conftest import ConnectFactory, start_client, stop_client
from tests.local.openapi_spec import discord_error_shape_problems, strict_json

MiB = 1024 * 1024
MEMBER_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ATTACH_FILES
)


def leaf(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def form_error(errors: dict[str, Any]) -> dict[str, Any]:
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


class Client:
    """Raw requests as one bot; ``send`` returns ``(status, headers, parsed JSON body or None)``."""

    def __init__(self, session: aiohttp.ClientSession, server: LocalDiscord, token: str | None) -> None:
        self.session = session
        self.server = server
        self.headers = {"Authorization": f"Bot {token}"} if token else {}

    async def send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        url = path if path.startswith("http") else self.server.api_url + path
        async with self.session.request(
            method, url, headers={**self.headers, **(headers or {})}, **kwargs
        ) as r:
            raw = await r.read()
            if r.status == 204:
                return r.status, r.headers, None
            assert r.content_type == "application/json", (r.status, r.content_type, raw[:200])
            body = strict_json(raw)
            if r.status >= 400 and r.status != 429:
                assert not discord_error_shape_problems(body), (body, discord_error_shape_problems(body))
            return r.status, r.headers, body

    async def expect(self, method: str, path: str, status: int, body: Any, **kwargs: Any) -> Any:
        got_status, headers, got = await self.send(method, path, **kwargs)
        assert (got_status, got) == (status, body), f"{method} {path}"
        return headers


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(session: aiohttp.ClientSession, server: LocalDiscord, bot: BotAccount) -> Client:
    return Client(session, server, bot.token)


@pytest.fixture
def channel_id(server: LocalDiscord, guild_id: int) -> int:
    return server.create_channel(guild_id, "errors")


@pytest.fixture
def member(server: LocalDiscord, guild_id: int) -> BotAccount:
    """A second bot in the guild: a plain member with view/send/read/attach only."""
    other = server.create_bot("member-bot")
    server.add_member(guild_id, other, permissions=MEMBER_PERMISSIONS)
    return other


def insert(server: LocalDiscord, channel_id: int, guild_id: int, author_id: int, **fields: Any) -> Message:
    message = Message(
        id=fields.pop("id", None) or server.store.next_id(),
        channel_id=channel_id,
        guild_id=guild_id,
        author_id=author_id,
        content=fields.pop("content", "x"),
        **fields,
    )
    server.store.insert_message(message)
    return message


# ------------------------------------------------------------------ generic errors


UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bot not-a-token", "Bearer not-a-token", "Bot ", ""],
)
async def test_401_without_a_valid_token(
    session: aiohttp.ClientSession, server: LocalDiscord, bot: BotAccount, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    client = Client(session, server, None)
    await client.expect("GET", "/users/@me", 401, UNAUTHORIZED, headers=headers)
    await client.expect(
        "POST", "/channels/1/messages", 401, UNAUTHORIZED, headers=headers, json={"content": "x"}
    )


async def test_401_for_the_bare_token_without_bot_prefix(
    session: aiohttp.ClientSession, server: LocalDiscord, bot: BotAccount
) -> None:
    await Client(session, server, None).expect(
        "GET", "/users/@me", 401, UNAUTHORIZED, headers={"Authorization": bot.token}
    )


async def test_404_unknown_route_and_405_wrong_method(api: Client, server: LocalDiscord) -> None:
    not_found = {"message": "404: Not Found", "code": 0}
    await api.expect("GET", "/nope", 404, not_found)
    await api.expect("GET", "/channels/1/nope", 404, not_found)
    await api.expect("GET", f"{server.url}/api/v6/users/@me", 404, not_found)
    await Client(api.session, server, None).expect("GET", "/nope", 404, not_found)
    not_allowed = {"message": "405: Method Not Allowed", "code": 0}
    await api.expect("POST", "/channels/1", 405, not_allowed)
    await api.expect("PUT", "/users/@me", 405, not_allowed)
    await api.expect("DELETE", "/channels/1/messages", 405, not_allowed)


async def test_unknown_channel_guild_message_member(
    api: Client, server: LocalDiscord, guild_id: int, channel_id: int
) -> None:
    unknown = server.store.next_id()
    channel = {"message": "Unknown Channel", "code": 10003}
    await api.expect("GET", f"/channels/{unknown}", 404, channel)
    await api.expect("POST", f"/channels/{unknown}/messages", 404, channel, json={"content": "x"})
    await api.expect("GET", f"/channels/{unknown}/messages", 404, channel)
    guild = {"message": "Unknown Guild", "code": 10004}
    await api.expect("GET", f"/guilds/{unknown}", 404, guild)
    await api.expect("POST", f"/guilds/{unknown}/channels", 404, guild, json={"name": "x"})
    message = {"message": "Unknown Message", "code": 10008}
    await api.expect("GET", f"/channels/{channel_id}/messages/{unknown}", 404, message)
    await api.expect(
        "PATCH", f"/channels/{channel_id}/messages/{unknown}", 404, message, json={"content": "x"}
    )
    await api.expect("DELETE", f"/channels/{channel_id}/messages/{unknown}", 404, message)
    await api.expect("PUT", f"/channels/{channel_id}/messages/pins/{unknown}", 404, message)
    await api.expect(
        "GET", f"/guilds/{guild_id}/members/{unknown}", 404, {"message": "Unknown Member", "code": 10007}
    )


# ------------------------------------------------------------------ permissions


async def test_50001_missing_access_for_a_hidden_channel(
    session: aiohttp.ClientSession, server: LocalDiscord, guild_id: int, member: BotAccount
) -> None:
    hidden = server.create_channel(
        guild_id, "hidden", overwrites=[Overwrite(guild_id, 0, 0, int(Permission.VIEW_CHANNEL))]
    )
    visible = server.create_channel(guild_id, "visible")
    other = Client(session, server, member.token)
    access = {"message": "Missing Access", "code": 50001}
    await other.expect("GET", f"/channels/{hidden}", 403, access)
    await other.expect("GET", f"/channels/{hidden}/messages", 403, access)
    await other.expect("POST", f"/channels/{hidden}/messages", 403, access, json={"content": "x"})
    status, _, body = await other.send("GET", f"/channels/{visible}")
    assert status == 200
    assert body["id"] == str(visible)
    _, _, channels = await other.send("GET", f"/guilds/{guild_id}/channels")
    assert str(hidden) not in {c["id"] for c in channels}  # not even listed
    outsider = server.create_guild("elsewhere")
    await other.expect("GET", f"/guilds/{outsider}", 403, access)


async def test_50013_missing_permissions(
    session: aiohttp.ClientSession, server: LocalDiscord, guild_id: int, member: BotAccount, channel_id: int
) -> None:
    other = Client(session, server, member.token)
    missing = {"message": "Missing Permissions", "code": 50013}
    await other.expect("POST", f"/guilds/{guild_id}/channels", 403, missing, json={"name": "nope"})
    await other.expect("PATCH", f"/channels/{channel_id}", 403, missing, json={"name": "nope"})
    await other.expect("DELETE", f"/channels/{channel_id}", 403, missing)
    muted = server.create_channel(
        guild_id, "muted", overwrites=[Overwrite(guild_id, 0, 0, int(Permission.SEND_MESSAGES))]
    )
    await other.expect("POST", f"/channels/{muted}/messages", 403, missing, json={"content": "x"})


async def test_50005_editing_another_bots_message(
    session: aiohttp.ClientSession, api: Client, server: LocalDiscord, member: BotAccount, channel_id: int
) -> None:
    other = Client(session, server, member.token)
    _, _, theirs = await other.send("POST", f"/channels/{channel_id}/messages", json={"content": "mine"})
    await api.expect(
        "PATCH",
        f"/channels/{channel_id}/messages/{theirs['id']}",
        403,
        {"message": "Cannot edit a message authored by another user", "code": 50005},
        json={"content": "hijacked"},
    )


async def test_20012_another_applications_commands(api: Client, member: BotAccount) -> None:
    await api.expect(
        "PUT",
        f"/applications/{member.application_id}/commands",
        403,
        {"message": "You are not authorized to perform this action on this application", "code": 20012},
        json=[],
    )


async def test_50055_the_owner_cannot_leave_its_guild(api: Client, guild_id: int) -> None:
    await api.expect(
        "DELETE", f"/users/@me/guilds/{guild_id}", 400, {"message": "Invalid guild", "code": 50055}
    )


# ------------------------------------------------------------------ form errors


async def test_50035_content_of_2001_characters(api: Client, channel_id: int) -> None:
    await api.expect(
        "POST",
        f"/channels/{channel_id}/messages",
        400,
        form_error({"content": leaf("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")}),
        json={"content": "x" * 2001},
    )
    status, _, _ = await api.send("POST", f"/channels/{channel_id}/messages", json={"content": "x" * 2000})
    assert status == 200


async def test_malformed_json_is_50109(api: Client, channel_id: int) -> None:
    """Discord's JSON error code table: 50109 "The request body contains invalid JSON."."""
    invalid = {"message": "The request body contains invalid JSON.", "code": 50109}
    json_type = {"Content-Type": "application/json"}
    for raw in (b"{", b'{"content": "x",}', b"\xff\xfe", b"[1, 2"):
        await api.expect(
            "POST", f"/channels/{channel_id}/messages", 400, invalid, data=raw, headers=json_type
        )
    form = aiohttp.FormData()
    form.add_field("payload_json", "{not json", content_type="application/json")
    await api.expect("POST", f"/channels/{channel_id}/messages", 400, invalid, data=form)


async def test_50035_wrong_content_type_and_malformed_multipart(api: Client, channel_id: int) -> None:
    status, _, body = await api.send(
        "POST", f"/channels/{channel_id}/messages", data=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert (status, body["code"], body["errors"]["_errors"][0]["code"]) == (
        400,
        50035,
        "CONTENT_TYPE_INVALID",
    )
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=x"):
        status, _, body = await api.send(
            "POST",
            f"/channels/{channel_id}/messages",
            data=b"garbage",
            headers={"Content-Type": content_type},
        )
        assert (status, body["code"]) == (400, 50035), body


async def test_50035_bad_snowflakes_in_the_path(api: Client, guild_id: int, channel_id: int) -> None:
    def coerce(name: str, value: str) -> dict[str, Any]:
        return form_error({name: leaf("NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')})

    await api.expect("GET", "/channels/abc", 400, coerce("channel_id", "abc"))
    await api.expect("GET", "/guilds/-1", 400, coerce("guild_id", "-1"))
    await api.expect("GET", f"/channels/{channel_id}/messages/1.5", 400, coerce("message_id", "1.5"))
    await api.expect("GET", f"/channels/{2**64}", 400, coerce("channel_id", str(2**64)))


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("limit=0", {"limit": leaf("NUMBER_TYPE_MIN", "int value should be greater than or equal to 1.")}),
        ("limit=101", {"limit": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")}),
        ("limit=ten", {"limit": leaf("NUMBER_TYPE_COERCE", 'Value "ten" is not int.')}),
        ("before=yesterday", {"before": leaf("NUMBER_TYPE_COERCE", 'Value "yesterday" is not snowflake.')}),
    ],
)
async def test_50035_bad_query_parameters(
    api: Client, channel_id: int, query: str, errors: dict[str, Any]
) -> None:
    await api.expect("GET", f"/channels/{channel_id}/messages?{query}", 400, form_error(errors))


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "   "}, {"content": None, "embeds": []}])
async def test_50006_empty_message(api: Client, channel_id: int, body: dict[str, Any]) -> None:
    await api.expect(
        "POST",
        f"/channels/{channel_id}/messages",
        400,
        {"message": "Cannot send an empty message", "code": 50006},
        json=body,
    )


async def test_50006_editing_a_message_to_nothing(api: Client, channel_id: int) -> None:
    _, _, sent = await api.send("POST", f"/channels/{channel_id}/messages", json={"content": "x"})
    await api.expect(
        "PATCH",
        f"/channels/{channel_id}/messages/{sent['id']}",
        400,
        {"message": "Cannot send an empty message", "code": 50006},
        json={"content": ""},
    )


async def test_50008_message_in_a_category(api: Client, server: LocalDiscord, guild_id: int) -> None:
    category = server.create_channel(guild_id, "cat", type=4)
    await api.expect(
        "POST",
        f"/channels/{category}/messages",
        400,
        {"message": "Cannot send messages in a non-text channel", "code": 50008},
        json={"content": "x"},
    )


# ------------------------------------------------------------------ count and size limits


async def test_30013_five_hundred_channels_per_guild(
    api: Client, server: LocalDiscord, guild_id: int
) -> None:
    assert len(server.store.guild_channels(guild_id)) == 2  # "Text Channels" and #general
    for i in range(498):
        server.create_channel(guild_id, f"c{i}")
    await api.expect(
        "POST",
        f"/guilds/{guild_id}/channels",
        400,
        {"message": "Maximum number of server channels reached (500)", "code": 30013},
        json={"name": "one-too-many"},
    )
    assert len(server.store.guild_channels(guild_id)) == 500


async def test_fifty_channels_per_category(api: Client, server: LocalDiscord, guild_id: int) -> None:
    category = server.create_channel(guild_id, "full", type=4)
    for i in range(49):
        server.create_channel(guild_id, f"c{i}", parent_id=category)
    status, _, _ = await api.send(
        "POST", f"/guilds/{guild_id}/channels", json={"name": "50th", "parent_id": str(category)}
    )
    assert status == 201
    await api.expect(
        "POST",
        f"/guilds/{guild_id}/channels",
        400,
        form_error(
            {
                "parent_id": leaf(
                    "CHANNEL_PARENT_MAX_CHANNELS", "Maximum number of channels in category reached (50)"
                )
            }
        ),
        json={"name": "51st", "parent_id": str(category)},
    )


def files_form(sizes: list[int], payload: dict[str, Any] | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps(payload or {}), content_type="application/json")
    for index, size in enumerate(sizes):
        form.add_field(f"files[{index}]", io.BytesIO(b"\0" * size), filename=f"f{index}.bin")
    return form


async def test_40005_upload_over_10_mib_is_413(api: Client, channel_id: int) -> None:
    too_large = {"message": "Request entity too large", "code": 40005}
    await api.expect(
        "POST", f"/channels/{channel_id}/messages", 413, too_large, data=files_form([10 * MiB + 1])
    )
    status, _, body = await api.send("POST", f"/channels/{channel_id}/messages", data=files_form([10 * MiB]))
    assert status == 200
    assert body["attachments"][0]["size"] == 10 * MiB


async def test_30015_eleven_files(api: Client, channel_id: int) -> None:
    await api.expect(
        "POST",
        f"/channels/{channel_id}/messages",
        400,
        {"message": "Maximum number of attachments in message reached (10)", "code": 30015},
        data=files_form([1] * 11),
    )
    status, _, body = await api.send("POST", f"/channels/{channel_id}/messages", data=files_form([1] * 10))
    assert (status, len(body["attachments"])) == (200, 10)


async def test_bulk_delete_counts_are_50035(api: Client, server: LocalDiscord, channel_id: int) -> None:
    """The spec's minItems 2 / maxItems 100 are form validation (50035), not the legacy 50016."""
    ids = [str(server.store.next_id()) for _ in range(101)]
    bad_length = form_error(
        {"messages": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")}
    )
    path = f"/channels/{channel_id}/messages/bulk-delete"
    for count in (0, 1, 101):
        await api.expect("POST", path, 400, bad_length, json={"messages": ids[:count]})
    await api.expect(
        "POST",
        path,
        400,
        form_error(
            {
                "messages": {
                    "1": leaf("SET_TYPE_ALREADY_CONTAINS_VALUE", "The set already contains this value")
                }
            }
        ),
        json={"messages": [ids[0], ids[0]]},
    )
    await api.expect(
        "POST",
        path,
        400,
        form_error({"messages": leaf("BASE_TYPE_REQUIRED", "This field is required")}),
        json={},
    )
    status, _, _ = await api.send("POST", path, json={"messages": ids[:100]})
    assert status == 204


async def test_50034_bulk_delete_of_a_message_older_than_14_days(
    api: Client, server: LocalDiscord, bot: BotAccount, guild_id: int, channel_id: int
) -> None:
    old_id = snowflake_at(int(time.time() * 1000) - 15 * 86_400_000)
    old = insert(server, channel_id, guild_id, bot.user_id, id=old_id, content="old")
    new = insert(server, channel_id, guild_id, bot.user_id, content="new")
    await api.expect(
        "POST",
        f"/channels/{channel_id}/messages/bulk-delete",
        400,
        {"message": "You can only bulk delete messages that are under 14 days old.", "code": 50034},
        json={"messages": [str(new.id), str(old.id)]},
    )
    assert server.store.message_exists(channel_id, new.id)  # nothing was deleted
    status, _, _ = await api.send("DELETE", f"/channels/{channel_id}/messages/{old.id}")
    assert status == 204  # a single delete works at any age


async def test_30003_two_hundred_fifty_pins(
    api: Client, server: LocalDiscord, bot: BotAccount, guild_id: int, channel_id: int
) -> None:
    for _ in range(250):
        message_id = server.store.next_id()
        insert(
            server,
            channel_id,
            guild_id,
            bot.user_id,
            id=message_id,
            pinned=True,
            pinned_at=iso_timestamp(message_id),
        )
    extra = insert(server, channel_id, guild_id, bot.user_id)
    await api.expect(
        "PUT",
        f"/channels/{channel_id}/messages/pins/{extra.id}",
        400,
        {"message": "Maximum number of pins reached (250)", "code": 30003},
    )


# ------------------------------------------------------------------ POST /guilds


async def test_20001_bots_cannot_create_guilds(api: Client) -> None:
    await api.expect(
        "POST",
        "/guilds",
        403,
        {"message": "Bots cannot use this endpoint", "code": 20001},
        json={"name": "mine"},
    )


async def test_guild_create_when_allowed_gives_a_usable_guild() -> None:
    async with LocalDiscord(rate_limits="off", allow_guild_create=True) as server:
        bot = server.create_bot("creator")
        client = await start_client(server, bot)
        try:
            joined = asyncio.Event()
            client.event(_on_guild_join(joined))
            with pytest.warns(DeprecationWarning, match="create_guild is deprecated"):
                guild = await client.create_guild(name="made by a bot")
            assert guild.name == "made by a bot"
            await asyncio.wait_for(joined.wait(), timeout=5)
            cached = client.get_guild(guild.id)
            assert cached is not None
            assert cached.owner_id == bot.user_id
            assert {c.name for c in cached.channels} == {"Text Channels", "general"}
            channel = cached.text_channels[0]
            assert (await channel.send("hello")).content == "hello"
        finally:
            await stop_client(client)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bot {bot.token}"}) as session:
            status, _, body = await Client(session, server, bot.token).send(
                "POST", "/guilds", json={"name": "x"}
            )
            assert (status, body) == (
                400,
                form_error({"name": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")}),
            )
            status, _, body = await Client(session, server, bot.token).send(
                "POST", "/guilds", json={"name": "raw guild"}
            )
            assert status == 201
            assert body["owner_id"] == str(bot.user_id)


async def test_joining_a_guild_fires_on_guild_join(
    server: LocalDiscord, bot: BotAccount, connect: ConnectFactory
) -> None:
    """A join's GUILD_CREATE has no ``unavailable`` key, so discord.py reports a join:
    for a guild created with the bot as a member, and for a bot added to a guild."""
    client = await connect(bot)
    joined: list[int] = []
    event = asyncio.Event()

    @client.event
    async def on_guild_join(guild: discord.Guild) -> None:
        joined.append(guild.id)
        event.set()

    created = server.create_guild("created with the bot", members=[bot])
    await asyncio.wait_for(event.wait(), timeout=5)
    event.clear()
    existing = server.create_guild("bot added later")
    server.add_member(existing, bot)
    await asyncio.wait_for(event.wait(), timeout=5)
    assert joined == [created, existing]
    assert client.get_guild(existing) is not None


def _on_guild_join(event: asyncio.Event) -> Any:
    async def on_guild_join(guild: discord.Guild) -> None:
        event.set()

    return on_guild_join


# ------------------------------------------------------------------ rate limits


RATE_LIMIT_KEYS = {"message", "retry_after", "global"}


async def test_route_rate_limit_429_shape() -> None:
    async with LocalDiscord(rate_limits="discord") as server:
        bot = server.create_bot("limited")
        guild_id = server.create_guild("limits", owner=bot)
        channel_id = server.create_channel(guild_id, "limited")
        async with aiohttp.ClientSession() as session:
            api = Client(session, server, bot.token)
            path = f"/channels/{channel_id}/messages"
            for i in range(5):
                status, headers, _ = await api.send("POST", path, json={"content": str(i)})
                assert status == 200
                assert headers["X-RateLimit-Remaining"] == str(4 - i)
            status, headers, body = await api.send("POST", path, json={"content": "6th"})
            assert status == 429
            assert set(body) == RATE_LIMIT_KEYS
            assert body["message"] == "You are being rate limited."
            assert body["global"] is False
            assert isinstance(body["retry_after"], float)
            assert 0 < body["retry_after"] <= 5
            assert headers["Via"]
            assert headers["X-RateLimit-Limit"] == "5"
            assert headers["X-RateLimit-Remaining"] == "0"
            assert float(headers["X-RateLimit-Reset-After"]) == pytest.approx(body["retry_after"], abs=0.01)
            assert float(headers["X-RateLimit-Reset"]) > time.time()
            assert headers["X-RateLimit-Bucket"]
            assert str(channel_id) not in headers["X-RateLimit-Bucket"]
            assert headers["X-RateLimit-Scope"] == "user"
            assert int(headers["Retry-After"]) >= body["retry_after"]
            assert "X-RateLimit-Global" not in headers
            other = server.create_channel(guild_id, "other")  # buckets are per channel
            status, _, _ = await api.send("POST", f"/channels/{other}/messages", json={"content": "x"})
            assert status == 200


async def test_global_rate_limit_429_shape() -> None:
    profile = RateLimitProfile.discord().with_bucket("global", limit=3, per=60.0)
    async with LocalDiscord(rate_limits=profile) as server:
        bot = server.create_bot("limited")
        guild_id = server.create_guild("limits", owner=bot)
        async with aiohttp.ClientSession() as session:
            api = Client(session, server, bot.token)
            for path in ("/users/@me", f"/guilds/{guild_id}", "/gateway/bot"):
                assert (await api.send("GET", path))[0] == 200
            status, headers, body = await api.send("GET", f"/guilds/{guild_id}/channels")
            assert status == 429
            assert set(body) == RATE_LIMIT_KEYS
            assert body["global"] is True
            assert body["message"] == "You are being rate limited."
            assert 0 < body["retry_after"] <= 60
            assert headers["X-RateLimit-Global"] == "true"
            assert headers["X-RateLimit-Scope"] == "global"
            assert headers["Via"]
            assert int(headers["Retry-After"]) >= body["retry_after"]
            assert "X-RateLimit-Bucket" not in headers


# ------------------------------------------------------------------ fault injection over HTTP

MSG_ROUTE = "POST /channels/{channel_id}/messages"


@pytest.mark.parametrize(
    ("status", "message"),
    [(500, "500: Internal Server Error"), (502, "502: Bad Gateway"), (503, "503: Service Unavailable")],
)
async def test_status_faults_answer_once_with_discords_body(
    api: Client, server: LocalDiscord, channel_id: int, status: int, message: str
) -> None:
    server.faults.add(Fault(kind="status", route=MSG_ROUTE, status=status, count=1))
    path = f"/channels/{channel_id}/messages"
    await api.expect("POST", path, status, {"message": message, "code": 0}, json={"content": "x"})
    got, _, body = await api.send("POST", path, json={"content": "x"})
    assert (got, body["content"]) == (200, "x")
    assert [m["content"] for m in (await api.send("GET", path))[2]] == ["x"]  # the faulted one was not stored


async def test_ratelimit_fault_is_a_429_with_via(api: Client, server: LocalDiscord, channel_id: int) -> None:
    server.faults.add(Fault(kind="ratelimit", route=MSG_ROUTE, retry_after=0.5, count=1))
    path = f"/channels/{channel_id}/messages"
    status, headers, body = await api.send("POST", path, json={"content": "x"})
    assert status == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 0.5, "global": False}
    assert headers["Via"]
    assert headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Scope"] == "user"
    assert (await api.send("POST", path, json={"content": "x"}))[0] == 200


async def test_latency_fault_delays_but_succeeds(api: Client, server: LocalDiscord, channel_id: int) -> None:
    server.faults.add(Fault(kind="latency", route=MSG_ROUTE, latency=0.3, count=1))
    started = time.monotonic()
    status, _, body = await api.send("POST", f"/channels/{channel_id}/messages", json={"content": "slow"})
    assert time.monotonic() - started >= 0.3
    assert (status, body["content"]) == (200, "slow")


async def test_drop_fault_disconnects_and_the_server_keeps_serving(
    server: LocalDiscord, bot: BotAccount, channel_id: int
) -> None:
    server.faults.add(Fault(kind="drop", route=MSG_ROUTE, count=1))
    headers = {"Authorization": f"Bot {bot.token}"}
    path = f"{server.api_url}/channels/{channel_id}/messages"
    async with aiohttp.ClientSession(headers=headers) as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.post(path, json={"content": "lost"}) as response:
                await response.read()
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(path, json={"content": "kept"}) as response:
            assert response.status == 200
        async with session.get(path) as response:
            assert [m["content"] for m in await response.json()] == ["kept"]


# ------------------------------------------------------------------ discord.py and 5xx faults


async def test_discordpy_retries_a_500_and_raises_on_503(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    guild = client.get_guild(guild_id)
    assert guild is not None
    channel = guild.text_channels[0]
    server.faults.add(Fault(kind="status", route=MSG_ROUTE, status=500, count=1))
    sent = await channel.send("after one 500")  # discord.py sleeps 1 s and retries
    assert sent.content == "after one 500"
    assert server.stats()["POST /channels/{channel_id}/messages"] == 2
    server.faults.add(Fault(kind="status", route=MSG_ROUTE, status=503, count=1))
    with pytest.raises(discord.DiscordServerError) as error:
        await channel.send("refused")
    assert error.value.status == 503
    assert [m.content async for m in channel.history(limit=None)] == ["after one 500"]
