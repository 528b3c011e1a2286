"""Unmodified discord.py against the local server, over real sockets."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from pathlib import Path

import discord
import pytest

from discobase.local import BotAccount, Fault, LocalDiscord
from discobase.local.store import Message
from tests.conftest import ConnectFactory, start_client, stop_client

MiB = 1024 * 1024


async def text_channel(client: discord.Client, guild_id: int, name: str = "test") -> discord.TextChannel:
    guild = client.get_guild(guild_id)
    assert guild is not None
    return await guild.create_text_channel(name)


async def test_login_ready_sees_guild_and_channels(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    assert client.user is not None
    assert client.user.id == bot.user_id
    assert client.application_id == bot.application_id
    guild = client.get_guild(guild_id)
    assert guild is not None
    assert guild.name == "test guild"
    assert {c.name for c in guild.channels} == {"Text Channels", "general"}
    general = discord.utils.get(guild.text_channels, name="general")
    assert general is not None
    assert general.category is not None
    assert general.category.name == "Text Channels"
    assert guild.me is not None
    assert guild.me.guild_permissions.administrator  # the owner may do anything


async def test_message_round_trips_without_warnings(
    bot: BotAccount, guild_id: int, connect: ConnectFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="discord")
    client = await connect(bot)
    channel = await text_channel(client, guild_id, "Round Trip")
    assert channel.name == "round-trip"  # Discord's text-channel name rules
    sent = await channel.send("hello", embed=discord.Embed(title="t", description="d"))
    fetched = await channel.fetch_message(sent.id)
    assert (fetched.content, fetched.embeds[0].title, fetched.author.id) == ("hello", "t", bot.user_id)
    assert fetched.created_at == sent.created_at
    edited = await sent.edit(content="edited")
    assert edited.content == "edited"
    assert edited.edited_at is not None
    assert (await channel.fetch_message(sent.id)).content == "edited"
    await sent.delete()
    with pytest.raises(discord.NotFound) as missing:
        await channel.fetch_message(sent.id)
    assert missing.value.code == 10008
    batch = [await channel.send(f"m{i}") for i in range(5)]
    await channel.delete_messages(batch[:4])
    remaining = [m.content async for m in channel.history(limit=None)]
    assert remaining == ["m4"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def seed_history(
    server: LocalDiscord, channel_id: int, author_id: int, guild_id: int, count: int
) -> list[int]:
    """Write ``count`` messages straight into the store (fast), oldest first."""
    ids = []
    for i in range(count):
        message = Message(
            id=server.store.next_id(),
            channel_id=channel_id,
            guild_id=guild_id,
            author_id=author_id,
            content=str(i),
        )
        server.store.insert_message(message)
        ids.append(message.id)
    return ids


async def test_history_semantics_over_1000_messages(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    channel = await text_channel(client, guild_id, "history")
    ids = seed_history(server, channel.id, bot.user_id, guild_id, 1000)
    newest_first = ids[::-1]

    everything = [m.id async for m in channel.history(limit=None)]
    assert everything == newest_first
    oldest_first = [m.id async for m in channel.history(limit=None, oldest_first=True)]
    assert oldest_first == ids

    pivot = ids[500]
    before = [m.id async for m in channel.history(limit=250, before=discord.Object(pivot))]
    assert before == ids[250:500][::-1]
    after = [m.id async for m in channel.history(limit=300, after=discord.Object(pivot))]
    assert after == ids[501:801]  # discord.py yields after= oldest first
    after_all = [m.id async for m in channel.history(limit=None, after=discord.Object(ids[-3]))]
    assert after_all == ids[-2:]
    around = [m.id async for m in channel.history(limit=101, around=discord.Object(pivot))]
    assert sorted(around) == ids[450:551]
    assert pivot in around

    raw = await client.http.logs_from(channel.id, 100, before=ids[0])
    assert raw == []
    raw = await client.http.logs_from(channel.id, 100, after=ids[10])
    assert [int(m["id"]) for m in raw] == ids[11:111][::-1]  # newest first, the oldest after the anchor
    raw = await client.http.logs_from(channel.id, 10, around=ids[0])
    assert [int(m["id"]) for m in raw] == ids[:6][::-1]  # 5 after + the anchor, none before
    raw = await client.http.logs_from(channel.id, 4, around=ids[-1])
    assert [int(m["id"]) for m in raw] == [ids[-1], ids[-2], ids[-3]]


@pytest.mark.parametrize("size", [1, MiB, 9 * MiB])
async def test_attachments_round_trip_byte_identical(
    bot: BotAccount, guild_id: int, connect: ConnectFactory, size: int
) -> None:
    client = await connect(bot)
    channel = await text_channel(client, guild_id, "files")
    data = os.urandom(size)
    sent = await channel.send(file=discord.File(io.BytesIO(data), "blob.bin"))
    assert sent.attachments[0].size == size
    fetched = await channel.fetch_message(sent.id)
    assert await fetched.attachments[0].read() == data


async def test_attachment_over_the_limit_is_40005(
    bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    channel = await text_channel(client, guild_id, "files")
    with pytest.raises(discord.HTTPException) as error:
        await channel.send(file=discord.File(io.BytesIO(b"\0" * (10 * MiB + 1)), "big.bin"))
    assert (error.value.status, error.value.code) == (413, 40005)


async def test_edit_keeps_replaces_and_removes_attachments(
    bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    channel = await text_channel(client, guild_id, "files")
    sent = await channel.send(
        "x", files=[discord.File(io.BytesIO(b"a"), "a.txt"), discord.File(io.BytesIO(b"b"), "b.txt")]
    )
    kept = sent.attachments[0]
    edited = await sent.edit(attachments=[kept, discord.File(io.BytesIO(b"c"), "c.txt")])
    assert [a.filename for a in edited.attachments] == ["a.txt", "c.txt"]
    assert edited.attachments[0].id == kept.id
    assert await edited.attachments[1].read() == b"c"
    cleared = await edited.edit(attachments=[])
    assert cleared.attachments == []


async def test_discord_rate_limits_are_hit_and_waited_out() -> None:
    """Under the `discord` profile (headers off so discord.py cannot pre-empt),
    20 quick messages to one channel hit the 5/5 s bucket; discord.py waits
    out each 429 and all 20 arrive, in order."""
    async with LocalDiscord(rate_limits="discord", ratelimit_headers=False) as server:
        bot = server.create_bot("limited")
        guild_id = server.create_guild("limits", owner=bot)
        client = await start_client(server, bot)
        try:
            channel = client.get_guild(guild_id).text_channels[0]  # type: ignore[union-attr]
            for i in range(20):
                await channel.send(str(i))
            contents = [m.content async for m in channel.history(limit=None, oldest_first=True)]
            assert contents == [str(i) for i in range(20)]
            stats = server.stats()
            assert stats["POST /channels/{channel_id}/messages"] > 20  # the 429'd attempts are counted too
            assert server.ratelimiter.invalid_count(str(bot.user_id)) >= 3
        finally:
            await stop_client(client)


@pytest.mark.parametrize("same_bot", [False, True], ids=["two-bots", "one-bot-twice"])
async def test_two_clients_see_each_others_writes(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory, same_bot: bool
) -> None:
    if same_bot:
        other = bot
    else:
        other = server.create_bot("other-bot")
        server.add_member(guild_id, other)
    first = await connect(bot)
    second = await connect(other)
    events: dict[str, list[tuple[str, int]]] = {"first": [], "second": []}

    def track(name: str, client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            events[name].append(("create", message.id))

        @client.event
        async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
            events[name].append(("update", payload.message_id))

        @client.event
        async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
            events[name].append(("delete", payload.message_id))

    track("first", first)
    track("second", second)
    channel_one = first.get_guild(guild_id).text_channels[0]  # type: ignore[union-attr]
    channel_two = second.get_channel(channel_one.id)
    assert isinstance(channel_two, discord.TextChannel)
    a = await channel_one.send("from first")
    b = await channel_two.send("from second")
    await a.edit(content="first edited")
    await b.edit(content="second edited")
    await a.delete()
    await b.delete()
    await asyncio.sleep(0.2)
    expected = [
        ("create", a.id),
        ("create", b.id),
        ("update", a.id),
        ("update", b.id),
        ("delete", a.id),
        ("delete", b.id),
    ]
    assert events["first"] == expected
    assert events["second"] == expected


async def test_dropped_gateway_resumes_and_replays_missed_events(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    seen: list[str] = []
    resumed = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message.content)

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    channel = client.get_guild(guild_id).text_channels[0]  # type: ignore[union-attr]
    server.faults.add(Fault(kind="gateway_drop", route="MESSAGE_CREATE", count=1))
    await channel.send("one")  # its dispatch drops the connection; the event stays in the replay buffer
    await channel.send("two")  # sent while the client is away
    await asyncio.wait_for(resumed.wait(), timeout=10)
    for _ in range(50):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.05)
    assert seen == ["one", "two"]
    assert server.stats().get("GATEWAY RESUME", 0) >= 1


async def test_restart_on_the_same_file_preserves_everything(tmp_path: Path) -> None:
    data = tmp_path / "local.sqlite3"
    payload = os.urandom(4096)
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.create_bot("persistent")
        guild_id = server.create_guild("kept guild", owner=bot)
        client = await start_client(server, bot)
        try:
            channel = await text_channel(client, guild_id, "kept")
            await channel.send("kept message", file=discord.File(io.BytesIO(payload), "kept.bin"))
            message_id = channel.last_message_id
        finally:
            await stop_client(client)
        token = bot.token
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.bot("persistent")
        assert bot is not None
        assert bot.issued_token is None  # the file keeps the token's digest, not the token
        bot.issued_token = token  # the token its owner kept from the first run still logs in
        client = await start_client(server, bot)
        try:
            guild = client.get_guild(guild_id)
            assert guild is not None
            assert guild.name == "kept guild"
            channel = discord.utils.get(guild.text_channels, name="kept")
            assert channel is not None
            assert message_id is not None
            message = await channel.fetch_message(message_id)
            assert message.content == "kept message"
            assert await message.attachments[0].read() == payload
            newer = await channel.send("after restart")
            assert newer.id > message.id  # snowflakes keep increasing across restarts
        finally:
            await stop_client(client)


async def test_two_clients_in_one_process_attach_independently(server: LocalDiscord, bot: BotAccount) -> None:
    """attach() is per client: an unattached client still targets Discord."""
    attached = discord.Client(intents=discord.Intents.none())
    plain = discord.Client(intents=discord.Intents.none())
    server.attach(attached)
    user = await attached.http.static_login(bot.token)
    assert int(user["id"]) == bot.user_id
    await attached.http.close()
    assert discord.http.Route.BASE.startswith("https://discord.com")
    assert getattr(plain.http, "_discobase_local", None) is None
