"""A record migration: a table's schema changes incompatibly, old records are converted.

On the embedded local server, in a fresh data directory.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import warnings
from typing import Any

import discobase

data_dir = os.path.join(os.environ.get("DISCOBASE_DATA_DIR") or tempfile.mkdtemp(), "record-migration")


async def version_1() -> None:
    db = discobase.Database("discobase records", data_dir=data_dir)

    @db.table
    class User(discobase.Table):
        name: str

    async with db.conn():
        await User.insert_many([User(name="ada lovelace"), User(name="alan turing")])


async def version_2() -> None:
    db = discobase.Database("discobase records", data_dir=data_dir)

    @db.table
    class User(discobase.Table):
        first: str
        last: str = ""

    @User.migrate(from_schema=1)
    def split_name(old: dict[str, Any]) -> dict[str, Any]:
        first, _, last = old.pop("name").partition(" ")
        return {**old, "first": first, "last": last}

    async with db.conn():  # build_tables sees the change and runs split_name on every record
        print("after migration:", sorted((u.first, u.last) for u in await User.find()))


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    await version_1()
    await version_2()


if __name__ == "__main__":
    asyncio.run(main())
