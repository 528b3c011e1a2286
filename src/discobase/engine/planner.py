"""The query planner of a table replica: index lookups, then filtering and ordering."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger
from pydantic import PlainSerializer, TypeAdapter, ValidationError, WrapSerializer

from discobase.engine.building import build, build_many, own_key_types
from discobase.exceptions import (
    InvalidRecordError,
    QueryError,
)

if TYPE_CHECKING:
    from discobase.model.query import Condition
    from discobase.model.table import Table

from discobase.engine.recovery import ReplicaRecovery

__all__ = ["ReplicaPlanner"]

M = TypeVar("M", bound="Table")

_RANGE_OPS = ("lt", "le", "gt", "ge")


@functools.lru_cache(maxsize=1024)
def _plain_field(model: type[Table], name: str) -> bool:
    """Whether ``model`` writes field ``name`` as Pydantic does by default.

    That is, no field or model serializer and no serializer in its ``Annotated``
    metadata, so that a validated ``str`` or ``int`` there is its own JSON."""
    decorators = model.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False
    metadata = model.model_fields[name].metadata
    return not any(isinstance(item, PlainSerializer | WrapSerializer) for item in metadata)


@functools.lru_cache(maxsize=256)
def list_adapter(model: type[Table]) -> TypeAdapter[list[Any]]:
    """Validates a JSON array of ``model`` records in one call."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


#: Runs of equal values merged to list a range in record-id order; a range with
#: more distinct values is sorted instead.
MERGE_RUNS = 256

Bound = tuple[Any, bool]


def _bounds(
    conjuncts: Sequence[Condition], name: str
) -> tuple[Bound | None, Bound | None, list[Condition]] | None:
    """The tightest bounds the range conditions put on field ``name``, and the other conditions.

    None when two bounds do not compare."""
    lower: Bound | None = None
    upper: Bound | None = None
    rest: list[Condition] = []
    for condition in conjuncts:
        field = condition.field
        if (
            field is None
            or field.path != (name,)
            or condition.op not in _RANGE_OPS
            or condition.value is None
        ):
            rest.append(condition)
            continue
        inclusive = condition.op in ("le", "ge")
        bound = (condition.value, inclusive)
        try:
            if condition.op in ("gt", "ge"):
                if lower is None or (bound[0], not inclusive) > (lower[0], not lower[1]):
                    lower = bound
            elif upper is None or (bound[0], inclusive) < (upper[0], upper[1]):
                upper = bound
        except TypeError:
            return None
    return lower, upper, rest


class ReplicaPlanner(ReplicaRecovery):
    """Reads of a table replica: lookups by field, planned queries, counts."""

    def query_key(self, model: type[Table], name: str, value: Any) -> Hashable:
        """The index key of ``value`` for field ``name``.

        The value is validated and serialized exactly as a stored record's field would be;
        a value the field refuses is a :class:`~discobase.exceptions.QueryError` (the
        Pydantic error chained). A value of a plain scalar field's own type is its own
        validated value (see :func:`~discobase.engine.building.own_key_types`)."""
        if type(value) in own_key_types(model, name):
            return self.indexes.key(name, value)
        probe = self._probe(model)
        try:
            model.__pydantic_validator__.validate_assignment(probe, name, value)
        except ValidationError as error:
            reason = error.errors()[0]["msg"] if error.errors() else str(error)
            raise QueryError(
                f"cannot look up {model.__name__}.{name} == {value!r}: {reason}",
                table=self.name,
                field=name,
            ) from error
        validated = probe.__dict__.get(name)
        if type(validated) in (str, int) and _plain_field(model, name):
            return self.indexes.key(name, validated)  # its JSON is itself: no dump needed
        dumped = json.loads(probe.model_dump_json(include={name}))
        return self.indexes.key(name, dumped.get(name))

    def _probe(self, model: type[Table]) -> Table:
        """An instance of ``model`` with its defaults, to validate one field's value on.

        Made once per model (``model_construct()`` costs more than the whole rest of a
        lookup); its values are put back to the defaults before each use."""
        cached = self._probes.get(model)
        if cached is None:
            probe = model.model_construct()
            cached = self._probes[model] = (probe, dict(probe.__dict__))
        probe, defaults = cached
        probe.__dict__.clear()
        probe.__dict__.update(defaults)
        return probe

    def find(self, model: type[M], filters: dict[str, Any]) -> list[M]:
        """Records whose fields equal every filter (AND), oldest record first."""
        fields = model.__pydantic_fields__
        if len(filters) == 1:
            ((name, value),) = filters.items()
            holders = self.indexes.unique_maps.get((name,))
            if holders is not None and name in fields:  # a unique field: at most one record
                rid = holders.get(self.query_key(model, name, value))
                if rid is None:
                    return []
                instance = self._readable(model, rid)
                return [] if instance is None else [instance]
        unknown = [name for name in filters if name not in fields]
        if unknown:
            raise QueryError(
                f"{model.__name__} has no field {unknown[0]!r}; its fields are {sorted(fields)}",
                table=self.name,
                field=unknown[0],
            )
        if not filters:
            ids: Iterable[int] = sorted(self.records)
        else:
            buckets = []
            for name, value in filters.items():
                buckets.append(self.indexes.lookup(name, self.query_key(model, name, value), self.records))
            buckets.sort(key=len)
            ids = sorted(set(buckets[0]).intersection(*buckets[1:]))
        return self.materialize_many(model, list(ids))

    def _candidates(self, model: type[Table], condition: Condition) -> set[int] | None:
        """Record ids a hash index gives for ``condition`` exactly, or None if no index can.

        Ranges on sorted indexes are planned in :meth:`_plan`."""
        field = condition.field
        if field is None or len(field.path) != 1:
            return None
        name = field.path[0]
        lookup = self.indexes.lookup
        if condition.op in ("eq", "is_none"):
            return set(lookup(name, self.query_key(model, name, condition.value), self.records))
        if condition.op == "in":
            found: set[int] = set()
            for value in condition.value:
                found |= lookup(name, self.query_key(model, name, value), self.records)
            return found
        return None

    def _plan(
        self, model: type[Table], conditions: Sequence[Condition]
    ) -> tuple[set[int] | None, list[Condition]]:
        """Candidate ids from the conditions indexes answer, and the conditions left to check.

        The candidates of every condition an index answers exactly are intersected; range
        conditions on one sorted field become one interval."""
        conjuncts = [part for condition in conditions for part in condition.conjuncts()]
        candidates: set[int] | None = None
        residual: list[Condition] = []
        self.indexes.build(self.records)
        ranges = self.indexes.sorted or {}
        bounds: dict[str, list[tuple[Any, bool] | None]] = {}
        for condition in conjuncts:
            field = condition.field
            if (
                field is not None
                and len(field.path) == 1
                and field.path[0] in ranges
                and condition.op in ("lt", "le", "gt", "ge")
                and condition.value is not None
            ):
                lower, upper = bounds.setdefault(field.path[0], [None, None])
                inclusive = condition.op in ("le", "ge")
                bound = (condition.value, inclusive)
                try:
                    if condition.op in ("gt", "ge"):
                        if lower is None or (bound[0], not inclusive) > (lower[0], not lower[1]):
                            bounds[field.path[0]][0] = bound
                    elif upper is None or (bound[0], inclusive) < (upper[0], upper[1]):
                        bounds[field.path[0]][1] = bound
                    continue
                except TypeError:  # bounds that do not compare: check the condition record by record
                    residual.append(condition)
                    continue
            ids = self._candidates(model, condition)
            if ids is None:
                residual.append(condition)
            elif candidates is None:
                candidates = ids
            else:
                candidates &= ids
        for name, (lower, upper) in bounds.items():
            found = ranges[name].between(lower, upper)
            if found is None:
                residual.extend(
                    c
                    for c in conjuncts
                    if c.field is not None and c.field.path == (name,) and c.op in ("lt", "le", "gt", "ge")
                )
                continue
            candidates = set(found) if candidates is None else candidates & set(found)
        if candidates is None and conjuncts:
            logger.debug(
                "table {}: no index for {}; scanning {} records", self.name, conjuncts, len(self.records)
            )
        return candidates, residual

    def select(
        self, model: type[M], conditions: Sequence[Condition], stop_after: int | None = None
    ) -> list[M]:
        """Records matching every condition, oldest record first.

        At most ``stop_after`` of them when given."""
        candidates, residual = self._plan(model, conditions)
        ids = sorted(self.records if candidates is None else candidates)
        if not residual:
            return self.materialize_many(model, ids if stop_after is None else ids[:stop_after])
        found: list[M] = []
        chunk = max(16, stop_after or 0)
        for start in range(0, len(ids), chunk):
            for instance in self.materialize_many(model, ids[start : start + chunk]):
                if all(condition.matches(instance) for condition in residual):
                    found.append(instance)
                    if stop_after is not None and len(found) >= stop_after:
                        return found
        return found

    def select_window(
        self,
        model: type[M],
        conditions: Sequence[Condition],
        order: tuple[str, bool] | None,
        skip: int,
        limit: int,
    ) -> list[M] | None:
        """Records ``skip`` to ``skip + limit`` of the matches, read off a sorted index.

        Ordered by ``order`` (a field with a sorted index and whether descending; ties by
        record id, as a stable sort leaves them) or, without it, by record id. Costs
        O(log n + records looked at), whatever the table's size.

        None when the sorted index cannot answer alone (no sorted index on the field,
        records without a value there that the order would include, or bounds it cannot
        compare): the caller then sorts the matches itself.
        """
        conjuncts = [part for condition in conditions for part in condition.conjuncts()]
        self.indexes.build(self.records)
        ranges = self.indexes.sorted or {}
        name: str | None = None
        if order is not None:
            name = order[0]
        else:  # by record id: only for a range on one sorted field
            paths = {c.field.path for c in conjuncts if c.field is not None and c.op in _RANGE_OPS}
            if len(paths) == 1 and len(path := next(iter(paths))) == 1:
                name = path[0]
        if name is None or name not in ranges:
            return None
        index = ranges[name]
        planned = _bounds(conjuncts, name)
        if planned is None:
            return None
        lower, upper, rest = planned
        if lower is None and upper is None and len(index) != len(self.records):
            return None  # records with None (or NaN) there: the sort would place them too
        span = index.span(lower, upper)
        if span is None:
            return None

        def walk() -> Iterator[int] | None:
            if order is None:
                return index.by_id(*span, max_groups=MERGE_RUNS)
            return index.descending(*span) if order[1] else index.ascending(*span)

        ids = walk()
        if ids is None:
            return None
        if not rest:  # the window's records are known before any is built
            window = list(itertools.islice(ids, skip, skip + limit))
            built = self.materialize_many(model, window)
            if len(built) == len(window):
                return built
            ids = walk()  # the model rejects some of them: walk again, skipping those
            assert ids is not None
        found: list[M] = []
        for rid in ids:
            if len(found) == limit:
                break
            instance = self._readable(model, rid)
            if instance is None or not all(condition.matches(instance) for condition in rest):
                continue
            if skip:
                skip -= 1
                continue
            found.append(instance)
        return found

    def count(self, model: type[Table], conditions: Sequence[Condition]) -> int:
        """How many records match, without building them when the indexes answer alone."""
        candidates, residual = self._plan(model, conditions)
        if not residual:
            return len(self.records) if candidates is None else len(candidates)
        return len(self.select(model, conditions))

    def get(self, model: type[M], record_id: int) -> M | None:
        """Record ``record_id``, or None when it does not exist (or the model rejects it)."""
        if record_id not in self.records:
            return None
        return self._readable(model, record_id)

    def materialize(self, model: type[M], rid: int) -> M:
        """Record ``rid`` as a ``model`` (``model_validate_json`` of its JSON, with its id set)."""
        return build(model, self.records[rid], rid)

    def materialize_many(self, model: type[M], rids: Sequence[int]) -> list[M]:
        """Records ``rids`` as ``model`` instances, validated as one JSON array.

        One array is a third faster than one by one. Records the model rejects are left out
        and reported as :meth:`_readable` does."""
        if len(rids) < 2:
            return [i for i in (self._readable(model, rid) for rid in rids) if i is not None]
        records = self.records
        array = "[" + ",".join([records[r] for r in rids]) + "]"
        try:
            built = build_many(model, array, rids)
            if built is not None:
                return built
            instances = list_adapter(model).validate_json(array)
        except ValidationError:
            return [i for i in (self._readable(model, rid) for rid in rids) if i is not None]
        for instance, rid in zip(instances, rids, strict=True):
            # What ``__disco_id__ = rid`` does, without the private-attribute setter's cost.
            instance.__pydantic_private__["_disco_id"] = rid
        return instances

    def _readable(self, model: type[M], rid: int) -> M | None:
        """Record ``rid`` as a ``model``, or None if the model rejects it.

        E.g. a validator added after the record was stored: reads skip such a record rather
        than fail as a whole, and it is reported once per version in :attr:`problems` and
        :attr:`rejected`."""
        try:
            return self.materialize(model, rid)
        except ValidationError as error:
            version = self.versions.get(rid, 0)
            if self._rejected_versions.get(rid) != version:
                self._rejected_versions[rid] = version
                self._reject(model, rid, error)
            return None

    def _reject(self, model: type[Table], rid: int, error: ValidationError) -> None:
        details = error.errors()
        where = details[0]["loc"] if details else ()
        field = str(where[0]) if where else None
        reason = details[0]["msg"] if details else str(error)
        problem = InvalidRecordError(
            f"record {rid} of table {self.name!r} is stored but {model.__name__} rejects it "
            f"({'.'.join(map(str, where)) or 'record'}: {reason}); reads skip it. Relax the model, "
            "or remove the record (an instance from model_construct() with __disco_id__ set to its id, "
            "then delete())",
            table=self.name,
            field=field,
            record=rid,
            channel=self._channel_of(rid),
        )
        logger.warning("{}", problem)
        self.problems.append(problem)
        self.rejected.append(problem)
