"""Authenticated encryption end to end: forged or moved data is refused and
reported, a wrong key opens nothing and deletes nothing, per-database salts,
sealed catalog entries, and key rotation."""

from __future__ import annotations

import json
from typing import Any

import pytest

import discobase
from discobase.engine.replica import TableCursor
from discobase.exceptions import DatabaseCorruptionError, DatabaseKeyError
from discobase.storage.memory import MemoryDiscord, MemoryTransport

PASSPHRASE = "correct horse battery staple"


def make(server: MemoryDiscord, **options: Any) -> tuple[discobase.Database, type[discobase.Table]]:
    db = discobase.Database("db", transport=MemoryTransport(server), **options)

    @db.table
    class Person(discobase.Table):
        name: str
        secret_field: str = "hidden"

    return db, Person


def cursor_of(table: type[discobase.Table]) -> TableCursor:
    cursor = table.__disco_cursor__
    assert cursor is not None
    return cursor


def messages(server: MemoryDiscord) -> dict[int, list[str]]:
    return {c.id: [m.content for m in c.messages.values()] for c in server.channels.values()}


async def post(server: MemoryDiscord, channel_id: int, content: str) -> None:
    """Post as the guild's owner or an admin could (the same bot account here)."""
    probe = MemoryTransport(server)
    await probe.connect()
    await probe.send(channel_id, content)
    await probe.close()


async def test_a_forged_plaintext_record_is_refused_and_reported() -> None:
    server = MemoryDiscord(["db"])
    db, Person = make(server, key=PASSPHRASE)
    async with db.conn():
        await Person(name="ada").save()
        channel = cursor_of(Person).meta.data_channels[0]
    await post(server, channel, 'dB1 s=1 n=1\ni 1234567 {"name":"mallory","secret_field":"x"}')
    strict, _ = make(server, key=PASSPHRASE)
    with pytest.raises(DatabaseCorruptionError, match="unencrypted batch refused"):
        async with strict.conn():
            pass
    lenient, Person2 = make(server, key=PASSPHRASE, on_corruption="skip")
    async with lenient.conn():
        assert [p.name for p in await Person2.find()] == ["ada"]  # type: ignore[attr-defined]
        assert any("unencrypted" in str(problem) for problem in lenient.problems)


async def test_an_encrypted_message_moved_to_another_table_is_refused() -> None:
    server = MemoryDiscord(["db"])
    db, Person = make(server, key=PASSPHRASE)

    @db.table
    class Other(discobase.Table):
        name: str

    async with db.conn():
        await Person(name="ada").save()
        source = server.channels[cursor_of(Person).meta.data_channels[0]]
        target = cursor_of(Other).meta.data_channels[0]
    copied = next(iter(source.messages.values())).content
    await post(server, target, copied)
    again, _ = make(server, key=PASSPHRASE, on_corruption="skip")

    @again.table
    class Other2(discobase.Table):
        name: str

        class Settings:
            name = "other"

    async with again.conn():
        assert await Other2.find() == [], again.problems
        assert any("moved from where it was written" in str(p) for p in again.problems)


async def test_a_wrong_key_opens_nothing_and_deletes_nothing() -> None:
    server = MemoryDiscord(["db"])
    db, Person = make(server, key=PASSPHRASE)
    async with db.conn():
        for n in range(5):
            await Person(name=f"p{n}").save()
    before = messages(server)
    wrong, _ = make(server, key="Correct horse battery staple", on_corruption="skip", snapshot_every=1)
    with pytest.raises(DatabaseKeyError, match="does not open"):
        async with wrong.conn():
            pass
    after = messages(server)
    assert {k: v for k, v in after.items() if v} == {k: v for k, v in before.items() if v}
    keyless, _ = make(server)
    with pytest.raises(DatabaseKeyError, match="is encrypted"):
        async with keyless.conn():
            pass


async def test_passphrase_salts_are_per_database_and_the_catalog_is_sealed() -> None:
    kids = []
    for _ in range(2):
        server = MemoryDiscord(["db"])
        db, Person = make(server, key=PASSPHRASE)
        async with db.conn():
            await Person(name="ada").save()
        catalog = next(c for c in server.channels.values() if c.name == "_dbmetadata")
        contents = [m.content for m in catalog.messages.values()]
        record = json.loads(next(c for c in contents if c.startswith("dbK1 "))[5:])
        assert len(bytes.fromhex(record["salt"])) == 16
        kids.append(record["kid"])
        assert not any("secret_field" in c for c in contents)  # field names and schemas sealed
    assert kids[0] != kids[1]  # same passphrase, different databases: different keys


async def test_a_table_with_unreadable_messages_deletes_nothing() -> None:
    server = MemoryDiscord(["db"])
    db, Person = make(server, key=PASSPHRASE)
    async with db.conn():
        await Person(name="ada").save()
        channel = cursor_of(Person).meta.data_channels[0]
    await post(server, channel, "dB1 s=1 n=1\nd 42")
    lenient, Person2 = make(server, key=PASSPHRASE, on_corruption="skip")
    async with lenient.conn():
        for n in range(5):
            await Person2(name=f"p{n}").save()
        await cursor_of(Person2).snapshot()  # refused: its state is incomplete
    contents = [m.content for m in server.channels[channel].messages.values()]
    assert "dB1 s=1 n=1\nd 42" in contents
    assert len(contents) == 7  # nothing compacted


@pytest.mark.parametrize("old_key", [None, PASSPHRASE])
async def test_rotate_key(old_key: str | None) -> None:
    server = MemoryDiscord(["db"])
    db, Person = make(server, key=old_key, snapshot_every=3)
    async with db.conn():
        for n in range(10):
            await Person(name=f"p{n}").save()
        await db.rotate_key(b"K" * 32)
        await Person(name="after").save()
    newer, Person2 = make(server, key=b"K" * 32)
    async with newer.conn():
        assert len(await Person2.find()) == 11
        index = server.channels[cursor_of(Person2).meta.index_channel]
        manifests = [m for m in index.messages.values() if m.content.startswith("dS1")]
        assert len(manifests) == 1  # one snapshot, sealed with the new key
    for stale in (old_key, "another passphrase"):
        old, _ = make(server, key=stale)
        with pytest.raises(DatabaseKeyError):
            async with old.conn():
                pass


async def test_hidden_names_leave_no_table_or_field_name_on_discord() -> None:
    server = MemoryDiscord(["db"])
    db, Person = make(server, key=PASSPHRASE, hide_names=True)
    async with db.conn():
        await Person(name="ada").save()
        await cursor_of(Person).snapshot()
    visible = [f"{c.name} {c.topic or ''}" for c in server.channels.values()]
    visible += [m.content for c in server.channels.values() for m in c.messages.values()]
    assert not any("person" in text or "secret_field" in text for text in visible)
    again, Person2 = make(server, key=PASSPHRASE, hide_names=True)
    async with again.conn():
        assert [p.name for p in await Person2.find()] == ["ada"]  # type: ignore[attr-defined]
    with pytest.raises(discobase.DiscobaseError, match="needs a key"):
        make(server, hide_names=True)
