"""Testing a discord.py bot on the local Discord server: real sockets, no mocks.

:class:`Harness` works in any test framework (``unittest.IsolatedAsyncioTestCase``
included); with pytest, the plugin :mod:`discobase.testing.plugin` (installed with
discobase, opt out with ``-p no:discobase``) gives the same as fixtures: ``local_discord``,
``run_bot``, ``guild``, ``user``, ``member``, ``database``, ``discord_faults``. See the
"Testing a bot" guide. :class:`RunBot`, :class:`MemberFactory` and :class:`UserFactory` are
the types of the fixtures that are functions, for type-checked tests.

Importing this package needs no pytest; the plugin needs pytest and pytest-asyncio
(``pip install "discobase[testing]"``).
"""

from __future__ import annotations

from discobase.local.observe import EventTimeoutError
from discobase.testing.fixture_types import MemberFactory, RunBot, UserFactory
from discobase.testing.harness import (
    BotConnectionError,
    BotHandlerError,
    HandlerError,
    Harness,
    LocalGuild,
    start_client,
    stop_client,
)

__all__ = [
    "BotConnectionError",
    "BotHandlerError",
    "EventTimeoutError",
    "HandlerError",
    "Harness",
    "LocalGuild",
    "MemberFactory",
    "RunBot",
    "UserFactory",
    "start_client",
    "stop_client",
]
