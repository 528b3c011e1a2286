"""discord.py's example bots (copies in ``example_bots/``), unmodified in behaviour, driven by
people of the local server over real sockets: each does what its source says."""

from __future__ import annotations

import asyncio

import discord

from discobase.local import BotAccount, LocalDiscord
from discobase.local.store import Message
from tests.conftest import stop_client
from tests.local.example_bots import app_commands, basic_bot, new_member, reaction_roles, reply


async def bot_message(server: LocalDiscord, channel_id: int, bot: BotAccount, after: int) -> Message:
    """The first message ``bot`` posts in ``channel_id`` after message id ``after``, as stored:
    awaited with the server's ``next_message``, which also sees a message posted before the
    call (10 s is a safety bound, not a test of speed)."""
    payload = await server.next_message(channel_id, author=bot, after=after)
    stored = server.store.get_message(channel_id, int(payload["id"]))
    assert stored is not None
    return stored


async def bot_messages(
    server: LocalDiscord, channel_id: int, bot: BotAccount, after: int, count: int
) -> list[Message]:
    """The first ``count`` messages ``bot`` posts in ``channel_id`` after message id ``after``."""
    return [await bot_message(server, channel_id, bot, after) for _ in range(count)]


async def start_client(server: LocalDiscord, bot: BotAccount, *, client: discord.Client) -> None:
    """Log ``client`` in as ``bot`` and wait until it is ready."""
    server.attach(client)
    await client.login(bot.token)
    task = asyncio.create_task(client.connect())
    client._test_task = task  # type: ignore[attr-defined]
    async with asyncio.timeout(15):
        await client.wait_until_ready()


def general(server: LocalDiscord, guild_id: int) -> int:
    channel_id = server.store.guilds[guild_id].system_channel_id
    assert channel_id is not None
    return channel_id


async def test_basic_bot_answers_prefix_commands_of_a_person(
    server: LocalDiscord, bot: BotAccount, guild_id: int
) -> None:
    client = basic_bot.make_bot()
    await start_client(server, bot, client=client)
    try:
        ada = server.create_user("ada")
        await ada.join(guild_id)
        channel = general(server, guild_id)
        sent = await ada.send(channel, "?add 2 3")
        assert (await bot_message(server, channel, bot, int(sent["id"]))).content == "5"
        sent = await ada.send(channel, f"?joined {ada.mention}")
        answer = await bot_message(server, channel, bot, int(sent["id"]))
        assert answer.content.startswith("ada joined <t:")
        sent = await ada.send(channel, "?cool bot")
        assert (await bot_message(server, channel, bot, int(sent["id"]))).content == "Yes, the bot is cool."
        sent = await ada.send(channel, "?cool ada")
        assert (await bot_message(server, channel, bot, int(sent["id"]))).content == "No, ada is not cool"
        sent = await ada.send(channel, "?roll 3d1")  # one-sided dice: the only outcome is 1
        assert (await bot_message(server, channel, bot, int(sent["id"]))).content == "1, 1, 1"
        sent = await ada.send(channel, "?roll three")
        assert (
            await bot_message(server, channel, bot, int(sent["id"]))
        ).content == "Format has to be in NdN!"
        sent = await ada.send(channel, "?choose tea tea")
        assert (await bot_message(server, channel, bot, int(sent["id"]))).content == "tea"
        sent = await ada.send(channel, "?repeat 3 echo")
        repeats = await bot_messages(server, channel, bot, int(sent["id"]), 3)
        assert [m.content for m in repeats] == ["echo", "echo", "echo"]
    finally:
        await stop_client(client)


async def test_reply_bot_replies_and_pings_the_author(
    server: LocalDiscord, bot: BotAccount, guild_id: int
) -> None:
    client = reply.make_client()
    await start_client(server, bot, client=client)
    try:
        ada = server.create_user("ada")
        await ada.join(guild_id)
        channel = general(server, guild_id)
        sent = await ada.send(channel, "!hello")
        answer = await bot_message(server, channel, bot, int(sent["id"]))
        assert answer.content == "Hello!"
        assert answer.type == 19
        assert answer.mentions == [ada.id]  # mention_author=True pings the replied author
        payload = server.payloads.message(answer)
        assert payload["referenced_message"]["id"] == sent["id"]
        assert payload["message_reference"]["message_id"] == sent["id"]
    finally:
        await stop_client(client)


async def test_new_member_bot_welcomes_a_person_who_joins(
    server: LocalDiscord, bot: BotAccount, guild_id: int
) -> None:
    client = new_member.make_client()
    await start_client(server, bot, client=client)
    try:
        channel = general(server, guild_id)
        last = server.store.next_id()
        ada = server.create_user("ada")
        await ada.join(guild_id)
        welcome = await bot_message(server, channel, bot, last)
        assert welcome.content == f"Welcome <@{ada.id}> to test guild!"
        assert welcome.mentions == [ada.id]
    finally:
        await stop_client(client)


async def test_reaction_roles_bot_gives_and_takes_a_role(server: LocalDiscord, bot: BotAccount) -> None:
    guild_id = server.create_guild("roles guild", members=[bot])
    red = server.create_role(guild_id, "red")
    channel = general(server, guild_id)
    ada = server.create_user("ada")
    await ada.join(guild_id)
    post = Message(id=server.store.next_id(), channel_id=channel, guild_id=guild_id, author_id=bot.user_id)
    post.content = "React for roles"
    server.store.insert_message(post)
    client = reaction_roles.make_client(post.id, {discord.PartialEmoji(name="🔴"): red})
    await start_client(server, bot, client=client)
    try:

        def got_role(before: discord.Member, after: discord.Member) -> bool:
            return after.id == ada.id and red in [r.id for r in after.roles]

        def lost_role(before: discord.Member, after: discord.Member) -> bool:
            return after.id == ada.id and red not in [r.id for r in after.roles]

        given = asyncio.ensure_future(client.wait_for("member_update", check=got_role, timeout=10))
        await ada.react(post, "🔴")
        await given
        assert red in server.store.members[(guild_id, ada.id)].roles
        taken = asyncio.ensure_future(client.wait_for("member_update", check=lost_role, timeout=10))
        await ada.unreact(post, "🔴")
        await taken
        assert red not in server.store.members[(guild_id, ada.id)].roles
    finally:
        await stop_client(client)


async def test_app_commands_bot_answers_slash_commands_and_context_menus(
    server: LocalDiscord, bot: BotAccount, guild_id: int
) -> None:
    log_channel = server.create_channel(guild_id, "mod-log")
    client = app_commands.make_client(guild_id, log_channel)
    await start_client(server, bot, client=client)
    try:
        ada = server.create_user("ada")
        await ada.join(guild_id)
        grace = server.create_user("grace")
        await grace.join(guild_id)
        hello = await ada.invoke(guild_id, "/hello")
        assert hello.content == f"Hi, <@{ada.id}>"
        assert not hello.ephemeral
        added = await ada.invoke(guild_id, "/add 1 2")
        assert added.content == "1 + 2 = 3"
        channel = general(server, guild_id)
        stored = server.store.get_message(channel, int(added.messages[0]["id"]))
        assert stored is not None
        assert stored.type == 20
        target = await ada.send(channel, "spam")
        report = await ada.context_menu(guild_id, "Report to Moderators", target)
        assert report.ephemeral
        assert report.content == f"Thanks for reporting this message by <@{ada.id}> to our moderators."
        assert server.store.get_message(channel, int(report.messages[0]["id"])) is None  # only ada sees it
        reported = await bot_message(server, log_channel, bot, int(target["id"]))
        assert reported.embeds[0]["title"] == "Reported Message"
        assert reported.embeds[0]["description"] == "spam"
        assert reported.embeds[0]["author"]["name"] == "ada"
        button = reported.components[0]["components"][0]
        assert (button["label"], button["style"]) == ("Go to Message", 5)
        assert button["url"].endswith(f"/channels/{guild_id}/{channel}/{target['id']}")
        assert (await ada.invoke(guild_id, "/send text:hello there")).content == "hello there"
        mine = await ada.invoke(guild_id, "/joined")
        assert mine.content is not None
        assert mine.content.startswith("ada joined <t:")
        theirs = await ada.invoke(guild_id, f"/joined member:{grace.mention}")
        assert theirs.content is not None
        assert theirs.content.startswith("grace joined <t:")
        shown = await ada.context_menu(guild_id, "Show Join Date", grace)
        assert shown.content is not None
        assert shown.content.startswith("grace joined at <t:")
    finally:
        await stop_client(client)
