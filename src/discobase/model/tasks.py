"""``WriteTask``: what ``save()``/``update()``/``delete()`` return, awaitable and safe to fire and forget."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from loguru import logger

from discobase.model.binding import TableOwner

__all__ = ["WriteTask", "spawn"]

T = TypeVar("T")


class WriteTask(asyncio.Task[T]):
    """The task ``save()``/``update()``/``delete()`` return: awaitable, and safe to fire and forget.

    A failure nobody retrieved is reported through the event loop's exception
    handler (and discobase's logger) instead of vanishing.

    "Nobody retrieved" is asyncio's own notion: neither awaiting the task nor
    ``result()``/``exception()`` (which ``asyncio.gather`` calls, also with
    ``return_exceptions=True``) looked at the failure before the task was
    garbage-collected. So a write awaited long after it failed, or handed to
    ``gather``, is never reported, and one nobody keeps is reported as soon as
    it is dropped (at once in CPython, unless a reference cycle holds it until
    the next garbage collection).
    """

    def __del__(self) -> None:
        if self._log_traceback:  # it failed, and nobody retrieved the exception
            self._log_traceback = False  # reported here rather than by asyncio's own message
            _report_unobserved(self)
        super().__del__()


def _report_unobserved(task: WriteTask[Any]) -> None:
    error = super(WriteTask, task).exception()
    if error is None:
        return
    logger.opt(exception=error).error("a discobase write that nobody awaited failed: {}", error)
    task.get_loop().call_exception_handler(
        {"message": "discobase write failed and was never awaited", "exception": error, "task": task}
    )


def spawn(coro: Coroutine[Any, Any, T], owner: TableOwner | None = None) -> WriteTask[T]:
    """Run ``coro`` as a :class:`WriteTask` that the owning database waits for at ``close()``."""
    task: WriteTask[T] = WriteTask(coro, loop=asyncio.get_running_loop())
    if owner is not None:
        owner.track_write(task)
    return task
