"""The objects inside gateway events validate against Discord's OpenAPI spec too.

The spec describes HTTP only, but the gateway carries the same objects: READY's ``user`` is
the ``/users/@me`` user (``UserPIIResponse``) and its ``private_channels`` are DM channels
(``PrivateChannelResponse``; Discord sends bots an empty list, see the gateway events docs,
"Ready": "private_channels: empty array"); GUILD_CREATE holds guild channels, roles and
members; GUILD_MEMBER_ADD is a member plus ``guild_id``; MESSAGE_CREATE a message plus
gateway fields; INTERACTION_CREATE a member or a user, a guild or DM channel and the
component's message. A raw websocket client (no library in between) reads them from a real
:class:`LocalDiscord`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from discobase.local import BotAccount, LocalDiscord
from tests.local.openapi_spec import validate_schema

#: GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT.
INTENTS = 1 << 0 | 1 << 1 | 1 << 9 | 1 << 12 | 1 << 15
#: What the gateway adds to a message (gateway events docs, "Message Create").
MESSAGE_EXTRAS = ("guild_id", "member", "channel_type")


class RawGateway:
    """One identified gateway session read frame by frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def next_event(self, name: str) -> dict[str, Any]:
        """The ``d`` of the next dispatch called ``name`` (others are skipped)."""
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await self.ws.receive_str())
                if frame["op"] == 0 and frame["t"] == name:
                    data: dict[str, Any] = frame["d"]
                    return data


@pytest.fixture
async def gateway(server: LocalDiscord) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:

        async def connect(bot: BotAccount) -> RawGateway:
            ws = await session.ws_connect(f"{server.gateway_url}?v=10&encoding=json")
            hello = json.loads(await ws.receive_str())
            assert hello["op"] == 10
            identify = {"token": bot.token, "intents": INTENTS, "properties": {}}
            await ws.send_str(json.dumps({"op": 2, "d": identify}))
            return RawGateway(ws)

        yield connect


def assert_valid(schema: str, payload: Any) -> None:
    problems = validate_schema(schema, payload)
    assert not problems, f"{schema}:\n" + "\n".join(problems)


def without(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in keys}


async def test_ready_and_guild_create(
    server: LocalDiscord, bot: BotAccount, guild_id: int, gateway: Any
) -> None:
    ada = server.create_user("ada")
    await ada.join(guild_id)
    await ada.dm(bot)  # a DM exists, yet READY lists no private channels for a bot
    session = await gateway(bot)
    ready = await session.next_event("READY")
    assert_valid("UserPIIResponse", ready["user"])
    assert ready["user"]["bot"] is True
    assert ready["private_channels"] == []
    dm_channel = server.store.dm_channel(ada.id, bot.user_id)
    assert dm_channel is not None
    assert_valid("PrivateChannelResponse", server.payloads.dm_channel(dm_channel, bot.user_id))
    assert ready["guilds"] == [{"id": str(guild_id), "unavailable": True}]
    guild = await session.next_event("GUILD_CREATE")
    assert guild["channels"]
    for channel in guild["channels"]:
        assert_valid("GuildChannelResponse", channel)
    for role in guild["roles"]:
        assert_valid("GuildRoleResponse", role)
    assert guild["members"]
    for member in guild["members"]:
        assert_valid("GuildMemberResponse", member)


async def test_member_message_and_interaction_events(
    server: LocalDiscord, bot: BotAccount, guild_id: int, gateway: Any
) -> None:
    session = await gateway(bot)
    await session.next_event("GUILD_CREATE")
    ada = server.create_user("ada")
    await ada.join(guild_id)
    added = await session.next_event("GUILD_MEMBER_ADD")
    assert added["guild_id"] == str(guild_id)
    assert_valid("GuildMemberResponse", without(added, "guild_id"))
    general = server.store.guilds[guild_id].system_channel_id
    await ada.send(general, f"hi <@{bot.user_id}>")
    created = await session.next_event("MESSAGE_CREATE")
    assert created["guild_id"] == str(guild_id)
    assert_valid("MessageResponse", without(created, *MESSAGE_EXTRAS))
    assert_valid(
        "GuildMemberResponse", {**created["member"], "user": created["author"], "deaf": False, "mute": False}
    )
    dm = await ada.dm(bot)
    assert_valid("PrivateChannelResponse", dm)
    await ada.send(int(dm["id"]), "psst")
    direct = await session.next_event("MESSAGE_CREATE")
    assert "guild_id" not in direct
    assert_valid("MessageResponse", without(direct, *MESSAGE_EXTRAS))

    # interactions: nobody answers here, so the server's clock for the answer is made short
    server.interactions.response_window = 0.05
    async with aiohttp.ClientSession() as http:
        url = f"{server.api_url}/applications/{bot.application_id}/commands"
        headers = {"Authorization": f"Bot {bot.token}"}
        async with http.put(url, json=[{"name": "ping", "description": "p"}], headers=headers) as put:
            assert put.status == 200
    await ada.invoke(guild_id, "/ping")
    in_guild = await session.next_event("INTERACTION_CREATE")
    assert_valid("GuildMemberResponse", without(in_guild["member"], "permissions"))
    assert_valid("GuildChannelResponse", without(in_guild["channel"], "permissions"))
    await ada.invoke_dm(bot, "/ping")
    in_dm = await session.next_event("INTERACTION_CREATE")
    assert_valid("UserResponse", in_dm["user"])
    assert_valid("PrivateChannelResponse", in_dm["channel"])
