"""A discobase 1.0.0 program's view of the library: what 1.0.0 documents, used as
1.0.0's users (and its own test suite) use it — one session-wide ``Database`` started
with ``login_task`` + ``wait_ready``, ``discord.py`` objects for the guild and the
catalog channel, tables attached at any time and built with ``build_tables``.

Written for this repository (1.0.0's test file is not vendored); it checks the same
documented behaviours that 1.0.0's own suite checks.
"""

from __future__ import annotations

import os
import string
from collections.abc import AsyncIterator

import discord
import pytest
import pytest_asyncio
from pydantic import Field

import discobase
from discobase.exceptions import DatabaseTableError

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(compat_environment: int) -> AsyncIterator[discobase.Database]:
    database = discobase.Database("discobase test", logging=True)
    database.login_task(os.environ["TEST_BOT_TOKEN"])
    await database.wait_ready()
    assert database.guild is not None
    assert database.guild.id == compat_environment
    try:
        yield database
    finally:
        await database.close()


def test_package_metadata() -> None:
    assert isinstance(discobase.__version__, str)
    assert discobase.__license__ == "MIT"


async def test_guild_is_the_bots_discord_guild(db: discobase.Database) -> None:
    assert isinstance(db.guild, discord.Guild)
    assert [g for g in db.bot.guilds if g.name == db.name] == [db.guild]


async def test_catalog_channel_is_one_of_the_guilds_channels(db: discobase.Database) -> None:
    catalog = db._metadata_channel
    assert isinstance(catalog, discord.TextChannel)
    assert catalog.name == "_dbmetadata"
    assert db.guild is not None
    assert any(channel == catalog for channel in db.guild.channels)


async def test_table_errors_then_a_saved_record_is_found(db: discobase.Database) -> None:
    class Account(discobase.Table):
        login: str
        secret: str

    with pytest.raises(DatabaseTableError):  # not attached to a database yet
        await Account(login="peter", secret="x").save()
    with pytest.raises(DatabaseTableError):  # not a Table subclass
        db.table(type("Plain", (), {"__annotations__": {"login": str}}))  # type: ignore[arg-type]
    Account = db.table(Account)
    with pytest.raises(DatabaseTableError):  # the same name twice
        db.table(Account)
    with pytest.raises(DatabaseTableError):  # attached, but its channels are not built yet
        await Account(login="peter", secret="x").save()
    await db.build_tables()
    saved = await Account(login="peter", secret="x").save()
    assert await Account.find_unique(login="peter") == saved


async def test_records_of_every_length_are_found_by_field(db: discobase.Database) -> None:
    @db.table
    class Sized(discobase.Table):
        label: str
        group: str

    await db.build_tables()
    labels = ["x", "y" * 7, "z" * 300, string.ascii_letters, "mixed-123_labels"]
    for label in labels:
        await Sized(label=label, group="g").save()
    found = await Sized.find(group="g")
    assert sorted(item.label for item in found) == sorted(labels)


async def test_defaults_survive_a_table_of_many_records(db: discobase.Database) -> None:
    @db.table
    class Letter(discobase.Table):
        char: str
        kind: str = Field(default="letter")

    await db.build_tables()
    for char in string.ascii_lowercase:
        await Letter(char=char).save()
    letters = await Letter.find()
    assert sorted(item.char for item in letters) == list(string.ascii_lowercase)
    assert {item.kind for item in letters} == {"letter"}


async def test_update_replaces_the_stored_values(db: discobase.Database) -> None:
    @db.table
    class Note(discobase.Table):
        text: str

    await db.build_tables()
    note = await Note(text="draft").save()
    note.text = "final"
    await note.update()
    assert await Note.find(text="draft") == []
    assert [n.text for n in await Note.find(text="final")] == ["final"]


async def test_delete_removes_the_record(db: discobase.Database) -> None:
    @db.table
    class Temporary(discobase.Table):
        value: str

    await db.build_tables()
    item = await Temporary(value="v").save()
    assert len(await Temporary.find()) == 1
    await item.delete()
    assert await Temporary.find() == []
