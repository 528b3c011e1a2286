"""The writer of a table replica: group commit and unique reservations.

Concurrent operations on a table are packed into one message per data channel;
each caller resumes when Discord acknowledged the message that carries its
operation. A record always goes to the same data channel (``id % channels``),
so its operations are totally ordered by message id, which is also how every
process resolves them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseUnavailableError,
    DiscobaseError,
    MigrationError,
    UniqueViolationError,
)
from discobase.storage.codec import CodecError, Op
from discobase.storage.transport import (
    HISTORY_PAGE,
    FileData,
    RawMessage,
)

if TYPE_CHECKING:
    from discobase.model.changes import Changes
    from discobase.model.table import Table

from discobase.engine.group import OpGroup, OpSlot, Settles
from discobase.engine.planner import ReplicaPlanner, list_adapter
from discobase.engine.progress import OperationProgress
from discobase.engine.readback import provably_reads_back
from discobase.engine.state import APPLIED, Pending

__all__ = ["ReplicaWriter"]

#: Operations packed into one message at most (besides the byte budget).
MAX_OPS_PER_MESSAGE = 100_000
#: How long a write on a table with unique constraints waits for its own
#: gateway echo (which orders it among other processes' writes) before it
#: reads the channel's history instead.
ECHO_TIMEOUT = 2.0

#: Attempts of a write whose outcome is unknown (network error, 5xx) before it
#: fails; each retry uses the same nonce, so a write that landed is not repeated.
SEND_ATTEMPTS = 4
#: Seconds before the first retry of such a write (doubled after each).
RETRY_DELAY = 0.5
#: Seconds a write may take, every attempt included (discord.py's own retries of
#: a 5xx too): no copy of a message can be stored later than this after its
#: first attempt began. Compaction keeps data messages a while longer (see
#: ``TableReplica.compaction_delay``), so that a retry always meets the first
#: copy, which the nonce or the history then returns instead of a second copy.
SEND_WINDOW = 60.0

M = TypeVar("M", bound="Table")


class ReplicaWriter(ReplicaPlanner):
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

    def _serialize_many(self, instances: Sequence[Table]) -> list[str]:
        """:meth:`_serialize` of each instance, with the read-back check done once per batch.

        The check is done for the whole batch at once (as one JSON array) when all the
        instances are of the table's model, and skipped when their values provably
        read back (see :mod:`discobase.engine.readback`)."""
        model = self.model
        if model.__disco_json_reads_back__ or any(type(i) is not model for i in instances):
            return [self._serialize(instance) for instance in instances]
        datas = [instance.model_dump_json() for instance in instances]
        if provably_reads_back(model, instances):
            return datas
        try:
            list_adapter(model).validate_json("[" + ",".join(datas) + "]")
        except Exception:
            return [self._serialize(instance) for instance in instances]  # raises for the first bad one
        return datas

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
            key = (fields, indexes.unique_key(fields, values))
            holder = self._reserved.get(key)
            if holder is not None and holder != rid:
                raise self._violation(fields, tuple(values.get(name) for name in fields))
            keys.append(key)
        for key in keys:
            self._reserved[key] = rid
        return keys

    def _release(self, keys: list[tuple[tuple[str, ...], Hashable]], rid: int) -> None:
        for key in keys:
            if self._reserved.get(key) == rid:
                del self._reserved[key]

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
        constraints are checked before anything is sent, and a violation there is raised."""
        total = len(instances)
        rids = [self.ids.next() for _ in instances]
        datas = self._serialize_many(instances)
        keys: list[tuple[tuple[str, ...], Hashable]] = []
        if self.indexes.unique:  # check the batch against itself and the table before sending anything
            indexes = self.indexes
            seen: dict[tuple[tuple[str, ...], Hashable], int] = {}
            decoded = self._decoded
            batch = json.loads("[" + ",".join(datas) + "]")  # one call decodes every record
            for rid, data, values in zip(rids, datas, batch, strict=True):
                decoded[rid] = (data, values)  # applying the insert need not decode it again
                for fields, mapping in indexes.unique_maps.items():
                    value_key = indexes.unique_key(fields, values)
                    holder = mapping.get(value_key)
                    key = (fields, value_key)
                    if (holder is not None and holder != rid) or key in seen or key in self._reserved:
                        for dropped in rids:
                            decoded.pop(dropped, None)
                        raise self._violation(fields, tuple(values.get(name) for name in fields))
                    seen[key] = rid
            self._reserved.update(seen)
            keys = list(seen)
        outcomes: list[DiscobaseError | None] = []
        ops = [Op("i", rid, data) for rid, data in zip(rids, datas, strict=True)]
        try:
            if progress is False:  # one future for the batch (see discobase.engine.group)
                group = OpGroup(total)
                self._enqueue(ops, group.slots())
                results = await group.future
                for instance, rid, data, result in zip(instances, rids, datas, results, strict=True):
                    outcomes.append(self._outcome(instance, rid, data, result))
            else:  # one future per record, so that progress is reported as messages land
                with OperationProgress(progress, total, f"inserting into {self.name}") as report:
                    futures = self._enqueue(ops)
                    for instance, rid, data, future in zip(instances, rids, datas, futures, strict=True):
                        try:
                            outcome = self._outcome(instance, rid, data, await future)
                        except DiscobaseError as error:
                            outcome = error
                        outcomes.append(outcome)
                        report.advance()
        finally:
            for key in keys:
                self._reserved.pop(key, None)
            if self._decoded:
                for rid in rids:
                    self._decoded.pop(rid, None)
        return outcomes

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

    async def _submit(self, op: Op) -> str | None:
        return await self._enqueue([op])[0]

    def _enqueue(
        self, ops: Sequence[Op], slots: Sequence[OpSlot] | None = None
    ) -> list[asyncio.Future[str | None]]:
        """Queue operations for their channels' writers (started as needed).

        Each future resolves when Discord acknowledged the operation's message.
        With ``slots`` (an :class:`OpGroup`'s), the operations are settled through
        them instead, and no future is made (the list returned is empty)."""
        if self._closed:
            raise DatabaseStorageError("the table is closed", table=self.name)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[str | None]] = (
            [] if slots is not None else [loop.create_future() for _ in ops]
        )
        handles: Sequence[Settles] = slots if slots is not None else futures
        touched = set()
        for op, handle in zip(ops, handles, strict=True):
            channel_id = self._channel_of(op.rid)
            self._queues[channel_id].append(Pending(op, handle))
            touched.add(channel_id)
        for channel_id in touched:
            writer = self._writers.get(channel_id)
            if writer is None or writer.done():
                self._writers[channel_id] = loop.create_task(self._writer(channel_id))
        return futures

    def _take_batch(self, queue: deque[Pending]) -> list[Pending]:
        batch: list[Pending] = []
        budget = self.codec.max_batch_bytes
        while queue and len(batch) < MAX_OPS_PER_MESSAGE:
            cost = self.codec.estimate(queue[0].op)
            if batch and cost > budget:
                break
            budget -= cost
            batch.append(queue.popleft())
        return batch

    def _encode(self, channel_id: int, ops: Sequence[Op]) -> tuple[str, Sequence[FileData]]:
        """A batch message for ``ops``; a record too large for one message is refused."""
        try:
            encoded = self.codec.encode_batch(
                ops,
                schema_version=self.meta.schema_version,
                context=self._context_of(channel_id, self.transport.user_id),
            )
        except ValueError as error:
            size = sum(map(self.codec.estimate, ops))
            raise DatabaseStorageError(
                f"a record of about {size} bytes is too large for one Discord message "
                f"(at most {self.codec.max_batch_bytes} bytes after compression): {error}",
                table=self.name,
                channel=channel_id,
            ) from error
        return encoded.content, encoded.files

    async def _send(
        self, channel_id: int, content: str, files: Sequence[FileData], ops: Sequence[Op]
    ) -> RawMessage:
        """Send a batch, retrying a send whose outcome is unknown with the same nonce.

        With the same nonce Discord returns the stored message instead of posting it
        again. When every attempt failed so, the channel's history tells whether the batch
        landed after all."""
        nonce = secrets.token_hex(12)
        mark = self._seen[channel_id]  # the message, if stored, is newer than this
        delay = RETRY_DELAY
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEND_WINDOW
        for attempt in range(1, SEND_ATTEMPTS + 1):
            if attempt > 1:
                # Before sending again, make sure the batch did not land: the nonce
                # protects a retry only while the first message still exists (and
                # while the server remembers it).
                found = await self._find_landed(channel_id, ops, mark)
                if found is not None:
                    return found
            try:
                try:
                    async with asyncio.timeout_at(deadline):
                        return await self.transport.send(channel_id, content, files, nonce=nonce)
                except TimeoutError:
                    raise DatabaseUnavailableError(
                        f"no answer from Discord within {SEND_WINDOW:g} s",
                        table=self.name,
                        channel=channel_id,
                    ) from None
            except DatabaseUnavailableError as error:
                # The message may be stored: let its gateway echo be applied (and
                # recorded in ``_landed``) instead of waiting for this send to end.
                self._release_echo(channel_id)
                if attempt == SEND_ATTEMPTS or loop.time() + delay >= deadline:
                    found = await self._find_landed(channel_id, ops, mark)
                    if found is not None:
                        return found
                    raise
                logger.info(
                    "table {}: write of {} op(s) failed ({}); retrying in {} s",
                    self.name,
                    len(ops),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _release_echo(self, channel_id: int) -> None:
        """Stop holding this channel's events back for the send in flight."""
        sending = self._sending.pop(channel_id, None)
        if sending is not None and not sending.done():
            sending.set_result(None)

    async def _find_landed(self, channel_id: int, ops: Sequence[Op], after: int) -> RawMessage | None:
        """Our message carrying exactly ``ops``, or None.

        One applied from the gateway (whose reply was lost), else one in the channel's
        history after ``after``."""
        applied = self._landed.get(tuple(ops))
        if applied is not None and applied > after:
            user = self.transport.user_id
            return RawMessage(id=applied, channel_id=channel_id, author_id=user, content="")
        wanted = list(ops)
        while True:
            page = await self.transport.history(channel_id, after=after, limit=HISTORY_PAGE)
            for message in page:
                if message.author_id != self.transport.user_id or not self.codec.is_batch(message.content):
                    continue
                try:
                    _, found = await self.codec.decode_batch(
                        message, self._read, context=self._context(message)
                    )
                except CodecError:
                    continue
                if found == wanted:
                    return message
            if len(page) < HISTORY_PAGE:
                return None
            after = page[-1].id

    async def _writer(self, channel_id: int) -> None:
        queue = self._queues[channel_id]
        while queue:
            batch = self._take_batch(queue)
            ops = [p.op for p in batch]
            # Applied in message order (its echo): a unique value goes to the earlier
            # message, and an atomic change applies to the value the messages before it made.
            in_order = self.ordered or any(op.kind == "a" for op in ops)
            sending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sending[channel_id] = sending
            try:
                try:
                    content, files = self._encode(channel_id, ops)
                    message = await self._send(channel_id, content, files, ops)
                    if in_order:  # its echo is applied from these, not decoded again
                        self._own_ops[message.id] = ops
                finally:
                    self._release_echo(channel_id)
                if in_order:
                    results = await self._await_echo(channel_id, message, ops)
                else:
                    results = self._apply_ops(channel_id, message.id, ops)
            except asyncio.CancelledError:
                for pending in batch:
                    pending.future.cancel()
                raise
            except Exception as error:
                failure = (
                    error
                    if isinstance(error, DiscobaseError)
                    else DatabaseStorageError(
                        f"writing {len(ops)} operation(s) to table {self.name!r} failed: {error}",
                        table=self.name,
                        channel=channel_id,
                    )
                )
                if failure is not error:
                    failure.__cause__ = error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(failure)
                continue
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
            logger.debug("table {}: {} op(s) in message {}", self.name, len(ops), message.id)
            self._maybe_snapshot()

    async def _await_echo(self, channel_id: int, message: RawMessage, ops: Sequence[Op]) -> list[str | None]:
        """Results of our own message, applied in message order.

        Taken from its gateway echo, or (if that is late) from reading the channel's
        history."""
        if message.id in self._applied:
            return self._results.get(message.id, [None] * len(ops))
        waiter: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._echo[message.id] = waiter
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), ECHO_TIMEOUT)
        except TimeoutError:
            await self._catch_up_safely(channel_id)
            if message.id in self._applied:
                return self._results.get(message.id, [None] * len(ops))
            if message.id <= self._covered[channel_id]:
                # The table was read again from a snapshot that covers the message:
                # its effect is in the state, but not which of its operations took it.
                raise DatabaseUnavailableError(
                    "the write was stored, but the table was read again from a snapshot before "
                    "its outcome was known: find the record to see whether it took effect",
                    table=self.name,
                    channel=channel_id,
                ) from None
            return self._apply_ops(channel_id, message.id, ops)  # not in the history either
        finally:
            self._echo.pop(message.id, None)
            self._own_ops.pop(message.id, None)

    async def flush(self) -> None:
        """Wait until every queued write has been sent."""
        while True:
            writers = [w for w in self._writers.values() if not w.done()]
            if not writers:
                return
            await asyncio.gather(*writers, return_exceptions=True)
