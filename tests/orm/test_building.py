"""Records built without Pydantic's post-init hook are exactly what ``model_validate_json`` builds.

``discobase.engine.building`` validates a stored record with the validator of
the model's fields and makes the instance itself, and takes a lookup value of a
plain scalar field's own type as its own validated value. These tests compare
both with Pydantic's path on random JSON (valid or not), on models that take the
fast path and on models that must not.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError

import discobase
from discobase.engine.building import build, build_many, fields_validators, own_key_types
from discobase.exceptions import QueryError
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from tests.orm.types_model import Everything


class Plain(discobase.Table):
    email: str = discobase.Field(unique=True)
    name: str
    age: int = 0
    score: float | None = None
    flag: bool = False
    tags: list[str] = Field(default_factory=list)
    when: datetime | None = None


class Child(Plain):
    """A subclass: Pydantic wraps the parent's post-init hook in its own."""

    class Settings:
        name = "child"


class Forbidding(discobase.Table):
    model_config = ConfigDict(extra="forbid")
    email: str
    age: int = 0


class Hooked(discobase.Table):
    email: str
    seen: int = 0

    def model_post_init(self, context: Any, /) -> None:
        self.__dict__["seen"] = self.seen + 1


class HookedChild(Hooked):
    pass


class Cached(discobase.Table):
    email: str
    _cache: dict[str, int] = PrivateAttr(default_factory=dict)


class Stripping(discobase.Table):
    model_config = ConfigDict(str_strip_whitespace=True)
    email: str = discobase.Field(unique=True)


class Bounded(discobase.Table):
    email: str = discobase.Field(unique=True, max_length=8)


def outcome(run: Any) -> tuple[str, Any]:
    """What building gives: the instance's type and every part of its state, or the error."""
    try:
        result = run()
    except ValidationError as error:
        return "error", (error.title, error.errors(include_url=False))
    instances = result if isinstance(result, list) else [] if result is None else [result]
    return "built", [
        (
            type(i),
            [(k, type(v), v) for k, v in i.__dict__.items()],
            i.__pydantic_fields_set__,
            i.__pydantic_extra__,
            i.__pydantic_private__,
        )
        for i in instances
    ]


def pydantic_one(model: type[discobase.Table], data: str, rid: int) -> discobase.Table:
    instance = model.model_validate_json(data)
    instance.__disco_id__ = rid
    return instance


def pydantic_many(model: type[discobase.Table], array: str, rids: list[int]) -> list[discobase.Table]:
    instances: list[discobase.Table] = TypeAdapter(list[model]).validate_json(array)  # type: ignore[valid-type]
    for instance, rid in zip(instances, rids, strict=True):
        instance.__disco_id__ = rid
    return instances


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["5", "5.0", "2026-12-02T01:00:00", "2026-12-02T01:00:00+02:00", "true", " x "]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
records = st.dictionaries(
    st.sampled_from(["email", "name", "age", "score", "flag", "tags", "when", "extra", "seen"]),
    values,
    max_size=9,
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(records, min_size=1, max_size=4), rid=st.integers(1, 2**62))
def test_records_build_as_model_validate_json_builds_them(rows: list[dict[str, Any]], rid: int) -> None:
    array = json.dumps(rows)
    rids = [rid + n for n in range(len(rows))]
    for model in (Plain, Child, Forbidding, Hooked, HookedChild, Cached, Everything):
        for data in map(json.dumps, rows):
            ours = outcome(functools.partial(build, model, data, rid))
            assert ours == outcome(functools.partial(pydantic_one, model, data, rid))
        ours = outcome(functools.partial(build_many, model, array, rids))
        if ours == ("built", []):  # None: this model takes Pydantic's path
            assert fields_validators(model) is None
        else:
            assert ours == outcome(functools.partial(pydantic_many, model, array, rids))


def test_the_fast_path_is_taken_only_where_it_builds_the_same() -> None:
    assert fields_validators(Plain) is not None
    assert fields_validators(Child) is not None
    assert fields_validators(Forbidding) is not None
    assert fields_validators(Hooked) is None  # its own post-init hook must run
    assert fields_validators(HookedChild) is None
    assert fields_validators(Cached) is None  # another private attribute to initialise
    assert build(HookedChild, '{"email": "a"}', 3).seen == 1
    assert build(Cached, '{"email": "a"}', 3)._cache == {}
    assert build(Child, '{"email": "a", "name": "b"}', 3).record_id == 3


def test_lookup_values_are_their_own_keys_only_for_plain_scalar_fields() -> None:
    assert own_key_types(Plain, "email") == {str}
    assert own_key_types(Plain, "age") == {int}
    assert own_key_types(Plain, "score") == frozenset()  # floats go through the JSON round trip
    assert own_key_types(Plain, "flag") == {bool}
    assert own_key_types(Plain, "tags") == frozenset()
    assert own_key_types(Everything, "maybe") == frozenset()
    assert own_key_types(Everything, "either") == frozenset()  # int | str: "1" may become 1
    assert own_key_types(Stripping, "email") == frozenset()  # validation strips the value
    assert own_key_types(Bounded, "email") == frozenset()  # a constraint may refuse it


async def test_find_on_a_unique_field_validates_the_value_as_the_field_does() -> None:
    server = MemoryDiscord(["db"])
    db = discobase.Database("db", transport=MemoryTransport(server))

    @db.table
    class User(Plain):
        class Settings:
            name = "user"

    @db.table
    class Trimmed(Stripping):
        class Settings:
            name = "trimmed"

    @db.table
    class Short(Bounded):
        class Settings:
            name = "short"

    async with db.conn():
        saved = await User(email="ann@example.org", name="Ann", age=31).save()
        await Trimmed(email="bob").save()
        await Short(email="cy").save()
        (found,) = await User.find(email="ann@example.org")
        assert found == saved
        assert found.record_id == saved.record_id
        assert type(found) is User
        assert found.__pydantic_fields_set__ == set(Plain.model_fields)  # the stored JSON has every field
        assert await User.find(email="nobody@example.org") == []
        assert [u.name for u in await User.find(age=31)] == ["Ann"]
        assert [t.email for t in await Trimmed.find(email="  bob  ")] == ["bob"]
        assert [s.email for s in await Short.find(email="cy")] == ["cy"]
        with pytest.raises(QueryError, match="valid string") as caught:
            await User.find(email=5)
        assert isinstance(caught.value.__cause__, ValidationError)
        with pytest.raises(QueryError, match="at most 8 characters"):
            await Short.find(email="much too long")
        with pytest.raises(QueryError, match="no field 'mail'"):
            await User.find(mail="ann@example.org")
