"""``insert_many``'s fast path: the read-back check skipped for values that provably read
back, and one future per batch; same outcomes as the checked, per-record path."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
from pydantic import computed_field, field_validator

import discobase
from discobase.engine.group import OpGroup
from discobase.engine.readback import provably_reads_back, scalar_fields
from discobase.exceptions import DatabaseStorageError, UniqueViolationError
from discobase.storage.memory import MemoryDiscord, MemoryTransport


class Plain(discobase.Table):
    email: str = discobase.Field(unique=True)
    age: int = discobase.Field(0, index=True)
    score: float = 0.0
    ok: bool = True
    nick: str | None = None


class Constrained(discobase.Table):
    age: int = discobase.Field(0, ge=0)


class Validated(discobase.Table):
    name: str

    @field_validator("name")
    @classmethod
    def short(cls, value: str) -> str:
        if len(value) > 5:
            raise ValueError("too long")
        return value


class Aliased(discobase.Table):
    name: str = discobase.Field(alias="n")


class Computed(discobase.Table):
    name: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def upper(self) -> str:
        return self.name.upper()


class Listed(discobase.Table):
    tags: list[str] = []


def test_only_plain_scalar_models_are_provable() -> None:
    assert scalar_fields(Plain) == (
        ("email", frozenset({str})),
        ("age", frozenset({int})),
        ("score", frozenset({float})),
        ("ok", frozenset({bool})),
        ("nick", frozenset({str, type(None)})),
    )
    for model in (Constrained, Validated, Aliased, Computed, Listed):
        assert scalar_fields(model) is None, model


def test_values_are_looked_at_per_record() -> None:
    good = [Plain(email="a", age=1, nick=None), Plain(email="b", age=-2, score=float("nan"))]
    assert provably_reads_back(Plain, good)
    wrong = Plain(email="c")
    wrong.age = "old"  # type: ignore[assignment]  # no validation on assignment
    assert not provably_reads_back(Plain, [*good, wrong])
    huge = Plain(email="d")
    huge.age = 10 ** (sys.get_int_max_str_digits() + 1)
    assert not provably_reads_back(Plain, [huge])
    unset = Plain.model_construct(email="e")
    del unset.__dict__["age"]
    assert not provably_reads_back(Plain, [unset])
    assert not provably_reads_back(Validated, [Validated(name="x")])


@pytest.fixture
async def people() -> AsyncIterator[type[Plain]]:
    db = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))

    @db.table
    class People(Plain):
        pass

    async with db.conn():
        yield People


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic warns when it dumps the wrong type
async def test_insert_many_refuses_a_value_that_would_not_read_back(people: type[Plain]) -> None:
    rows = [people(email=f"u{i}") for i in range(3)]
    rows[1].age = "old"  # type: ignore[assignment]
    with pytest.raises(DatabaseStorageError, match="would not read back"):
        await people.insert_many(rows)
    assert await people.query().count() == 0
    assert all(row.record_id is None for row in rows)


async def test_one_future_per_batch_gives_every_record_its_id_across_messages(
    people: type[Plain], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("discobase.engine.sender.MAX_OPS_PER_MESSAGE", 7)  # the batch spans 29 messages
    rows = [people(email=f"u{i}", age=i % 7) for i in range(200)]
    stored = await people.insert_many(rows)
    ids = [row.__disco_id__ for row in stored]
    assert len(set(ids)) == 200
    assert min(ids) >= 0
    assert await people.query().count() == 200
    assert [r.email for r in await people.query(people.age == 3).to_list()] == [
        f"u{i}" for i in range(200) if i % 7 == 3
    ]


async def test_a_unique_clash_in_the_batch_is_still_refused_before_sending(people: type[Plain]) -> None:
    await people.insert_many([people(email="taken")])
    with pytest.raises(UniqueViolationError):
        await people.insert_many([people(email="new"), people(email="taken")])
    assert await people.query().count() == 1


async def test_op_group_settles_in_order_once_and_reports_progress() -> None:
    settled: list[int] = []
    group = OpGroup(4, settled.append)
    error = DatabaseStorageError("lost")
    group.settle_many([3], ["applied"])
    group.settle_many(range(0, 2), [error, None])
    assert not group.future.done()
    group.settle_many([2], [None])
    assert await group.future == [error, None, None, "applied"]
    assert settled == [1, 2, 1]
    with pytest.raises(asyncio.InvalidStateError):
        group.settle_many([1], [None])  # every operation is settled already
    with pytest.raises(asyncio.InvalidStateError):
        OpGroup(2).settle_many([0, 1], [None])
    assert (await OpGroup(0).future) == []
