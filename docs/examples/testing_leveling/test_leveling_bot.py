"""Testing the leveling bot (examples/leveling_bot.py) on discobase's local Discord server."""

import pytest
from leveling_bot import Level, LevelingBot

from discobase import Database, NotConnectedError
from discobase.local import Fault, FaultInjector, LocalDiscord
from discobase.testing import Harness, LocalGuild, MemberFactory, RunBot

# Async tests for pytest-asyncio's strict mode (in its auto mode the mark changes nothing).
pytestmark = pytest.mark.asyncio


# --8<-- [start:rank]
async def test_rank_prefix_command(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, database: Database
) -> None:
    bot = await run_bot(LevelingBot(cooldown=0))  # returns once the bot's database is open
    assert bot.user is not None  # the bot's own user, set once it logged in
    ada = await member("ada")
    await ada.send(guild.general, "hello")
    await ada.send(guild.general, "how is everyone?")
    reply = await ada.ask(guild.general, f"{bot.user.mention} rank")  # the bot's next message there
    assert reply["content"] == "ada: level 0, 20 XP, #1 on the server"
    assert reply["referenced_message"]["content"] == f"{bot.user.mention} rank"


# --8<-- [end:rank]


async def test_messages_within_the_cooldown_earn_nothing(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, database: Database
) -> None:
    bot = await run_bot(LevelingBot())  # one message a minute earns XP
    assert bot.user is not None
    ada = await member("ada")
    await ada.send(guild.general, "hello")
    await ada.send(guild.general, "hello again")
    reply = await ada.ask(guild.general, f"{bot.user.mention} rank")
    assert reply["content"] == "ada: level 0, 10 XP, #1 on the server"


async def test_level_up_is_announced(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, local_discord: LocalDiscord, database: Database
) -> None:
    await run_bot(LevelingBot(cooldown=0))
    ada = await member("ada")
    for n in range(10):
        await ada.send(guild.general, f"message {n}")
    announcement = await local_discord.wait_for("message", check=lambda m: "reached level" in m["content"])
    assert announcement["content"] == f"{ada.mention} reached level 1!"


async def test_rank_slash_command(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, local_discord: LocalDiscord, database: Database
) -> None:
    await run_bot(LevelingBot(cooldown=0))
    ada = await member("ada")
    first = await ada.invoke(guild.id, "/rank")  # what ada sees of the answer
    assert first.content == "ada has no XP yet."
    assert first.ephemeral
    await ada.send(guild.general, "hello")
    second = await ada.invoke(guild.id, "/rank")
    assert second.content == "ada: level 0, 10 XP, #1 on the server"
    assert not second.ephemeral
    assert local_discord.stats()["POST /interactions/{interaction_id}/{interaction_token}/callback"] == 2


async def test_leaderboard_refresh_button(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, database: Database
) -> None:
    await run_bot(LevelingBot(cooldown=0))
    ada, bob = await member("ada"), await member("bob")
    await ada.send(guild.general, "hello")
    board = await ada.invoke(guild.id, "/top")
    assert board.content == "1. ada: level 0 (10 XP)"
    await bob.send(guild.general, "hi")
    await bob.send(guild.general, "hi again")
    refreshed = await ada.click(board.message, "leveling:top:refresh")
    assert refreshed.updated is not None  # the message as the bot edited it
    assert refreshed.updated["content"] == "1. bob: level 0 (20 XP)\n2. ada: level 0 (10 XP)"


async def test_xp_survives_a_restart(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, database: Database
) -> None:
    bot = await run_bot(LevelingBot(cooldown=0))
    assert bot.user is not None
    ada = await member("ada")
    await ada.send(guild.general, "hello")
    rank = await ada.ask(guild.general, f"{bot.user.mention} rank")
    assert rank["content"] == "ada: level 0, 10 XP, #1 on the server"
    board = await ada.invoke(guild.id, "/top")

    await bot.close()  # the application stops, and closes its database...
    assert not database.open
    await run_bot(LevelingBot(cooldown=0))  # ...and starts again: the database opens from the server

    assert (await Level.find_unique(user_id=ada.id)).xp == 10
    again = await ada.invoke(guild.id, "/rank")
    assert again.content == "ada: level 0, 10 XP, #1 on the server"
    refreshed = await ada.click(board.message, "leveling:top:refresh")  # a button sent before the restart
    assert refreshed.updated is not None
    assert refreshed.updated["content"] == "1. ada: level 0 (10 XP)"


async def test_answers_through_a_dropped_gateway_connection(
    run_bot: RunBot,
    member: MemberFactory,
    guild: LocalGuild,
    discord_faults: FaultInjector,
    database: Database,
) -> None:
    bot = await run_bot(LevelingBot(cooldown=0))
    assert bot.user is not None
    ada = await member("ada")
    drop = discord_faults.add(Fault("gateway_drop", route="MESSAGE_CREATE", count=1))
    reply = await ada.ask(guild.general, f"{bot.user.mention} rank")  # the bot resumes, gets it again
    assert reply["content"] == "ada has no XP yet."
    assert drop.fired == 1


async def test_without_its_database_the_bot_fails(
    run_bot: RunBot, member: MemberFactory, guild: LocalGuild, discobase_harness: Harness, database: Database
) -> None:
    await run_bot(LevelingBot(cooldown=0))
    ada = await member("ada")
    await database.close()
    await ada.send(guild.general, "hello")
    error = await discobase_harness.next_handler_error()  # expected: it does not fail the test
    assert error.where == "Ignoring exception in on_message"
    assert isinstance(error.error, NotConnectedError)
