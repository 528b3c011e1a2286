"""The pytest plugin of discobase: fixtures to test a discord.py bot on the local Discord server.

Installed with discobase through the ``pytest11`` entry point ``discobase``, so the fixtures
are there in any project that has discobase, pytest and pytest-asyncio (``pip install
"discobase[testing]"``); ``pytest -p no:discobase`` turns the plugin off. The fixtures are
async where they must be (made with ``pytest_asyncio.fixture``), so they work in
pytest-asyncio's strict mode (tests marked ``@pytest.mark.asyncio``) and in its auto mode.

Each test gets its own server, in memory:

``discobase_harness``
    the :class:`~discobase.testing.Harness` the other fixtures come from;
``local_discord``
    its :class:`~discobase.local.LocalDiscord`, rate limits off (mark a test
    ``@pytest.mark.discord_limits`` for Discord's); ``local_discord.stats()`` counts the
    requests per route, ``next_message``/``wait_for`` wait for what the bot does;
``run_bot``
    ``await run_bot(MyBot())`` starts the application's own client and returns it once ready;
    it is stopped at the end of the test;
``bot_account``, ``guild``
    the account ``run_bot`` logs in with, and the guild it is a member of
    (``guild.id``, ``guild.general``);
``user``, ``member``
    ``user("ada")`` a person in no guild, ``await member("ada")`` a person who joined ``guild``;
``discobase_database``, ``database``, ``discobase_attached``
    override ``discobase_database`` to return the application's ``Database`` (with its
    tables); ``database`` is it, connected to the test's server and closed at the end.
    When the bot under test attaches the database itself (``await db.attach(self)`` in its
    ``setup_hook``), override ``discobase_attached`` to return ``True``: then ``guild`` is
    named after the database, ``database`` is left for the bot to open, and ``run_bot``
    returns once it is open;
``discord_faults``
    the server's :class:`~discobase.local.FaultInjector`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from discobase.database import Database
from discobase.exceptions import DiscobaseError
from discobase.local import BotAccount, FaultInjector, LocalDiscord
from discobase.testing.fixture_types import MemberFactory, RunBot, UserFactory
from discobase.testing.harness import Harness, LocalGuild

__all__ = [
    "bot_account",
    "database",
    "discobase_attached",
    "discobase_database",
    "discobase_harness",
    "discord_faults",
    "guild",
    "local_discord",
    "member",
    "run_bot",
    "user",
]

MISSING_ASYNCIO = (
    "discobase's pytest fixtures need pytest-asyncio, which is not installed: "
    'pip install "discobase[testing]"'
)

_asyncio_fixture: Callable[..., Any] | None
try:
    from pytest_asyncio import fixture as _asyncio_fixture
except ImportError:  # the plugin still loads; its async fixtures say what is missing
    _asyncio_fixture = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "discord_limits: the local Discord server of discobase's fixtures applies Discord's "
        "rate limits (without the mark: none)",
    )


def _async_fixture(function: Callable[..., Any]) -> Any:
    """``pytest_asyncio.fixture(function)``; without pytest-asyncio, a fixture of the same
    name that fails the test saying so (the plugin must not break a project's test run)."""
    if _asyncio_fixture is not None:
        return _asyncio_fixture(function)

    def missing() -> None:
        pytest.fail(MISSING_ASYNCIO, pytrace=False)

    missing.__doc__ = function.__doc__
    return pytest.fixture(name=function.__name__)(missing)


@_async_fixture
async def discobase_harness(
    request: pytest.FixtureRequest, discobase_attached: bool
) -> AsyncIterator[Harness]:
    """The test's :class:`~discobase.testing.Harness`: a fresh local server, stopped at the
    end. With ``discobase_attached``, its guild is named after ``discobase_database``."""
    limits = request.node.get_closest_marker("discord_limits") is not None
    options: dict[str, Any] = {}
    if discobase_attached:
        options["guild_name"] = request.getfixturevalue("discobase_database").name
    async with Harness(rate_limits="discord" if limits else "off", **options) as harness:
        yield harness


@_async_fixture
async def database(
    discobase_harness: Harness, discobase_database: Database, discobase_attached: bool
) -> AsyncIterator[Database]:
    """``discobase_database`` connected to the test's local server (closed at the end); with
    ``discobase_attached``, the database the bot under test attaches (and ``run_bot`` waits
    for), not connected here."""
    if not discobase_attached:
        yield await discobase_harness.open_database(discobase_database)
        return
    if discobase_database.open:
        raise DiscobaseError(
            f"the database {discobase_database.name!r} is already open: with discobase_attached, "
            "the bot under test opens it (await db.attach(bot) in its setup_hook)"
        )
    yield discobase_database


@pytest.fixture
def discobase_attached() -> bool:
    """Whether the bot under test attaches ``discobase_database`` itself (``await
    db.attach(self)`` in its ``setup_hook``): override it to return ``True``. Then the
    test's guild takes the database's name, so that the bot finds its database there, and
    ``database`` does not connect it: ``run_bot`` returns once the bot opened it. By
    default ``False``: ``database`` connects it on its own connection."""
    return False


@pytest.fixture
def local_discord(discobase_harness: Harness) -> LocalDiscord:
    """The test's local Discord server (in memory; rate limits off unless ``discord_limits``)."""
    return discobase_harness.server


@pytest.fixture
def run_bot(discobase_harness: Harness) -> RunBot:
    """``await run_bot(client)``: start the application's own client, return it once ready."""
    return discobase_harness.run_bot


@pytest.fixture
def bot_account(discobase_harness: Harness) -> BotAccount:
    """The bot account ``run_bot`` logs in with (a member of ``guild``)."""
    return discobase_harness.bot_account


@pytest.fixture
def guild(discobase_harness: Harness) -> LocalGuild:
    """The guild the bot is in: ``guild.id``, ``guild.general`` (the id of ``#general``)."""
    return discobase_harness.guild


@pytest.fixture
def user(discobase_harness: Harness) -> UserFactory:
    """``user("ada")``: a person who is in no guild."""
    return discobase_harness.user


@pytest.fixture
def member(discobase_harness: Harness) -> MemberFactory:
    """``await member("ada")``: a person who joined ``guild`` (the bots got GUILD_MEMBER_ADD)."""
    return discobase_harness.member


@pytest.fixture
def discord_faults(discobase_harness: Harness) -> FaultInjector:
    """The local server's fault injector, for the bot's resilience tests."""
    return discobase_harness.faults


@pytest.fixture
def discobase_database() -> Database:
    """The database ``database`` connects: override it to return the application's own
    ``Database`` (with its tables). By default a new one named ``"test database"``."""
    return Database("test database")
