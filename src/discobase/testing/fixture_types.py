"""The types of the pytest fixtures that are functions, for annotating the tests that use them.

A test type-checked with ``mypy --strict`` annotates its fixtures:

```python
async def test_rank(run_bot: RunBot, member: MemberFactory, guild: LocalGuild) -> None:
    bot = await run_bot(LevelingBot())  # a LevelingBot, as a type checker sees it too
```

Each is the signature of the :class:`~discobase.testing.Harness` method the fixture is, so the
harness's methods are values of these types as well.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, TypeVar

import discord

if TYPE_CHECKING:
    from discobase.local import BotAccount, Person
    from discobase.testing.harness import LocalGuild

__all__ = ["MemberFactory", "RunBot", "UserFactory"]

ClientT = TypeVar("ClientT", bound=discord.Client)


class RunBot(Protocol):
    """The ``run_bot`` fixture: ``await run_bot(client)`` returns ``client`` once it is ready."""

    def __call__(
        self, client: ClientT, *, account: BotAccount | None = ..., guild_ready_timeout: float | None = ...
    ) -> Awaitable[ClientT]: ...


class MemberFactory(Protocol):
    """The ``member`` fixture: ``await member("ada")`` is a person who joined the test's guild."""

    def __call__(
        self,
        name: str,
        *,
        guild: LocalGuild | int | None = ...,
        roles: list[int] | None = ...,
        nick: str | None = ...,
    ) -> Awaitable[Person]: ...


class UserFactory(Protocol):
    """The ``user`` fixture: ``user("bob")`` is a person in no guild yet."""

    def __call__(self, name: str, *, global_name: str | None = ...) -> Person: ...
