"""Versions, lifecycle status, migrations and the safety decorators."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import discobase
from discobase import DBStatus, Version
from discobase.exceptions import DatabaseVersionError, MigrationError
from discobase.storage.memory import MemoryDiscord, MemoryTransport


# ---------------------------------------------------------------------- Version
def test_semver_precedence_examples_from_the_spec() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    versions = [Version.parse(v) for v in chain]
    assert versions == sorted(versions)
    for lower, higher in itertools.pairwise(versions):
        assert lower < higher
        assert not higher < lower
        assert lower != higher
    assert Version.parse("1.0.0+20130313144700") == Version.parse("1.0.0+exp.sha.5114f85")  # build ignored
    assert str(Version.parse("1.0.0-rc.1+build.5")) == "1.0.0-rc.1+build.5"
    assert Version(1, 4) == "1.4.0"


@pytest.mark.parametrize(
    "bad", ["1", "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "v1.2.3", "1.2.3.4", ""]
)
def test_invalid_versions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        Version.parse(bad)


identifiers = st.one_of(st.integers(0, 50), st.sampled_from(["alpha", "beta", "rc", "x-1", "a1"]))
versions = st.builds(
    Version,
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 5),
    st.lists(identifiers, max_size=3).map(tuple),
    st.lists(st.sampled_from(["b1", "exp", "sha"]), max_size=2).map(tuple),
)


@settings(derandomize=True, database=None, max_examples=300)
@given(a=versions, b=versions, c=versions)
def test_version_order_is_a_total_order(a: Version, b: Version, c: Version) -> None:
    assert Version.parse(str(a)) == a
    assert (a < b) + (b < a) + (a == b) == 1
    if a < b and b < c:
        assert a < c
    if a == b:
        assert hash(a) == hash(b)
    if a.prerelease and (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch) and not b.prerelease:
        assert a < b  # a pre-release comes before its release


# ---------------------------------------------------------------------- lifecycle and migrations
class Item(discobase.Table):
    name: str
    size: int = 0


def make(server: MemoryDiscord, version: str | None) -> tuple[discobase.Database, type[Item]]:
    db = discobase.Database("db", transport=MemoryTransport(server), version=version)

    @db.table
    class Thing(Item):
        pass

    return db, Thing


async def test_new_database_runs_on_init_once_and_is_running() -> None:
    server = MemoryDiscord(["db"])
    db, Thing = make(server, "1.0.0")
    calls: list[str] = []

    @db.on_init
    async def seed(database: discobase.Database) -> None:
        calls.append("init")
        assert database.status is DBStatus.STARTING
        await Thing(name="default").save()

    assert db.status is DBStatus.STOPPED
    async with db.conn():
        assert db.status is DBStatus.RUNNING
        await db.ensure_ready()
        assert await db.get_version() == Version(1, 0, 0)
        assert [t.name for t in await Thing.find()] == ["default"]
    assert db.status is DBStatus.STOPPED
    again, Thing2 = make(server, "1.0.0")
    again.on_init(seed)
    async with again.conn():
        assert [t.name for t in await Thing2.find()] == ["default"]
    assert calls == ["init"]


async def test_upgrade_failure_fix_and_resume() -> None:
    server = MemoryDiscord(["db"])
    db, _ = make(server, "1.0.0")
    async with db.conn():
        pass

    ran: list[str] = []
    broken = True

    def register(database: discobase.Database, thing: type[Item]) -> None:
        @database.migration("1.1.0")
        async def first(_: discobase.Database) -> None:
            ran.append("1.1.0")
            await thing(name="from 1.1.0").save()

        @database.migration("1.2.0")
        async def second(_: discobase.Database) -> None:
            ran.append("1.2.0")
            if broken:
                raise RuntimeError("bug in the second migration")
            await thing.query(thing.name == "from 1.1.0").update(size=12)

        @database.migration("2.0.0")
        async def third(_: discobase.Database) -> None:
            ran.append("2.0.0")

    failing, thing = make(server, "2.0.0")
    register(failing, thing)
    with pytest.raises(MigrationError, match="bug in the second migration") as error:
        async with failing.conn():
            pass
    assert isinstance(error.value.__cause__, RuntimeError)
    assert failing.status is DBStatus.FAILED
    with pytest.raises(MigrationError):
        await failing.ensure_ready()
    assert ran == ["1.1.0", "1.2.0"]

    broken = False
    fixed, thing = make(server, "2.0.0")
    register(fixed, thing)
    async with fixed.conn():
        assert await fixed.get_version() == Version(2, 0, 0)
        assert [(t.name, t.size) for t in await thing.find()] == [("from 1.1.0", 12)]
        records = sorted(
            ((m.version, m.outcome.split(":")[0]) for m in await fixed.system_tables["_migrations"].find()),  # type: ignore[attr-defined]
        )
    assert ran == ["1.1.0", "1.2.0", "1.2.0", "2.0.0"]  # the first ran once; the second again after the fix
    assert records == [("1.1.0", "applied"), ("1.2.0", "applied"), ("1.2.0", "failed"), ("2.0.0", "applied")]


async def test_a_newer_stored_version_is_refused_and_nothing_is_written() -> None:
    server = MemoryDiscord(["db"])
    newer, _ = make(server, "3.0.0")
    async with newer.conn():
        pass
    older, _ = make(server, "2.5.0")
    transport = older._transport
    assert isinstance(transport, MemoryTransport)
    before = {c.id: dict(c.messages) for c in server.channels.values()}
    with pytest.raises(DatabaseVersionError) as error:
        async with older.conn():
            pass
    assert "3.0.0" in str(error.value)
    assert "2.5.0" in str(error.value)
    assert older.status is DBStatus.FAILED
    # Its only message, the record-id worker claim, was withdrawn: the guild is as it was.
    assert transport.requests.get("POST /channels/{channel_id}/messages", 0) == 1
    assert {c.id: dict(c.messages) for c in server.channels.values()} == before
    check, _ = make(server, "3.0.0")
    async with check.conn():
        assert await check.get_version() == Version(3, 0, 0)


# ---------------------------------------------------------------------- decorators
async def test_database_safe_timed_and_required_argument() -> None:
    server = MemoryDiscord(["db"])
    db, Thing = make(server, "1.0.0")

    @discobase.database_safe(db, fail_value=[])
    async def names() -> list[str]:
        return [t.name for t in await Thing.find()]

    @discobase.database_safe(db, fail_value="fallback")
    async def broken() -> str:
        raise RuntimeError("nope")

    @discobase.database_safe(db, fail_with_exception=True)
    async def strict() -> str:
        raise RuntimeError("raised, not returned")

    @discobase.timed
    @discobase.required_argument("name", "size")
    async def lookup(*, name: str | None = None, size: int | None = None) -> list[Any]:
        query = Thing.query()
        if name is not None:
            query = query.find(Thing.name == name)
        if size is not None:
            query = query.find(Thing.size == size)
        return await query.to_list()

    waiting = asyncio.create_task(names())  # called before login: waits until the database is RUNNING
    await asyncio.sleep(0.05)
    assert not waiting.done()
    async with db.conn():
        assert await waiting == []
        await Thing(name="a", size=1).save()
        assert await names() == ["a"]
        assert await broken() == "fallback"
        with pytest.raises(RuntimeError, match="raised, not returned"):
            await strict()
        assert [t.name for t in await lookup(size=1)] == ["a"]
        assert lookup.last_duration is not None  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="at least one of: name, size"):
            await lookup()
