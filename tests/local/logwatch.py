"""Catching tracebacks and errors that the local server logs while a test runs.

A server that answers a bad request correctly but logs a traceback doing so still has a bug
(an exception escaped where a check was missing). :class:`LogWatch` collects every record
that carries an exception or is logged at ERROR or above, from loguru (the server's logger)
and from the standard :mod:`logging` module (aiohttp logs "Error handling request" there),
whatever thread logs it. discobase disables its loguru logger by default (a library should
not log unasked); the watch enables it while it runs and disables it again after.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from loguru import logger


class _Handler(logging.Handler):
    def __init__(self, watch: LogWatch) -> None:
        super().__init__(level=logging.ERROR)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        self.watch.add(f"logging {record.name} {record.levelname}: {record.getMessage()}")


class LogWatch:
    """``with LogWatch() as watch: ...`` then ``watch.problems`` lists what was logged."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._sink_id: int | None = None
        self._handler = _Handler(self)

    def add(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    def _sink(self, message: Any) -> None:
        record = message.record
        kind = "traceback" if record["exception"] is not None else record["level"].name
        self.add(f"loguru {kind}: {record['message']}")

    @staticmethod
    def _wanted(record: Any) -> bool:
        return record["exception"] is not None or record["level"].no >= logger.level("ERROR").no

    def __enter__(self) -> LogWatch:
        self._sink_id = logger.add(self._sink, level=0, filter=self._wanted, catch=False)
        logger.enable("discobase")
        logging.getLogger().addHandler(self._handler)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        logging.getLogger().removeHandler(self._handler)
        logger.disable("discobase")
        if self._sink_id is not None:
            logger.remove(self._sink_id)
            self._sink_id = None

    def clean(self) -> bool:
        with self._lock:
            return not self.problems
