"""The log record (the ``_logs`` table's model), how one is made from loguru's, and log filters."""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from loguru import logger as _loguru

from discobase.model.query import Condition, FieldExpr
from discobase.model.table import Table

if TYPE_CHECKING:
    from loguru import Record

__all__ = [
    "TRACE_LEVELS",
    "LogFilter",
    "LogRecord",
    "is_own_logger",
    "level_no",
    "portable",
    "record_from_loguru",
]

#: Trace level names accepted besides loguru's, and the loguru level each maps onto.
TRACE_LEVELS: dict[str, str] = {
    "DEPRECATED": "WARNING",
    "ERROR": "ERROR",
    "WARNING": "WARNING",
    "NORMAL": "INFO",
    "DEBUG": "DEBUG",
}


class LogRecord(Table):
    """One log record (the ``_logs`` system table, and the records of every backend).

    ``time`` is in UTC; ``logger`` is loguru's ``record["name"]`` (the module's
    ``__name__``); ``seq`` orders records logged in the same microsecond, and
    ``(process, seq)`` identifies a record.
    """

    time: datetime
    level: str
    level_no: int
    message: str
    logger: str
    module: str
    function: str
    file: str
    line: int
    process: int
    exception: str | None = None
    extra: dict[str, Any] = {}
    seq: int = 0

    # Plain strings, small ints, a UTC time and ``extra`` made JSON-safe by
    # the sink: nothing whose JSON could fail to read back.
    __disco_json_reads_back__: ClassVar[bool] = True

    class Settings:
        name = "_logs"

    @property
    def key(self) -> tuple[int, int]:
        """What identifies the record: ``(process, seq)``."""
        return (self.process, self.seq)

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        """The order records are read in: time, then ``seq``."""
        return (self.time, self.seq, self.process)


def level_no(level: str | int) -> int:
    if isinstance(level, int):
        return level
    name = TRACE_LEVELS.get(level.upper(), level.upper())
    return _loguru.level(name).no


def _json_safe(value: Any) -> dict[str, Any]:
    try:
        safe = json.loads(json.dumps(value, default=repr))
    except (TypeError, ValueError):
        safe = {"repr": repr(value)}
    return safe if isinstance(safe, dict) else {"value": safe}


def is_own_logger(name: str | None) -> bool:
    return name is not None and (name == "discobase" or name.startswith("discobase."))


class _Sequence:
    """A thread-safe, process-wide counter (starts at the clock, so it keeps growing across restarts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = time.time_ns() // 1000

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


_SEQ = _Sequence()


def record_from_loguru(record: Record) -> LogRecord:
    """A :class:`LogRecord` (not attached to a database) from a loguru record."""
    error = record["exception"]
    text: str | None = None
    if error is not None and error.type is not None:
        text = "".join(traceback.format_exception(error.type, error.value, error.traceback))
    return LogRecord(
        time=record["time"].astimezone(UTC),
        level=record["level"].name,
        level_no=record["level"].no,
        message=record["message"],
        logger=record["name"] or "",
        module=record["module"],
        function=record["function"],
        file=record["file"].path,
        line=record["line"] or 0,
        process=record["process"].id,
        exception=text,
        extra=_json_safe(record["extra"]),
        seq=_SEQ.next(),
    )


def portable(entry: LogRecord) -> LogRecord:
    """The record as a plain :class:`LogRecord` (not one of a database's table classes)."""
    if type(entry) is LogRecord:
        return entry
    return LogRecord.model_validate(entry.model_dump())


def _aware(moment: datetime | None) -> datetime | None:
    """``moment`` with UTC as its zone when it has none (naive times are UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _field(table: type[LogRecord], name: str) -> FieldExpr:
    return cast(FieldExpr, getattr(table, name))


@dataclass(frozen=True)
class LogFilter:
    """The filters of ``db.logs.query()``, ``counts()`` and ``delete()``, all ANDed.

    A backend applies them as it can: the ``_logs`` table as query conditions
    (:meth:`conditions`, planned on its indexes), the others record by record
    (:meth:`matches`).
    """

    levels: frozenset[str] | None = None
    """Records of exactly one of these levels."""
    min_level: int | None = None
    """Records at or above this level number."""
    after: datetime | None = None
    """Records strictly after this time."""
    before: datetime | None = None
    """Records strictly before this time."""
    logger: str | None = None
    """Records of this logger or its children."""

    @classmethod
    def of(
        cls,
        *,
        level: str | Sequence[str] | None = None,
        min_level: str | int | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        logger: str | None = None,
    ) -> LogFilter:
        """The filter of the keyword arguments ``db.logs.query()`` takes.

        Level names in any case; naive times are UTC."""
        levels = (
            None
            if level is None
            else frozenset({level.upper()} if isinstance(level, str) else {x.upper() for x in level})
        )
        return cls(
            levels=levels,
            min_level=None if min_level is None else level_no(min_level),
            after=_aware(after),
            before=_aware(before),
            logger=logger,
        )

    def matches(self, entry: LogRecord) -> bool:
        """Whether ``entry`` passes every filter."""
        return (
            (self.levels is None or entry.level in self.levels)
            and (self.min_level is None or entry.level_no >= self.min_level)
            and (self.after is None or entry.time > self.after)
            and (self.before is None or entry.time < self.before)
            and (
                self.logger is None
                or entry.logger == self.logger
                or entry.logger.startswith(self.logger + ".")
            )
        )

    def conditions(self, table: type[LogRecord]) -> list[Condition]:
        """The filters as conditions of ``table.query()``."""
        found: list[Condition] = []
        if self.levels is not None:
            found.append(_field(table, "level").in_(sorted(self.levels)))
        if self.min_level is not None:
            found.append(_field(table, "level_no") >= self.min_level)
        if self.after is not None:
            found.append(_field(table, "time") > self.after)
        if self.before is not None:
            found.append(_field(table, "time") < self.before)
        if self.logger is not None:
            name = _field(table, "logger")
            found.append((name == self.logger) | name.startswith(self.logger + "."))
        return found
