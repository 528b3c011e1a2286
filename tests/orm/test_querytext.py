"""discobase.querytext: the text queries of /db find (and the CLI), on the in-memory transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from pydantic import BaseModel

import discobase
from discobase.exceptions import QueryError
from discobase.querytext import field_names, parse_query
from discobase.storage.memory import MemoryDiscord, MemoryTransport


class Address(BaseModel):
    city: str


class Person(discobase.Table):
    name: str
    age: int = 0
    born: date | None = None
    tags: list[str] = []
    nick: str | None = None
    address: Address | None = None


@pytest.fixture
async def people() -> AsyncIterator[type[Person]]:
    server = MemoryDiscord(["db"])
    db = discobase.Database("db", transport=MemoryTransport(server))

    @db.table
    class model(Person):  # a table class belongs to one database
        pass

    async with db.conn():
        await model.insert_many(
            [
                model(
                    name="ada", age=36, born=date(1815, 12, 10), tags=["math"], address=Address(city="london")
                ),
                model(name="bob", age=12, tags=["kid", "math"], nick="bobby"),
                model(name="cy", age=18, address=Address(city="paris")),
            ]
        )
        yield model


async def names(model: type[Person], text: str) -> list[str]:
    parsed = parse_query(model, text)
    query = model.query(*parsed.conditions)
    if parsed.sort:
        query = query.sort(*parsed.sort)
    if parsed.limit:
        query = query.limit(parsed.limit)
    return [p.name for p in await query.to_list()]


async def test_conditions_are_anded_and_typed(people: type[Person]) -> None:
    assert await names(people, "age>=18 sort:name") == ["ada", "cy"]
    assert await names(people, "age>=18 name=ada") == ["ada"]
    assert await names(people, "age<18") == ["bob"]
    assert await names(people, "age!=12 age<=18") == ["cy"]
    assert await names(people, "tags~math sort:-age") == ["ada", "bob"]
    assert await names(people, "name^=b") == ["bob"]
    assert await names(people, "nick=null sort:name") == ["ada", "cy"]
    assert await names(people, "nick!=null") == ["bob"]
    assert await names(people, "born<1900-01-01") == ["ada"]
    assert await names(people, "address.city=paris") == ["cy"]
    assert await names(people, "sort:-age limit:2") == ["ada", "cy"]
    assert await names(people, '"nick=bobby"') == ["bob"]
    assert await names(people, "") == ["ada", "bob", "cy"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("age", "'age' is not a condition"),
        ("height>2", "has no field 'height' (its fields: name, age, born, tags, nick, address)"),
        ("age>=old", "valid integer"),
        ("age>null", "only = and != compare with null"),
        ("address.street=x", "address of Person has no field 'street'"),
        ("limit:0", "limit:0 is not a number from 1 to"),
        ("sort:-height", "has no field 'height'"),
        ('name="ada', "cannot read the query"),
    ],
)
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(Person, text)


def test_field_names_include_nested_fields() -> None:
    assert field_names(Person) == ["name", "age", "born", "tags", "nick", "address", "address.city"]
