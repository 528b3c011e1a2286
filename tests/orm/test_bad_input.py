"""Bad input and misuse at the ORM's edges: each answered by a clear
``DiscobaseError`` subclass with its context, or simply working (in-memory transport)."""

from __future__ import annotations

import asyncio
import enum
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import pytest
from loguru import logger
from pydantic import BaseModel, ValidationError, create_model, field_validator

import discobase
from discobase.exceptions import (
    AlreadyConnectedError,
    DatabaseStorageError,
    DatabaseTableError,
    InvalidRecordError,
    QueryError,
)
from discobase.local import LocalDiscord
from discobase.model.table import Table
from discobase.storage.memory import MemoryDiscord, MemoryTransport


class Account(discobase.Table):
    name: str
    age: int = discobase.Field(0, ge=0)
    tags: list[str] = []


def make(server: MemoryDiscord, **options: Any) -> tuple[discobase.Database, type[Account], MemoryTransport]:
    transport = MemoryTransport(server)
    db = discobase.Database("db", transport=transport, **options)

    @db.table
    class User(Account):
        pass

    return db, User, transport


@pytest.fixture
def memory() -> MemoryDiscord:
    return MemoryDiscord(["db"])


@pytest.fixture
async def opened(memory: MemoryDiscord) -> AsyncIterator[tuple[discobase.Database, type[Account]]]:
    db, User, _ = make(memory)
    async with db.conn():
        yield db, User


# ---------------------------------------------------------------------- 1. nested conn()
async def test_a_nested_conn_is_refused_and_the_outer_one_keeps_working(memory: MemoryDiscord) -> None:
    db, User, _ = make(memory)
    async with db.conn():
        await User(name="before").save()
        with pytest.raises(AlreadyConnectedError, match="already connected") as error:
            async with db.conn():
                pytest.fail("a nested conn() must not enter")  # pragma: no cover
        assert isinstance(error.value, RuntimeError)  # what 1.0.0's login() raised twice
        with pytest.raises(AlreadyConnectedError):
            await db.login()
        assert db.open
        await User(name="after").save()
        assert [u.name for u in await User.find()] == ["before", "after"]
    assert not db.open
    async with db.conn():  # closed properly: it opens again
        assert len(await User.find()) == 2


async def test_conn_while_another_is_still_connecting_is_refused(memory: MemoryDiscord) -> None:
    db, User, _ = make(memory)
    first = db.login_task()
    with pytest.raises(AlreadyConnectedError):
        async with db.conn():
            pass  # pragma: no cover
    await db.wait_ready()
    assert db._task is first
    await User(name="x").save()
    await db.close()
    await first


async def test_a_nested_conn_on_the_local_server_leaves_the_outer_one_connected() -> None:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("edge-bot")
        server.create_guild("edge guild", members=[bot])
        db = discobase.Database("edge guild", server_url=server.url)

        @db.table
        class User(Account):
            pass

        async with db.conn(bot.token):
            with pytest.raises(AlreadyConnectedError):
                async with db.conn(bot.token):
                    pass  # pragma: no cover
            saved = await User(name="still connected").save()
            assert [u.record_id for u in await User.find()] == [saved.record_id]
        assert db.status is discobase.DBStatus.STOPPED
        reader = discobase.Database("edge guild", server_url=server.url)
        reader.table(type("User", (Account,), {"__module__": __name__}))
        async with reader.conn(bot.token):
            assert [u.name for u in await reader.tables["user"].find()] == ["still connected"]


# ---------------------------------------------------------------------- 2. save() twice at once
async def test_a_save_called_again_before_the_first_landed_joins_it(
    opened: tuple[discobase.Database, type[Account]],
) -> None:
    _, User = opened
    user = User(name="once")
    first, second = await asyncio.gather(user.save(), user.save())
    assert first is second is user
    assert user.record_id is not None
    assert [u.record_id for u in await User.find()] == [user.record_id]
    with pytest.raises(DatabaseStorageError, match="already been written"):
        user.save()
    other = User(name="other")
    pending = other.save()
    with pytest.raises(DatabaseStorageError, match="being saved"):
        await User.insert_many([other])
    with pytest.raises(DatabaseStorageError, match="being saved"):
        other.update()
    await pending
    with pytest.raises(DatabaseStorageError, match="more than once"):
        await User.insert_many([User(name="twice")] * 2)
    assert len(await User.find()) == 2


# ---------------------------------------------------------------------- 3. query values
async def test_find_values_of_the_wrong_type_are_query_errors(
    opened: tuple[discobase.Database, type[Account]],
) -> None:
    _, User = opened
    await User(name="ada", age=36, tags=["a"]).save()
    for filters in ({"age": "abc"}, {"age": None}, {"age": -1}, {"tags": 5}):
        with pytest.raises(QueryError) as error:
            await User.find(**filters)
        assert (error.value.table, error.value.field) == ("user", next(iter(filters)))
        assert isinstance(error.value.__cause__, ValidationError)  # the details, chained
    with pytest.raises(QueryError, match="no field 'nope'") as unknown:
        await User.find(nope=1)
    assert (unknown.value.table, unknown.value.field) == ("user", "nope")
    assert [u.name for u in await User.find(age="36")] == ["ada"]  # what validation accepts still works


async def test_expression_values_the_field_refuses_are_query_errors(
    opened: tuple[discobase.Database, type[Account]],
) -> None:
    _, User = opened
    await User(name="ada", age=36).save()
    with pytest.raises(QueryError) as error:
        await User.query(User.age == -1)  # passes int, fails the field's ge=0
    assert (error.value.table, error.value.field) == ("user", "age")
    with pytest.raises(QueryError) as in_error:
        await User.query(User.age.in_([36, -5]))
    assert (in_error.value.table, in_error.value.field) == ("user", "age")
    for field, make_condition in (
        ("age", lambda: User.age == "old"),
        ("name", lambda: User.name.contains(3)),
        ("tags", lambda: User.tags.contains(object())),
        ("age", lambda: User.age.startswith("1")),
        ("age", lambda: User.age.contains(1)),
    ):
        with pytest.raises(QueryError) as wrong:
            make_condition()
        assert (wrong.value.table, wrong.value.field) == ("user", field)
    with pytest.raises(QueryError) as update_error:
        await User.query().update(age="old")
    assert (update_error.value.table, update_error.value.field) == ("user", "age")
    assert [u.age for u in await User.find()] == [36]  # nothing was written
    assert await User.query(User.age < -1).count() == 0  # a range bound need not be a valid value


# ---------------------------------------------------------------------- 4. records a new validator rejects
async def test_a_stored_record_a_new_validator_rejects_is_skipped_and_reported(memory: MemoryDiscord) -> None:
    db, User, _ = make(memory)
    async with db.conn():
        await User.insert_many([User(name="ada"), User(name="BAD"), User(name="cy")])
        bad_id = (await User.find(name="BAD"))[0].record_id

    def strict_model() -> type[Account]:
        class Strict(Account):
            class Settings:
                name = "user"

            @field_validator("name")
            @classmethod
            def lower_case(cls, value: str) -> str:
                if value != value.lower():
                    raise ValueError("names are lower case")
                return value

        return Strict

    strict = discobase.Database("db", transport=MemoryTransport(memory))
    Strict = strict.table(strict_model())
    async with strict.conn():
        assert [u.name for u in await Strict.find()] == ["ada", "cy"]
        assert [u.name for u in await Strict.query(Strict.name != "ada")] == ["cy"]
        assert await Strict.find(age=0) != []
        assert len(strict.problems) == 1  # once per record, however often it is read
        problem = strict.problems[0]
        assert isinstance(problem, InvalidRecordError)
        assert (problem.table, problem.record, problem.field) == ("user", bad_id, "name")
        assert str(bad_id) in str(problem)
        assert "lower case" in str(problem)
        stale = Strict.model_construct()  # the documented way to remove it
        stale.__disco_id__ = problem.record
        await stale.delete()
    reopened = discobase.Database("db", transport=MemoryTransport(memory))
    Strict = reopened.table(strict_model())
    async with reopened.conn():
        assert [u.name for u in await Strict.find()] == ["ada", "cy"]
        assert reopened.problems == []
    assert len(strict.problems) == 1  # kept after close


# ---------------------------------------------------------------------- 5. enum members
class Colour1(enum.Enum):
    RED = "red"
    GREEN = "green"


class Colour2(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Colour0(enum.Enum):
    RED = "red"


class Paint(BaseModel):
    colour: Colour1


async def seed_colours(server: MemoryDiscord) -> None:
    Thing = create_model(
        "Thing",
        __base__=discobase.Table,
        colour=(Colour1, ...),
        maybe=(Colour1 | None, None),
        many=(list[Colour1], []),
        paint=(Paint | None, None),
        size=(Literal["s", "m"], "m"),
    )
    db = discobase.Database("db", transport=MemoryTransport(server))
    db.table(Thing)
    async with db.conn():
        await Thing(colour="green", many=["red"], paint={"colour": "red"}).save()


async def test_adding_an_enum_member_is_compatible(memory: MemoryDiscord) -> None:
    await seed_colours(memory)

    class Paint2(BaseModel):
        colour: Colour2

    Thing = create_model(
        "Thing",
        __base__=discobase.Table,
        colour=(Colour2, ...),
        maybe=(Colour2 | None, None),
        many=(list[Colour2], []),
        paint=(Paint2 | None, None),
        size=(Literal["s", "m", "l"], "m"),
    )
    db = discobase.Database("db", transport=MemoryTransport(memory))
    db.table(Thing)
    async with db.conn():
        [old] = await Thing.find()
        assert old.colour is Colour2.GREEN  # type: ignore[attr-defined]
        await Thing(colour=Colour2.BLUE, many=[Colour2.BLUE], size="l").save()
        assert len(await Thing.find(colour="blue")) == 1
        assert [t.size for t in await Thing.find()] == ["m", "l"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "fields",
    [
        {"colour": (Colour0, ...)},
        {"colour": (Colour1, ...), "many": (list[Colour0], [])},
        {"colour": (Colour1, ...), "size": (Literal["s"], "s")},
    ],
    ids=["member-removed", "member-removed-in-a-list", "literal-value-removed"],
)
async def test_removing_an_enum_member_stays_incompatible(
    memory: MemoryDiscord, fields: dict[str, Any]
) -> None:
    await seed_colours(memory)
    Thing = create_model(
        "Thing",
        __base__=discobase.Table,
        **{
            "maybe": (Colour1 | None, None),
            "many": (list[Colour1], []),
            "paint": (Paint | None, None),
            "size": (Literal["s", "m"], "m"),
            **fields,
        },
    )
    db = discobase.Database("db", transport=MemoryTransport(memory))
    db.table(Thing)
    with pytest.raises(DatabaseTableError, match="changed incompatibly"):
        async with db.conn():
            pass  # pragma: no cover


# ---------------------------------------------------------------------- 6. logging configuration
@pytest.fixture
def discobase_records() -> Iterator[list[str]]:
    """Messages discobase logs (at any level) while the test runs; discobase's
    logging is disabled again afterwards, as importing it leaves it."""
    records: list[str] = []
    sink = logger.add(
        lambda message: records.append(message.record["message"]),
        level="DEBUG",
        filter="discobase",
    )
    try:
        yield records
    finally:
        logger.remove(sink)
        logger.disable("discobase")


async def test_creating_a_database_keeps_the_applications_logging_choice(
    memory: MemoryDiscord, discobase_records: list[str]
) -> None:
    logger.enable("discobase")
    db, _, _ = make(memory)  # logging=False: leaves the application's choice alone
    async with db.conn():
        pass
    assert any("created table user" in message for message in discobase_records)


async def test_one_database_logging_is_not_turned_off_by_another(
    memory: MemoryDiscord, discobase_records: list[str]
) -> None:
    loud, LoudUser, _ = make(memory, logging=True)
    other = MemoryDiscord(["db"])
    quiet, _, _ = make(other)
    async with quiet.conn():
        pass
    discobase_records.clear()
    async with loud.conn():
        await LoudUser(name="x").save()
    assert any("opened table user" in message for message in discobase_records)


# ---------------------------------------------------------------------- 7. un-awaited write reports
@pytest.fixture
async def reported() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler."""
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    try:
        yield contexts
    finally:
        loop.set_exception_handler(None)


async def settle(task: asyncio.Future[Any] | None = None) -> None:
    """Let ``task`` finish and the loop run what its completion scheduled,
    without retrieving its outcome (``asyncio.wait`` does not)."""
    if task is not None:
        await asyncio.wait({task})
    for _ in range(5):
        await asyncio.sleep(0)


async def test_only_writes_nobody_awaited_are_reported(
    memory: MemoryDiscord, reported: list[dict[str, Any]]
) -> None:
    db, User, transport = make(memory)

    async def gathered_with_return_exceptions() -> None:
        transport.fail_next("send", RuntimeError("boom"))
        failing = User(name="a").save()
        # gather looks at the failure only once the other awaitable, which outlives it, is done
        outcomes = await asyncio.gather(failing, settle(failing), return_exceptions=True)
        assert isinstance(outcomes[0], DatabaseStorageError)

    async def awaited_after_it_failed() -> None:
        transport.fail_next("send", RuntimeError("boom"))
        late = User(name="b").save()
        await settle(late)
        with pytest.raises(DatabaseStorageError):
            await late

    async def never_awaited(message: str) -> None:
        transport.fail_next("send", RuntimeError(message))
        await settle(User(name="c").save())

    async with db.conn():
        await gathered_with_return_exceptions()
        await awaited_after_it_failed()
        gc.collect()
        await settle()
        assert reported == []
        await never_awaited("lost")  # reported once nothing can retrieve it any more
        gc.collect()
        assert len(reported) == 1
        assert isinstance(reported[0]["exception"], DatabaseStorageError)
        assert "lost" in str(reported[0]["exception"].__cause__)
        # still running at close: close() waits for it without retrieving its failure
        transport.fail_next("send", RuntimeError("at close"))
        User(name="d").save()
    gc.collect()
    assert len(reported) == 2
    assert "at close" in str(reported[1]["exception"].__cause__)


# ---------------------------------------------------------------------- 8. reserved names
@pytest.mark.parametrize("name", ["_logs", "_versions", "_dbmetadata", "_mine"])
def test_table_names_with_a_leading_underscore_are_refused(name: str) -> None:
    db = discobase.Database("db", transport=MemoryTransport())

    class Thing(discobase.Table):
        x: int

        class Settings:
            pass

    Thing.Settings.name = name  # type: ignore[attr-defined]
    with pytest.raises(DatabaseTableError, match="reserved") as error:
        db.table(Thing)
    assert error.value.table == name
    assert db.tables == {}


async def test_system_tables_still_work_beside_user_tables(memory: MemoryDiscord) -> None:
    db, User, _ = make(memory, log_table=True, version="1.0.0")
    async with db.conn():
        await User(name="x").save()
        assert await db.get_version() == discobase.Version(1, 0, 0)
        logger.info("kept in _logs")
        await db.logs.flush()
        assert [r.message for r in await db.logs.query()] == ["kept in _logs"]


TABLE_API = sorted(name for name in dir(Table) if not name.startswith("_") and name not in dir(BaseModel))


def test_the_reserved_field_names_are_the_table_api() -> None:
    assert {"save", "update", "delete", "commit", "find", "find_unique", "query", "record_id"} <= set(
        TABLE_API
    )


@pytest.mark.parametrize("name", TABLE_API)
def test_field_names_that_shadow_the_table_api_are_refused(name: str) -> None:
    with pytest.raises(DatabaseTableError, match=f"field {name!r}, which shadows Table.{name}") as error:
        create_model("Shadow", __base__=discobase.Table, **{name: (str, "")})
    assert error.value.field == name
    with pytest.raises(DatabaseTableError, match="shadows"):

        class Declared(discobase.Table):
            save: int = 0


def test_overriding_a_table_method_is_still_allowed() -> None:
    class Audited(discobase.Table):
        x: int

        def save(self) -> discobase.WriteTask[Audited]:  # type: ignore[override]
            return super().save()

    assert "save" not in Audited.model_fields
