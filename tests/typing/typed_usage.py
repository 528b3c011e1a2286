"""User code that must pass ``mypy --strict`` (checked by tests/typing/test_typed_usage.py).

It is never imported by the test suite: it is only type-checked. It writes
queries, and annotates a bot test's fixtures, the way the documentation recommends
for type-checked code.
"""

from __future__ import annotations

import discord
from pydantic import BaseModel

import discobase
from discobase import Table, col
from discobase.local import Person
from discobase.model import asc, desc
from discobase.testing import Harness, LocalGuild, MemberFactory, RunBot, UserFactory

db = discobase.Database("typed")


class Address(BaseModel):
    city: str


@db.table
class User(Table):
    name: str = discobase.Field(unique=True)
    age: int = discobase.Field(default=0, index=True)
    xp: int = 0
    tags: list[str] = []
    nick: str | None = None
    roles: set[int] = set()
    codes: frozenset[str] = frozenset()
    scores: tuple[int, ...] = ()
    maybe_tags: list[str] | None = None
    address: Address | None = None


async def queries() -> list[User]:
    adults: list[User] = await User.query(col(User.age) >= 18, col(User.name) != "root").to_list()
    ordered = await User.query(col(User.age).in_([18, 19])).sort(desc(User.age), asc(User.name)).limit(10)
    both = (col(User.age) > 1) & ~col(User.name).startswith("x") | col(User.tags).contains("a")
    youngest: User | None = await User.query(both).sort(-col(User.age)).first_or_none()
    found: User | None = await User.get(1)
    count: int = await User.query(col(User.xp) < 10).count()
    assert youngest is None or found is None or count >= 0
    return [*adults, *ordered]


async def by_kind() -> int:
    """``contains``/``startswith`` on every field kind they take, and the other typed forms."""
    conditions = [
        col(User.name).contains("d"),
        col(User.nick).contains("c"),
        col(User.tags).contains("math"),
        col(User.maybe_tags).contains("art"),
        col(User.roles).contains(2),
        col(User.codes).contains("x"),
        col(User.scores).contains(3),
        col(User.nick).startswith("co"),
        col(User.address).city == "Oslo",  # a nested model's field
        col(User.address).is_none(),
        col(User.nick) == None,  # noqa: E711 - a condition, not a test
        col(User.age).not_in([1, 2]),
    ]
    return await User.query(*conditions).count()


async def by_id(name: str) -> User | None:
    """``get`` takes the id of a stored record: ``record_id`` is None before it is saved."""
    user = await User.query(col(User.name) == name).first()
    assert user.record_id is not None
    return await User.get(user.record_id)


async def writes() -> None:
    user, created = await User.get_or_create(name="ada", defaults={"age": 36})
    assert isinstance(created, bool)
    same: User = await user.inc(xp=5)
    await same.modify(push={"tags": ["admin"]}, set={"age": 37})
    upserted: User = await User.upsert(User(name="ada", age=40), on="name")
    changed: int = await User.query(col(User.age) >= 18).update(inc={"xp": 1})
    assert upserted.age + changed >= 0


class Greeter(discord.Client):
    greeting = "hello"


async def bot_test(run_bot: RunBot, member: MemberFactory, user: UserFactory, guild: LocalGuild) -> str:
    """A test of a bot, its fixtures annotated: ``run_bot`` returns the client's own type."""
    bot = await run_bot(Greeter(intents=discord.Intents.default()), guild_ready_timeout=None)
    ada: Person = await member("ada", nick="a", roles=[guild.id])
    bob: Person = user("bob", global_name="Bob")
    return f"{bot.greeting} {ada.mention} {bob.mention}"


def fixtures_of(harness: Harness) -> tuple[RunBot, MemberFactory, UserFactory]:
    """The harness's methods are what the fixtures are."""
    return harness.run_bot, harness.member, harness.user
