"""A small text syntax for queries, shared by the ``/db find`` slash command and the CLI.

A query is words separated by spaces; every word is one condition, and all
of them must hold (an AND)::

    age>=18 name=ada            age at least 18 and name "ada"
    name!=bob tags~admin        name not "bob" and the list ``tags`` contains "admin"
    name^=a city=null           name starts with "a" and city is None
    "name=ada lovelace"         quote a word whose value holds spaces
    age>=18 sort:-age limit:5   the 5 oldest adults

Operators: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~`` (contains: a
substring of a string, an item of a list), ``^=`` (starts with). ``null``
compares with None. ``sort:field`` (``sort:-field`` descending, several
allowed) and ``limit:n`` shape the result. Nested fields are written with
dots (``address.city=paris``).

Values are text and are converted to the field's type by Pydantic (``18``
for an ``int``, ``true`` for a ``bool``, ``2024-01-31`` for a date), so a
wrong value is an error naming the field and what it expected. Every error
is a :class:`~discobase.exceptions.QueryError`.
"""

from __future__ import annotations

import re
import shlex
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from discobase.exceptions import QueryError
from discobase.model.query import Condition, FieldExpr, SortKey

__all__ = ["OPERATORS", "ParsedQuery", "field_names", "parse_query"]

#: The operators, longest first (so that ``>=`` is not read as ``>`` then ``=...``).
OPERATORS = ("!=", ">=", "<=", "^=", "=", ">", "<", "~")
_WORD = re.compile(
    r"^(?P<field>[A-Za-z_][A-Za-z0-9_.]*)(?P<op>!=|>=|<=|\^=|=|>|<|~)(?P<value>.*)$", re.DOTALL
)
#: The largest ``limit:`` accepted.
MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A parsed query: conditions (AND), sort keys and an optional limit."""

    conditions: tuple[Condition, ...] = ()
    sort: tuple[SortKey, ...] = ()
    limit: int | None = None
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.text or "(all records)"


def field_names(model: type[BaseModel], prefix: str = "", depth: int = 2) -> list[str]:
    """The names a query may use for ``model``: its fields, and nested models'
    fields as ``outer.inner`` (``depth`` levels), in declaration order."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(prefix + name)
        nested = FieldExpr(model, (name,), info.annotation)
        inner = _nested_model(nested)
        if inner is not None and depth > 1:
            names.extend(field_names(inner, f"{prefix}{name}.", depth - 1))
    return names


def _nested_model(expression: FieldExpr) -> type[BaseModel] | None:
    """The model a field holds (``Address`` or ``Address | None``), if it holds one."""
    annotation = expression.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _table_name(model: type[BaseModel]) -> str:
    name = getattr(model, "__disco_name__", None)
    return str(name) if name and name != "_notset" else model.__name__


def _field(model: type[BaseModel], path: str) -> FieldExpr:
    """The field ``path`` (``a`` or ``a.b``) of ``model``, or a QueryError listing the known ones."""
    parts = path.split(".")
    first = parts[0]
    info = model.model_fields.get(first)
    if info is None or first.startswith("_"):
        known = ", ".join(field_names(model, depth=1)) or "none"
        raise QueryError(
            f"{_table_name(model)} has no field {first!r} (its fields: {known})",
            table=_table_name(model),
            field=first,
        )
    expression = FieldExpr(model, (first,), info.annotation)
    for part in parts[1:]:
        try:
            expression = getattr(expression, part)
        except AttributeError:
            raise QueryError(
                f"{expression.name} of {_table_name(model)} has no field {part!r}",
                table=_table_name(model),
                field=path,
            ) from None
    return expression


def _condition(expression: FieldExpr, op: str, raw: str) -> Condition:
    value: Any = None if raw == "null" else raw
    if op == "=":
        return expression.is_none() if value is None else expression == value
    if op == "!=":
        return ~expression.is_none() if value is None else expression != value
    if value is None:
        raise expression.error(f"{expression.name}{op}null: only = and != compare with null")
    if op == "~":
        return expression.contains(value)
    if op == "^=":
        return expression.startswith(value)
    if op == ">":
        return expression.__gt__(value)
    if op == ">=":
        return expression.__ge__(value)
    if op == "<":
        return expression.__lt__(value)
    return expression.__le__(value)


def _directive(model: type[BaseModel], name: str, value: str) -> SortKey | int:
    if name == "sort":
        descending = value.startswith("-")
        expression = _field(model, value.lstrip("+-"))
        return -expression if descending else +expression
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit:{value} is not a number from 1 to {MAX_LIMIT}", table=_table_name(model))
    return limit


def parse_query(model: type[BaseModel], text: str) -> ParsedQuery:
    """Parse ``text`` (see the module docstring) into conditions on ``model``.

    An empty text matches every record. Raises
    :class:`~discobase.exceptions.QueryError` for a word that is not a
    condition, an unknown field, an operator the field's type does not
    support, or a value of the wrong type.
    """
    if not isinstance(text, str):
        raise QueryError(f"a query is text, not {type(text).__name__}", table=_table_name(model))
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise QueryError(f"cannot read the query {text!r}: {error}", table=_table_name(model)) from None
    conditions: list[Condition] = []
    sort: list[SortKey] = []
    limit: int | None = None
    for word in words:
        name, colon, rest = word.partition(":")
        if colon and name in ("sort", "limit") and not _WORD.match(word):
            result = _directive(model, name, rest)
            if isinstance(result, SortKey):
                sort.append(result)
            else:
                limit = result
            continue
        match = _WORD.match(word)
        if match is None:
            raise QueryError(
                f"{word!r} is not a condition: write field, operator and value without spaces, "
                f"e.g. age>=18 or name=ada (operators: {' '.join(OPERATORS)})",
                table=_table_name(model),
            )
        expression = _field(model, match["field"])
        conditions.append(_condition(expression, match["op"], match["value"]))
    return ParsedQuery(tuple(conditions), tuple(sort), limit, text.strip())
