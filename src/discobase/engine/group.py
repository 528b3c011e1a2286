"""One future for a batch of queued operations (``insert_many``), instead of one per operation.

The channel writers settle each queued operation through its :class:`Settles`
(an ``asyncio.Future`` for a single write). A bulk insert of 100,000 records
would create 100,000 futures and await each in turn; an :class:`OpGroup` gives
its operations light :class:`OpSlot` handles instead, collects their results in
order, and resolves one future when the last is settled, whichever messages
(and channels) carried them.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["OpGroup", "OpSlot", "Settles"]


class Settles(Protocol):
    """How a channel writer settles one queued operation (``asyncio.Future`` has it)."""

    def done(self) -> bool: ...

    def set_result(self, result: str | None, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...

    def cancel(self) -> bool: ...


class OpGroup:
    """The results of ``count`` operations, in order, and one future for all of them.

    Each result is what the operation's single future would have held: the
    apply result (``str | None``) or the exception it failed with. Cancelling
    any operation (the writer is being cancelled) cancels the group's future."""

    __slots__ = ("future", "remaining", "results")

    def __init__(self, count: int) -> None:
        self.future: asyncio.Future[list[str | BaseException | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self.results: list[str | BaseException | None] = [None] * count
        self.remaining = count
        if count == 0:
            self.future.set_result(self.results)

    def slots(self) -> list[OpSlot]:
        """One handle per operation, in the order of :attr:`results`."""
        return [OpSlot(self, index) for index in range(len(self.results))]

    def settle(self, index: int, value: str | BaseException | None) -> None:
        self.results[index] = value
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(self.results)


class OpSlot:
    """One operation of an :class:`OpGroup`, settled once like a future."""

    __slots__ = ("group", "index", "settled")

    def __init__(self, group: OpGroup, index: int) -> None:
        self.group = group
        self.index = index
        self.settled = False

    def done(self) -> bool:
        return self.settled or self.group.future.done()

    def set_result(self, result: str | None, /) -> None:
        self._settle(result)

    def set_exception(self, exception: BaseException, /) -> None:
        self._settle(exception)

    def cancel(self) -> bool:
        self.settled = True
        return self.group.future.cancel()

    def _settle(self, value: str | BaseException | None) -> None:
        if self.done():
            raise asyncio.InvalidStateError(f"operation {self.index} of the group is settled already")
        self.settled = True
        self.group.settle(self.index, value)
