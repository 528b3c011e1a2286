"""A bulk insert handled as columns: ids made in ranges, operations held as
:class:`~discobase.storage.codec.Inserts`, a message of new records applied at
once. Each shortcut gives exactly what the record-by-record path gives."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import discobase
from discobase.engine.indexes import SortedIndex, TableIndexes
from discobase.engine.replica import TableCursor
from discobase.exceptions import UniqueViolationError
from discobase.storage.codec import Codec, Inserts, Op
from discobase.storage.ids import IdGenerator
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.wire import has_changes, landed_key


class Person(discobase.Table):
    email: str = discobase.Field(unique=True)
    age: int = discobase.Field(0, index=True)
    nick: str | None = None


def cursor_of(table: type[discobase.Table]) -> TableCursor:
    cursor = table.__disco_cursor__
    assert cursor is not None
    return cursor


class Loose(discobase.Table):
    email: str
    age: int = discobase.Field(0, index=True)


@pytest.fixture
async def db() -> AsyncIterator[discobase.Database]:
    """A database whose tables without unique constraints get three data channels."""
    database = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])), data_channels=3)
    async with database.conn():
        yield database


def test_ids_taken_at_once_are_what_one_at_a_time_gives() -> None:
    taken = IdGenerator(worker=5).take(10_000)  # more than one millisecond's 4,096
    assert taken == sorted(set(taken))
    assert {(rid >> 12) & 0x3FF for rid in taken} == {5}
    ids = IdGenerator(worker=5)
    mixed = [ids.next(), *ids.take(5000), ids.next(), *ids.take(0), *ids.take(3)]
    assert mixed == sorted(set(mixed))
    assert len(mixed) == 5005


def test_inserts_read_as_operations_and_encode_alike() -> None:
    inserts = Inserts([3, 1, 2], ['{"a":1}', '{"b":"x\\ny"}', '{"c":null}'])
    ops = [Op("i", 3, '{"a":1}'), Op("i", 1, '{"b":"x\\ny"}'), Op("i", 2, '{"c":null}')]
    assert list(inserts) == ops
    assert inserts[1] == ops[1]
    assert list(inserts[1:]) == ops[1:]
    assert len(inserts) == 3
    assert landed_key(inserts) == landed_key(ops) == landed_key(tuple(ops))
    assert landed_key(inserts) != landed_key(ops[:2])
    assert landed_key([Op("u", 3, '{"a":1}')]) != landed_key(inserts[:1])
    assert not has_changes(inserts)
    assert has_changes([*ops, Op("a", 3, '{"i":{"a":1}}')])
    codec = Codec()
    assert codec.encode_batch(inserts) == codec.encode_batch(ops)
    assert codec.estimate_inserts(inserts) == [codec.estimate(op) for op in ops]
    mixed = Inserts([7, 10**18], ['{"name":"Zoë"}', '{"name":"Zoe"}'])  # not ASCII, ids of two lengths
    assert codec.estimate_inserts(mixed) == [codec.estimate(op) for op in mixed] == [20, 37]
    with pytest.raises(ValueError, match="record ids"):
        Inserts([1], [])
    with pytest.raises(ValueError, match="JSON text"):
        codec.encode_batch(Inserts([1], [""]))
    with pytest.raises(ValueError, match="must be an int"):
        codec.encode_batch(Inserts(["1"], ["{}"]))  # type: ignore[list-item]


@settings(max_examples=50, deadline=None)
@given(
    old=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 9)), unique_by=lambda p: p[0]),
    new=st.lists(
        st.tuples(st.integers(41, 90), st.one_of(st.none(), st.integers(0, 9))), unique_by=lambda p: p[0]
    ),
)
def test_a_sorted_index_merges_many_as_adding_each_would(
    old: list[tuple[int, int]], new: list[tuple[int, int | None]]
) -> None:
    one_by_one, merged = SortedIndex("age", int), SortedIndex("age", int)
    for index in (one_by_one, merged):
        for rid, age in old:
            index.add(rid, age)
    for rid, age in new:
        one_by_one.add(rid, age)
    merged.add_many([rid for rid, _ in new], [age for _, age in new])
    assert (merged.values, merged.ids) == (one_by_one.values, one_by_one.ids)


def test_keys_of_a_column_are_each_value_s_key() -> None:
    indexes = TableIndexes(Person, "people", ("age",), (("email",), ("email", "nick")))
    values: list[dict[str, Any]] = [
        {"email": "a", "age": 1, "nick": None},
        {"email": "b", "age": True, "nick": "x"},
        {"email": "c", "age": 2.5, "nick": None},
    ]
    for name in ("email", "age", "nick"):
        assert indexes.keys_of(name, values) == [indexes.key(name, v[name]) for v in values]
    for fields in indexes.unique:
        assert indexes.unique_keys(fields, values) == [indexes.unique_key(fields, v) for v in values]


# A message of operations as another process (or a hand-made message) could send it:
# ids that repeat or were deleted, unique values that clash with stored records or
# with each other. Applied at once where possible, else op by op; either way the
# results and the state are those of applying each operation in turn.
messages = st.lists(
    st.lists(
        st.tuples(st.sampled_from("iiiid"), st.integers(1, 12), st.sampled_from(["a", "b", "c", "d", "e"])),
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(batches=messages, hints=st.booleans())
async def test_a_message_of_inserts_applies_as_op_by_op_would(
    batches: list[list[tuple[str, int, str]]], hints: bool
) -> None:
    states = []
    for at_once in (True, False):
        database = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
        table = database.table(type("Person", (Person,), {"__module__": __name__}))
        async with database.conn():
            await table.find(age=1)  # builds the hash index of ``age`` too
            cursor = cursor_of(table)
            channel = cursor.meta.data_channels[0]
            results = []
            used: set[int] = set()
            for number, batch in enumerate(batches, start=1):
                ops = [
                    Op("d", rid, None)
                    if kind == "d"
                    else Op("i", rid, json.dumps({"email": email, "age": rid % 3, "nick": None}))
                    for kind, rid, email in batch
                ]
                if at_once:
                    plain = all(op.kind == "i" for op in ops)
                    held: Any = (
                        Inserts([op.rid for op in ops], [op.data or "" for op in ops]) if plain else ops
                    )
                    keys = None
                    emails = [email for _, _, email in batch]
                    rids = [rid for _, rid, _ in batch]
                    if (
                        plain
                        and hints
                        and len(set(emails)) == len(emails)
                        and len(set(rids)) == len(rids)
                        and not used.intersection(rids)
                    ):  # what the writer sends: new ids, distinct values (only then are keys given)
                        keys = [(("email",), emails)]
                    used.update(rids)
                    results.append(cursor._apply_ops(channel, number, held, keys))
                else:
                    results.append([cursor._apply(op, number) for op in ops])
            states.append(
                (
                    results,
                    dict(cursor.records),
                    dict(cursor.versions),
                    {f: dict(m) for f, m in cursor.indexes.unique_maps.items()},
                    {k: sorted(v) for k, v in cursor.indexes.hash["age"].items() if v},
                )
            )
    assert states[0] == states[1]


async def test_a_bulk_insert_over_several_channels_stores_every_record(db: discobase.Database) -> None:
    loose = db.table(type("Loose", (Loose,), {"__module__": __name__}))
    await db.build_tables()
    await loose.find(age=0)  # the hash index of ``age`` is kept up to date by the bulk path
    assert len(cursor_of(loose).meta.data_channels) == 3
    stored = await loose.insert_many([loose(email=f"u{i}@x", age=i % 5) for i in range(500)])
    assert len({row.record_id for row in stored}) == 500
    assert await loose.query().count() == 500
    assert [p.email for p in await loose.find(age=3)] == [f"u{i}@x" for i in range(500) if i % 5 == 3]
    assert [p.email for p in await loose.query(loose.age >= 4).sort(loose.email).limit(2)] == [
        "u104@x",
        "u109@x",
    ]


async def test_a_bulk_insert_is_refused_at_the_first_record_that_clashes(db: discobase.Database) -> None:
    people = db.table(type("Person", (Person,), {"__module__": __name__}))
    await db.build_tables()
    await people.insert_many([people(email=f"u{i}@x") for i in range(10)])
    with pytest.raises(UniqueViolationError) as caught:
        await people.insert_many([people(email="new@x"), people(email="u7@x"), people(email="new@x")])
    assert caught.value.value == "u7@x"  # the first record that clashes, as one at a time would say
    with pytest.raises(UniqueViolationError) as caught:
        await people.insert_many([people(email="n1@x"), people(email="n2@x"), people(email="n1@x")])
    assert caught.value.value == "n1@x"
    assert await people.query().count() == 10
    await people.insert_many([people(email=f"n{i}@x") for i in range(3)])  # nothing stayed reserved
    assert await people.query().count() == 13


async def test_the_progress_of_a_bulk_insert_is_reported_per_message(
    db: discobase.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("discobase.engine.sender.MAX_OPS_PER_MESSAGE", 40)
    people = db.table(type("Person", (Person,), {"__module__": __name__}))
    await db.build_tables()
    seen: list[tuple[int, int]] = []
    await people.insert_many(
        [people(email=f"u{i}@x") for i in range(300)], progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (300, 300)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})  # grows at every call
    assert len(seen) >= 300 // 40


async def test_no_snapshot_is_written_while_the_rest_of_a_bulk_insert_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("discobase.engine.sender.MAX_OPS_PER_MESSAGE", 40)  # 300 records: 8 messages
    started: list[int] = []
    snapshot = TableCursor.snapshot

    async def recorded(self: TableCursor) -> Any:
        started.append(len(self.records))
        return await snapshot(self)

    monkeypatch.setattr(TableCursor, "snapshot", recorded)
    database = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])), snapshot_every=50)
    people = database.table(type("Person", (Person,), {"__module__": __name__}))
    async with database.conn():
        await people.insert_many([people(email=f"u{i}@x") for i in range(300)])
        await people.insert_many([people(email=f"v{i}@x") for i in range(100)])
    assert started, "no snapshot was written"
    assert set(started) <= {300, 400}, started  # each after a whole insert, none half-way
