"""In-memory indexes of a table: hash (equality), sorted (ranges, order), unique.

Records are held as JSON text; indexes are keyed on the JSON-decoded values
(hash, unique) or on the values validated back to their Python type (sorted),
so ranges over datetimes, Decimals or enums compare as those types.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import json
import math
import types
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from discobase.exceptions import DatabaseTableError

__all__ = ["KEY_FORMAT", "ORDERABLE", "SortedIndex", "TableIndexes", "index_key"]

#: Records decoded per ``json.loads`` call when the unique maps are filled at open.
LOAD_CHUNK = 4096
#: Version of a snapshot's key index (:meth:`TableIndexes.export_keys`): what
#: :func:`index_key` makes of a value. A reader ignores an index of another version
#: and decodes the records instead.
KEY_FORMAT = 1
#: Types of the JSON values that are their own index key (see :func:`index_key`).
_BARE_KEYS: frozenset[type] = frozenset({str, int, type(None)})
#: Field types a sorted index accepts (also inside Optional[...]).
ORDERABLE: tuple[type, ...] = (int, float, str, bool, datetime, date, time, timedelta, Decimal, uuid.UUID)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def index_key(value: Any) -> Hashable:
    """A hashable key for a JSON value; equal keys ⇔ equal stored values.

    Strings, ints and None are their own keys (bools are tagged, since
    ``True == 1``); floats and containers become canonical JSON (so ``nan``
    finds ``nan``). Sets are put in order beforehand, by the field's normalizer.
    """
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return ("b", value)
    if kind is float:
        return ("f", repr(value) if math.isnan(value) or math.isinf(value) else value)
    return ("j", _canonical(value))


def _hashable(key: Any) -> Any:
    """An index key read back from JSON: its arrays were tuples."""
    return tuple(map(_hashable, key)) if type(key) is list else key


def _normalizer(annotation: Any, depth: int = 0) -> Callable[[Any], Any] | None:
    """A function putting a JSON value of type ``annotation`` in canonical form, or None.

    Canonical form has the items of every set, at any depth, sorted; None means the
    value already is canonical."""
    if depth > 30:
        return None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (Union, types.UnionType):
        parts = [_normalizer(a, depth + 1) for a in args if a is not type(None)]
        members = [p for p in parts if p is not None]
        if not members:
            return None

        def union(value: Any) -> Any:
            for member in members:  # the first member that changes the value wins
                normalized = member(value)
                if normalized != value:
                    return normalized
            return value

        return union
    if origin in (set, frozenset) or annotation in (set, frozenset):
        item = _normalizer(args[0], depth + 1) if args else None

        def as_set(value: Any) -> Any:
            if not isinstance(value, list):
                return value
            items = [item(v) for v in value] if item is not None else value
            return sorted(items, key=_canonical)

        return as_set
    if origin in (list, tuple) and args:
        items = [_normalizer(a, depth + 1) for a in args if a is not Ellipsis]
        if all(i is None for i in items):
            return None
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            only = items[0]

            def as_list(value: Any) -> Any:
                return [only(v) for v in value] if isinstance(value, list) and only is not None else value

            return as_list

        def as_tuple(value: Any) -> Any:
            if not isinstance(value, list):
                return value
            head = [n(v) if n is not None else v for n, v in zip(items, value, strict=False)]
            return head + value[len(items) :]

        return as_tuple
    if origin is dict and len(args) == 2:
        inner = _normalizer(args[1], depth + 1)
        if inner is None:
            return None
        return lambda value: {k: inner(v) for k, v in value.items()} if isinstance(value, dict) else value
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {
            (info.alias or name): n
            for name, info in annotation.model_fields.items()
            if (n := _normalizer(info.annotation, depth + 1)) is not None
        }
        if not fields:
            return None

        def as_model(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {k: fields[k](v) if k in fields else v for k, v in value.items()}

        return as_model
    return None


def _orderable(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return len(args) == 1 and _orderable(args[0])
    if get_origin(annotation) is Literal:
        values = get_args(annotation)
        return len({type(v) for v in values}) == 1
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return issubclass(annotation, (int, str, float))
        return issubclass(annotation, ORDERABLE)
    return False


class SortedIndex:
    """Record ids ordered by ``(value, record id)``.

    Kept as two parallel lists (the values, the ids: 16 bytes a record, where a tuple
    per record took 64). ``None`` and NaN are left out (no range ever matches them)."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        self._adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        self.values: list[Any] = []
        self.ids: list[int] = []

    def __len__(self) -> int:
        return len(self.ids)

    def convert(self, json_value: Any) -> Any | None:
        if json_value is None:
            return None
        try:
            value = self._adapter.validate_python(json_value)
        except ValidationError:
            return None
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    def load(self, pairs: list[tuple[Any, int]]) -> None:
        """Replace the entries by ``(value, record id)`` pairs (in any order)."""
        pairs.sort()
        self.values = [value for value, _ in pairs]
        self.ids = [rid for _, rid in pairs]

    def _position(self, value: Any, rid: int) -> int:
        """Where ``(value, rid)`` is, or would be inserted."""
        low = bisect.bisect_left(self.values, value)
        high = bisect.bisect_right(self.values, value, low)
        return bisect.bisect_left(self.ids, rid, low, high)

    def add(self, rid: int, json_value: Any) -> None:
        value = self.convert(json_value)
        if value is not None:
            position = self._position(value, rid)
            self.values.insert(position, value)
            self.ids.insert(position, rid)

    def add_many(self, rids: list[int], json_values: list[Any]) -> None:
        """:meth:`add` of many records, merged into the lists in one pass.

        The new entries are sorted, then each is placed by bisection after the one before
        it, and the stretches of old entries between them are copied as slices: O(k log n)
        comparisons and one copy of the lists, where inserting one at a time moves the
        lists' tails k times."""
        new = []
        for rid, json_value in zip(rids, json_values, strict=True):
            value = self.convert(json_value)
            if value is not None:
                new.append((value, rid))
        new.sort()
        if not self.ids:
            self.values = [value for value, _ in new]
            self.ids = [rid for _, rid in new]
            return
        values, ids = self.values, self.ids
        merged_values: list[Any] = []
        merged_ids: list[int] = []
        previous = 0
        for value, rid in new:
            low = bisect.bisect_left(values, value, previous)
            high = bisect.bisect_right(values, value, low)
            position = bisect.bisect_left(ids, rid, low, high)
            merged_values += values[previous:position]
            merged_ids += ids[previous:position]
            merged_values.append(value)
            merged_ids.append(rid)
            previous = position
        merged_values += values[previous:]
        merged_ids += ids[previous:]
        self.values, self.ids = merged_values, merged_ids

    def remove(self, rid: int, json_value: Any) -> None:
        value = self.convert(json_value)
        if value is None:
            return
        position = self._position(value, rid)
        if position < len(self.ids) and self.ids[position] == rid and self.values[position] == value:
            del self.values[position]
            del self.ids[position]

    def span(self, lower: tuple[Any, bool] | None, upper: tuple[Any, bool] | None) -> tuple[int, int] | None:
        """The positions ``[start, end)`` of the entries with ``lower <(=) value <(=) upper``.

        Each bound is ``(value, inclusive)`` or None. Returns None when a bound cannot be
        ordered here."""
        values = self.values
        try:
            start = 0
            if lower is not None:
                value, inclusive = lower
                value = value.value if isinstance(value, enum.Enum) else value
                start = bisect.bisect_left(values, value) if inclusive else bisect.bisect_right(values, value)
            end = len(values)
            if upper is not None:
                value, inclusive = upper
                value = value.value if isinstance(value, enum.Enum) else value
                end = bisect.bisect_right(values, value) if inclusive else bisect.bisect_left(values, value)
        except TypeError:
            return None
        return start, max(start, end)

    def between(self, lower: tuple[Any, bool] | None, upper: tuple[Any, bool] | None) -> list[int] | None:
        """Record ids with ``lower <(=) value <(=) upper``, in value order.

        Each bound is ``(value, inclusive)`` or None. Returns None when a bound cannot be
        ordered here."""
        span = self.span(lower, upper)
        if span is None:
            return None
        return self.ids[span[0] : span[1]]

    def ascending(self, start: int, end: int) -> Iterator[int]:
        """Record ids of entries ``[start, end)`` by value, ties by id (O(1) per id)."""
        ids = self.ids
        for position in range(start, end):  # not islice: it would step over the first ``start``
            yield ids[position]

    def descending(self, start: int, end: int) -> Iterator[int]:
        """Record ids of entries ``[start, end)`` by value from the largest, ties by id.

        Ties come in the order a stable reverse sort gives them; O(log n) per distinct value."""
        values, ids = self.values, self.ids
        position = end
        while position > start:
            first = bisect.bisect_left(values, values[position - 1], start, position)
            for index in range(first, position):
                yield ids[index]
            position = first

    def by_id(self, start: int, end: int, max_groups: int) -> Iterator[int] | None:
        """Record ids of entries ``[start, end)`` in id order, or None if too costly.

        Merged from the runs of equal values (each run is in id order already). None when
        there are more than ``max_groups`` runs (merging would cost more than sorting)."""
        values = self.values
        runs: list[Iterator[int]] = []
        position = start
        while position < end:
            if len(runs) == max_groups:
                return None
            after = bisect.bisect_right(values, values[position], position, end)
            runs.append(self.ascending(position, after))
            position = after
        return heapq.merge(*runs)


class TableIndexes:
    """A table's indexes: hash, sorted and unique.

    Hash indexes on the fields looked up by equality and sorted indexes on the declared
    ones are built on first use; the unique maps are always maintained."""

    def __init__(
        self,
        model: type[BaseModel],
        table: str,
        sorted_fields: Iterable[str],
        unique: Iterable[tuple[str, ...]],
    ):
        self.table = table
        fields = model.model_fields
        self.normalizers = {
            name: n for name, info in fields.items() if (n := _normalizer(info.annotation)) is not None
        }
        self.field_names = tuple(fields)
        self.sorted_fields = tuple(sorted_fields)
        for name in self.sorted_fields:
            if not _orderable(fields[name].annotation):
                raise DatabaseTableError(
                    f"field {name!r} of type {fields[name].annotation!r} cannot have a sorted index "
                    "(numbers, strings, dates and times, Decimal, UUID and enums can)",
                    table=table,
                    field=name,
                )
        self._annotations = {name: fields[name].annotation for name in self.sorted_fields}
        self.unique = tuple(unique)
        #: Hash indexes of the fields looked up by equality so far (each built on
        #: its first lookup); a field with a unique constraint of its own is
        #: looked up in its unique map instead and never gets one.
        self.hash: dict[str, dict[Hashable, set[int]]] = {}
        self.sorted: dict[str, SortedIndex] | None = None
        self.unique_maps: dict[tuple[str, ...], dict[Hashable, int]] = {c: {} for c in self.unique}

    @property
    def active(self) -> bool:
        """Whether applying a record needs its decoded values."""
        return bool(self.hash) or self.sorted is not None or bool(self.unique)

    def key(self, name: str, json_value: Any) -> Hashable:
        normalize = self.normalizers.get(name)
        return index_key(normalize(json_value) if normalize is not None else json_value)

    def unique_key(self, fields: tuple[str, ...], values: dict[str, Any]) -> Hashable:
        """The key of ``values`` in the unique map of ``fields``.

        For a single field it is that field's index key (no tuple per record), else the
        tuple of the fields' keys."""
        if len(fields) == 1:
            return self.key(fields[0], values.get(fields[0]))
        return tuple(self.key(name, values.get(name)) for name in fields)

    def keys_of(self, name: str, values: list[dict[str, Any]]) -> list[Hashable]:
        """:meth:`key` of field ``name`` of each of ``values`` (decoded records), in order.

        Strings, ints and None are their own keys, so a column of only those (the common
        case) is its own list of keys."""
        column = [record.get(name) for record in values]
        normalize = self.normalizers.get(name)
        if normalize is not None:
            return [index_key(normalize(value)) for value in column]
        if set(map(type, column)) <= _BARE_KEYS:
            return column
        return [index_key(value) for value in column]

    def unique_keys(self, fields: tuple[str, ...], values: list[dict[str, Any]]) -> list[Hashable]:
        """:meth:`unique_key` of each of ``values`` (decoded records), in order."""
        if len(fields) == 1:
            return self.keys_of(fields[0], values)
        return list(zip(*(self.keys_of(name, values) for name in fields), strict=True))

    def add_many(
        self,
        rids: list[int],
        values: list[dict[str, Any]] | None,
        unique_keys: list[tuple[tuple[str, ...], list[Hashable]]],
    ) -> None:
        """:meth:`add` of new records ``rids``, with their :meth:`unique_keys` per constraint
        computed already; ``values`` (decoded) may be None when no other index is built."""
        for fields, column in unique_keys:
            self.unique_maps[fields].update(zip(column, rids, strict=True))
        if values is None:
            if self.hash or self.sorted is not None:
                raise ValueError("the records' values are needed to add them to the hash and sorted indexes")
            return
        for name, index in self.hash.items():
            for rid, key in zip(rids, self.keys_of(name, values), strict=True):
                index.setdefault(key, set()).add(rid)
        if self.sorted is not None:
            for name, sorted_index in self.sorted.items():
                sorted_index.add_many(rids, [record.get(name) for record in values])

    def build(self, records: dict[int, str]) -> None:
        """Build the sorted indexes.

        The unique maps are kept up to date all along, and hash indexes are built per
        field by :meth:`lookup`."""
        if self.sorted is not None:
            return
        self.sorted = {name: SortedIndex(name, self._annotations[name]) for name in self.sorted_fields}
        if not self.sorted:
            return
        pairs: dict[str, list[tuple[Any, int]]] = {name: [] for name in self.sorted}
        for rid, data in records.items():
            values = json.loads(data)
            for name, index in self.sorted.items():
                value = index.convert(values.get(name))
                if value is not None:
                    pairs[name].append((value, rid))
        for name, index in self.sorted.items():
            index.load(pairs[name])

    def lookup(self, name: str, key: Hashable, records: dict[int, str]) -> set[int]:
        """Ids of the records whose field ``name`` has index key ``key`` (see :meth:`key`)."""
        mapping = self.unique_maps.get((name,))
        if mapping is not None:
            holder = mapping.get(key)
            return set() if holder is None else {holder}
        index = self.hash.get(name)
        if index is None:
            index = self.hash[name] = {}
            for rid, data in records.items():
                index.setdefault(self.key(name, json.loads(data).get(name)), set()).add(rid)
        return index.get(key, set())

    def load_unique(self, records: dict[int, str]) -> None:
        """Fill the unique maps from ``records`` (at open, when no key index is at hand).

        The records are decoded a chunk at a time, as one JSON array each: one
        ``json.loads`` call per record was most of the time a large table took to open.
        A chunk's keys are computed as a column (:meth:`unique_keys`)."""
        if not self.unique:
            return
        for maps in self.unique_maps.values():
            maps.clear()
        constraints = list(self.unique_maps.items())
        items = list(records.items())
        for start in range(0, len(items), LOAD_CHUNK):
            chunk = items[start : start + LOAD_CHUNK]
            decoded = json.loads("[" + ",".join([data for _, data in chunk]) + "]")
            rids = [rid for rid, _ in chunk]
            for fields, mapping in constraints:
                mapping.update(zip(self.unique_keys(fields, decoded), rids, strict=True))

    def export_keys(self, ids: Sequence[int]) -> str | None:
        """The unique maps as a snapshot's key index (JSON): per constraint, the key of each record.

        ``ids`` are the snapshot's record ids in the order its parts hold them, taken with
        the maps (no await in between); the keys come in the same order, so that a reader
        pairs them with the records it reads. None when the table has no unique
        constraint, or when a map does not hold exactly one key per record (a reader then
        decodes the records, as it always did)."""
        if not self.unique:
            return None
        constraints = []
        for fields, mapping in self.unique_maps.items():
            if len(mapping) != len(ids):
                return None
            if list(mapping.values()) == ids:  # the usual case: no record's key changed since it came
                keys = list(mapping)
            else:
                owners = dict(zip(mapping.values(), mapping, strict=True))
                try:
                    keys = list(map(owners.__getitem__, ids))
                except KeyError:
                    return None
            constraints.append({"fields": list(fields), "keys": keys})
        document = {"v": KEY_FORMAT, "n": len(ids), "unique": constraints}
        try:  # ASCII: a lone surrogate (which JSON can escape) could not be sent as UTF-8
            return json.dumps(document, separators=(",", ":"), allow_nan=False)
        except ValueError:  # an int too long for text: the reader decodes the records instead
            return None

    def load_keys(self, text: str, ids: Sequence[int]) -> bool:
        """Fill the unique maps from a snapshot's key index (see :meth:`export_keys`).

        ``ids`` are the snapshot's record ids, in the order of its parts. The index must be
        of this :data:`KEY_FORMAT`, cover these constraints and hold one distinct key for
        each record; otherwise the maps are left as they are and False is returned: the
        caller decodes the records instead."""
        try:
            document = json.loads(text)
            if document.get("v") != KEY_FORMAT or document.get("n") != len(ids):
                return False
            entries = {tuple(entry["fields"]): entry["keys"] for entry in document["unique"]}
            if set(entries) != set(self.unique_maps):
                return False
            loaded: dict[tuple[str, ...], dict[Hashable, int]] = {}
            for fields, keys in entries.items():
                if type(keys) is not list:
                    return False
                kinds = set(map(type, keys))
                if list in kinds:
                    keys = [_hashable(key) for key in keys]
                    kinds = set(map(type, keys))
                if not kinds <= _BARE_KEYS | {tuple}:
                    return False
                mapping = dict(zip(keys, ids, strict=True))
                if len(mapping) != len(ids):  # two records with one key: not what a writer keeps
                    return False
                loaded[fields] = mapping
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return False
        self.unique_maps.update(loaded)
        return True

    def conflict(self, rid: int, values: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
        """The first unique constraint another record already holds ``values`` of."""
        for fields, mapping in self.unique_maps.items():
            holder = mapping.get(self.unique_key(fields, values))
            if holder is not None and holder != rid:
                return fields, tuple(values.get(name) for name in fields)
        return None

    def add(self, rid: int, values: dict[str, Any]) -> None:
        for fields, mapping in self.unique_maps.items():
            mapping[self.unique_key(fields, values)] = rid
        for name, index in self.hash.items():
            index.setdefault(self.key(name, values.get(name)), set()).add(rid)
        if self.sorted is not None:
            for name, sorted_index in self.sorted.items():
                sorted_index.add(rid, values.get(name))

    def remove(self, rid: int, values: dict[str, Any]) -> None:
        for fields, mapping in self.unique_maps.items():
            key = self.unique_key(fields, values)
            if mapping.get(key) == rid:
                del mapping[key]
        for name, index in self.hash.items():
            value_key = self.key(name, values.get(name))
            bucket = index.get(value_key)
            if bucket is not None:
                bucket.discard(rid)
                if not bucket:
                    del index[value_key]
        if self.sorted is not None:
            for name, sorted_index in self.sorted.items():
                sorted_index.remove(rid, values.get(name))
