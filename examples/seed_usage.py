"""A program written for discobase 1.0.0, unchanged (from its API reference) but for the
``-> None`` that ``mypy --strict`` asks of ``main``.

Without ``BOT_TOKEN`` in the environment, ``db.conn(None)`` uses discobase's
embedded local Discord server; with it, the same program runs on Discord.
"""

import asyncio
import os

import discobase

db = discobase.Database("My database")


@db.table
class User(discobase.Table):
    name: str
    password: str


async def main() -> None:
    async with db.conn(os.getenv("BOT_TOKEN")):
        # Using top-level await for this example
        await User(name="Peter", password="foobar").save()
        user = await User.find_unique(name="Peter", password="foobar")
        user.password = str(hash("foobar"))
        await user.update()
        print("found:", [u.name for u in await User.find(name="Peter")])
        await user.delete()
        print("after delete:", await User.find(name="Peter"))


asyncio.run(main())
