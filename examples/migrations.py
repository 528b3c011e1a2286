"""Versions and migrations (on the embedded local server).

Run it twice: the first run creates the database at version 1.0.0; every run
then opens it with version 1.1.0 code, and the migration runs only once.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import warnings

import discobase
from discobase import col

data_dir = os.environ.get("DISCOBASE_DATA_DIR") or tempfile.mkdtemp()


class ProductFields(discobase.Table):
    """A product's fields, shared by the program's versions below (each has its own table class)."""

    name: str
    price: int = 0
    currency: str = "EUR"  # a field with a default needs no migration


def database(version: str) -> tuple[discobase.Database, type[ProductFields]]:
    db = discobase.Database("discobase migrations", version=version, data_dir=data_dir)

    @db.table
    class Product(ProductFields):
        """The products table, as this version of the program declares it."""

    @db.on_init  # runs once, when the database is new
    async def seed(_: discobase.Database) -> None:
        await Product.insert_many([Product(name="tea", price=3), Product(name="cake", price=4)])

    @db.migration("1.1.0")  # runs when the stored version is below 1.1.0
    async def prices_in_cents(_: discobase.Database) -> None:
        changed = 0
        for product in await Product.find():
            product.price *= 100
            await product.update()
            changed += 1
        print(f"migration 1.1.0 converted {changed} prices to cents")

    return db, Product


@discobase.timed
async def show(product: type[ProductFields]) -> None:
    print("products:", sorted((p.name, p.price) for p in await product.find()))


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    old, _ = database("1.0.0")
    async with old.conn():
        print("status:", old.status.name, "version:", await old.get_version())

    new, product = database("1.1.0")

    @discobase.database_safe(new, fail_value=[])  # waits for RUNNING; on an error: logs, returns []
    @discobase.required_argument("name", "max_price")  # at least one of them, else TypeError
    async def search(*, name: str | None = None, max_price: int | None = None) -> list[str]:
        query = product.query()
        if name is not None:
            query = query.find(col(product.name) == name)
        if max_price is not None:
            query = query.find(col(product.price) <= max_price)
        return [p.name for p in await query.to_list()]

    async with new.conn():
        print("status:", new.status.name, "version:", await new.get_version())
        await show(product)
        print("cheaper than 3.50:", await search(max_price=350))
        print("without arguments:", await search())  # the TypeError is logged, the fail value returned

    try:
        async with database("1.0.0")[0].conn():  # older code than the data: refused
            pass
    except discobase.exceptions.DatabaseVersionError as error:
        print("refused:", error)


if __name__ == "__main__":
    asyncio.run(main())
