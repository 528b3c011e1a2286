"""The writes of a table replica: inserts, updates, deletes, bulk inserts, atomic changes.

Each write is checked (unique constraints reserved, the record's JSON known to
read back) before anything is sent, then queued for group commit
(:mod:`~discobase.engine.sender`). A bulk insert is checked, queued and settled
as whole columns (ids, JSON texts, unique keys) rather than record by record.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import operator
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger
from pydantic import BaseModel

from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    DiscobaseError,
    MigrationError,
    UniqueViolationError,
)
from discobase.storage.codec import Inserts, Op

if TYPE_CHECKING:
    from discobase.model.changes import Changes
    from discobase.model.table import Table

from discobase.engine.group import OpGroup, Reservations, Result, UniqueColumns
from discobase.engine.planner import list_adapter
from discobase.engine.progress import OperationProgress
from discobase.engine.readback import provably_reads_back
from discobase.engine.sender import ReplicaSender
from discobase.engine.state import APPLIED

__all__ = ["ReplicaWriter"]

M = TypeVar("M", bound="Table")


class ReplicaWriter(ReplicaSender):
    """Writes of a table replica: inserts, updates, deletes, batches and rewrites."""

    # ------------------------------------------------------------------ writes
    def _serialize(self, instance: Table) -> str:
        """The record's JSON, refused (before anything is sent) unless it reads back.

        A record that does not validate would make every ``find`` that meets it raise.
        Pydantic writes a few such values, e.g. ints over 4300 digits, or ``nan`` in a
        nested model without ``ser_json_inf_nan``."""
        model = type(instance)
        if model.__disco_json_reads_back__ or provably_reads_back(model, (instance,)):
            return instance.model_dump_json()
        try:
            data = instance.model_dump_json()
            model.model_validate_json(data)
        except Exception as error:
            raise DatabaseStorageError(
                f"this {model.__name__} cannot be stored: its JSON would not read back ({error})",
                table=self.name,
            ) from error
        return data

    def _serialize_many(self, instances: Sequence[Table]) -> tuple[list[str], bool]:
        """:meth:`_serialize` of each instance, with the read-back check done once per batch;
        and whether the instances' values are their JSON values.

        The check is done for the whole batch at once (as one JSON array) when all the
        instances are of the table's model, and skipped when their values provably
        read back (see :mod:`discobase.engine.readback`): those values (plain ``str``,
        ``int``, ``float``, ``bool`` or None, looked at per record) are also exactly what
        decoding the JSON would give."""
        model = self.model
        if any(type(i) is not model for i in instances):
            return [self._serialize(instance) for instance in instances], False
        if model.model_dump_json is BaseModel.model_dump_json:  # what it does, without its wrapper
            to_json = model.__pydantic_serializer__.to_json
            datas = [to_json(instance).decode() for instance in instances]
        else:
            datas = [instance.model_dump_json() for instance in instances]
        if provably_reads_back(model, instances):
            return datas, True
        if model.__disco_json_reads_back__:
            return datas, False
        try:
            list_adapter(model).validate_json("[" + ",".join(datas) + "]")
        except Exception:
            # Raises for the first bad one.
            return [self._serialize(instance) for instance in instances], False
        return datas, False

    def _violation(self, fields: tuple[str, ...], value: tuple[Any, ...]) -> UniqueViolationError:
        shown = value[0] if len(value) == 1 else value
        names = fields[0] if len(fields) == 1 else fields
        return UniqueViolationError(
            f"table {self.name!r} already has a record with {names} = {shown!r}",
            fields=fields,
            value=shown,
            table=self.name,
        )

    def _reserve(self, rid: int, data: str) -> list[tuple[tuple[str, ...], Hashable]]:
        """Check unique constraints and reserve this write's values until it lands.

        Checked against stored records and writes in flight. Raises before any request."""
        indexes = self.indexes
        if not indexes.unique:
            return []
        values = json.loads(data)
        clash = indexes.conflict(rid, values)
        if clash is not None:
            raise self._violation(*clash)
        keys = []
        for fields in indexes.unique:
            key = indexes.unique_key(fields, values)
            if self._reserved_for(fields).held_by_other(key, rid):
                raise self._violation(fields, tuple(values.get(name) for name in fields))
            keys.append((fields, key))
        for fields, key in keys:
            self._reserved_for(fields).singles[key] = rid
        return keys

    def _reserved_for(self, fields: tuple[str, ...]) -> Reservations:
        """The values of ``fields`` that writes in flight hold."""
        reserved = self._reserved.get(fields)
        if reserved is None:
            reserved = self._reserved[fields] = Reservations()
        return reserved

    def _release(self, keys: list[tuple[tuple[str, ...], Hashable]], rid: int) -> None:
        for fields, key in keys:
            singles = self._reserved_for(fields).singles
            if singles.get(key) == rid:
                del singles[key]

    def _check_result(self, result: str | None, rid: int, data: str | None) -> None:
        if result is None or result.startswith(APPLIED):
            return
        if result.startswith("unique:"):
            fields = tuple(result[len("unique:") :].split(","))
            values = json.loads(data) if data is not None else {}
            raise self._violation(fields, tuple(values.get(name) for name in fields))
        if result == "missing":
            raise DatabaseLookupError(f"record {rid} was deleted before this write landed", table=self.name)
        if result.startswith("invalid:"):
            raise DatabaseStorageError(
                f"record {rid} was left as it was: the change would make it invalid "
                f"({result[len('invalid:') :]})",
                table=self.name,
            )

    async def _write(self, op: Op) -> str | None:
        keys = self._reserve(op.rid, op.data) if op.data is not None else []
        try:
            return await self._submit(op)
        finally:
            self._release(keys, op.rid)

    async def insert(self, instance: M) -> M:
        rid = self.ids.next()
        data = self._serialize(instance)
        self._check_result(await self._write(Op("i", rid, data)), rid, data)
        instance.__disco_id__ = rid
        return instance

    async def update(self, instance: M) -> M:
        rid = instance.__disco_id__
        if rid not in self.records:
            raise DatabaseLookupError(f"record {rid} does not exist (was it deleted?)", table=self.name)
        data = self._serialize(instance)
        self._check_result(await self._write(Op("u", rid, data)), rid, data)
        return instance

    async def delete(self, instance: Table) -> None:
        rid = instance.__disco_id__
        await self._submit(Op("d", rid, None))
        instance.__disco_id__ = -1

    async def insert_many(
        self, instances: Sequence[Table], *, progress: bool | Callable[[int, int], object] = False
    ) -> None:
        """Insert new records concurrently, so group commit packs them into few messages.

        Raises the first record's error once every write has settled."""
        for error in await self.insert_each(instances, progress=progress):
            if error is not None:
                raise error

    async def insert_each(
        self, instances: Sequence[Table], *, progress: bool | Callable[[int, int], object] = False
    ) -> list[DiscobaseError | None]:
        """Insert new records concurrently; returns per record None if stored, else its error.

        The error is what kept that record out (a batch can fail part-way). Unique
        constraints are checked before anything is sent, and a violation there is raised.
        The batch is handled as columns: one call makes the ids, the unique keys come from
        the values of plain scalar models (else one ``json.loads`` decodes every record),
        each constraint's keys are checked with set operations, and the operations are
        queued as one run settled through one future."""
        total = len(instances)
        if total == 0:
            return []
        rids = self.ids.take(total)
        datas, plain = self._serialize_many(instances)
        keys: UniqueColumns = []
        held: list[tuple[Reservations, set[Hashable]]] = []
        if self.indexes.unique:  # check the batch against itself and the table before sending anything
            # Plain scalar values are their JSON values; else one call decodes every record.
            if plain:
                values = [instance.__dict__ for instance in instances]
            else:
                values = json.loads("[" + ",".join(datas) + "]")
            keys, sets = self._check_unique_batch(values)
            for (fields, _), taken in zip(keys, sets, strict=True):
                reserved = self._reserved_for(fields)
                reserved.runs.append(taken)
                held.append((reserved, taken))
        try:
            with OperationProgress(progress, total, f"inserting into {self.name}") as report:
                group = OpGroup(total, report.advance if progress is not False else None)
                # The keys are used again to apply the records.
                self._enqueue_run(Inserts(rids, datas), group, keys or None)
                results = await group.future
            return self._outcomes(instances, rids, datas, results)
        finally:
            for reserved, taken in held:
                reserved.runs.remove(taken)

    def _check_unique_batch(self, values: list[dict[str, Any]]) -> tuple[UniqueColumns, list[set[Hashable]]]:
        """Each constraint's keys of a batch's records, as lists (in order) and as sets (to
        reserve them); raises for the first record that clashes with a stored record, a
        write in flight or an earlier record of the batch."""
        indexes = self.indexes
        keys: UniqueColumns = []
        sets: list[set[Hashable]] = []
        clean = True
        for fields, mapping in indexes.unique_maps.items():
            column = indexes.unique_keys(fields, values)
            taken = set(column)
            keys.append((fields, column))
            sets.append(taken)
            clean = (
                clean
                and len(taken) == len(column)
                and mapping.keys().isdisjoint(taken)
                and self._reserved_for(fields).disjoint(taken)
            )
        if clean:
            return keys, sets
        # Some record clashes: find the first, as checking one record after the other would.
        seen: set[tuple[tuple[str, ...], Hashable]] = set()
        for index, record in enumerate(values):
            for fields, column in keys:
                key = column[index]
                if (
                    key in indexes.unique_maps[fields]
                    or self._reserved_for(fields).holds(key)
                    or (fields, key) in seen
                ):
                    raise self._violation(fields, tuple(record.get(name) for name in fields))
                seen.add((fields, key))
        raise AssertionError("a clash was found in the batch, then not")  # pragma: no cover

    def _outcomes(
        self, instances: Sequence[Table], rids: list[int], datas: list[str], results: list[Result]
    ) -> list[DiscobaseError | None]:
        """Each insert's outcome (see :meth:`_outcome`); when every one was stored, each
        instance gets its id in one pass."""
        if results.count(None) == len(results):
            # What ``instance.__disco_id__ = rid`` does, without the setter's cost, in a C-level
            # loop (``insert_many`` checked that every instance has its private attributes).
            privates = map(operator.attrgetter("__pydantic_private__"), instances)
            collections.deque(map(operator.setitem, privates, itertools.repeat("_disco_id"), rids), maxlen=0)
            return [None] * len(results)
        return [
            self._outcome(instance, rid, data, result)
            for instance, rid, data, result in zip(instances, rids, datas, results, strict=True)
        ]

    def _outcome(
        self, instance: Table, rid: int, data: str, result: str | BaseException | None
    ) -> DiscobaseError | None:
        """An insert's outcome from its settled result: None when stored (the instance gets
        its id), else the error that kept it out."""
        if isinstance(result, DiscobaseError):
            return result
        if isinstance(result, BaseException):
            raise result
        try:
            self._check_result(result, rid, data)
        except DiscobaseError as error:
            return error
        private = instance.__pydantic_private__
        assert private is not None  # Table has a private attribute
        private["_disco_id"] = rid  # what ``__disco_id__ = rid`` does, without the setter's cost
        return None

    async def rewrite(
        self, transform: Callable[[dict[str, Any]], dict[str, Any]], *, progress: bool = False
    ) -> int:
        """Write every record again as ``transform(old record as a dict)`` (a migration).

        Each result is validated by the model. Returns how many records changed."""
        ops = []
        for rid, data in list(self.records.items()):
            try:
                new = self.model.model_validate(transform(json.loads(data)))
            except Exception as error:
                raise MigrationError(
                    f"record migration of table {self.name!r} failed on record {rid}: {error}",
                    table=self.name,
                ) from error
            text = self._serialize(new)
            if text != data:
                ops.append(Op("u", rid, text))
        with OperationProgress(progress, len(ops), f"migrating {self.name}") as report:
            for future in self._enqueue(ops):
                await future
                report.advance()
        logger.info("table {}: record migration rewrote {} records", self.name, len(ops))
        return len(ops)

    async def delete_many(self, instances: Sequence[Table]) -> int:
        futures = self._enqueue([Op("d", i.__disco_id__, None) for i in instances])
        deleted = 0
        for instance, future in zip(instances, futures, strict=True):
            if await future is None:
                deleted += 1
            instance.__disco_id__ = -1
        return deleted

    async def update_many(self, instances: Sequence[M], values: dict[str, Any]) -> int:
        """Set ``values`` on every instance and write those that changed; returns how many changed."""
        changed: list[M] = []
        for instance in instances:
            before = self.records.get(instance.__disco_id__)
            for name, value in values.items():
                type(instance).__pydantic_validator__.validate_assignment(instance, name, value)
            if self._serialize(instance) != before:
                changed.append(instance)
        await asyncio.gather(*(self.update(instance) for instance in changed))
        return len(changed)

    async def change(self, instance: M, changes: Changes) -> M:
        """Apply an atomic change to ``instance``'s record in message order.

        Then give ``instance`` the values the change produced (which include every change
        ordered before it, from any process)."""
        rid = instance.__disco_id__
        if rid not in self.records:
            raise DatabaseLookupError(f"record {rid} does not exist (was it deleted?)", table=self.name)
        data = self._changed(await self._submit(Op("a", rid, changes.to_json())), rid)
        fresh = type(instance).model_validate_json(data)
        for name in type(instance).model_fields:
            instance.__dict__[name] = fresh.__dict__[name]
        return instance

    async def change_many(self, instances: Sequence[Table], changes: Changes) -> int:
        """Apply one atomic change to many records; returns how many it changed.

        The changes are packed into few messages. The instances are not modified; a record
        deleted meanwhile is skipped, and a result the model rejects raises once every
        change has settled."""
        text = changes.to_json()
        futures = self._enqueue([Op("a", i.__disco_id__, text) for i in instances])
        changed = 0
        failure: DiscobaseError | None = None
        for instance, future in zip(instances, futures, strict=True):
            result = await future
            try:
                self._check_result(result, instance.__disco_id__, None)
            except DatabaseLookupError:
                continue  # deleted before the change landed: nothing to change
            except DiscobaseError as error:
                failure = failure or error
                continue
            changed += result is not None and result.startswith(APPLIED)
        if failure is not None:
            raise failure
        return changed

    def _changed(self, result: str | None, rid: int) -> str:
        """The record an atomic change left (see :data:`APPLIED`), or its error."""
        if result is not None and result.startswith(APPLIED):
            return result[len(APPLIED) :]
        self._check_result(result, rid, None)
        data = self.records.get(rid)  # "stale": a newer write overtook it in this process
        if data is None:
            raise DatabaseLookupError(f"record {rid} was deleted before this change landed", table=self.name)
        return data
