"""What a table's writes in flight hold: queued operations, runs of a bulk insert, unique values.

A single write is a :class:`Pending` operation with its own ``asyncio.Future``.
A bulk insert of 100,000 records would make 100,000 futures and await each in
turn; instead its operations are queued as one :class:`PendingRun` per data
channel, and an :class:`OpGroup` collects their results in order and resolves
one future when the last is settled, whichever messages (and channels) carried
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from discobase.storage.codec import Inserts, Op

__all__ = ["OpGroup", "Pending", "PendingRun", "Reservations", "Result", "UniqueColumns"]

#: A result of one operation: None (it took effect), why not (``stale``, ``unique:…``,
#: …), or the exception it failed with.
Result = str | BaseException | None
#: The unique keys of a bulk insert's records, per constraint (its fields), in the
#: records' order: computed once by the writer's checks, and used again to apply them.
UniqueColumns = list[tuple[tuple[str, ...], list[Hashable]]]


class OpGroup:
    """The results of ``count`` operations, in order, and one future for all of them.

    Each result is what the operation's single future would have held: the
    apply result (``str | None``) or the exception it failed with. ``progress``,
    if given, is called with the number of operations settled each time some are."""

    __slots__ = ("future", "progress", "remaining", "results")

    def __init__(self, count: int, progress: Callable[[int], object] | None = None) -> None:
        self.future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self.results: list[Result] = [None] * count
        self.remaining = count
        self.progress = progress
        if count == 0:
            self.future.set_result(self.results)

    def settle_many(self, positions: Sequence[int], values: Sequence[Result]) -> None:
        """Settle the operations at ``positions`` with ``values`` (each once)."""
        if len(positions) != len(values) or len(positions) > self.remaining:
            raise asyncio.InvalidStateError(
                f"settling {len(values)} result(s) at {len(positions)} position(s) of a group "
                f"with {self.remaining} unsettled"
            )
        results = self.results
        for position, value in zip(positions, values, strict=True):
            results[position] = value
        self.remaining -= len(positions)
        if self.progress is not None and positions:
            self.progress(len(positions))
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(results)


@dataclass(slots=True)
class Pending:
    """One queued operation and the future its result goes to."""

    op: Op
    future: asyncio.Future[str | None]


@dataclass(slots=True)
class PendingRun:
    """The operations of one bulk insert bound for one channel, settled through their group.

    ``positions[i]`` is where the result of ``inserts[i]`` goes in the group; ``costs[i]``
    the summed :meth:`~discobase.storage.codec.Codec.estimate` of ``inserts[: i + 1]``,
    so that a message's share is found by bisection. ``start`` counts the operations
    already taken into messages. ``keys`` are the records' unique keys (aligned with
    ``inserts``), when the table has unique constraints."""

    inserts: Inserts
    positions: Sequence[int]
    group: OpGroup
    costs: list[int]
    keys: UniqueColumns | None = None
    start: int = 0


class Reservations:
    """The values of one unique constraint that writes in flight hold, until they land.

    A single write reserves its value with its record id; a bulk insert reserves the
    set of its values it built for its own checks (no second map of its records)."""

    __slots__ = ("runs", "singles")

    def __init__(self) -> None:
        self.singles: dict[Hashable, int] = {}
        self.runs: list[set[Hashable]] = []

    def holds(self, key: Hashable) -> bool:
        return key in self.singles or any(key in run for run in self.runs)

    def held_by_other(self, key: Hashable, rid: int) -> bool:
        """Whether a write in flight of a record other than ``rid`` holds ``key``."""
        holder = self.singles.get(key)
        return (holder is not None and holder != rid) or any(key in run for run in self.runs)

    def disjoint(self, keys: set[Hashable]) -> bool:
        """Whether no write in flight holds any of ``keys``."""
        return self.singles.keys().isdisjoint(keys) and all(run.isdisjoint(keys) for run in self.runs)
