"""User code that must pass ``mypy --strict`` (checked by tests/typing/test_typed_usage.py).

It is never imported by the test suite: it is only type-checked. It writes
queries the way the documentation recommends for type-checked code.
"""

from __future__ import annotations

import discobase
from discobase import Table, col
from discobase.model import asc, desc

db = discobase.Database("typed")


@db.table
class User(Table):
    name: str = discobase.Field(unique=True)
    age: int = discobase.Field(default=0, index=True)
    xp: int = 0
    tags: list[str] = []


async def queries() -> list[User]:
    adults: list[User] = await User.query(col(User.age) >= 18, col(User.name) != "root").to_list()
    ordered = await User.query(col(User.age).in_([18, 19])).sort(desc(User.age), asc(User.name)).limit(10)
    both = (col(User.age) > 1) & ~col(User.name).startswith("x") | col(User.tags).contains("a")
    youngest: User | None = await User.query(both).sort(-col(User.age)).first_or_none()
    found: User | None = await User.get(1)
    count: int = await User.query(col(User.xp) < 10).count()
    assert youngest is None or found is None or count >= 0
    return [*adults, *ordered]


async def writes() -> None:
    user, created = await User.get_or_create(name="ada", defaults={"age": 36})
    assert isinstance(created, bool)
    same: User = await user.inc(xp=5)
    await same.modify(push={"tags": ["admin"]}, set={"age": 37})
    upserted: User = await User.upsert(User(name="ada", age=40), on="name")
    changed: int = await User.query(col(User.age) >= 18).update(inc={"xp": 1})
    assert upserted.age + changed >= 0
