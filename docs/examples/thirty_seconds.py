"""discobase in 30 seconds: a model, saved, found, changed and deleted (no token: the embedded server)."""

import asyncio
import warnings

import discobase
from discobase import col

db = discobase.Database("thirty seconds")  # the guild that holds the data


@db.table
class User(discobase.Table):
    name: str
    age: int = 0


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    async with db.conn():  # no token: the embedded local Discord server
        ada = await User(name="ada", age=36).save()
        print("found:", [u.name for u in await User.find(name="ada")])
        ada.age = 37
        await ada.update()
        print("adults:", await User.query(col(User.age) >= 18).count())  # or User.age >= 18 (untyped)
        await ada.delete()
        print("left:", len(await User.find()))


asyncio.run(main())
