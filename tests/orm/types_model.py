"""The model with a field of every type discobase must round-trip.

Shared by ``test_types.py`` and the child process it starts, so that both
processes read and write the very same table.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Annotated, Literal, Optional
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NaiveDatetime

import discobase

__all__ = ["FIELDS", "SET_FIELDS", "Color", "Everything", "Inner", "Level", "Lossless", "Nest", "attach"]


class Lossless(BaseModel):
    """Base of the plain (non-``Table``) models nested in a table.

    A nested model serializes with its *own* config, not the table's: without
    these settings a ``nan`` inside it is written as ``null`` and ``bytes`` as
    UTF-8 text (see ``test_nested_plain_model_*`` in ``test_types.py``).
    """

    model_config = ConfigDict(ser_json_inf_nan="constants", ser_json_bytes="base64", val_json_bytes="base64")


class Color(Enum):
    RED = "red"
    GREEN = "grün"
    BLUE = "🟦"


class Level(IntEnum):
    # Members beyond 64 bits next to small ones cannot be validated by Pydantic
    # (test_types.test_what_pydantic_itself_cannot_carry).
    LOW = -1
    HIGH = 1
    HUGE = 2**63 - 1


class Inner(Lossless):
    name: str
    score: float
    blob: bytes
    when: AwareDatetime | None = None
    tags: set[str] = Field(default_factory=set)


class Nest(Lossless):
    """A model nested in itself (depth tests)."""

    value: int = 0
    child: Nest | None = None


Special = Annotated[Decimal, Field(allow_inf_nan=True)]


class Everything(discobase.Table):
    text: str
    number: int
    real: float
    flag: bool
    nothing: None
    aware: AwareDatetime
    naive: NaiveDatetime
    day: date
    clock: time
    span: timedelta
    money: Decimal
    special: Special
    ident: UUID
    blob: bytes
    color: Color
    level: Level
    kind: Literal["alpha", "βeta", 3]
    numbers: list[int]
    mapping: dict[str, list[int]]
    pair: tuple[int, str]
    tags: set[str]
    ids: frozenset[int]
    either: int | str
    maybe: float | None
    inner: Inner
    opt_inner: Optional[Inner]  # noqa: UP045 - the issue names Optional[...] explicitly
    inners: list[Inner]
    opt_tags: set[str] | None
    nest: Nest | None = None


FIELDS = list(Everything.model_fields)

#: Fields holding sets (at any depth): their JSON list order is the set's
#: iteration order, which depends on the process's hash seed.
SET_FIELDS = {"tags", "ids", "opt_tags"}


def attach(db: discobase.Database) -> type[Everything]:
    """A fresh ``Everything`` table (named ``record``) attached to ``db``."""

    @db.table
    class Record(Everything):
        pass

    return Record
