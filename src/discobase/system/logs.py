"""Log records stored in the database: ``db.logs``, a loguru sink that writes to ``_logs``.

``Database(..., log_table=True)`` or ``db.logs.attach(level="INFO")`` adds a
loguru sink. The sink only appends the record to an in-memory buffer (it
never blocks, and is safe from any thread); a background task writes the
buffered records in batches (group commit) to the primary backend — the
``_logs`` system table by default — and, if that fails, to the fallback
backend, whose records are replayed into the primary when it works again.
Reading, analytics and deletion go through the backend: on the table, as
queries planned on its indexes.

Records logged by discobase itself are never stored (that would recurse).
The record model is in :mod:`discobase.system.log_records`, the backends in
:mod:`discobase.system.log_backends`, the sink in :mod:`discobase.system.sink`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from discobase.model.table import Table
from discobase.system.log_backends import (
    CSVBackend,
    FileBackend,
    JSONLBackend,
    LogBackend,
    MemoryBackend,
    SQLiteBackend,
    TableBackend,
)
from discobase.system.log_records import TRACE_LEVELS, LogFilter, LogRecord, record_from_loguru
from discobase.system.sink import SinkWorker

if TYPE_CHECKING:
    from loguru import Record

    from discobase.database import Database

__all__ = [
    "TRACE_LEVELS",
    "CSVBackend",
    "FileBackend",
    "JSONLBackend",
    "LogBackend",
    "LogCount",
    "LogFilter",
    "LogManager",
    "LogRecord",
    "MemoryBackend",
    "SQLiteBackend",
    "TableBackend",
    "record_from_loguru",
]

GroupBy = Literal["day", "month", "year"]
Direction = Literal["asc", "desc"]


class LogCount(NamedTuple):
    """One row of :meth:`LogManager.counts`.

    A period (its first day), a level (None when not grouped by level) and how
    many records (``total``)."""

    period: date
    level: str | None
    total: int


def _period(moment: datetime, group_by: GroupBy) -> date:
    day = moment.astimezone(UTC).date()
    if group_by == "day":
        return day
    if group_by == "month":
        return day.replace(day=1)
    if group_by == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"group_by must be 'day', 'month' or 'year', not {group_by!r}")


class LogManager(SinkWorker):
    """``db.logs``: the log sink, its backends, and reading, analytics and deletion.

    Attach it with ``db.logs.attach(level="INFO")`` (or ``Database(...,
    log_table=True)``) before opening the database.
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.backend: LogBackend = TableBackend()
        """The primary backend."""
        self.fallback: LogBackend = MemoryBackend()
        """Where records go when the primary fails; replayed into it later."""
        self.retry_interval = 1.0
        self.keep_days: float | None = None
        self.retention_interval = 3600.0
        self.table: type[LogRecord] = db.system_table(LogRecord)
        self._spooled = False
        self._next_retry = 0.0
        self._next_retention = 0.0
        self._opened = False
        self._bind(self.backend)

    def _bind(self, backend: LogBackend | None) -> None:
        while backend is not None:
            if isinstance(backend, TableBackend) and backend.table is None:
                backend.table = self.table
            backend = backend.fallback

    def attach(
        self,
        level: str | int = "INFO",
        *,
        backend: LogBackend | None = None,
        fallback: LogBackend | None = None,
        batch_size: int = 5000,
        retry_interval: float = 1.0,
        keep_days: float | None = None,
        filter: Callable[[Record], bool] | None = None,
    ) -> LogManager:
        """Store the records of loguru's ``logger`` at or above ``level``.

        Args:
            level: a loguru level name or number, or one of :data:`TRACE_LEVELS`
                (``NORMAL`` is ``INFO``, ``DEPRECATED`` is ``WARNING``).
            backend: the primary backend (default: the ``_logs`` table).
            fallback: where records go while the primary fails (default: the
                backend's own ``fallback``, else memory); they are replayed into
                the primary, in order and once each, when it works again.
            batch_size: the most records written at once.
            retry_interval: seconds between two attempts to replay into a failing primary.
            keep_days: retention: records older than this many days are deleted
                (at start, then hourly).
            filter: a further loguru filter (``record -> bool``).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if backend is not None:
            self.backend = backend
        if fallback is not None:
            self.fallback = fallback
        elif self.backend.fallback is not None:
            self.fallback = self.backend.fallback
        self._bind(self.backend)
        self._bind(self.fallback)
        self.batch_size = batch_size
        self.retry_interval = retry_interval
        self.keep_days = keep_days
        self._install(level, filter)
        return self

    def _tables(self) -> list[type[Table]]:
        return [self.table]

    async def _setup(self) -> None:
        await super()._setup()
        if not self._opened:
            await self.backend.open(self)
            await self.fallback.open(self)
            self._opened = True
        self._spooled = await self.fallback.count() > 0  # left by an earlier run
        await self._idle()

    def _idle_timeout(self) -> float | None:
        return self.retry_interval if self._spooled else min(self.retention_interval, 3600.0)

    async def _idle(self) -> None:
        if self._spooled and time.monotonic() >= self._next_retry:
            await self._replay()
        if self.keep_days is not None and time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + self.retention_interval
            await self._retain(self.keep_days)

    async def _store(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        try:
            return await self.backend.write(entries)
        except Exception:
            return list(entries)

    async def _spool(self, entries: Sequence[LogRecord]) -> None:
        if not entries:
            return
        self._spooled = True
        self._next_retry = time.monotonic() + self.retry_interval
        try:
            await self.fallback.write(entries)
        except Exception as error:
            self.dropped += len(entries)
            print(
                f"discobase: {len(entries)} log record(s) lost (fallback failed: {error!r})", file=sys.stderr
            )

    async def _process(self, batch: list[LogRecord]) -> None:
        if self._spooled and time.monotonic() >= self._next_retry:
            await self._replay()
        if self._spooled:  # keep the order: behind what waits in the fallback
            await self._spool(batch)
            return
        await self._spool(await self._store(batch))

    async def _replay(self) -> bool:
        """Write what the fallback holds into the primary; returns whether the fallback is empty.

        Records go in order, each once.
        """
        pending = await self.fallback.read()
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            failed = await self._store(chunk)
            keys = {e.key for e in failed}
            stored = [e for e in chunk if e.key not in keys]
            if stored:
                await self.fallback.remove(stored)
            if failed:
                self._next_retry = time.monotonic() + self.retry_interval
                return False
        self._spooled = False
        return True

    async def flush(self) -> None:
        """Wait until every record logged so far is written.

        Also tries replaying the fallback's records into the primary now."""
        await self._drain()
        if self._spooled and self._lock is not None:
            async with self._lock:
                await self._replay()

    async def _closing(self) -> None:
        if self._spooled and self._lock is not None:
            async with self._lock:
                await self._replay()

    async def pending(self) -> int:
        """How many records wait in the fallback."""
        return await self.fallback.count()

    # ------------------------------------------------------------------ reading
    async def _reader(self) -> LogBackend:
        """The primary backend, ready to read (the table built if it was attached after opening)."""
        if self.db.open:
            await SinkWorker._setup(self)
        if not self._opened:
            await self.backend.open(self)
        return self.backend

    async def query(
        self,
        *,
        level: str | Sequence[str] | None = None,
        min_level: str | int | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        logger: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        direction: Direction = "asc",
    ) -> list[LogRecord]:
        """The stored records matching every filter, oldest first (``direction="desc"``: newest first).

        Args:
            level: a level name (or several): records of exactly that level.
            min_level: records at or above this level (name or number).
            after: records strictly after this time (naive times are UTC).
            before: records strictly before this time.
            logger: records of this logger or its children (``"app"`` matches ``"app.db"``).
            limit: the most records returned (after ``offset``).
        """
        if direction not in ("asc", "desc"):
            raise ValueError(f"direction must be 'asc' or 'desc', not {direction!r}")
        where = LogFilter.of(level=level, min_level=min_level, after=after, before=before, logger=logger)
        backend = await self._reader()
        return await backend.select(where, descending=direction == "desc", offset=offset, limit=limit)

    async def counts(
        self,
        group_by: GroupBy = "day",
        *,
        by_level: bool = True,
        level: str | Sequence[str] | None = None,
        min_level: str | int | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        logger: str | None = None,
        sort_by: Literal["period", "total", "level"] = "period",
        direction: Direction = "asc",
        limit: int | None = 500,
    ) -> list[LogCount]:
        """How many records per period (UTC day, month or year), and per level with ``by_level``.

        Rows sort by ``sort_by`` in ``direction``, ties by period then level, ascending."""
        if sort_by not in ("period", "total", "level"):
            raise ValueError(f"sort_by must be 'period', 'total' or 'level', not {sort_by!r}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"direction must be 'asc' or 'desc', not {direction!r}")
        where = LogFilter.of(level=level, min_level=min_level, after=after, before=before, logger=logger)
        found = await (await self._reader()).select(where)
        tally = Counter((_period(e.time, group_by), e.level if by_level else None) for e in found)
        if not found:
            _period(datetime.now(UTC), group_by)  # still reject a bad group_by
        rows = sorted(
            (LogCount(p, lv, n) for (p, lv), n in tally.items()), key=lambda r: (r.period, r.level or "")
        )
        if sort_by != "period" or direction == "desc":
            rows.sort(key=lambda r: getattr(r, sort_by) or "", reverse=direction == "desc")
        return rows if limit is None else rows[:limit]

    # ------------------------------------------------------------------ deleting
    async def delete(
        self,
        *,
        level: str | Sequence[str] | None = None,
        min_level: str | int | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        logger: str | None = None,
    ) -> int:
        """Delete the stored records matching every filter; returns how many.

        Without a filter, every record is deleted."""
        where = LogFilter.of(level=level, min_level=min_level, after=after, before=before, logger=logger)
        return await (await self._reader()).delete(where)

    async def _retain(self, days: float) -> int:
        return await self.delete(before=datetime.now(UTC) - timedelta(days=days))

    async def retain(self, days: float) -> int:
        """Delete the records older than ``days`` days; returns how many."""
        if self._lock is None:
            return await self._retain(days)
        async with self._lock:
            return await self._retain(days)
