"""The progress bar of long table operations (bulk inserts, record rewrites)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

__all__ = ["OperationProgress"]


class OperationProgress:
    """Progress of a long operation: a rich bar (``True``), a callback, or nothing.

    rich comes with the ``cli`` extra; without it ``True`` shows no bar (and
    says once, in the log, what to install): a progress bar is never a reason
    for an operation to fail."""

    def __init__(self, progress: bool | Callable[[int, int], object], total: int, label: str) -> None:
        self.total = total
        self.done = 0
        self.callback = progress if callable(progress) else None
        self.bar: Any = None
        self.task: Any = None
        if progress is True:
            try:
                from rich.progress import Progress
            except ImportError:
                logger.info('{}: no progress bar without rich (pip install "discobase[cli]")', label)
                return
            self.bar = Progress(transient=True)
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self) -> OperationProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done."""
        self.done += count
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        if self.callback is not None:
            self.callback(self.done, self.total)
