"""Queries, indexes, unique fields and bulk writes (on the embedded local server)."""

from __future__ import annotations

import asyncio
import warnings
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

import discobase
from discobase import col
from discobase.model import asc, desc


class Address(BaseModel):
    city: str


db = discobase.Database("discobase queries")


@db.table
class User(discobase.Table):
    email: str = discobase.Field(unique=True)  # no two users share an email
    name: str
    age: int = discobase.Field(0, index=True)  # sorted index: fast ranges and ordering
    tags: list[str] = []
    address: Address | None = None
    joined: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    class Settings:
        name = "users"  # the table's name (default: the class name in lower case)


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    async with db.conn():
        await User.query().delete()  # start empty on every run
        await User.insert_many(
            [
                User(email="ada@x.org", name="ada", age=36, tags=["math"], address=Address(city="London")),
                User(email="bob@x.org", name="bob", age=25, address=Address(city="Oslo")),
                User(email="cy@x.org", name="cy", age=36, tags=["art", "math"]),
                User(email="dee@x.org", name="dee", age=17),
            ],
            progress=False,  # True shows a progress bar; a callable gets (done, total)
        )

        # col(User.age) is the field as a typed expression (a FieldExpr[int]): its comparisons
        # are conditions that mypy --strict and pyright accept, and take only ints.
        adults = await User.query(col(User.age) >= 18).sort(desc(User.age), asc(User.name)).to_list()
        print("adults:", [u.name for u in adults])
        print("in Oslo:", [u.name for u in await User.query(col(User.address).city == "Oslo")])
        math_not_ada = col(User.tags).contains("math") & ~(col(User.name) == "ada")
        print("math, not ada:", [u.name for u in await User.query(math_not_ada)])
        print("count of ada/bob:", await User.query(col(User.name).in_(["ada", "bob"])).count())

        ada = await User.query(col(User.name) == "ada").first()
        assert ada.record_id is not None  # None only for a record not saved yet
        same = await User.get(ada.record_id)  # by record id; None when there is none
        print("by id:", same.name if same else None, await User.get(0))

        page = await User.query().sort(asc(User.name)).page(1, 3)
        print(f"page 1 of {page.pages}:", [u.name for u in page.items], "of", page.total)

        print("birthday updates:", await User.query(col(User.age) == 36).update(age=37))
        print("deleted minors:", await User.query(col(User.age) < 18).delete())

        try:
            await User(email="ada@x.org", name="another ada").save()
        except discobase.UniqueViolationError as error:
            print("refused:", error.fields, error.value)

        untrusted: Any = "old"  # a value known only at run time (from a form, a command...)
        try:
            User.query(col(User.age) >= untrusted)  # a wrong type is an error, not an empty result
        except discobase.QueryError as error:
            print("query error:", error)

        print("left:", sorted((u.name, u.age) for u in await User.find()))

        # Sorting by a col() is ascending, as asc() is.
        typed = await User.query(col(User.age) >= 30).sort(desc(User.age), col(User.name)).to_list()
        print("typed:", [u.name for u in typed])

        # Atomic changes, applied in message order in every process.
        ada = await User.query(col(User.name) == "ada").first()
        await ada.inc(age=1)
        await ada.modify(push={"tags": ["chess"]}, pull={"tags": ["math"]})
        print("ada now:", ada.age, ada.tags)
        print("everyone older:", await User.query().update(inc={"age": 1}))

        eve, created = await User.get_or_create(email="eve@x.org", defaults={"name": "eve"})
        again, created_again = await User.get_or_create(email="eve@x.org", defaults={"name": "other"})
        print("get_or_create:", created, created_again, again.record_id == eve.record_id)
        bob = await User.upsert(User(email="bob@x.org", name="robert", age=26), on="email")
        print("upsert:", bob.name, bob.age, await User.query(col(User.email) == "bob@x.org").count())


if __name__ == "__main__":
    asyncio.run(main())
