"""Schema evolution: compatible changes, readable diffs, record migrations."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import create_model

import discobase
from discobase.exceptions import DatabaseTableError, MigrationError
from discobase.storage.memory import MemoryDiscord, MemoryTransport


async def open_with(server: MemoryDiscord, model: type[discobase.Table]) -> discobase.Database:
    db = discobase.Database("db", transport=MemoryTransport(server))
    db.table(model)
    return db


async def seed(server: MemoryDiscord) -> None:
    class User(discobase.Table):
        name: str
        age: int = 0

    db = await open_with(server, User)
    async with db.conn():
        await User.insert_many([User(name="ada lovelace", age=36), User(name="bob", age=25)])


async def test_compatible_changes_need_nothing() -> None:
    server = MemoryDiscord(["db"])
    await seed(server)

    class User(discobase.Table):
        name: str
        age: int | None = 0  # made optional
        email: str = "none"  # added, with a default

    db = await open_with(server, User)
    async with db.conn():
        assert sorted((u.name, u.age, u.email) for u in await User.find()) == [
            ("ada lovelace", 36, "none"),
            ("bob", 25, "none"),
        ]
        assert "email" in db.catalog["user"].schema
        await User(name="cy", age=None, email="cy@x").save()


async def test_the_catalog_is_a_read_only_copy_of_what_is_stored() -> None:
    server = MemoryDiscord(["db"])
    await seed(server)

    class User(discobase.Table):
        name: str
        age: int = 0

    db = await open_with(server, User)
    assert db.catalog == {}
    assert db.metadata_channel_id is None
    async with db.conn():
        entry = db.catalog["user"]
        assert (entry.name, entry.schema_version, sorted(entry.schema)) == ("user", 1, ["age", "name"])
        assert server.channels[entry.data_channels[0]].name.startswith("user")
        assert db.metadata_channel_id is not None
        assert server.channels[db.metadata_channel_id].name == "_dbmetadata"
        entry.data_channels.clear()
        entry.schema_version = 99
        with pytest.raises(TypeError):
            db.catalog["user"] = entry  # type: ignore[index]
        assert db.catalog["user"].data_channels
        assert db.catalog["user"].schema_version == 1
        await User(name="cy").save()
        assert len(await User.find()) == 3
    assert db.metadata_channel_id is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": (str, ...), "age": (int, 0), "email": (str, ...)}, "! + email: str"),
        ({"name": (str, ...), "age": (str, "0")}, "! ~ age: int -> str"),
        ({"age": (int, 0)}, "! - name: str"),
    ],
    ids=["new-required-field", "type-change", "removed-field"],
)
async def test_incompatible_changes_fail_with_a_readable_diff(fields: dict[str, Any], expected: str) -> None:
    server = MemoryDiscord(["db"])
    await seed(server)
    User = create_model("User", __base__=discobase.Table, **fields)
    db = await open_with(server, User)
    with pytest.raises(DatabaseTableError) as error:
        async with db.conn():
            pass
    message = str(error.value)
    assert expected in message
    assert "since schema version 1" in message
    assert "@Model.migrate(from_schema=1)" in message


async def test_record_migration_converts_every_record_once() -> None:
    server = MemoryDiscord(["db"])
    await seed(server)
    runs: list[str] = []

    def model() -> type[discobase.Table]:
        class User(discobase.Table):
            first: str
            last: str = ""
            age: int = 0

        @User.migrate(from_schema=1)
        def split_name(old: dict[str, Any]) -> dict[str, Any]:
            runs.append(old["name"])
            first, _, last = old.pop("name").partition(" ")
            return {**old, "first": first, "last": last}

        return User

    User = model()
    db = await open_with(server, User)
    async with db.conn():
        assert sorted((u.first, u.last, u.age) for u in await User.find()) == [  # type: ignore[attr-defined]
            ("ada", "lovelace", 36),
            ("bob", "", 25),
        ]
        assert db.catalog["user"].schema_version == 2
    assert sorted(runs) == ["ada lovelace", "bob"]
    User = model()
    db = await open_with(server, User)
    async with db.conn():  # schema 2 is stored now: nothing runs again
        assert len(await User.find()) == 2
    assert len(runs) == 2


async def test_a_failing_record_migration_is_a_migration_error() -> None:
    server = MemoryDiscord(["db"])
    await seed(server)

    class User(discobase.Table):
        first: str

    @User.migrate(from_schema=1)
    def broken(old: dict[str, Any]) -> dict[str, Any]:
        return old  # still has "name" and no "first"

    db = await open_with(server, User)
    with pytest.raises(MigrationError, match="record migration of table 'user' failed"):
        async with db.conn():
            pass


async def test_a_large_schema_goes_to_an_attachment() -> None:
    server = MemoryDiscord(["db"])
    fields: dict[str, Any] = {f"field_with_a_long_name_{i}": (int, i) for i in range(60)}
    Wide = create_model("Wide", __base__=discobase.Table, **fields)
    db = await open_with(server, Wide)
    async with db.conn():
        await Wide().save()
    Wide2 = create_model("Wide", __base__=discobase.Table, **fields)
    db2 = await open_with(server, Wide2)
    async with db2.conn():
        assert len(await Wide2.find()) == 1
        assert len(db2.catalog["wide"].schema) == 60
