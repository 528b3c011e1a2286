"""The 1.0.0 API and what 1.0.0 got wrong, on the in-memory transport."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from loguru import logger

import discobase
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseTableError,
    GuildNotFoundError,
    NotConnectedError,
)
from discobase.storage.memory import MemoryDiscord, MemoryTransport


class Base(discobase.Table):
    name: str
    password: str = "hunter2"
    age: int = 0


Opened = tuple[discobase.Database, type[Base], MemoryTransport]


def make_db(server: MemoryDiscord, name: str = "db") -> Opened:
    transport = MemoryTransport(server)
    db = discobase.Database(name, transport=transport)

    @db.table
    class User(Base):
        pass

    return db, User, transport


@pytest.fixture
def memory() -> MemoryDiscord:
    return MemoryDiscord(["db"])


@pytest.fixture
async def opened(
    memory: MemoryDiscord,
) -> AsyncIterator[tuple[discobase.Database, type[Base], MemoryTransport]]:
    db, user, transport = make_db(memory)
    async with db.conn():
        transport.requests.clear()
        yield db, user, transport


def test_table_decorator_rejects_what_1_0_0_rejected() -> None:
    db = discobase.Database("db", transport=MemoryTransport())
    with pytest.raises(DatabaseTableError, match=r"not a subclass of discobase\.Table"):
        db.table(int)  # type: ignore[type-var]

    @db.table
    class Thing(discobase.Table):
        x: int

    with pytest.raises(DatabaseTableError, match="already exists"):

        @db.table
        class thing(discobase.Table):
            x: int

    other = discobase.Database("other", transport=MemoryTransport())
    with pytest.raises(DatabaseTableError, match="only be attached to one database"):
        other.table(Thing)


async def test_using_a_table_before_connecting_or_attaching() -> None:
    class Loose(discobase.Table):
        x: int

    with pytest.raises(DatabaseTableError, match="no attached database"):
        Loose(x=1).save()
    db = discobase.Database("db", transport=MemoryTransport())

    @db.table
    class Attached(discobase.Table):
        x: int

    with pytest.raises(NotConnectedError):
        Attached(x=1).save()
    with pytest.raises(NotConnectedError):
        await Attached.find()
    with pytest.raises(ValueError, match="not open"):
        await db.close()


async def test_save_find_update_delete(
    opened: Opened,
) -> None:
    _, User, _ = opened
    peter = await User(name="Peter", password="foobar").save()
    assert peter.record_id is not None
    assert peter.__disco_id__ == peter.record_id
    found = await User.find(name="Peter")
    assert found == [peter]
    assert found[0].record_id == peter.record_id
    peter.password = "hunter2"
    await peter.update()
    assert await User.find(password="foobar") == []
    assert [u.name for u in await User.find(password="hunter2")] == ["Peter"]
    await peter.delete()
    assert await User.find(name="Peter") == []
    with pytest.raises(DatabaseStorageError, match="has not been written"):
        peter.update()


async def test_find_is_an_and_without_duplicates(
    opened: Opened,
) -> None:
    _, User, _ = opened
    await User(name="Peter", password="foobar").save()
    await User(name="Peter", password="other").save()
    await User(name="Paul", password="foobar").save()
    both = await User.find(name="Peter", password="foobar")
    assert [(u.name, u.password) for u in both] == [("Peter", "foobar")]
    assert len(await User.find()) == 3
    with pytest.raises(DatabaseLookupError, match="no field 'nope'"):
        await User.find(nope=1)


async def test_find_unique(opened: Opened) -> None:
    _, User, _ = opened
    await User(name="a", age=1).save()
    await User(name="b", age=1).save()
    assert (await User.find_unique(name="a")).name == "a"
    with pytest.raises(DatabaseLookupError, match="more than one"):
        await User.find_unique(age=1)
    assert (await User.find_unique(strict=False, age=1)).name == "a"
    with pytest.raises(DatabaseLookupError, match="no entry found"):
        await User.find_unique(name="zed")
    assert await User.find_unique(strict=False, name="zed") is None
    with pytest.raises(ValueError, match="a query must be passed"):
        await User.find_unique()


async def test_update_and_delete_never_touch_another_record(
    opened: Opened,
) -> None:
    _, User, _ = opened
    twins = [await User(name="same", password="same").save() for _ in range(20)]
    target = twins[7]
    target.age = 99
    await target.update()
    await twins[3].delete()
    rest = await User.find(name="same")
    assert len(rest) == 19
    assert [u.record_id for u in rest if u.age == 99] == [target.record_id]
    assert twins[3].record_id is None


async def test_request_counts(opened: Opened) -> None:
    _, User, transport = opened
    user = await User(name="x").save()
    assert sum(transport.requests.values()) == 1
    transport.requests.clear()
    user.age = 1
    await user.update()
    assert sum(transport.requests.values()) == 1
    transport.requests.clear()
    await User.find(name="x")
    await User.find()
    await User.find_unique(name="x")
    assert sum(transport.requests.values()) == 0  # warm find: no request
    await user.delete()
    assert sum(transport.requests.values()) == 1
    transport.requests.clear()
    await asyncio.gather(*(User(name=f"u{i}").save() for i in range(100)))
    assert sum(transport.requests.values()) <= 5
    assert len(await User.find()) == 100


async def test_fire_and_forget_is_awaited_by_close(memory: MemoryDiscord) -> None:
    db, User, _ = make_db(memory)
    async with db.conn():
        for i in range(30):
            User(name=f"ff{i}").save()  # not awaited
    db2, User2, _ = make_db(memory)
    async with db2.conn():
        assert len(await User2.find()) == 30


async def test_fire_and_forget_failure_is_reported(memory: MemoryDiscord) -> None:
    db, User, transport = make_db(memory)
    reported: list[dict[str, Any]] = []
    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(str(m)), level="ERROR")
    logger.enable("discobase")
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with db.conn():
            transport.fail_next("send", RuntimeError("boom"))
            User(name="lost").save()  # nobody awaits this one
            await asyncio.sleep(0.05)
            awaited = User(name="also failing")
            transport.fail_next("send", RuntimeError("boom again"))
            with pytest.raises(DatabaseStorageError, match="boom again"):
                await awaited.save()
            await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
        logger.remove(sink)
        logger.disable("discobase")
    assert len(reported) == 1  # only the unobserved one
    assert isinstance(reported[0]["exception"], DatabaseStorageError)
    assert "boom" in str(reported[0]["exception"].__cause__)
    assert any("nobody awaited" in line for line in logged)


async def test_reopen_from_a_fresh_database(memory: MemoryDiscord) -> None:
    db, User, _ = make_db(memory)
    async with db.conn():
        await asyncio.gather(*(User(name=f"n{i}", age=i).save() for i in range(10_000)))
    db2, User2, transport = make_db(memory)
    async with db2.conn():
        opened_with = sum(transport.requests.values())
        assert len(await User2.find()) == 10_000
        assert [u.age for u in await User2.find(name="n1234")] == [1234]
    assert opened_with <= 10, transport.requests


async def test_two_databases_see_each_others_writes(memory: MemoryDiscord) -> None:
    db1, User1, _ = make_db(memory)
    db2, User2, _ = make_db(memory)
    async with db1.conn(), db2.conn():
        written = await User1(name="from one").save()
        await User2(name="from two").save()
        for _ in range(100):
            if len(await User2.find()) == 2 and len(await User1.find()) == 2:
                break
            await asyncio.sleep(0.01)
        assert {u.name for u in await User1.find()} == {"from one", "from two"}
        assert {u.name for u in await User2.find()} == {"from one", "from two"}
        await written.delete()
        for _ in range(100):
            if len(await User2.find()) == 1:
                break
            await asyncio.sleep(0.01)
        assert [u.name for u in await User2.find()] == ["from two"]


async def test_missing_guild_names_it_and_gives_the_invite_url() -> None:
    db = discobase.Database("not there", transport=MemoryTransport(MemoryDiscord(["db"])))
    with pytest.raises(GuildNotFoundError) as error:
        async with db.conn():
            pass
    assert "not there" in str(error.value)
    assert error.value.invite_url is not None
    assert "permissions=" in error.value.invite_url
    assert db.open is False


def make_two_table_db(server: MemoryDiscord, **options: Any) -> tuple[discobase.Database, type[Base], Any]:
    transport = MemoryTransport(server)
    db = discobase.Database("db", transport=transport, **options)

    @db.table
    class User(Base):
        pass

    @db.table
    class Post(discobase.Table):
        title: str

    return db, User, Post


async def test_corrupt_messages_are_reported_and_other_tables_open(memory: MemoryDiscord) -> None:
    db, User, Post = make_two_table_db(memory)
    async with db.conn():
        await User(name="kept").save()
        await Post(title="fine").save()
        channel = User.__disco_cursor__.meta.data_channels[0]  # type: ignore[union-attr]
    intruder = MemoryTransport(memory)
    await intruder.connect()
    foreign = await intruder.send(channel, "hello, this is not discobase data")
    await intruder.close()

    strict, _, _ = make_two_table_db(memory)
    with pytest.raises(DatabaseCorruptionError) as error:
        async with strict.conn():
            pass
    assert str(foreign.id) in str(error.value)
    assert str(channel) in str(error.value)
    assert error.value.table == "user"

    lenient, User2, Post2 = make_two_table_db(memory, on_corruption="skip")
    async with lenient.conn():
        assert [u.name for u in await User2.find()] == ["kept"]
        assert [p.title for p in await Post2.find()] == ["fine"]
        assert len(lenient.problems) == 1
        assert lenient.problems[0].channel == channel
        assert str(foreign.id) in str(lenient.problems[0])


async def test_clean_removes_every_channel_it_created(memory: MemoryDiscord) -> None:
    db, User, transport = make_db(memory)
    before = {c.id for c in await _channels(transport, memory)}
    async with db.conn():
        await User(name="x").save()
        created = {c.id for c in await transport.channels(db.guild.id)} - before  # type: ignore[union-attr]
        assert len(created) == 4  # category, catalog, data, index
        await db.clean()
        after = {c.id for c in await transport.channels(db.guild.id)}  # type: ignore[union-attr]
        assert after == before
        with pytest.raises(DatabaseTableError, match="not ready"):
            await User.find()


async def _channels(transport: MemoryTransport, memory: MemoryDiscord) -> list[Any]:
    await transport.connect()
    try:
        return await transport.channels(memory.guild_id("db"))
    finally:
        await transport.close()


async def test_a_large_record_round_trips(memory: MemoryDiscord) -> None:
    db, User, _ = make_db(memory)
    big = "x" * 5_000_000
    async with db.conn():
        await User(name="big", password=big).save()
    db2, User2, _ = make_db(memory)
    async with db2.conn():
        assert (await User2.find_unique(name="big")).password == big


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    yield
    gc.collect()


async def test_a_bulk_insert_failing_part_way_reports_each_record(
    memory: MemoryDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """insert_each gives every record's outcome; insert_many raises the first
    error, after the other messages have settled (and their records are saved)."""
    monkeypatch.setattr("discobase.engine.sender.MAX_OPS_PER_MESSAGE", 2)
    db, User, transport = make_db(memory)
    async with db.conn():
        rows = [User(name=f"u{n}") for n in range(4)]
        transport.fail_next("send", RuntimeError("first message lost"))
        outcomes = await User.insert_each(rows)
        assert [o is None for o in outcomes] == [False, False, True, True]
        assert all(isinstance(o, DatabaseStorageError) for o in outcomes[:2])
        assert [r.__disco_id__ for r in rows[:2]] == [-1, -1]
        assert sorted(u.name for u in await User.find()) == ["u2", "u3"]

        more = [User(name=f"v{n}") for n in range(4)]
        transport.fail_next("send", RuntimeError("lost again"))
        with pytest.raises(DatabaseStorageError, match="lost again"):
            await User.insert_many(more)
        assert [r.__disco_id__ != -1 for r in more] == [False, False, True, True]
        assert sorted(u.name for u in await User.find()) == ["u2", "u3", "v2", "v3"]


def test_only_discobase_own_tables_skip_the_read_back_check() -> None:
    from discobase.system.logs import LogRecord

    class Same(LogRecord):  # e.g. the table class a database makes for _logs
        pass

    class Wider(LogRecord):
        score: float = 0.0

    assert LogRecord.__disco_json_reads_back__
    assert Same.__disco_json_reads_back__
    assert not Wider.__disco_json_reads_back__
    assert not Base.__disco_json_reads_back__


HISTORY = "GET /channels/{channel_id}/messages"


async def test_opening_skips_channels_the_channel_list_shows_unchanged(memory: MemoryDiscord) -> None:
    db, User, _ = make_db(memory)
    async with db.conn():
        await User(name="a").save()  # one message, no snapshot: the index channel stays empty
    db2, User2, transport = make_db(memory)
    async with db2.conn():
        # The catalog and the data channel; the empty index channel is not read.
        assert transport.requests[HISTORY] == 2, transport.requests
        assert [u.name for u in await User2.find()] == ["a"]
        cursor = User2.__disco_cursor__
        assert cursor is not None
        await cursor.snapshot()
    db3, User3, transport = make_db(memory)
    async with db3.conn():
        # The snapshot covers every data message: only the catalog and the index channel are read.
        assert transport.requests[HISTORY] == 2, transport.requests
        assert [u.name for u in await User3.find()] == ["a"]


class _HookedTransport(MemoryTransport):
    """Runs ``hook`` before its next history read (the catalog, while connecting)."""

    hook: Callable[[], Awaitable[None]] | None = None

    async def history(self, channel_id: int, **kwargs: Any) -> list[Any]:
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()
        return await super().history(channel_id, **kwargs)


async def test_a_write_between_the_channel_list_and_the_open_is_not_lost(memory: MemoryDiscord) -> None:
    """The channel list shows the data channel empty, so it is not read; a record
    another process writes after that list still arrives, as an event kept until
    the table's cursor exists."""
    writer, Writer, _ = make_db(memory)
    transport = _HookedTransport(memory)
    reader = discobase.Database("db", transport=transport)

    @reader.table
    class User(Base):
        pass

    async with writer.conn():

        async def write_meanwhile() -> None:
            await Writer(name="meanwhile").save()
            await transport.drain()  # delivered now, before the reader's cursor exists

        transport.hook = write_meanwhile
        async with reader.conn():
            assert transport.hook is None  # it ran
            assert transport.requests[HISTORY] == 1  # the catalog only: the data channel was listed empty
            assert [u.name for u in await User.find()] == ["meanwhile"]


async def test_get_finds_a_record_by_id_without_a_request(opened: Opened) -> None:
    _, User, transport = opened
    ada = await User(name="ada", age=36).save()
    assert ada.record_id is not None
    transport.requests.clear()
    got = await User.get(ada.record_id)
    assert got is not None
    assert got == ada
    assert got.record_id == ada.record_id
    assert got is not ada  # a fresh instance, as find() returns
    assert await User.get(ada.record_id + 1) is None
    assert sum(transport.requests.values()) == 0
    await ada.delete()
    assert await User.get(got.record_id) is None  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="record id"):
        await User.get("1")  # type: ignore[arg-type]


async def test_get_sees_another_process_write(memory: MemoryDiscord) -> None:
    db1, User1, _ = make_db(memory)
    db2, User2, _ = make_db(memory)
    async with db1.conn(), db2.conn():
        written = await User1(name="from one").save()
        assert written.record_id is not None
        for _ in range(100):
            if await User2.get(written.record_id) is not None:
                break
            await asyncio.sleep(0.01)
        seen = await User2.get(written.record_id)
        assert seen is not None
        assert seen.name == "from one"


async def test_the_1_0_0_attributes_read_the_binding(memory: MemoryDiscord) -> None:
    class Loose(discobase.Table):
        x: int

    assert Loose.__disco_database__ is None
    assert Loose.__disco_cursor__ is None
    db, User, _ = make_db(memory)
    assert User.__disco_database__ is db
    assert User.__disco_name__ == "user"
    assert User.__disco_keys__ == {"name", "password", "age"}
    assert User.__disco_cursor__ is None  # not open yet
    async with db.conn():
        replica = User.__disco_cursor__
        assert replica is not None
        assert User(name="x").__disco_cursor__ is replica  # on instances too, as in 1.0.0
    assert User.__disco_cursor__ is None


async def test_insert_each_checks_its_records_like_insert_many(opened: Opened) -> None:
    _, User, _ = opened
    saved = await User(name="saved").save()
    with pytest.raises(DatabaseStorageError, match="already saved"):
        await User.insert_each([saved])
    fresh = User(name="fresh")
    with pytest.raises(DatabaseStorageError, match="more than once"):
        await User.insert_each([fresh, fresh])
    assert await User.insert_each([fresh]) == [None]
    assert await User.get(fresh.record_id) == fresh  # type: ignore[arg-type]
