"""The pytest plugin, run by pytest itself (``pytester``, each run in a new process): its
fixtures in pytest-asyncio's strict and auto modes, the ``discord_limits`` mark, the opt-out,
a project without pytest-asyncio, and the guide's examples; every run with warnings as
errors and a check, after every test, that no task is left on the loop."""

from __future__ import annotations

import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "testing_leveling"
LEVELING_BOT = ROOT / "examples" / "leveling_bot.py"
WARNINGS_ARE_ERRORS = ("-W", "error", "-W", "ignore:'audioop' is deprecated:DeprecationWarning")

#: Loaded with ``-p leakcheck``: after each test (its other fixtures torn down), nothing is
#: left on the loop, and no session was left unclosed (a ResourceWarning is an error).
LEAKCHECK = """
import asyncio
import gc

import pytest_asyncio


@pytest_asyncio.fixture(autouse=True)
async def _nothing_left_behind():
    yield
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert not left, f"tasks left behind: {left}"
    gc.collect()  # an unclosed aiohttp session warns when collected
"""

FIXTURES = """
import pytest

from discobase.local import Fault

pytestmark = pytest.mark.asyncio
seen = {}


async def test_first(local_discord, run_bot, guild, bot_account, member, user, discord_faults, database):
    import discord

    client = discord.Client(intents=discord.Intents.default())
    bot = await run_bot(client)
    assert bot is client and bot.is_ready()
    assert bot.user.id == bot_account.user_id
    assert bot.get_guild(guild.id).name == "test guild"
    ada = await member("ada")
    assert (await local_discord.wait_for("member_join"))["user"]["id"] == str(ada.id)
    assert local_discord.store.member(guild.id, user("bob").id) is None
    assert discord_faults is local_discord.faults
    assert database.open and database.guild.name == "test database"
    assert local_discord.ratelimiter.profile.enabled is False
    await ada.send(guild.general, "left for the next test to not see")
    seen.update(bot=bot, url=local_discord.url, database=database)


async def test_second_gets_a_new_server(local_discord, guild, database):
    assert seen["bot"].is_closed()
    assert local_discord.url != seen["url"]
    assert local_discord.store.history(guild.general, limit=10) == []
    assert not seen["database"].open
    assert database is not seen["database"] and database.open


@pytest.mark.discord_limits
async def test_discord_limits(local_discord):
    assert local_discord.ratelimiter.profile.enabled is True
"""


@pytest.fixture
def leakcheck(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(leakcheck=LEAKCHECK)


def run(pytester: pytest.Pytester, *args: str, asyncio: bool = True) -> pytest.RunResult:
    options = ["-o", "asyncio_default_fixture_loop_scope=function"] if asyncio else []
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *options, *WARNINGS_ARE_ERRORS, *args)


def test_the_plugin_is_registered_as_discobase() -> None:
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins["discobase"] == "discobase.testing.plugin"


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_fixtures(pytester: pytest.Pytester, leakcheck: None, mode: str) -> None:
    pytester.makepyfile(test_fixtures=FIXTURES)
    result = run(pytester, "-p", "leakcheck", "-o", f"asyncio_mode={mode}")
    result.assert_outcomes(passed=3)


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.discord_limits: *Discord's rate limits*"])


def test_opting_out(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_uses_the_server(local_discord):\n    pass\n")
    result = run(pytester, "-p", "no:discobase")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'local_discord' not found*"])


def test_without_pytest_asyncio_the_fixtures_say_what_is_missing(pytester: pytest.Pytester) -> None:
    # the run's directory comes first on the subprocess's PYTHONPATH: this hides pytest-asyncio
    pytester.makepyfile(pytest_asyncio="raise ImportError('pytest-asyncio is not installed')")
    pytester.makepyfile("def test_uses_the_server(local_discord):\n    pass\n")
    result = run(pytester, "-p", "no:asyncio", asyncio=False)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*discobase's pytest fixtures need pytest-asyncio*discobase[[]testing[]]*"])


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_guides_examples(pytester: pytest.Pytester, leakcheck: None, mode: str) -> None:
    # the guide tests the leveling bot of examples/, imported as the module leveling_bot
    for path in [*EXAMPLES.glob("*.py"), LEVELING_BOT]:
        shutil.copy(path, pytester.path / path.name)
    result = run(pytester, "-p", "leakcheck", "-o", f"asyncio_mode={mode}", "-v")
    result.assert_outcomes(passed=10)


ATTACHED = """
import discord
import pytest
import pytest_asyncio
from discord.ext import commands

import discobase

pytestmark = pytest.mark.asyncio
db = discobase.Database("bot data")


class AttachingBot(commands.Bot):
    def __init__(self):
        super().__init__(command_prefix="!", intents=discord.Intents.default())

    async def setup_hook(self):
        await db.attach(self)


@pytest.fixture
def discobase_database():
    return db


@pytest.fixture
def discobase_attached():
    return True


@pytest_asyncio.fixture
async def opened_elsewhere(discobase_harness):
    await discobase_harness.open_database(db)


async def test_the_guild_is_the_databases_and_the_bot_opens_it(guild, database, run_bot):
    assert guild.name == "bot data"
    assert database is db
    assert not db.open
    await run_bot(AttachingBot())
    assert db.open
    assert db.guild.id == guild.id


async def test_a_database_already_open_is_refused(opened_elsewhere, database):
    pass
"""


def test_an_attached_database_is_opened_by_the_bot(pytester: pytest.Pytester, leakcheck: None) -> None:
    pytester.makepyfile(test_attached=ATTACHED)
    result = run(pytester, "-p", "leakcheck")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*DiscobaseError: the database 'bot data' is already open*"])


def test_the_leak_check_sees_a_task_left_behind(pytester: pytest.Pytester, leakcheck: None) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        kept = []

        @pytest.mark.asyncio
        async def test_leaves_a_task():
            kept.append(asyncio.get_running_loop().create_task(asyncio.Event().wait()))
        """
    )
    result = run(pytester, "-p", "leakcheck")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*tasks left behind*"])
