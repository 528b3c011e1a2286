"""Sorted and ranged queries with a limit are read off the sorted index: the
results are exactly those of plain Python (filter, stable sort, slice), and the
records looked at are the window's, not the table's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import PlainSerializer

import discobase
from discobase import col
from discobase.model import Condition, asc, desc
from discobase.storage.memory import MemoryDiscord, MemoryTransport


class Row(discobase.Table):
    age: int | None = discobase.Field(None, index=True)
    name: str = ""
    city: str = "Oslo"


def open_db() -> tuple[discobase.Database, Any]:
    db = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
    return db, db.table(type("Row", (Row,), {"__module__": __name__}))


def python_window(
    rows: list[Row], keep: Callable[[Row], bool], order: str | None, skip: int, limit: int
) -> list[tuple[int | None, str]]:
    found = [r for r in rows if keep(r)]  # insertion order
    if order is not None:
        found.sort(key=lambda r: (0, 0) if r.age is None else (1, r.age), reverse=order == "desc")
    return [(r.age, r.name) for r in found[skip : skip + limit]]


rows_strategy = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 9)), st.sampled_from(["Oslo", "Lima"])),
    min_size=0,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    values=rows_strategy,
    low=st.one_of(st.none(), st.integers(-1, 10)),
    high=st.one_of(st.none(), st.integers(-1, 10)),
    city=st.one_of(st.none(), st.sampled_from(["Oslo", "Lima"])),
    order=st.sampled_from([None, "asc", "desc"]),
    skip=st.integers(0, 5),
    limit=st.integers(0, 12),
)
async def test_windows_read_off_the_index_agree_with_python(
    values: list[tuple[int | None, str]],
    low: int | None,
    high: int | None,
    city: str | None,
    order: str | None,
    skip: int,
    limit: int,
) -> None:
    db, table = open_db()
    async with db.conn():
        stored = await table.insert_many(
            [table(age=a, name=f"r{i}", city=c) for i, (a, c) in enumerate(values)]
        )
        conditions: list[Condition] = []
        if low is not None:
            conditions.append(col(table.age) >= low)
        if high is not None:
            conditions.append(col(table.age) < high)
        if city is not None:
            conditions.append(col(table.city) == city)
        query = table.query(*conditions)
        if order is not None:
            query = query.sort(asc(table.age) if order == "asc" else desc(table.age))
        got = [(r.age, r.name) for r in await query.skip(skip).limit(limit)]

        def keep(row: Row) -> bool:
            if (low is not None or high is not None) and row.age is None:
                return False
            return (
                (low is None or (row.age is not None and row.age >= low))
                and (high is None or (row.age is not None and row.age < high))
                and (city is None or row.city == city)
            )

        assert got == python_window(stored, keep, order, skip, limit)
        first = await query.first_or_none()
        expected_first = python_window(stored, keep, order, 0, 1)
        assert ([] if first is None else [(first.age, first.name)]) == expected_first


class CountingRecords(dict[int, str]):
    """The replica's records, counting the records read (each read builds one)."""

    looked = 0

    def __getitem__(self, rid: int) -> str:
        self.looked += 1
        return super().__getitem__(rid)


async def test_a_window_looks_at_the_window_not_the_table() -> None:
    db, table = open_db()
    async with db.conn():
        await table.insert_many([table(age=i % 50, name=f"r{i}") for i in range(5000)])
        store = table.__disco_binding__.store
        await table.query(col(table.age) >= 0).limit(1)  # builds the sorted index
        store.records = records = CountingRecords(store.records)
        top = await table.query(col(table.age) >= 10).sort(desc(table.age)).skip(5).limit(10)
        assert [r.age for r in top] == [49] * 10
        assert records.looked == 10  # the skipped ones are not even built
        records.looked = 0
        ranged = await table.query(col(table.age) >= 10, col(table.age) < 12).limit(100)
        assert [r.name for r in ranged][:3] == ["r10", "r11", "r60"]
        assert records.looked == 100
        records.looked = 0
        filtered = (
            await table.query(col(table.age) >= 10, col(table.name) != "r49").sort(desc(table.age)).limit(3)
        )
        assert [r.name for r in filtered] == ["r99", "r149", "r199"]
        assert records.looked == 4


class Tagged(discobase.Table):
    code: Annotated[str, PlainSerializer(lambda v: v.lower(), return_type=str)]
    size: int = 0


async def test_lookups_serialize_the_value_as_the_record_is_stored() -> None:
    db = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
    table = db.table(type("Tagged", (Tagged,), {"__module__": __name__}))
    async with db.conn():
        await table(code="AbC", size=3).save()
        assert [r.size for r in await table.find(code="ABC")] == [3]  # stored as "abc"
        assert [r.size for r in await table.find(size=3)] == [3]
        assert await table.find(code="abd") == []
