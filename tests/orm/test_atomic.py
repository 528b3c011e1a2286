"""Atomic changes (``inc``, ``set``, ``unset``, ``push``, ``pull``), ``get_or_create``
and ``upsert``: resolved in message order, alike in every process.

Two ``Database`` objects on one in-memory Discord stand for two processes here
(each has its own transport, replica and writer); the same races over real
sockets with unmodified discord.py are in ``test_atomic_local_server.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import discobase
from discobase import col
from discobase.exceptions import DatabaseLookupError, DatabaseStorageError, QueryError
from discobase.model.changes import Changes, build_changes
from discobase.storage.codec import Codec, Op
from discobase.storage.memory import MemoryDiscord, MemoryTransport


class Player(discobase.Table):
    name: str = discobase.Field(unique=True)
    xp: int = discobase.Field(0, ge=0)
    score: float = 0.0
    level: int | None = None
    tags: list[str] = []
    note: str = "none"


class Counter(discobase.Table):
    """No unique field: its plain writes are applied at send time, its atomic changes in order."""

    key: str
    hits: int = 0


def open_db(server: MemoryDiscord) -> tuple[discobase.Database, Any, Any]:
    db = discobase.Database("db", transport=MemoryTransport(server))
    player = db.table(type("Player", (Player,), {"__module__": __name__}))
    counter = db.table(type("Counter", (Counter,), {"__module__": __name__}))
    return db, player, counter


async def settle(check: Callable[[], Awaitable[bool]]) -> bool:
    """Let the other database apply the events in flight (a bounded number of loop turns)."""
    for _ in range(1000):
        if await check():
            return True
        await asyncio.sleep(0)
    return await check()


@pytest.fixture
def memory() -> MemoryDiscord:
    return MemoryDiscord(["db"])


#: Player and Counter, each attached to two databases on one in-memory Discord.
Two = tuple[Any, Any, Any, Any]


@pytest.fixture
async def two(memory: MemoryDiscord) -> AsyncIterator[Two]:
    db_a, player_a, counter_a = open_db(memory)
    db_b, player_b, counter_b = open_db(memory)
    async with db_a.conn(), db_b.conn():
        yield player_a, player_b, counter_a, counter_b


# ---------------------------------------------------------------------- concurrent increments
@pytest.mark.parametrize("table", ["unique", "plain"])
async def test_concurrent_increments_from_two_processes_are_all_counted(two: Two, table: str) -> None:
    player_a, player_b, counter_a, counter_b = two
    model_a, model_b = (player_a, player_b) if table == "unique" else (counter_a, counter_b)
    field = "xp" if table == "unique" else "hits"
    created = await (player_a(name="ada") if table == "unique" else counter_a(key="ada")).save()
    assert await settle(lambda: _present(model_b, created.record_id))
    mine = await model_a.get(created.record_id)
    theirs = await model_b.get(created.record_id)
    per_process = 25

    async def bump(instance: Any) -> int:
        copy = await type(instance).get(instance.record_id)  # each call on its own copy
        changed = await copy.inc(**{field: 1})
        return int(getattr(changed, field))

    results = await asyncio.gather(
        *(bump(mine) for _ in range(per_process)), *(bump(theirs) for _ in range(per_process))
    )
    total = 2 * per_process
    # Each acknowledgement is the value its own increment made, in message order:
    # every count from 1 to the total exactly once.
    assert sorted(results) == list(range(1, total + 1))
    assert await settle(lambda: _value(model_a, created.record_id, field, total))
    assert await settle(lambda: _value(model_b, created.record_id, field, total))


async def _present(model: Any, record_id: int) -> bool:
    return await model.get(record_id) is not None


async def _value(model: Any, record_id: int, field: str, wanted: Any) -> bool:
    record = await model.get(record_id)
    return record is not None and getattr(record, field) == wanted


async def test_query_update_inc_counts_every_change_of_both_processes(two: Two) -> None:
    player_a, player_b, _, _ = two
    await player_a.insert_many([player_a(name=f"p{i}", xp=i) for i in range(10)])
    assert await settle(lambda: _count(player_b, 10))
    changed = await asyncio.gather(
        player_a.query(col(player_a.xp) >= 5).update(inc={"xp": 10}),
        player_b.query(col(player_b.xp) >= 5).update(inc={"xp": 100}, push={"tags": ["b"]}),
    )
    assert changed == [5, 5]
    for model in (player_a, player_b):
        assert await settle(lambda model=model: _xps(model, [0, 1, 2, 3, 4, 115, 116, 117, 118, 119]))
    record = await player_b.query(col(player_b.name) == "p9").first()
    assert record.tags == ["b"]


async def _count(model: Any, wanted: int) -> bool:
    return await model.query().count() == wanted


async def _xps(model: Any, wanted: list[int]) -> bool:
    return sorted(p.xp for p in await model.find()) == wanted


# ---------------------------------------------------------------------- semantics
async def test_set_unset_push_pull_apply_to_the_stored_value(two: Two) -> None:
    player_a, player_b, _, _ = two
    ada = await player_a(name="ada", tags=["x", "y", "x"], note="hi", level=3).save()
    stale = await player_a.get(ada.record_id)
    await ada.modify(push={"tags": ["z"]}, pull={"tags": ["x"]}, set={"score": 1.5}, unset=["note", "level"])
    assert (ada.tags, ada.score, ada.note, ada.level) == (["y", "z"], 1.5, "none", None)
    # The change applies to the stored value, not to the (stale) copy it is called on.
    await stale.inc(level=2, xp=3)
    assert (stale.tags, stale.level, stale.xp, stale.note) == (["y", "z"], 2, 3, "none")
    assert await settle(lambda: _value(player_b, ada.record_id, "tags", ["y", "z"]))
    other = await player_b.get(ada.record_id)
    assert (other.level, other.xp, other.score) == (2, 3, 1.5)


async def test_a_change_the_model_rejects_leaves_the_record_everywhere(
    two: tuple[Any, Any, Any, Any],
) -> None:
    player_a, player_b, _, _ = two
    ada = await player_a(name="ada", xp=2).save()
    with pytest.raises(DatabaseStorageError, match=r"would make it invalid \(xp: Input should be greater"):
        await ada.inc(xp=-5)
    assert (await player_a.get(ada.record_id)).xp == 2
    await ada.inc(xp=-2)  # the next change applies to the unchanged value
    assert ada.xp == 0
    assert await settle(lambda: _value(player_b, ada.record_id, "xp", 0))


async def test_a_change_that_breaks_a_unique_field_is_refused_in_order(
    two: tuple[Any, Any, Any, Any],
) -> None:
    player_a, _, _, _ = two
    await player_a(name="ada").save()
    bob = await player_a(name="bob").save()
    with pytest.raises(discobase.UniqueViolationError):
        await bob.modify(set={"name": "ada"})
    assert (await player_a.get(bob.record_id)).name == "bob"


async def test_changes_are_checked_before_anything_is_sent(two: Two) -> None:
    player_a, _, _, _ = two
    ada = await player_a(name="ada").save()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"inc": {"nope": 1}}, "has no field 'nope'"),
        ({"inc": {"name": 1}}, "inc needs an int or float field"),
        ({"inc": {"xp": 1.5}}, "incremented by an int"),
        ({"inc": {"xp": True}}, "inc takes a number"),
        ({"push": {"xp": [1]}}, "push needs a list field"),
        ({"push": {"tags": "abc"}}, "takes a list of items"),
        ({"set": {"xp": "many"}}, "cannot take 'many'"),
        ({"unset": ["name"]}, "has no default"),
        ({"inc": {"xp": 1}, "set": {"xp": 2}}, "changed by both inc and set"),
        ({}, "no change given"),
    ]
    for kwargs, message in cases:
        with pytest.raises(QueryError, match=message):
            await ada.modify(**kwargs)
    with pytest.raises(DatabaseStorageError, match="has not been written"):
        await player_a(name="new").inc(xp=1)


async def test_a_change_of_a_deleted_record_says_so(two: Two) -> None:
    player_a, player_b, _, _ = two
    ada = await player_a(name="ada").save()
    assert await settle(lambda: _present(player_b, ada.record_id))
    theirs = await player_b.get(ada.record_id)
    await ada.delete()
    assert await settle(lambda: _gone(player_b, theirs.record_id))
    with pytest.raises(DatabaseLookupError):
        await theirs.inc(xp=1)


async def _gone(model: Any, record_id: int) -> bool:
    return await model.get(record_id) is None


async def test_a_snapshot_holds_the_results_and_a_new_process_reads_them(memory: MemoryDiscord) -> None:
    db, player, _ = open_db(memory)
    async with db.conn():
        ada = await player(name="ada").save()
        for _ in range(3):
            await ada.inc(xp=2, score=0.5)
        await ada.modify(push={"tags": ["a", "b"]})
        await player.__disco_binding__.store.snapshot()
        await ada.inc(xp=1)  # after the snapshot: replayed from the data channel
    db2, player2, _ = open_db(memory)
    async with db2.conn():
        again = await player2.get(ada.record_id)
        assert (again.xp, again.score, again.tags) == (7, 1.5, ["a", "b"])


# ---------------------------------------------------------------------- wire format
def test_the_batch_format_carries_changes_and_still_reads_old_batches() -> None:
    codec = Codec()
    change = Changes(inc={"xp": 5}, push={"tags": ["a"]})
    old = [Op("i", 1, '{"name":"a"}'), Op("u", 1, '{"name":"b"}'), Op("d", 1)]
    for ops in (old, [*old, Op("a", 2, change.to_json())]):
        message = codec.encode_batch(ops)
        assert message.content.count("\n") >= 0
    assert Changes.from_json(change.to_json()) == change
    for bad in ("[]", '{"inc": {"xp": "1"}}', '{"drop": {}}', '{"push": {"tags": 1}}', "nope"):
        with pytest.raises(ValueError, match=r"change|increment|push|JSON"):
            Changes.from_json(bad)


def test_applying_a_change_is_the_same_json_in_and_out() -> None:
    change = build_changes(Player, inc={"xp": 2}, pull={"tags": ["a"]}, set={"note": "n"})
    stored = '{"name":"ada","xp":1,"score":0.0,"level":null,"tags":["a","b","a"],"note":"x"}'
    result = change.apply(Player, stored)
    assert result == Player(name="ada", xp=3, tags=["b"], note="n").model_dump_json()
    assert change.apply(Player, stored) == result  # deterministic


# ---------------------------------------------------------------------- get_or_create and upsert
async def test_get_or_create_returns_the_one_record_whoever_creates_it(
    two: tuple[Any, Any, Any, Any],
) -> None:
    player_a, player_b, _, _ = two
    results = await asyncio.gather(
        *(player_a.get_or_create(name="ada", defaults={"xp": 1}) for _ in range(3)),
        *(player_b.get_or_create(name="ada", defaults={"xp": 2}) for _ in range(3)),
    )
    assert sum(created for _, created in results) == 1
    assert len({record.record_id for record, _ in results}) == 1
    for model in (player_a, player_b):
        assert await settle(lambda model=model: _count(model, 1))
    with pytest.raises(QueryError, match="needs \\['xp'\\] to be a unique field"):
        await player_a.get_or_create(xp=3)


async def test_concurrent_upserts_converge_to_one_record(two: Two) -> None:
    player_a, player_b, _, _ = two
    saved = await asyncio.gather(
        *(player_a.upsert(player_a(name="ada", xp=i), on="name") for i in range(4)),
        *(player_b.upsert(player_b(name="ada", xp=10 + i), on="name") for i in range(4)),
    )
    assert len({record.record_id for record in saved}) == 1
    for model in (player_a, player_b):
        assert await settle(lambda model=model: _count(model, 1))
    final_a = await player_a.query().first()
    assert await settle(lambda: _value(player_b, final_a.record_id, "xp", final_a.xp))
    assert final_a.xp in {record.xp for record in saved}
    with pytest.raises(QueryError, match="upsert"):
        await player_a.upsert(player_a(name="bob"), on="xp")
    with pytest.raises(DatabaseStorageError, match="already saved"):
        await player_a.upsert(final_a, on="name")


# ---------------------------------------------------------------------- queries agree with Python
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.lists(st.integers(0, 20), min_size=1, max_size=12),
    changes=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 5)), max_size=15),
    low=st.integers(0, 30),
)
async def test_typed_queries_agree_with_python_after_atomic_changes(
    start: list[int], changes: list[tuple[int, int]], low: int
) -> None:
    db, player, _ = open_db(MemoryDiscord(["db"]))
    async with db.conn():
        stored = await player.insert_many([player(name=f"p{i}", xp=xp) for i, xp in enumerate(start)])
        expected = dict(enumerate(start))
        for index, amount in changes:
            if index < len(stored):
                await stored[index].inc(xp=amount)
                expected[index] += amount
        got = await player.query(col(player.xp) >= low).sort(col(player.xp), col(player.name)).to_list()
        wanted = sorted(((xp, f"p{i}") for i, xp in expected.items() if xp >= low))
        assert [(p.xp, p.name) for p in got] == wanted
