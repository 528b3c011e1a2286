"""Group commit: a table's queued operations packed into messages, sent, and settled.

Concurrent operations on a table are packed into one message per data channel;
each caller resumes when Discord acknowledged the message that carries its
operation (for a table whose writes take effect in message order, when that
message's gateway echo was applied). A record always goes to the same data
channel (``id % channels``), so its operations are totally ordered by message
id, which is also how every process resolves them.

A queue holds single operations (:class:`Pending`, one future each) and runs of
a bulk insert (:class:`PendingRun`, one :class:`~discobase.engine.group.OpGroup`
for the whole insert): a run is split between messages by the byte budget
without a Python object per operation beyond the operation itself.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loguru import logger

from discobase.engine.group import OpGroup, Pending, PendingRun, UniqueColumns
from discobase.engine.planner import ReplicaPlanner
from discobase.exceptions import (
    DatabaseStorageError,
    DatabaseUnavailableError,
    DiscobaseError,
)
from discobase.storage.codec import CodecError, Inserts, Op
from discobase.storage.transport import (
    HISTORY_PAGE,
    FileData,
    RawMessage,
)
from discobase.storage.wire import has_changes, landed_key

__all__ = ["ECHO_TIMEOUT", "MAX_OPS_PER_MESSAGE", "ReplicaSender"]

#: Operations packed into one message at most (besides the byte budget, which
#: holds about 300,000 records of 80 bytes).
MAX_OPS_PER_MESSAGE = 1_000_000
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


@dataclass(slots=True)
class _Part:
    """Operations ``[first, end)`` of a batch, and whom they settle."""

    first: int
    end: int
    single: Pending | None  # one operation with its own future
    run: PendingRun | None  # or a share of a run: its positions from ``offset``
    offset: int = 0

    @property
    def share(self) -> slice:
        """Where the operations are in their run (for a part of a run)."""
        return slice(self.offset, self.offset + self.end - self.first)


class _Batch:
    """The operations of one message and the futures or groups they settle."""

    __slots__ = ("count", "parts")

    def __init__(self) -> None:
        self.count = 0
        self.parts: list[_Part] = []

    def add(self, pending: Pending) -> None:
        self.parts.append(_Part(self.count, self.count + 1, pending, None))
        self.count += 1

    def add_run(self, run: PendingRun, start: int, end: int) -> None:
        self.parts.append(_Part(self.count, self.count + end - start, None, run, start))
        self.count += end - start

    def ops(self) -> Sequence[Op]:
        """The operations, in order: a share of one bulk insert stays as columns."""
        run = self.parts[0].run if len(self.parts) == 1 else None
        if run is not None:
            return run.inserts[self.parts[0].share]
        ops: list[Op] = []
        for part in self.parts:
            if part.single is not None:
                ops.append(part.single.op)
            elif part.run is not None:
                ops.extend(part.run.inserts[part.share])
        return ops

    def unique_keys(self) -> UniqueColumns | None:
        """The unique keys of the operations, when they are one share of a bulk insert."""
        if len(self.parts) != 1:
            return None
        part = self.parts[0]
        if part.run is None or part.run.keys is None:
            return None
        return [(fields, column[part.share]) for fields, column in part.run.keys]

    def settle(self, results: Sequence[str | BaseException | None]) -> None:
        """Give each operation its result (an exception fails it)."""
        for part in self.parts:
            if part.single is not None:
                future, result = part.single.future, results[part.first]
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            elif part.run is not None:
                part.run.group.settle_many(part.run.positions[part.share], results[part.first : part.end])

    def fail(self, error: BaseException) -> None:
        self.settle(list(itertools.repeat(error, self.count)))

    def cancel(self) -> None:
        for part in self.parts:
            if part.single is not None:
                part.single.future.cancel()
            elif part.run is not None:
                part.run.group.future.cancel()


class ReplicaSender(ReplicaPlanner):
    """The queues and channel writers of a table replica (group commit)."""

    async def _submit(self, op: Op) -> str | None:
        return await self._enqueue([op])[0]

    def _enqueue(self, ops: Sequence[Op]) -> list[asyncio.Future[str | None]]:
        """Queue operations for their channels' writers; one future per operation.

        Each future resolves when Discord acknowledged the operation's message."""
        self._check_open()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[str | None]] = [loop.create_future() for _ in ops]
        touched = set()
        for op, future in zip(ops, futures, strict=True):
            channel_id = self._channel_of(op.rid)
            self._queues[channel_id].append(Pending(op, future))
            touched.add(channel_id)
        self._start_writers(touched)
        return futures

    def _enqueue_run(self, inserts: Inserts, group: OpGroup, keys: UniqueColumns | None = None) -> None:
        """Queue a bulk insert's operations, settled through ``group`` (in their order).

        ``keys``: the records' unique keys (aligned with ``inserts``), used again to apply them."""
        self._check_open()
        channels = self.meta.data_channels
        shares: dict[int, tuple[Inserts, Sequence[int]]]
        if len(channels) == 1:
            shares = {channels[0]: (inserts, range(len(inserts)))}
        else:
            by_channel: dict[int, list[int]] = {}
            for position, rid in enumerate(inserts.rids):
                by_channel.setdefault(self._channel_of(rid), []).append(position)
            shares = {
                channel_id: (
                    Inserts([inserts.rids[p] for p in positions], [inserts.datas[p] for p in positions]),
                    positions,
                )
                for channel_id, positions in by_channel.items()
            }
        for channel_id, (share, positions) in shares.items():
            costs = list(itertools.accumulate(self.codec.estimate_inserts(share)))
            share_keys = keys
            if keys is not None and len(shares) > 1:
                share_keys = [(fields, [column[p] for p in positions]) for fields, column in keys]
            self._queues[channel_id].append(PendingRun(share, positions, group, costs, share_keys))
        self._start_writers(shares)

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseStorageError("the table is closed", table=self.name)

    def _start_writers(self, channel_ids: Iterable[int]) -> None:
        loop = asyncio.get_running_loop()
        for channel_id in channel_ids:
            writer = self._writers.get(channel_id)
            if writer is None or writer.done():
                self._writers[channel_id] = loop.create_task(self._writer(channel_id))

    def _take_batch(self, queue: deque[Pending | PendingRun]) -> _Batch:
        """The next message's operations from the front of ``queue``: as many as the byte
        budget and :data:`MAX_OPS_PER_MESSAGE` allow (at least one)."""
        batch = _Batch()
        budget = self.codec.max_batch_bytes
        room = MAX_OPS_PER_MESSAGE
        while queue and room > 0:
            item = queue[0]
            if isinstance(item, Pending):
                cost = self.codec.estimate(item.op)
                if batch.count and cost > budget:
                    break
                budget -= cost
                room -= 1
                batch.add(item)
                queue.popleft()
                continue
            start, costs = item.start, item.costs
            before = costs[start - 1] if start else 0
            end = min(bisect.bisect_right(costs, before + budget, start), start + room)
            if end == start:
                if batch.count:
                    break
                end = start + 1  # too large for any message: encoding refuses it
            batch.add_run(item, start, end)
            budget -= costs[end - 1] - before
            room -= end - start
            item.start = end
            if end < len(item.inserts):
                break  # the message is full
            queue.popleft()
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
        applied = self._landed.get(landed_key(ops))
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
            ops = batch.ops()
            # Applied in message order (its echo): a unique value goes to the earlier
            # message, and an atomic change applies to the value the messages before it made.
            in_order = self.ordered or has_changes(ops)
            sending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sending[channel_id] = sending
            try:
                try:
                    content, files = self._encode(channel_id, ops)
                    message = await self._send(channel_id, content, files, ops)
                    if in_order:  # its echo is applied from these, not decoded again
                        self._own_ops[message.id] = (ops, batch.unique_keys())
                finally:
                    self._release_echo(channel_id)
                if in_order:
                    results = await self._await_echo(channel_id, message, ops)
                else:
                    results = self._apply_ops(channel_id, message.id, ops, batch.unique_keys())
            except asyncio.CancelledError:
                batch.cancel()
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
                batch.fail(failure)
                continue
            batch.settle(results)
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
