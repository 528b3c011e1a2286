"""The environment discobase 1.0.0's test suite expects, given by the local server.

1.0.0's suite logs in with the bot token in ``TEST_BOT_TOKEN`` and uses the guild
named ``discobase test``. Here a session-scoped local server provides both: a bot,
a fresh guild of that name with the bot in it, ``TEST_BOT_TOKEN`` set to the bot's
token and ``DISCOBASE_API_URL`` to the server, so that ``Database(...).login_task(token)``
connects to it with unmodified discord.py.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from discobase.local import LocalDiscord

GUILD_NAME = "discobase test"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def local_server() -> AsyncIterator[LocalDiscord]:
    async with LocalDiscord(rate_limits="off") as server:
        yield server


@pytest.fixture(scope="session")
def compat_environment(local_server: LocalDiscord) -> Iterator[int]:
    """A fresh ``discobase test`` guild holding the test bot, and the environment
    variables that point discobase at the local server; the guild's id."""
    bot = local_server.create_bot("discobase test bot")
    guild_id = local_server.create_guild(GUILD_NAME, owner=bot)
    saved = {name: os.environ.get(name) for name in ("TEST_BOT_TOKEN", "DISCOBASE_API_URL")}
    os.environ["TEST_BOT_TOKEN"] = bot.token
    os.environ["DISCOBASE_API_URL"] = local_server.url
    try:
        yield guild_id
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
