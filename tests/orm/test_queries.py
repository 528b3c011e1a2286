"""Query expressions, indexes, unique constraints and bulk writes (in-memory transport)."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import discobase
from discobase import col
from discobase.exceptions import QueryError, UniqueViolationError
from discobase.model import Condition
from discobase.storage.memory import MemoryDiscord, MemoryTransport

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Address(BaseModel):
    city: str
    zip: int = 0


class PersonBase(discobase.Table):
    name: str
    age: int = discobase.Field(0, index=True)
    score: float | None = None
    tags: list[str] = []
    born: datetime = discobase.Field(T0, index=True)
    address: Address | None = None


def make(
    server: MemoryDiscord | None = None, transport: MemoryTransport | None = None
) -> tuple[discobase.Database, type[PersonBase]]:
    db = discobase.Database("db", transport=transport or MemoryTransport(server or MemoryDiscord(["db"])))

    @db.table
    class Person(PersonBase):
        pass

    return db, Person


@pytest.fixture
async def person() -> AsyncIterator[type[PersonBase]]:
    db, Person = make()
    async with db.conn():
        yield Person


async def test_expressions_sort_page_and_nested_fields(person: type[PersonBase]) -> None:
    P = person
    await P.insert_many(
        [
            P(name="ada", age=36, tags=["math"], address=Address(city="London")),
            P(name="bob", age=25, score=1.5, address=Address(city="Oslo", zip=150)),
            P(name="cy", age=36, tags=["art", "math"]),
            P(name="dee", age=17, score=None, address=Address(city="Oslo")),
        ]
    )
    adults = await P.query(P.age >= 18).sort(-P.age, P.name).to_list()
    assert [p.name for p in adults] == ["ada", "cy", "bob"]
    assert await P.query(P.name.in_(["ada", "bob", "zed"])).count() == 2
    assert [p.name for p in await P.query(P.address.city == "Oslo")] == ["bob", "dee"]
    assert [p.name for p in await P.query(P.tags.contains("math") & ~(P.name == "ada"))] == ["cy"]
    assert [p.name for p in await P.query((P.age < 18) | P.name.startswith("b"))] == ["bob", "dee"]
    assert [p.name for p in await P.query(P.score.is_none()).sort(P.name)] == ["ada", "cy", "dee"]
    assert [p.name for p in await P.query(P.address.is_none())] == ["cy"]
    first = await P.query().sort(P.age).first()
    assert first.name == "dee"
    assert await P.query(P.age > 100).first_or_none() is None
    assert await P.query(P.age == 36).exists()
    page = await P.query().sort(P.name).page(2, 3)
    assert ([p.name for p in page.items], page.total, page.pages, page.has_next) == (["dee"], 4, 2, False)
    names = [p.name async for p in P.query().sort(P.name).skip(1).limit(2)]
    assert names == ["bob", "cy"]
    assert [p.name for p in await P.query(P.name.not_in(["ada"])).sort(-P.name)] == ["dee", "cy", "bob"]
    assert [p.name for p in await P.query(P.born <= T0)] == ["ada", "bob", "cy", "dee"]


async def test_wrong_types_are_clear_errors(person: type[PersonBase]) -> None:
    P = person
    with pytest.raises(QueryError, match=r"cannot compare Person\.age with 'old'"):
        P.age >= "old"  # noqa: B015
    with pytest.raises(QueryError, match="startswith"):
        P.age.startswith("1")
    with pytest.raises(QueryError, match="not a str or a collection"):
        P.age.contains(1)
    with pytest.raises(AttributeError, match="no field 'country'"):
        P.address.country  # noqa: B018
    with pytest.raises(QueryError, match=r"combine conditions with & \| ~"):
        await P.query((P.age > 1) and (P.age < 5))  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="limit"):
        P.query().limit(-1)


class Kinds(discobase.Table):
    """A field of every kind :meth:`FieldExpr.contains` and ``startswith`` take (typed forms)."""

    name: str
    nick: str | None = None
    tags: list[str] = []
    maybe_tags: list[str] | None = None
    roles: set[int] = set()
    codes: frozenset[str] = frozenset()
    scores: tuple[int, ...] = ()
    maybe_scores: tuple[int, ...] | None = None
    address: Address | None = None


async def test_typed_forms_match_the_untyped_ones() -> None:
    """``col(X.f).contains(...)`` and the other typed forms select what ``X.f.contains(...)`` does."""
    db = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
    K = db.table(Kinds)
    async with db.conn():
        await K.insert_many(
            [
                K(
                    name="ada",
                    nick="countess",
                    tags=["math"],
                    roles={1, 2},
                    codes=frozenset({"x"}),
                    scores=(3,),
                ),
                K(
                    name="bob",
                    maybe_tags=["math", "art"],
                    roles={2},
                    maybe_scores=(3, 4),
                    address=Address(city="Oslo"),
                ),
                K(
                    name="cy",
                    nick="c",
                    codes=frozenset({"x", "y"}),
                    scores=(4, 5),
                    address=Address(city="Rome"),
                ),
            ]
        )

        async def names(condition: Condition) -> list[str]:
            return sorted(k.name for k in await K.query(condition))

        pairs: list[tuple[Condition, Condition, list[str]]] = [
            (col(K.name).contains("d"), K.name.contains("d"), ["ada"]),
            (col(K.nick).contains("c"), K.nick.contains("c"), ["ada", "cy"]),
            (col(K.tags).contains("math"), K.tags.contains("math"), ["ada"]),
            (col(K.maybe_tags).contains("art"), K.maybe_tags.contains("art"), ["bob"]),
            (col(K.roles).contains(2), K.roles.contains(2), ["ada", "bob"]),
            (col(K.codes).contains("y"), K.codes.contains("y"), ["cy"]),
            (col(K.scores).contains(4), K.scores.contains(4), ["cy"]),
            (col(K.maybe_scores).contains(4), K.maybe_scores.contains(4), ["bob"]),
            (col(K.nick).startswith("co"), K.nick.startswith("co"), ["ada"]),
            (col(K.address).city == "Oslo", K.address.city == "Oslo", ["bob"]),
            (col(K.address).city.contains("m"), K.address.city.contains("m"), ["cy"]),
            (col(K.nick) == None, K.nick == None, ["bob"]),  # noqa: E711 - a field is compared, not tested
            (col(K.name) != "bob", K.name != "bob", ["ada", "cy"]),
            (col(K.name).in_(["ada", "cy", "zed"]), K.name.in_(["ada", "cy", "zed"]), ["ada", "cy"]),
            (col(K.name).not_in(["ada"]), K.name.not_in(["ada"]), ["bob", "cy"]),
        ]
        for typed, untyped, expected in pairs:
            assert repr(typed) == repr(untyped)
            assert await names(typed) == await names(untyped) == expected, typed

        # What a type checker refuses in the typed form is refused at run time too.
        with pytest.raises(QueryError, match="not a str or a collection"):
            col(K.address).contains("Oslo")
        with pytest.raises(QueryError, match="startswith"):
            col(K.tags).startswith("m")
        with pytest.raises(QueryError, match=r"cannot compare Kinds\.roles with 'admin'"):
            col(K.roles).contains("admin")
        with pytest.raises(QueryError, match=r"col\(\) takes a table field"):
            col("name")


async def test_query_update_and_delete(person: type[PersonBase]) -> None:
    P = person
    await P.insert_many([P(name=f"p{i}", age=i) for i in range(10)])
    assert await P.query(P.age < 5).update(score=2.0) == 5
    assert await P.query(P.age < 5).update(score=2.0) == 0  # nothing changes the second time
    assert await P.query(P.score == 2.0).count() == 5
    assert await P.query(P.age >= 8).delete() == 2
    assert sorted(p.age for p in await P.find()) == list(range(8))


async def test_insert_many_packs_and_reports_progress() -> None:
    transport = MemoryTransport(MemoryDiscord(["db"]))
    db, P = make(transport=transport)
    seen: list[tuple[int, int]] = []
    async with db.conn():
        transport.requests.clear()
        saved = await P.insert_many(
            [P(name=f"n{i}", age=i % 90) for i in range(4000)], progress=lambda d, t: seen.append((d, t))
        )
        assert sum(transport.requests.values()) <= 3
        assert all(p.record_id is not None for p in saved)
        assert seen[-1] == (4000, 4000)
        assert await P.query(P.age == 42).count() == len([i for i in range(4000) if i % 90 == 42])
        await P.insert_many([P(name="bar")], progress=True)  # a rich progress bar; must not fail


class UniqueBase(discobase.Table):
    email: str = discobase.Field(unique=True)
    first: str = ""
    last: str = ""

    class Settings:
        name = "accounts"
        unique = [("first", "last")]


def make_unique(server: MemoryDiscord) -> tuple[discobase.Database, type[UniqueBase], MemoryTransport]:
    transport = MemoryTransport(server)
    db = discobase.Database("db", transport=transport)

    @db.table
    class Account(UniqueBase):
        pass

    return db, Account, transport


async def test_unique_violations_in_one_process_send_nothing() -> None:
    db, A, transport = make_unique(MemoryDiscord(["db"]))
    async with db.conn():
        assert "accounts" in db.tables
        await A(email="a@x", first="a", last="x").save()
        transport.requests.clear()
        with pytest.raises(UniqueViolationError) as error:
            await A(email="a@x", first="other", last="one").save()
        assert (error.value.table, error.value.fields, error.value.value) == ("accounts", ("email",), "a@x")
        with pytest.raises(UniqueViolationError, match=r"\('first', 'last'\)"):
            await A(email="b@x", first="a", last="x").save()
        with pytest.raises(UniqueViolationError):  # two writes in flight with the same value
            await asyncio.gather(A(email="c@x").save(), A(email="c@x", first="2").save())
        with pytest.raises(UniqueViolationError):
            await A.insert_many([A(email="d@x", first="d"), A(email="d@x", first="e")])
        assert sum(transport.requests.values()) <= 1  # only the first of the in-flight pair was sent
        b = await A(email="b@x", first="b").save()
        b.email = "a@x"
        with pytest.raises(UniqueViolationError):
            await b.update()
        b.email = "b2@x"
        await b.update()  # changing to a free value is fine
        assert sorted(a.email for a in await A.find()) == ["a@x", "b2@x", "c@x"]


async def test_unique_across_processes_the_earlier_message_wins() -> None:
    server = MemoryDiscord(["db"])
    db1, A1, t1 = make_unique(server)
    db2, A2, t2 = make_unique(server)
    async with db1.conn(), db2.conn():
        # Both processes believe the value is free and write at once.
        results = await asyncio.gather(
            A1(email="same@x", first="one").save(),
            A2(email="same@x", first="two").save(),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, UniqueViolationError)]
        assert len(winners) == 1
        assert len(losers) == 1
        await t1.drain()
        await t2.drain()
        one = [a.first for a in await A1.find(email="same@x")]
        two = [a.first for a in await A2.find(email="same@x")]
        assert one == two == [winners[0].first]  # both converge to the earlier message
    db3, A3, _ = make_unique(server)
    async with db3.conn():
        assert [a.first for a in await A3.find(email="same@x")] == [winners[0].first]


# ---------------------------------------------------------------------- hypothesis: queries vs plain Python
class Row(BaseModel):
    name: str
    age: int
    score: float | None
    tags: list[str]


NAMES = ["ada", "bob", "cy", "dee", "eve", "Ada", "ab", ""]
rows = st.lists(
    st.builds(
        Row,
        name=st.sampled_from(NAMES),
        age=st.integers(-3, 12),
        score=st.one_of(st.none(), st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 1) or 0.0)),
        tags=st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
    ),
    max_size=25,
)

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


@st.composite
def leaf(draw: st.DrawFn) -> tuple[Callable[[type[PersonBase]], Any], Callable[[Row], bool]]:
    kind = draw(st.sampled_from(["age", "name", "score", "in", "contains", "startswith", "is_none", "tag"]))
    if kind == "age":
        op, value = draw(st.sampled_from(list(OPS))), draw(st.integers(-4, 13))
        return (lambda P: getattr(operator, op)(P.age, value)), (lambda r: OPS[op](r.age, value))
    if kind == "name":
        op, value = draw(st.sampled_from(list(OPS))), draw(st.sampled_from(NAMES))
        return (lambda P: getattr(operator, op)(P.name, value)), (lambda r: OPS[op](r.name, value))
    if kind == "score":
        op, value = draw(st.sampled_from(["lt", "ge", "eq"])), draw(st.sampled_from([-1.0, 0.0, 2.5]))
        return (
            (lambda P: getattr(operator, op)(P.score, value)),
            (lambda r: r.score is not None and OPS[op](r.score, value)),
        )
    if kind == "in":
        values = draw(st.lists(st.sampled_from(NAMES), max_size=3))
        if draw(st.booleans()):
            return (lambda P: P.name.in_(values)), (lambda r: r.name in values)
        return (lambda P: P.name.not_in(values)), (lambda r: r.name not in values)
    if kind == "contains":
        part = draw(st.sampled_from(["a", "d", "b", ""]))
        return (lambda P: P.name.contains(part)), (lambda r: part in r.name)
    if kind == "startswith":
        part = draw(st.sampled_from(["a", "A", "b", ""]))
        return (lambda P: P.name.startswith(part)), (lambda r: r.name.startswith(part))
    if kind == "tag":
        tag = draw(st.sampled_from(["x", "y", "w"]))
        return (lambda P: P.tags.contains(tag)), (lambda r: tag in r.tags)
    return (lambda P: P.score.is_none()), (lambda r: r.score is None)


@st.composite
def condition(
    draw: st.DrawFn, depth: int = 2
) -> tuple[Callable[[type[PersonBase]], Any], Callable[[Row], bool]]:
    if depth == 0 or draw(st.booleans()):
        return draw(leaf())
    kind = draw(st.sampled_from(["and", "or", "not"]))
    a_expr, a_ref = draw(condition(depth - 1))
    if kind == "not":
        return (lambda P: ~a_expr(P)), (lambda r: not a_ref(r))
    b_expr, b_ref = draw(condition(depth - 1))
    if kind == "and":
        return (lambda P: a_expr(P) & b_expr(P)), (lambda r: a_ref(r) and b_ref(r))
    return (lambda P: a_expr(P) | b_expr(P)), (lambda r: a_ref(r) or b_ref(r))


SORTS = {
    "age": lambda r: r.age,
    "name": lambda r: r.name,
    "score": lambda r: (0, 0.0) if r.score is None else (1, r.score),
}


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    data=rows,
    conditions=st.lists(condition(), max_size=2),
    sort=st.lists(
        st.tuples(st.sampled_from(list(SORTS)), st.booleans()), max_size=2, unique_by=lambda s: s[0]
    ),
    skip=st.integers(0, 5),
    limit=st.one_of(st.none(), st.integers(0, 8)),
    page=st.tuples(st.integers(1, 4), st.integers(1, 6)),
)
def test_queries_match_plain_python(
    data: list[Row],
    conditions: list[tuple[Callable[[type[PersonBase]], Any], Callable[[Row], bool]]],
    sort: list[tuple[str, bool]],
    skip: int,
    limit: int | None,
    page: tuple[int, int],
) -> None:
    async def run() -> None:
        db, P = make()
        async with db.conn():
            await P.insert_many([P(**row.model_dump()) for row in data])
            expected = [r for r in data if all(ref(r) for _, ref in conditions)]
            for field, descending in reversed(sort):
                expected.sort(key=SORTS[field], reverse=descending)
            query = P.query(*(expr(P) for expr, _ in conditions))
            for field, descending in sort:
                key = getattr(P, field)
                query = query.sort(-key if descending else key)
            as_rows = lambda found: [Row(**p.model_dump(include=set(Row.model_fields))) for p in found]  # noqa: E731
            assert as_rows(await query.to_list()) == expected
            end = None if limit is None else skip + limit
            windowed = query.skip(skip).limit(limit)
            assert as_rows(await windowed.to_list()) == expected[skip:end]
            assert await windowed.count() == len(expected[skip:end])
            assert await query.count() == len(expected)
            assert await query.exists() == bool(expected)
            number, size = page
            got = await query.page(number, size)
            assert as_rows(got.items) == expected[(number - 1) * size : number * size]
            assert got.total == len(expected)

    asyncio.run(run())
