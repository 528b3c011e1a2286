"""Atomic changes of a record: increments, values to set, list items to push or pull.

``await user.inc(xp=5)`` does not write the value the process read plus 5: it
writes the *change* (an ``a`` operation in the batch format), and every
replica applies it to the record's value at that point of the message order.
Two processes that increment the same record at once therefore both count:
whichever message Discord orders first is applied first, then the other on
top of its result, in every process alike.

:func:`build_changes` checks a change against the model before anything is
sent (unknown field, a value the field refuses, ``inc`` on a non-number, ``push``
on a non-list: :class:`~discobase.exceptions.QueryError`). :meth:`Changes.apply`
is what a replica runs when it applies the operation: it is deterministic
(JSON in, JSON out, no clock or randomness), so every process computes the
same record. A result the model rejects (``inc`` past a field's ``le=``
bound, say) leaves the record as it was, in every process.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from discobase.exceptions import QueryError

__all__ = ["ChangeRejected", "Changes", "build_changes"]


class ChangeRejected(ValueError):
    """The change would make the record invalid for the model; the record stays as it was.

    Also raised when the stored record itself cannot take the change."""


def _plain(annotation: Any) -> Any:
    """``annotation`` without ``Optional`` (``int | None`` is ``int``)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


@dataclass(frozen=True, slots=True)
class Changes:
    """One atomic change of a record, with every value already in its JSON form.

    ``unset`` is not kept: :func:`build_changes` turns it into a ``set`` of the
    field's default, computed once by the writer (a ``default_factory`` such as
    ``datetime.now`` would otherwise give each process another value).
    """

    inc: dict[str, int | float] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    push: dict[str, list[Any]] = field(default_factory=dict)
    pull: dict[str, list[Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.inc or self.set or self.push or self.pull)

    @property
    def fields(self) -> list[str]:
        """The fields this change touches, sorted."""
        return sorted({*self.inc, *self.set, *self.push, *self.pull})

    def to_json(self) -> str:
        """The change as the data of an ``a`` operation (only the parts it has)."""
        parts = {name: part for name, part in self._parts() if part}
        return json.dumps(parts, separators=(",", ":"), allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> Changes:
        """The change an ``a`` operation carries; :class:`ChangeRejected` if it is not one."""
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise ChangeRejected(f"the change is not JSON: {error}") from None
        if not isinstance(raw, dict) or not set(raw) <= {"inc", "set", "push", "pull"}:
            raise ChangeRejected("the change is not an object of inc/set/push/pull")
        parts = {name: raw.get(name, {}) for name in ("inc", "set", "push", "pull")}
        if not all(isinstance(part, dict) for part in parts.values()):
            raise ChangeRejected("each part of a change must be an object")
        for amount in parts["inc"].values():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                raise ChangeRejected(f"an increment must be a number, not {amount!r}")
        for items in (*parts["push"].values(), *parts["pull"].values()):
            if not isinstance(items, list):
                raise ChangeRejected(f"push and pull take lists of items, not {items!r}")
        return cls(inc=parts["inc"], set=parts["set"], push=parts["push"], pull=parts["pull"])

    def _parts(self) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("inc", self.inc), ("set", self.set), ("push", self.push), ("pull", self.pull))

    def apply(self, model: type[BaseModel], data: str) -> str:
        """The record ``data`` (JSON) after this change, validated and written by ``model``.

        Raises :class:`ChangeRejected` when the stored record or the result is not valid
        for the model.

        Order within one change: set, then inc, then push, then pull. An increment of a
        field that is ``None`` starts from 0.
        """
        values = json.loads(data)
        if not isinstance(values, dict):
            raise ChangeRejected("the stored record is not a JSON object")
        values.update(self.set)
        for name, amount in self.inc.items():
            current = values.get(name)
            if current is None:
                current = 0
            if isinstance(current, bool) or not isinstance(current, int | float):
                raise ChangeRejected(f"cannot increment {name}: its value {current!r} is not a number")
            values[name] = current + amount
        for name, items in self.push.items():
            current = values.get(name) or []
            if not isinstance(current, list):
                raise ChangeRejected(f"cannot push to {name}: its value is not a list")
            values[name] = [*current, *items]
        for name, items in self.pull.items():
            current = values.get(name) or []
            if not isinstance(current, list):
                raise ChangeRejected(f"cannot pull from {name}: its value is not a list")
            values[name] = [item for item in current if item not in items]
        try:
            record = model.model_validate_json(json.dumps(values, allow_nan=True))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ChangeRejected(f"{where}: {first['msg']}") from None
        return record.model_dump_json()


def _field_error(model: type[BaseModel], name: str, message: str) -> QueryError:
    table = getattr(model, "__disco_name__", None)
    return QueryError(
        f"{model.__name__}.{name}: {message}",
        table=None if table in (None, "_notset") else str(table),
        field=name,
    )


def _json_value(model: type[BaseModel], name: str, value: Any) -> Any:
    """``value`` validated as field ``name`` of ``model`` and dumped in JSON form."""
    probe = model.model_construct()
    try:
        model.__pydantic_validator__.validate_assignment(probe, name, value)
    except ValidationError as error:
        raise _field_error(model, name, f"cannot take {value!r}: {error.errors()[0]['msg']}") from error
    return probe.model_dump(mode="json", include={name})[name]


def _is_list(model: type[BaseModel], name: str) -> bool:
    annotation = _plain(model.model_fields[name].annotation)
    return get_origin(annotation) is list or annotation is list


def build_changes(
    model: type[BaseModel],
    *,
    inc: Mapping[str, int | float] | None = None,
    set: Mapping[str, Any] | None = None,
    unset: Iterable[str] | None = None,
    push: Mapping[str, Iterable[Any]] | None = None,
    pull: Mapping[str, Iterable[Any]] | None = None,
) -> Changes:
    """A checked :class:`Changes` for ``model``.

    A :class:`QueryError` names the field and the reason when a part cannot apply
    (nothing is sent then).

    Args:
        inc: amounts to add to ``int``/``float`` fields (negative to subtract).
        set: values to give fields (validated as the field validates them).
        unset: fields to reset to their default (a field without one cannot).
        push: items to append to list fields.
        pull: items to remove (every equal item) from list fields.
    """
    fields = model.model_fields
    touched: dict[str, str] = {}

    def claim(name: str, part: str) -> None:
        if name not in fields:
            raise QueryError(f"{model.__name__} has no field {name!r}", field=name)
        if name in touched and {touched[name], part} != {"push", "pull"}:  # those two have an order
            raise _field_error(model, name, f"is changed by both {touched[name]} and {part}")
        touched[name] = part

    changes = Changes()
    for name, amount in (inc or {}).items():
        claim(name, "inc")
        kind = _plain(fields[name].annotation)
        if kind not in (int, float):
            raise _field_error(model, name, f"inc needs an int or float field, not {kind!r}")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise _field_error(model, name, f"inc takes a number, not {amount!r}")
        if kind is int and not isinstance(amount, int):
            raise _field_error(model, name, f"an int field is incremented by an int, not {amount!r}")
        changes.inc[name] = amount
    for name, value in (set or {}).items():
        claim(name, "set")
        changes.set[name] = _json_value(model, name, value)
    for name in [unset] if isinstance(unset, str) else unset or ():
        claim(name, "unset")
        info = fields[name]
        if info.is_required():
            raise _field_error(model, name, "has no default, so it cannot be unset")
        changes.set[name] = _json_value(model, name, info.get_default(call_default_factory=True))
    for part, given, target in (("push", push, changes.push), ("pull", pull, changes.pull)):
        for name, items in (given or {}).items():
            claim(name, part)
            if not _is_list(model, name):
                raise _field_error(model, name, f"{part} needs a list field")
            if isinstance(items, str | bytes) or not isinstance(items, Iterable):
                raise _field_error(model, name, f"{part} takes a list of items, not {items!r}")
            target[name] = list(_json_value(model, name, list(items)))
    if not changes:
        raise QueryError(f"no change given for {model.__name__} (inc, set, unset, push or pull)")
    return changes
