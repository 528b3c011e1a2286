"""discobase demo: models in a Discord server, on the embedded local server.

No token needed: ``db.conn()`` without one starts discobase's embedded local
Discord server (persisted under ``.discobase/``, or ``DISCOBASE_DATA_DIR``).
Run it with ``make demo``.
"""

from __future__ import annotations

import asyncio
import warnings
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table as RichTable

import discobase

console = Console()


def show(title: str, users: list[User]) -> None:
    table = RichTable(title=title)
    for column in ("record id", "name", "email", "age", "joined"):
        table.add_column(column)
    for user in users:
        table.add_row(str(user.record_id), user.name, user.email, str(user.age), user.joined.isoformat())
    console.print(table)


db = discobase.Database("discobase demo")


@db.table
class User(discobase.Table):
    name: str
    email: str
    age: int = 0
    joined: datetime


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    async with db.conn():  # no token: the embedded local Discord server
        # Start from an empty table on every run (the deletes share one message).
        await asyncio.gather(*(user.delete() for user in await User.find()))
        now = datetime.now(UTC)
        ada = await User(name="ada", email="ada@example.org", age=36, joined=now).save()
        await asyncio.gather(
            User(name="bob", email="bob@example.org", age=25, joined=now).save(),
            User(name="cy", email="cy@example.org", age=36, joined=now).save(),
        )
        show("after three saves", await User.find())
        show("find(age=36)", await User.find(age=36))
        ada.age = 37
        await ada.update()
        bob = await User.find_unique(name="bob")
        await bob.delete()
        show("after update(ada) and delete(bob)", await User.find())
    async with db.conn():  # reopen: the records come back from Discord
        reopened = await User.find()
        show("after reopening the database", reopened)
        assert {(u.name, u.age) for u in reopened} == {("ada", 37), ("cy", 36)}
    console.print("[bold green]demo finished[/]")


if __name__ == "__main__":
    asyncio.run(main())
