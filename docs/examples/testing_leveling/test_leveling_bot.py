"""Testing the leveling bot on discobase's local Discord server, with pytest."""

import pytest
from leveling_bot import Level, LevelingBot

from discobase import NotConnectedError
from discobase.local import Fault

# Async tests for pytest-asyncio's strict mode (in its auto mode the mark changes nothing).
pytestmark = pytest.mark.asyncio


async def test_rank_prefix_command(run_bot, member, guild, database):
    await run_bot(LevelingBot())
    ada = await member("ada")
    await ada.send(guild.general, "hello")
    await ada.send(guild.general, "how is everyone?")
    reply = await ada.ask(guild.general, "!rank")  # the bot's next message in #general
    assert reply["content"] == "ada is level 0 with 20 XP"
    assert reply["referenced_message"]["content"] == "!rank"


async def test_level_up_is_announced(run_bot, member, guild, local_discord, database):
    await run_bot(LevelingBot())
    ada = await member("ada")
    for n in range(10):
        await ada.send(guild.general, f"message {n}")
    announcement = await local_discord.wait_for("message", check=lambda m: "reached level" in m["content"])
    assert announcement["content"] == f"{ada.mention} reached level 1!"


async def test_rank_slash_command(run_bot, member, guild, local_discord, database):
    await run_bot(LevelingBot())
    ada = await member("ada")
    result = await ada.invoke(guild.id, "/rank")  # what ada sees of the answer
    assert result.content == "ada is level 0 with 0 XP"
    assert result.ephemeral
    assert local_discord.stats()["POST /interactions/{interaction_id}/{interaction_token}/callback"] == 1


async def test_bonus_button(run_bot, member, guild, database):
    await run_bot(LevelingBot())
    ada = await member("ada")
    rank = await ada.ask(guild.general, "!rank")
    first = await ada.click(rank, "leveling:bonus")
    assert first.content == "+50 XP! ada is level 0 with 50 XP"
    again = await ada.click(rank, "leveling:bonus")
    assert again.content == "You already claimed your bonus."
    assert again.ephemeral


async def test_xp_survives_a_restart(run_bot, member, guild, discobase_harness, database):
    bot = await run_bot(LevelingBot())
    ada = await member("ada")
    await ada.send(guild.general, "hello")
    rank = await ada.ask(guild.general, "!rank")
    assert rank["content"] == "ada is level 0 with 10 XP"

    await bot.close()  # the application stops...
    await database.close()
    await discobase_harness.open_database(database)  # ...and starts again
    await run_bot(LevelingBot())

    assert (await Level.find_unique(user_id=ada.id)).xp == 10  # read back from the server
    bonus = await ada.click(rank, "leveling:bonus")  # a button sent before the restart
    assert bonus.content == "+50 XP! ada is level 0 with 60 XP"


async def test_answers_through_a_dropped_gateway_connection(run_bot, member, guild, discord_faults, database):
    await run_bot(LevelingBot())
    ada = await member("ada")
    drop = discord_faults.add(Fault("gateway_drop", route="MESSAGE_CREATE", count=1))
    reply = await ada.ask(guild.general, "!rank")  # the bot resumes and gets the message again
    assert reply["content"] == "ada is level 0 with 0 XP"
    assert drop.fired == 1


async def test_without_its_database_the_bot_fails(run_bot, member, guild, discobase_harness, database):
    await run_bot(LevelingBot())
    ada = await member("ada")
    await database.close()
    await ada.send(guild.general, "hello")
    error = await discobase_harness.next_handler_error()  # expected: it does not fail the test
    assert error.where == "Ignoring exception in on_message"
    assert isinstance(error.error, NotConnectedError)
