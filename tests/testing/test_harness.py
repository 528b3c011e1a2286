"""``Harness``: bots started and stopped, people, guild helpers, databases, leftover tasks."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import discord
import discord.ext.commands
import pytest

import discobase
from discobase.exceptions import DiscobaseError, GuildNotFoundError
from discobase.local import Fault, LocalDiscord
from discobase.testing import BotConnectionError, BotHandlerError, Harness, start_client, stop_client
from tests.testing.bots import EchoBot, SlowStarter, Ticker


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with Harness() as started:
        yield started


async def test_run_bot_returns_the_ready_client_in_the_guild(harness: Harness) -> None:
    bot = await harness.run_bot(EchoBot())
    assert bot.is_ready()
    assert bot.user is not None
    assert bot.user.id == harness.bot_account.user_id
    guild = bot.get_guild(harness.guild.id)
    assert guild is not None
    assert guild.name == "test guild"
    assert guild.owner_id == harness.guild.owner.id
    assert [c.name for c in guild.text_channels] == ["general"]


async def test_the_harness_stops_its_bots_and_closes_their_sessions() -> None:
    async with Harness() as harness:
        bot = await harness.run_bot(EchoBot())
        session = bot.http._HTTPClient__session  # type: ignore[attr-defined]
    assert bot.is_closed()
    assert session.closed
    assert harness.server.running is False


async def test_a_stopped_bot_is_replaced_by_a_new_one(harness: Harness) -> None:
    bot = await harness.run_bot(EchoBot())
    await harness.stop_bot(bot)
    assert bot.is_closed()
    with pytest.raises(DiscobaseError, match=r"discord\.py cannot start it again: make a new one"):
        await harness.run_bot(bot)
    await harness.run_bot(EchoBot())
    ada = await harness.member("ada")
    await harness.server.next_message(harness.guild.general)  # the welcome, before anything else
    assert (await ada.ask(harness.guild.general, "!echo back"))["content"] == "back"


async def test_a_bot_closed_by_the_test_ends_cleanly() -> None:
    async with Harness() as harness:
        bot = await harness.run_bot(EchoBot())
        await bot.close()  # as the application would stop it
        assert bot.is_closed()
        second = await harness.run_bot(EchoBot())
    assert second.is_closed()


async def test_running_a_client_twice_is_refused(harness: Harness) -> None:
    bot = await harness.run_bot(EchoBot())
    with pytest.raises(DiscobaseError, match="already running"):
        await harness.run_bot(bot)
    with pytest.raises(DiscobaseError, match="was not started by this harness"):
        await harness.stop_bot(discord.Client(intents=discord.Intents.none()))


async def test_a_bad_token_is_a_clear_start_error(harness: Harness) -> None:
    account = harness.server.create_bot("revoked")
    revoked = dataclasses.replace(account)
    harness.server.reset_token(account)  # the copy keeps the old token, no longer valid
    client = EchoBot()
    with pytest.raises(BotConnectionError, match="bot 'revoked' could not log in: LoginFailure"):
        await harness.run_bot(client, account=revoked)
    assert client.is_closed()


async def test_a_bot_that_never_gets_ready_times_out() -> None:
    async with Harness(ready_timeout=0.2) as harness:
        with pytest.raises(
            BotConnectionError, match=r"did not log in within 0\.2 s \(is its setup_hook waiting"
        ):
            await harness.run_bot(SlowStarter(asyncio.Event()))


async def test_leftover_event_handlers_are_cancelled_at_the_end() -> None:
    async with Harness() as harness:
        ticker = await harness.run_bot(Ticker())
        await ticker.started.wait()
        handlers = [t for t in asyncio.all_tasks() if t.get_name() == "discord.py: on_ready"]
        assert handlers
    assert all(t.done() for t in handlers)  # discord.py's handlers end quietly when cancelled
    mine = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not mine] == []


async def test_people_and_channels(harness: Harness) -> None:
    bot = await harness.run_bot(EchoBot())
    loner = harness.user("loner")
    assert harness.server.store.member(harness.guild.id, loner.id) is None
    ada = await harness.member("ada", nick="Ada L.")
    welcome = await harness.server.next_message(harness.guild.general)  # sent by on_member_join
    assert welcome["content"] == "welcome ada"
    assert bot.joined == [ada.id]
    assert harness.server.store.member(harness.guild.id, ada.id).nick == "Ada L."  # type: ignore[union-attr]
    channel_id = await harness.guild.create_channel("levels")
    assert harness.guild.channel("#levels") == channel_id
    await harness.server.wait_for("guild_channel_create", check=lambda c: c["id"] == str(channel_id))
    with pytest.raises(DiscobaseError, match=r"has no channel 'nope'; it has \['Text Channels', 'general'"):
        harness.guild.channel("nope")


async def test_faults_reach_the_bot(harness: Harness) -> None:
    await harness.run_bot(EchoBot())
    ada = await harness.member("ada")
    failing = harness.faults.add(Fault("status", route="PUT /channels/*/messages/*/reactions/*", count=1))
    sent = await ada.send(harness.guild.general, "!react")
    # discord.py retries the 500 it gets, so the reaction arrives
    reaction = await harness.server.wait_for("reaction_add", check=lambda r: r["message_id"] == sent["id"])
    assert reaction["emoji"]["name"] == "👍"
    assert failing.fired == 1
    assert (
        harness.server.stats()["PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"] == 2
    )


async def test_a_database_opens_on_the_server_and_again_after_a_restart(harness: Harness) -> None:
    db = discobase.Database("harness data")

    @db.table
    class Note(discobase.Table):
        text: str

    await harness.open_database(db)
    assert db.open
    assert db.server_url == harness.server.url
    await Note(text="kept").save()
    await db.close()
    await harness.open_database(db)
    assert [n.text for n in await Note.find()] == ["kept"]
    guild_id = harness.server.guild_id("harness data")
    assert harness.server.store.member(guild_id, harness.database_account.user_id) is not None
    await harness.open_database(db)  # while open: closes, then connects again
    assert db.open


async def test_the_database_is_closed_and_its_url_restored_at_the_end() -> None:
    db = discobase.Database("restored", server_url="http://example.invalid")
    async with Harness() as harness:
        await harness.open_database(db)
        assert db.server_url == harness.server.url
    assert not db.open
    assert db.server_url == "http://example.invalid"


async def test_a_database_in_the_bots_guild(harness: Harness) -> None:
    db = discobase.Database(harness.guild.name)
    await harness.open_database(db, account=harness.bot_account)
    assert db.guild is not None
    assert db.guild.id == harness.guild.id


class AttachingBot(discord.ext.commands.Bot):
    """A bot that attaches ``db`` in its ``setup_hook`` and leaves closing it to others."""

    def __init__(self, db: discobase.Database) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default())
        self.db = db

    async def setup_hook(self) -> None:
        await self.db.attach(self)


async def test_run_bot_returns_once_the_database_the_bot_attached_is_open() -> None:
    db = discobase.Database("attached data")

    @db.table
    class Note(discobase.Table):
        text: str

    async with Harness(guild_name=db.name) as harness:
        bot = await harness.run_bot(AttachingBot(db))
        assert db.open  # no wait_ready needed in the test
        assert db.bot is bot
        assert db.guild is not None
        assert db.guild.id == harness.guild.id
        await Note(text="one login").save()
        assert harness.server.stats()["GATEWAY IDENTIFY"] == 1
    # the bot did not close its database: the harness did, before stopping the bot
    assert not db.open
    assert bot.is_closed()
    async with Harness(guild_name=db.name) as harness:  # a fresh server: the database attaches again
        await harness.run_bot(AttachingBot(db))
        assert await Note.find() == []


async def test_run_bot_raises_the_start_up_error_of_an_attached_database(harness: Harness) -> None:
    db = discobase.Database("not the test guild")
    with pytest.raises(GuildNotFoundError, match="not a member of a guild named 'not the test guild'"):
        await harness.run_bot(AttachingBot(db))
    assert not db.open


async def test_helpers_need_a_started_harness() -> None:
    harness = Harness()
    with pytest.raises(DiscobaseError, match="the harness is not started"):
        harness.user("ada")
    await harness.aclose()  # closing what never started closes its store
    await harness.aclose()
    with pytest.raises(DiscobaseError, match="this harness was closed: make a new one"):
        await harness.start()


def test_importing_discobase_testing_needs_no_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None; sys.modules['pytest_asyncio'] = None\n"
        "import discobase.testing; print(sorted(discobase.testing.__all__))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Harness" in result.stdout


async def test_a_connection_refused_by_the_gateway_is_a_clear_start_error(harness: Harness) -> None:
    client = discord.Client(intents=discord.Intents.none(), shard_id=3, shard_count=2)  # no such shard
    with pytest.raises(BotConnectionError, match="bot 'test-bot' could not connect: ConnectionClosed"):
        await harness.run_bot(client)
    assert client.is_closed()


async def test_start_and_stop_a_client_without_a_harness() -> None:
    async with LocalDiscord(rate_limits="off") as server:
        account = server.create_bot("plain")
        client = discord.Client(intents=discord.Intents.none())
        task = await start_client(server, client, account)
        assert client.is_ready()
        await stop_client(client, task)
        assert client.is_closed()
        assert task.done()


async def boom(harness: Harness) -> None:
    """A command of the bot raises (after it answered), and an unknown command is typed."""
    await harness.run_bot(EchoBot())
    ada = await harness.member("ada")
    await harness.server.wait_for("message", check=lambda m: m["content"] == "welcome ada")
    await ada.send(harness.guild.general, "!nosuch")  # CommandNotFound: not the bot's error
    await ada.ask(harness.guild.general, "!boom")
    error = await harness.next_handler_error()  # logged right after the answer
    harness.handler_errors.append(error)  # as if nobody had looked


async def test_what_a_bot_raised_in_a_handler_fails_the_end() -> None:
    with pytest.raises(BotHandlerError) as raised:
        async with Harness() as harness:
            await boom(harness)
    assert str(raised.value) == (
        "the bot under test raised 1 error(s) that discord.py only logged (a test that expects them "
        "clears handler_errors):\n  Ignoring exception in command boom: CommandInvokeError("
        "'Command raised an exception: ZeroDivisionError: division by zero')"
    )
    assert isinstance(raised.value.__cause__, discord.ext.commands.CommandInvokeError)


async def test_handler_errors_can_be_expected() -> None:
    async with Harness() as harness:
        await boom(harness)
        error = await harness.next_handler_error()
        assert error.where == "Ignoring exception in command boom"
        assert isinstance(error.error, discord.ext.commands.CommandInvokeError)
        assert harness.handler_errors == []
        with pytest.raises(BotHandlerError, match=r"raised nothing in its handlers within 0\.01 s"):
            await harness.next_handler_error(timeout=0.01)
    async with Harness() as harness:
        await boom(harness)
        harness.handler_errors.clear()
    async with Harness(fail_on_handler_errors=False) as harness:
        await boom(harness)


def _logged(message: str, error: BaseException) -> None:
    try:
        raise error
    except BaseException:
        logging.getLogger("discord.client").exception(message)


async def test_which_logged_errors_are_the_bots() -> None:
    lost = discord.ext.commands.CommandInvokeError(aiohttp.ServerDisconnectedError())
    lost.__cause__ = lost.original
    async with Harness() as harness:
        _logged("Ignoring exception in on_message", ValueError("a bug"))
        _logged("Unhandled exception in internal background task 'tick'.", KeyError("a bug"))
        _logged("Ignoring exception in command rank", lost)  # the bot was closed mid-request
        _logged("Ignoring exception in command None", discord.ext.commands.CommandNotFound("no !rnak"))
        _logged("Attempting a reconnect in 0.50s", OSError("reconnecting is not a bug"))
        assert [str(e) for e in harness.handler_errors] == [
            "Ignoring exception in on_message: ValueError('a bug')",
            "Unhandled exception in internal background task 'tick'.: KeyError('a bug')",
        ]
        harness.handler_errors.clear()
    _logged("Ignoring exception in on_message", ValueError("after the end: nobody collects it"))
    assert harness.handler_errors == []


async def test_a_connection_that_ended_with_an_error_is_reported_when_the_bot_stops(harness: Harness) -> None:
    bot = await harness.run_bot(EchoBot())
    harness.server.reset_token(harness.bot_account)  # the gateway closes with 4004
    (running,) = harness._bots
    await asyncio.wait({running.task}, timeout=10)  # discord.py gives up on 4004
    closed = r"bot 'test-bot' stopped with ConnectionClosed\('Shard ID None WebSocket closed with 4004'\)"
    with pytest.raises(BotConnectionError, match=closed):
        await harness.stop_bot(bot)
