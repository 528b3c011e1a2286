"""The soak's tables, attached afresh to each ``Database`` (a table class belongs to one)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

import discobase

#: Table names as stored.
ITEMS = "soak_items"
ACCOUNTS = "soak_accounts"
TABLES = (ITEMS, ACCOUNTS)

#: Letters of the padding (no quote or backslash: the JSON stays as long as the text).
_PAD = string.ascii_letters + string.digits


@dataclass
class Tables:
    """The table classes of one ``Database``."""

    items: type[discobase.Table]
    accounts: type[discobase.Table]

    def by_name(self, name: str) -> type[discobase.Table]:
        return self.items if name == ITEMS else self.accounts


def attach(db: discobase.Database) -> Tables:
    @db.table
    class Item(discobase.Table):
        """A plain record: many data channels, group commit, updates and deletes."""

        class Settings:
            name = ITEMS

        key: str
        writer: str
        v: int = 0
        pad: str = ""

    @db.table
    class Account(discobase.Table):
        """A record with a unique field drawn from a small pool shared by every writer."""

        class Settings:
            name = ACCOUNTS

        key: str
        writer: str
        email: str = discobase.Field(unique=True)
        v: int = 0

    return Tables(Item, Account)


def item_values(rng: random.Random, key: str, writer: str, v: int, big: float) -> dict[str, Any]:
    """Values of an item; ``big`` is the chance of a padding that pushes the
    message past the 2000-character content into an attachment."""
    length = rng.randint(2100, 3000) if rng.random() < big else rng.randint(0, 40)
    pad = "".join(rng.choices(_PAD, k=length))
    return {"key": key, "writer": writer, "v": v, "pad": pad}


def account_values(rng: random.Random, key: str, writer: str, v: int, pool: int) -> dict[str, Any]:
    return {"key": key, "writer": writer, "email": f"user{rng.randrange(pool)}@soak.test", "v": v}


def record_values(record: discobase.Table) -> dict[str, Any]:
    """A stored record's values as the journal writes them."""
    return record.model_dump(mode="json")
