"""A database attached to the user's own bot: one login, one gateway session, the
bot's own events and commands untouched, close() leaving the bot running."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import discord
import pytest
from discord.ext import commands

import discobase
from discobase.exceptions import GuildNotFoundError, MissingPermissionsError, NotConnectedError
from discobase.local import DEFAULT_BOT_PERMISSIONS, BotAccount, LocalDiscord, Permission
from tests.bots.helpers import UserBot, start, stop, until

GUILD = "bot server"


def make_db(name: str = GUILD, **options: object) -> tuple[discobase.Database, type[discobase.Table]]:
    db = discobase.Database(name, **options)  # type: ignore[arg-type]

    @db.table
    class Member(discobase.Table):
        name: str
        xp: int = 0

    return db, Member


async def test_attached_from_setup_hook_shares_one_login_and_one_session(
    server: LocalDiscord, bot: BotAccount
) -> None:
    guild_id = server.create_guild(GUILD, owner=bot)
    channel_id = server.store.guilds[guild_id].system_channel_id
    db, Member = make_db()
    user_bot = UserBot(db)
    server.reset_stats()
    task = await start(server, bot, user_bot)
    try:
        await db.wait_ready()
        assert db.open
        assert db.bot is user_bot
        assert isinstance(db.guild, discord.Guild)
        assert db.guild.id == guild_id
        assert {c.name for c in db.guild.channels} >= {"_dbmetadata"}  # 1.0.0's documented type
        await Member(name="ada", xp=5).save()
        assert [m.name for m in await Member.find(xp=5)] == ["ada"]
        stats = server.stats()
        assert stats["GET /users/@me"] == 1
        assert stats["GATEWAY IDENTIFY"] == 1
        assert stats["GATEWAY CONNECT"] == 1

        ada = server.create_user("ada")
        await ada.join(guild_id)
        assert (await ada.invoke(guild_id, "/ping", channel=channel_id)).content == "pong"
        hello = await ada.send(channel_id, "hello")
        assert (await user_bot.next_message()).id == int(hello["id"])  # the bot's own listener still runs

        await db.close()
        assert not db.open
        assert not user_bot.is_closed()  # the database leaves the bot running
        assert (await ada.invoke(guild_id, "/ping", channel=channel_id)).content == "pong"
        still = await ada.send(channel_id, "still there?")
        assert (await user_bot.next_message()).id == int(still["id"])
        assert server.stats()["GATEWAY IDENTIFY"] == 1
    finally:
        await stop(user_bot, task)


async def test_attach_before_start_and_on_a_running_bot(server: LocalDiscord, bot: BotAccount) -> None:
    server.create_guild(GUILD, owner=bot)
    server.create_guild("second server", owner=bot)
    first, FirstMember = make_db()
    second, SecondMember = make_db("second server")
    user_bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
    await first.attach(user_bot)  # before bot.start(): returns at once, opens when the guild arrives
    assert not first.open
    task = await start(server, bot, user_bot)
    try:
        await first.wait_ready()
        await user_bot.wait_until_ready()
        await second.attach(user_bot)  # on a running bot: returns open
        assert second.open
        await FirstMember(name="in first").save()
        await SecondMember(name="in second").save()
        assert [m.name for m in await FirstMember.find()] == ["in first"]
        assert [m.name for m in await SecondMember.find()] == ["in second"]
        assert first.guild is not None
        assert second.guild is not None
        assert first.guild.id != second.guild.id
        await first.close()
        await SecondMember(name="still open").save()
        assert len(await SecondMember.find()) == 2
        await second.close()
        assert not user_bot.is_closed()
        assert server.stats()["GATEWAY IDENTIFY"] == 1
    finally:
        await stop(user_bot, task)


async def test_a_missing_intent_is_named() -> None:
    db, _ = make_db()
    intents = discord.Intents.default()
    intents.guild_messages = False
    user_bot = commands.Bot(command_prefix="!", intents=intents)
    with pytest.raises(NotConnectedError, match=r"guild_messages.*intents\.guild_messages = True"):
        await db.attach(user_bot)
    assert db.status is discobase.DBStatus.STOPPED or not db.open


async def test_a_missing_guild_or_permission_is_reported(server: LocalDiscord, bot: BotAccount) -> None:
    db, _ = make_db("no such server")
    user_bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
    server.create_guild("elsewhere", owner=bot)
    await db.attach(user_bot)
    task = await start(server, bot, user_bot)
    try:
        with pytest.raises(GuildNotFoundError, match="no such server"):
            await db.wait_ready()
        assert not user_bot.is_closed()

        await user_bot.wait_until_ready()  # a guild joined from here on is an on_guild_join
        weak_guild = server.create_guild("weak server")
        server.add_member(
            weak_guild, bot, permissions=DEFAULT_BOT_PERMISSIONS & ~int(Permission.MANAGE_MESSAGES)
        )
        if user_bot.get_guild(weak_guild) is None:  # nothing awaited in between: no event is missed
            await user_bot.wait_for("guild_join", check=lambda g: g.id == weak_guild, timeout=15)
        weak, _ = make_db("weak server")
        with pytest.raises(MissingPermissionsError, match="Manage Messages"):
            await weak.attach(user_bot)
        assert not weak.open
        assert not user_bot.is_closed()
    finally:
        await stop(user_bot, task)


WRITER = """
import asyncio, sys
import discobase

async def main() -> None:
    db = discobase.Database(sys.argv[1], server_url=sys.argv[2])

    @db.table
    class Member(discobase.Table):
        name: str
        xp: int = 0

    async with db.conn(sys.argv[3]):
        await Member.insert_many([Member(name=f"written elsewhere {i}", xp=i) for i in range(3)])
    print("wrote 3")

asyncio.run(main())
"""


async def test_non_privileged_intents_read_another_process_of_the_same_bot(
    server: LocalDiscord, bot: BotAccount, tmp_path: Path
) -> None:
    server.create_guild(GUILD, owner=bot)
    db, Member = make_db()
    user_bot = UserBot(db, admin=False)
    assert not user_bot.intents.message_content
    assert not user_bot.intents.members
    task = await start(server, bot, user_bot)
    try:
        await db.wait_ready()
        script = tmp_path / "writer.py"
        script.write_text(WRITER)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), GUILD, server.url, bot.token, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        assert b"wrote 3" in out
        # through gateway events: the other process's messages are the bot's own, so their content shows
        await until(lambda: len(Member.__disco_cursor__.records) == 3)  # type: ignore[union-attr]
        assert sorted(m.xp for m in await Member.find()) == [0, 1, 2]
        await db.close()

        again, Again = make_db()  # and through history, at open
        await again.attach(user_bot)
        assert sorted(m.name for m in await Again.find()) == [f"written elsewhere {i}" for i in range(3)]
        await again.close()
    finally:
        await stop(user_bot, task)


async def test_own_bot_uses_non_privileged_intents_and_the_cogs_flag(
    server: LocalDiscord, bot: BotAccount
) -> None:
    guild_id = server.create_guild(GUILD, owner=bot)
    channel_id = server.store.guilds[guild_id].system_channel_id
    admins = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
    db, Member = make_db(server_url=server.url, cogs=True)
    async with db.conn(bot.token):
        intents = db.bot.intents
        assert (intents.guilds, intents.guild_messages) == (True, True)
        assert intents.value == discord.Intents(guilds=True, guild_messages=True).value  # nothing privileged
        # what discobase 1.0.0's own tests check of db.guild
        found = next(guild for guild in db.bot.guilds if guild.name == db.name)
        assert found == db.guild
        assert db.guild is not None
        metadata_id = db.metadata_channel_id
        assert metadata_id is not None
        assert [c.name for c in db.guild.channels if c.id == metadata_id] == ["_dbmetadata"]
        metadata = db._metadata_channel
        assert isinstance(metadata, discord.TextChannel)  # 1.0.0's type: its tests compare channels
        assert metadata.id == metadata_id
        assert metadata in db.guild.channels

        await Member(name="ada").save()
        ada = server.create_user("ada")
        await ada.join(guild_id, roles=[admins])
        tables = await ada.invoke(
            guild_id, "/db tables", channel=channel_id
        )  # loaded and synced by cogs=True
        assert [f["name"] for f in tables.message["embeds"][0]["fields"]] == ["member"]
        await ada.close()
