"""Field expressions and lazy queries.

``User.age >= 18`` is a :class:`Condition`; ``User.query(cond, ...)`` is a
:class:`Query` that builds up (``sort``, ``skip``, ``limit``) and runs when
awaited or when a terminal method (``to_list``, ``count``, ``first``, ...)
is called. Conditions are evaluated on the validated model values (so
datetimes compare as datetimes, not as strings); the replica picks an index
for the first usable condition and filters the rest.
"""

from __future__ import annotations

import math
import operator
import types
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, Union, get_args, get_origin, overload

from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypeVar

from discobase.exceptions import QueryError
from discobase.model.binding import Binding, TableStore, binding_of
from discobase.model.changes import build_changes

if TYPE_CHECKING:
    from discobase.model.table import Table

__all__ = ["Condition", "FieldExpr", "Page", "Query", "SortKey", "asc", "col", "desc"]

M = TypeVar("M", bound="Table")
#: The value type of a field expression; a bare ``FieldExpr`` is ``FieldExpr[Any]``.
V = TypeVar("V", default=Any)
#: The item type of a collection field, in the typed forms of :meth:`FieldExpr.contains`.
T = TypeVar("T")


@lru_cache(maxsize=1024)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _table_name(model: type[BaseModel]) -> str | None:
    name = getattr(model, "__disco_name__", None)
    return None if name is None or name == "_notset" else str(name)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _strip_optional(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


class FieldExpr(Generic[V]):
    """A (possibly nested) field of a table, as used in conditions and sorting.

    ``V`` is the field's value type: :func:`col` gives a ``FieldExpr[int]`` for
    an ``int`` field, whose comparisons a type checker accepts only with ints.
    The methods that apply to some field types only (:meth:`contains`,
    :meth:`startswith`) are typed for those: ``col(User.tags).contains(3)`` on a
    ``list[str]`` field, or ``col(User.age).startswith("1")``, is a type error,
    as it is a :class:`QueryError` at run time.
    """

    __slots__ = ("annotation", "model", "path")

    def __init__(self, model: type[BaseModel], path: tuple[str, ...], annotation: Any) -> None:
        self.model = model
        self.path = path
        self.annotation = annotation

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def __repr__(self) -> str:
        return f"{self.model.__name__}.{self.name}"

    def __getattr__(self, name: str) -> FieldExpr[Any]:
        nested = _model_of(self.annotation)
        if nested is None or name not in nested.model_fields:
            raise AttributeError(f"{self!r} has no field {name!r}")
        return FieldExpr(self.model, (*self.path, name), nested.model_fields[name].annotation)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ values
    def error(self, message: str) -> QueryError:
        """A :class:`QueryError` about this field, with its table and field as context."""
        return QueryError(message, table=_table_name(self.model), field=self.name)

    def coerce(self, value: Any, annotation: Any | None = None) -> Any:
        """``value`` validated as this field's type.

        A wrong type is a QueryError (with Pydantic's error chained as its cause)."""
        if value is None:
            return None
        try:
            return _adapter(annotation if annotation is not None else self.annotation).validate_python(value)
        except ValidationError as error:
            raise self.error(f"cannot compare {self!r} with {value!r}: {error.errors()[0]['msg']}") from error

    def get(self, instance: BaseModel) -> Any:
        value: Any = instance
        for part in self.path:
            if value is None:
                return None
            value = getattr(value, part, None)
        return value

    def _item_annotation(self) -> Any:
        inner = _strip_optional(self.annotation)
        args = get_args(inner)
        if get_origin(inner) in (list, set, frozenset, tuple) and args:
            return args[0]
        return None

    # ------------------------------------------------------------------ operators
    def _compare(self, op: str, value: Any) -> Condition:
        return Condition(op, self, self.coerce(value))

    # object's __eq__/__ne__ take any object and return a bool; a field's take its value
    # type (so that `col(User.age) == "x"` is a type error) and return a Condition.
    def __eq__(self, value: V) -> Condition:  # type: ignore[override]
        return self._compare("eq", value)

    def __ne__(self, value: V) -> Condition:  # type: ignore[override]
        return self._compare("ne", value)

    def __lt__(self, value: V) -> Condition:
        return self._compare("lt", value)

    def __le__(self, value: V) -> Condition:
        return self._compare("le", value)

    def __gt__(self, value: V) -> Condition:
        return self._compare("gt", value)

    def __ge__(self, value: V) -> Condition:
        return self._compare("ge", value)

    def in_(self, values: Iterable[V]) -> Condition:
        return Condition("in", self, tuple(self.coerce(v) for v in values))

    def not_in(self, values: Iterable[V]) -> Condition:
        return Condition("not_in", self, tuple(self.coerce(v) for v in values))

    # The typed forms: a str for a str field, an item for a list, set, frozenset or
    # tuple field (each also when the field is optional).
    @overload
    def contains(self: FieldExpr[str], value: str) -> Condition: ...
    @overload
    def contains(self: FieldExpr[str | None], value: str) -> Condition: ...
    @overload
    def contains(self: FieldExpr[list[T]], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[list[T] | None], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[set[T]], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[set[T] | None], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[frozenset[T]], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[frozenset[T] | None], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[tuple[T, ...]], value: T) -> Condition: ...
    @overload
    def contains(self: FieldExpr[tuple[T, ...] | None], value: T) -> Condition: ...
    def contains(self, value: Any) -> Condition:
        """A substring of a ``str`` field, or an item of a list/set/tuple field."""
        inner = _strip_optional(self.annotation)
        if inner is str:
            if not isinstance(value, str):
                raise self.error(f"{self!r}.contains() needs a str, not {value!r}")
            return Condition("contains", self, value)
        item = self._item_annotation()
        if item is None:
            raise self.error(f"{self!r} is not a str or a collection; contains() does not apply")
        return Condition("contains", self, self.coerce(value, item))

    @overload
    def startswith(self: FieldExpr[str], prefix: str) -> Condition: ...
    @overload
    def startswith(self: FieldExpr[str | None], prefix: str) -> Condition: ...
    def startswith(self, prefix: str) -> Condition:
        """A prefix of a ``str`` field."""
        if _strip_optional(self.annotation) is not str or not isinstance(prefix, str):
            raise self.error(f"startswith() needs a str field and a str prefix ({self!r})")
        return Condition("startswith", self, prefix)

    def is_none(self) -> Condition:
        return Condition("is_none", self, None)

    def __neg__(self) -> SortKey:
        return SortKey(self, descending=True)

    def __pos__(self) -> SortKey:
        return SortKey(self, descending=False)


def _safe(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def run(left: Any, right: Any) -> bool:
        if left is None or right is None:
            return False
        try:
            return bool(compare(left, right))
        except TypeError:
            return False

    return run


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    return bool(left == right)


def _contains(left: Any, right: Any) -> bool:
    if left is None:
        return False
    try:
        return right in left
    except TypeError:
        return False


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": lambda a, b: not _equal(a, b),
    "lt": _safe(operator.lt),
    "le": _safe(operator.le),
    "gt": _safe(operator.gt),
    "ge": _safe(operator.ge),
    "in": lambda a, b: any(_equal(a, v) for v in b),
    "not_in": lambda a, b: not any(_equal(a, v) for v in b),
    "contains": _contains,
    "startswith": lambda a, b: isinstance(a, str) and a.startswith(b),
    "is_none": lambda a, _b: a is None,
}


class Condition:
    """A boolean condition on records: a comparison, or ``&``/``|``/``~`` of conditions."""

    __slots__ = ("field", "op", "parts", "value")

    def __init__(
        self, op: str, field: FieldExpr | None = None, value: Any = None, parts: Sequence[Condition] = ()
    ) -> None:
        self.op = op
        self.field = field
        self.value = value
        self.parts = tuple(parts)

    def __repr__(self) -> str:
        if self.op in ("and", "or"):
            return "(" + f" {'&' if self.op == 'and' else '|'} ".join(map(repr, self.parts)) + ")"
        if self.op == "not":
            return f"~{self.parts[0]!r}"
        return f"{self.field!r}.{self.op}({self.value!r})"

    def __and__(self, other: Condition) -> Condition:
        return Condition("and", parts=[*self._flat("and"), *_as_condition(other)._flat("and")])

    def __or__(self, other: Condition) -> Condition:
        return Condition("or", parts=[*self._flat("or"), *_as_condition(other)._flat("or")])

    def __invert__(self) -> Condition:
        return Condition("not", parts=[self])

    def __bool__(self) -> bool:
        raise QueryError(
            f"{self!r} is a query condition, not a bool: combine conditions with & | ~, not and/or/not"
        )

    def _flat(self, op: str) -> tuple[Condition, ...]:
        return self.parts if self.op == op else (self,)

    def matches(self, instance: BaseModel) -> bool:
        if self.op == "and":
            return all(part.matches(instance) for part in self.parts)
        if self.op == "or":
            return any(part.matches(instance) for part in self.parts)
        if self.op == "not":
            return not self.parts[0].matches(instance)
        assert self.field is not None
        return _OPS[self.op](self.field.get(instance), self.value)

    def conjuncts(self) -> tuple[Condition, ...]:
        return self.parts if self.op == "and" else (self,)


def _as_condition(value: object) -> Condition:
    if not isinstance(value, Condition):
        raise QueryError(f"expected a condition such as User.age >= 18, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SortKey:
    """A field to order by, and the direction (``-User.age``, :func:`desc`)."""

    field: FieldExpr[Any]
    descending: bool = False


def col(field: V) -> FieldExpr[V]:
    """``field`` typed as the expression it is: ``col(User.age) >= 18``.

    A type checker sees ``User.age`` as the field's value (an ``int``), so
    ``User.age >= 18`` is a ``bool`` to it and ``User.query(User.age >= 18)``
    fails ``mypy --strict``. At run time ``User.age`` is a :class:`FieldExpr`;
    ``col()`` checks that and gives it the type ``FieldExpr[int]``, whose
    comparisons are :class:`Condition` objects that take only ints.
    """
    if not isinstance(field, FieldExpr):
        raise QueryError(f"col() takes a table field such as User.age, not {field!r}")
    return field


def asc(field: object) -> SortKey:
    """Ascending order by ``field`` (``User.age`` or ``col(User.age)``): a typed ``+User.age``."""
    if not isinstance(field, FieldExpr):
        raise QueryError(f"asc() takes a table field such as User.age, not {field!r}")
    return SortKey(field, descending=False)


def desc(field: object) -> SortKey:
    """Descending order by ``field`` (``User.age`` or ``col(User.age)``): a typed ``-User.age``."""
    if not isinstance(field, FieldExpr):
        raise QueryError(f"desc() takes a table field such as User.age, not {field!r}")
    return SortKey(field, descending=True)


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    """One page of a query: ``items`` and the totals."""

    items: list[M]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def sort_records(records: list[M], keys: Sequence[SortKey]) -> list[M]:
    """Stable multi-key sort; ``None`` sorts first ascending (last descending)."""
    result = list(records)
    for key in reversed(keys):

        def value(record: M, field: FieldExpr[Any] = key.field) -> tuple[int, Any]:
            got = field.get(record)
            return (0, 0) if got is None else (1, got)

        try:
            result.sort(key=value, reverse=key.descending)
        except TypeError as error:
            raise key.field.error(
                f"cannot sort by {key.field!r}: its values are not comparable ({error})"
            ) from None
    return result


class Query(Generic[M]):
    """A lazy query over a table; ``await`` it (or call a terminal method) to run it."""

    def __init__(self, model: type[M], conditions: Sequence[Condition] = ()) -> None:
        self.model = model
        self.conditions = tuple(_as_condition(c) for c in conditions)
        self._sort: tuple[SortKey, ...] = ()
        self._skip = 0
        self._limit: int | None = None

    def __repr__(self) -> str:
        return (
            f"Query({self.model.__name__}, {list(self.conditions)!r}, sort={list(self._sort)!r}, "
            f"skip={self._skip}, limit={self._limit})"
        )

    def _copy(self) -> Query[M]:
        query: Query[M] = Query(self.model, self.conditions)
        query._sort, query._skip, query._limit = self._sort, self._skip, self._limit
        return query

    # ------------------------------------------------------------------ building
    def find(self, *conditions: Condition) -> Query[M]:
        """More conditions (an AND with the ones already there)."""
        query = self._copy()
        query.conditions = (*self.conditions, *(_as_condition(c) for c in conditions))
        return query

    def sort(self, *keys: FieldExpr[Any] | SortKey | Any) -> Query[M]:
        """Order by fields: ``sort(User.age, -User.name)``; ties keep insertion order.

        Typed forms: ``sort(col(User.age), desc(User.name))``. (The parameter
        also admits ``Any`` because a type checker sees ``User.age`` as an
        ``int``; anything that is not a field or a sort key is refused here.)"""
        query = self._copy()
        normalized = []
        for key in keys:
            if isinstance(key, FieldExpr):
                normalized.append(SortKey(key))
            elif isinstance(key, SortKey):
                normalized.append(key)
            else:
                raise QueryError(f"sort() takes fields such as User.age or -User.age, not {key!r}")
        query._sort = (*self._sort, *normalized)
        return query

    def skip(self, n: int) -> Query[M]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise QueryError(f"skip() takes an int >= 0, not {n!r}")
        query = self._copy()
        query._skip = n
        return query

    def limit(self, n: int | None) -> Query[M]:
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise QueryError(f"limit() takes an int >= 0 or None, not {n!r}")
        query = self._copy()
        query._limit = n
        return query

    # ------------------------------------------------------------------ running
    def _store(self) -> tuple[Binding, TableStore]:
        binding = binding_of(self.model)
        return binding, binding.require_store()

    def _indexed_window(self, store: TableStore) -> list[M] | None:
        """The query's window read off a sorted index (O(log n + k)), or None.

        An index can answer given a limit and an order by one top-level field (or no order,
        with a range condition on an indexed field); otherwise None."""
        if self._limit is None or len(self._sort) > 1:
            return None
        order = None
        if self._sort:
            key = self._sort[0]
            if len(key.field.path) != 1:
                return None
            order = (key.field.path[0], key.descending)
        return store.select_window(self.model, self.conditions, order, self._skip, self._limit)

    def _matching(self, *, windowed: bool = False) -> list[M]:
        _binding, store = self._store()
        stop_after = None
        if windowed and not self._sort and self._limit is not None:
            stop_after = self._skip + self._limit  # insertion order: no need to look further
        records = store.select(self.model, self.conditions, stop_after)
        if self._sort:
            records = sort_records(records, self._sort)
        return records

    def _window(self, records: list[M]) -> list[M]:
        end = None if self._limit is None else self._skip + self._limit
        return records[self._skip : end]

    async def to_list(self) -> list[M]:
        async def run() -> list[M]:
            return self._run_window()

        return await self._store()[0].track("query", run())

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.to_list().__await__()

    async def __aiter__(self) -> AsyncIterator[M]:
        for record in await self.to_list():
            yield record

    def _run_window(self) -> list[M]:
        """The records of the window (skip and limit applied), from a sorted index when it can."""
        found = self._indexed_window(self._store()[1])
        return found if found is not None else self._window(self._matching(windowed=True))

    async def first_or_none(self) -> M | None:
        found = self.limit(1)._run_window() if self._limit is None else self._run_window()
        return found[0] if found else None

    async def first(self) -> M:
        found = await self.first_or_none()
        if found is None:
            from discobase.exceptions import DatabaseLookupError

            raise DatabaseLookupError(
                f"no {self.model.__name__} matches {list(self.conditions)!r}", table=_table_name(self.model)
            )
        return found

    async def count(self) -> int:
        """How many records match (skip and limit applied)."""
        _binding, store = self._store()
        total = store.count(self.model, self.conditions)
        total = max(0, total - self._skip)
        return total if self._limit is None else min(total, self._limit)

    async def exists(self) -> bool:
        return await self.count() > 0

    async def page(self, number: int, size: int) -> Page[M]:
        """Page ``number`` (from 1) of ``size`` records, with the total count."""
        if number < 1 or size < 1:
            raise QueryError(f"page() takes number >= 1 and size >= 1, not ({number}, {size})")
        records = self._matching()
        start = (number - 1) * size
        return Page(items=records[start : start + size], number=number, size=size, total=len(records))

    async def delete(self) -> int:
        """Delete every matching record (packed into as few messages as possible)."""
        binding, store = self._store()
        return await binding.track("query.delete", store.delete_many(self._window(self._matching())))

    async def update(
        self,
        *,
        inc: Mapping[str, int | float] | None = None,
        set: Mapping[str, Any] | None = None,
        unset: Iterable[str] | None = None,
        push: Mapping[str, Iterable[Any]] | None = None,
        pull: Mapping[str, Iterable[Any]] | None = None,
        **values: Any,
    ) -> int:
        """Change every matching record; returns how many changed.

        ``update(age=3)`` sets fields to values (each record is written whole).
        ``update(inc={"xp": 5})``, ``set=``, ``unset=``, ``push=``, ``pull=``
        are atomic changes (see :meth:`Table.modify`): each record's change is
        applied in message order to its value then, so concurrent changes from
        other processes are never lost. Field values given besides them are set
        atomically too.
        """
        binding, store = self._store()
        table = _table_name(self.model)
        if any(part is not None for part in (inc, set, unset, push, pull)):
            changes = build_changes(
                self.model, inc=inc, set={**(set or {}), **values}, unset=unset, push=push, pull=pull
            )
            return await binding.track(
                "query.update",
                store.change_many(self._window(self._matching()), changes),
                fields=changes.fields,
            )
        unknown = [name for name in values if name not in self.model.model_fields]
        if unknown:
            raise QueryError(
                f"{self.model.__name__} has no field {unknown[0]!r}", table=table, field=unknown[0]
            )
        probe = self.model.model_construct()
        for name, value in values.items():  # before any record is touched
            try:
                self.model.__pydantic_validator__.validate_assignment(probe, name, value)
            except ValidationError as error:
                raise QueryError(
                    f"cannot set {self.model.__name__}.{name} to {value!r}: {error.errors()[0]['msg']}",
                    table=table,
                    field=name,
                ) from error
        return await binding.track(
            "query.update", store.update_many(self._window(self._matching()), values), fields=sorted(values)
        )
