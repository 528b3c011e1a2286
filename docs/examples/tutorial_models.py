"""Tutorial, step 1: a model with a unique field and an index, queries, and two processes' worth of data."""

import asyncio
import warnings

import discobase
from discobase import col
from discobase.model import desc

db = discobase.Database("tutorial")  # the Discord server (guild) that holds the data


@db.table
class Player(discobase.Table):
    name: str = discobase.Field(unique=True)  # no two players share a name
    team: str = discobase.Field(index=True)  # looked up often: an index
    score: int = 0


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    async with db.conn():  # no token: the embedded local Discord server, under .discobase/
        for player in await Player.find():  # start from an empty table on every run
            await player.delete()
        await Player.insert_many(
            [
                Player(name="ada", team="red", score=30),
                Player(name="grace", team="blue", score=50),
                Player(name="linus", team="red", score=10),
            ]
        )
        try:
            await Player(name="ada", team="blue").save()
        except discobase.UniqueViolationError as error:
            print("refused:", error.fields, error.value)
        red = await Player.find(team="red")
        print("red team:", sorted(p.name for p in red))
        best = await Player.query(col(Player.score) >= 20).sort(desc(Player.score)).to_list()
        print("20 points or more:", [(p.name, p.score) for p in best])
        linus = await Player.find_unique(name="linus")
        linus.score += 25
        await linus.update()
        assert linus.record_id is not None  # a saved record has an id
        again = await Player.get(linus.record_id)  # None if there were no such record
        print("linus now has", again.score if again else None)
    async with db.conn():  # another run (or another process) reads the same data
        print("players after reopening:", await Player.query().count())


asyncio.run(main())
