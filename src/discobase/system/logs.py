"""Log records stored in the database: a loguru sink that writes to ``_logs``.

``Database(..., log_table=True)`` or ``db.logs.attach(level="INFO")`` adds a
loguru sink. The sink only appends the record to an in-memory buffer (it
never blocks, and is safe from any thread); a background task writes the
buffered records in batches (group commit) to the primary backend — the
``_logs`` system table by default — and, if that fails, to the fallback
backend, whose records are replayed into the primary when it works again.

Backends (each with a ``fallback=``): :class:`TableBackend` (the ``_logs`` table), :class:`JSONLBackend`,
:class:`CSVBackend`, :class:`SQLiteBackend` and :class:`MemoryBackend`.

Records logged by discobase itself are never stored (that would recurse).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import sqlite3
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from loguru import logger as _loguru

from discobase.exceptions import DiscobaseError, NotConnectedError
from discobase.model.binding import binding_of
from discobase.model.table import Table

if TYPE_CHECKING:
    from loguru import Message, Record

    from discobase.database import Database

__all__ = [
    "TRACE_LEVELS",
    "CSVBackend",
    "JSONLBackend",
    "LogBackend",
    "LogCount",
    "LogManager",
    "LogRecord",
    "MemoryBackend",
    "SQLiteBackend",
    "TableBackend",
]

#: Trace level names accepted besides loguru's, and the loguru level each maps onto.
TRACE_LEVELS: dict[str, str] = {
    "DEPRECATED": "WARNING",
    "ERROR": "ERROR",
    "WARNING": "WARNING",
    "NORMAL": "INFO",
    "DEBUG": "DEBUG",
}

GroupBy = Literal["day", "month", "year"]
Direction = Literal["asc", "desc"]


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


def _level_no(level: str | int) -> int:
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


def _is_own(name: str | None) -> bool:
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


def _portable(entry: LogRecord) -> LogRecord:
    """The record as a plain :class:`LogRecord` (not one of a database's table classes)."""
    if type(entry) is LogRecord:
        return entry
    return LogRecord.model_validate(entry.model_dump())


# ---------------------------------------------------------------------- backends
class LogBackend:
    """Where log records are stored.

    Args:
        fallback: the backend that receives the records this one fails to store.
    """

    def __init__(self, fallback: LogBackend | None = None) -> None:
        self.fallback = fallback

    async def open(self, manager: LogManager) -> None:
        """Called before the first write (the table backend attaches its table)."""
        if self.fallback is not None:
            await self.fallback.open(manager)

    async def write(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        """Store ``entries`` in order; returns those that could not be stored
        (raising means none was)."""
        raise NotImplementedError

    async def read(self) -> list[LogRecord]:
        """Every stored record, oldest first."""
        raise NotImplementedError

    async def remove(self, entries: Sequence[LogRecord]) -> int:
        """Delete the stored records with the keys of ``entries``; returns how many."""
        raise NotImplementedError

    async def count(self) -> int:
        """How many records are stored."""
        return len(await self.read())


class MemoryBackend(LogBackend):
    """Records kept in memory (the default fallback: lost when the process exits).

    Args:
        limit: the most records kept; beyond it the oldest are dropped.
    """

    def __init__(self, limit: int = 100_000, fallback: LogBackend | None = None) -> None:
        super().__init__(fallback)
        self.limit = limit
        self.entries: deque[LogRecord] = deque()
        self.dropped = 0

    async def write(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        self.entries.extend(_portable(e) for e in entries)
        while len(self.entries) > self.limit:
            self.entries.popleft()
            self.dropped += 1
        return []

    async def read(self) -> list[LogRecord]:
        return list(self.entries)

    async def remove(self, entries: Sequence[LogRecord]) -> int:
        keys = {e.key for e in entries}
        before = len(self.entries)
        self.entries = deque(e for e in self.entries if e.key not in keys)
        return before - len(self.entries)

    async def count(self) -> int:
        return len(self.entries)


class _FileBackend(LogBackend):
    """A backend in one file; every operation runs in a worker thread."""

    def __init__(self, path: str | os.PathLike[str], fallback: LogBackend | None = None) -> None:
        super().__init__(fallback)
        self.path = Path(path)
        self._lock = threading.Lock()

    def _write(self, entries: Sequence[LogRecord]) -> None:
        raise NotImplementedError

    def _read(self) -> list[LogRecord]:
        raise NotImplementedError

    def _replace(self, entries: Sequence[LogRecord]) -> None:
        raise NotImplementedError

    def _locked(self, func: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            return func(*args)

    async def write(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        if entries:
            await asyncio.to_thread(self._locked, self._write, entries)
        return []

    async def read(self) -> list[LogRecord]:
        result: list[LogRecord] = await asyncio.to_thread(self._locked, self._read)
        return result

    def _remove(self, keys: set[tuple[int, int]]) -> int:
        entries = self._read()
        kept = [e for e in entries if e.key not in keys]
        if len(kept) != len(entries):
            self._replace(kept)
        return len(entries) - len(kept)

    async def remove(self, entries: Sequence[LogRecord]) -> int:
        if not entries:
            return 0
        removed: int = await asyncio.to_thread(self._locked, self._remove, {e.key for e in entries})
        return removed


class JSONLBackend(_FileBackend):
    """Records as JSON lines in ``path``; an unreadable
    line (e.g. one cut short by a crash) is skipped."""

    def _write(self, entries: Sequence[LogRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(_portable(e).model_dump_json() + "\n" for e in entries)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())

    def _read(self) -> list[LogRecord]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                entries.append(LogRecord.model_validate_json(line))
        return entries

    def _replace(self, entries: Sequence[LogRecord]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text("".join(e.model_dump_json() + "\n" for e in entries), encoding="utf-8")
        os.replace(temporary, self.path)


_COLUMNS = list(LogRecord.model_fields)


class CSVBackend(_FileBackend):
    """Records as CSV rows in ``path``: one column per
    field, ``exception`` and ``extra`` as JSON."""

    @staticmethod
    def _row(entry: LogRecord) -> list[str]:
        data = _portable(entry).model_dump(mode="json")
        return [
            json.dumps(data[name]) if name in ("exception", "extra") else str(data[name]) for name in _COLUMNS
        ]

    def _write(self, entries: Sequence[LogRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            if new:
                writer.writerow(_COLUMNS)
            writer.writerows(self._row(e) for e in entries)
            file.flush()
            os.fsync(file.fileno())

    def _read(self) -> list[LogRecord]:
        if not self.path.exists():
            return []
        entries = []
        with self.path.open(encoding="utf-8", newline="") as file:
            for row in csv.DictReader(file):
                try:
                    values: dict[str, Any] = dict(row)
                    values["exception"] = json.loads(values["exception"])
                    values["extra"] = json.loads(values["extra"])
                    entries.append(LogRecord.model_validate(values))
                except (ValueError, KeyError, TypeError):
                    continue
        return entries

    def _replace(self, entries: Sequence[LogRecord]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(_COLUMNS)
            writer.writerows(self._row(e) for e in entries)
        os.replace(temporary, self.path)


class SQLiteBackend(_FileBackend):
    """Records in the ``logs`` table of the SQLite database ``path``."""

    _SCHEMA: ClassVar[str] = (
        "CREATE TABLE IF NOT EXISTS logs (process INTEGER, seq INTEGER, time TEXT, data TEXT, "
        "PRIMARY KEY (process, seq))"
    )

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path)
        connection.execute(self._SCHEMA)
        return connection

    def _write(self, entries: Sequence[LogRecord]) -> None:
        connection = self._connect()
        try:
            with connection:
                connection.executemany(
                    "INSERT OR IGNORE INTO logs VALUES (?, ?, ?, ?)",
                    [(e.process, e.seq, e.time.isoformat(), _portable(e).model_dump_json()) for e in entries],
                )
        finally:
            connection.close()

    def _read(self) -> list[LogRecord]:
        if not self.path.exists():
            return []
        connection = self._connect()
        try:
            rows = connection.execute("SELECT data FROM logs ORDER BY time, seq, process").fetchall()
        finally:
            connection.close()
        return [LogRecord.model_validate_json(data) for (data,) in rows]

    def _remove(self, keys: set[tuple[int, int]]) -> int:
        connection = self._connect()
        try:
            with connection:
                cursor = connection.executemany("DELETE FROM logs WHERE process = ? AND seq = ?", list(keys))
                return cursor.rowcount
        finally:
            connection.close()


class TableBackend(LogBackend):
    """Records in the database's ``_logs`` system table (the default primary)."""

    def __init__(self, fallback: LogBackend | None = None) -> None:
        super().__init__(fallback)
        self.table: type[LogRecord] | None = None

    async def open(self, manager: LogManager) -> None:
        self.table = manager.table
        await super().open(manager)

    def _table(self) -> type[LogRecord]:
        if self.table is None:
            raise DiscobaseError("the log table backend is not attached to a database")
        return self.table

    async def write(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        table = self._table()
        # The entries are valid LogRecords and the table has their fields: no
        # second validation. One insert_each: group commit packs the batch into
        # few messages, and each record's own outcome is known (a batch can
        # fail part-way).
        rows = [table.model_construct(e.model_fields_set, **e.__dict__) for e in entries]
        errors = await table.insert_each(rows)
        return [e for e, error in zip(entries, errors, strict=True) if error is not None]

    async def read(self) -> list[LogRecord]:
        found: list[LogRecord] = await self._table().find()
        found.sort(key=lambda e: e.sort_key)
        return found

    async def remove(self, entries: Sequence[LogRecord]) -> int:
        keys = {e.key for e in entries}
        doomed = [e for e in await self._table().find() if e.key in keys]
        await asyncio.gather(*(e.delete() for e in doomed))
        return len(doomed)

    async def count(self) -> int:
        return await self._table().query().count()


# ---------------------------------------------------------------------- the sink machinery
class SinkWorker:
    """A loguru sink feeding a background task that processes records in batches.

    The sink appends to a buffer (thread-safe, never blocking, never
    recursing: discobase's own records are skipped); the task, started on the
    database's event loop, processes what the buffer holds, one batch at a time.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.level: str | int = "INFO"
        self.batch_size = 500
        self.max_buffer = 100_000
        self.dropped = 0
        """Records dropped because the buffer was full (or could not be stored anywhere)."""
        self._handler: int | None = None
        self._buffer: deque[LogRecord] = deque()
        self._received = 0
        self._processed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        db.on_close(self.before_close)
        self._wake: asyncio.Event | None = None
        self._signalled = False
        self._progress: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._filter: Callable[[Record], bool] | None = None

    @property
    def attached(self) -> bool:
        """Whether the loguru sink is installed."""
        return self._handler is not None

    def _install(self, level: str | int, filter: Callable[[Record], bool] | None) -> None:
        if self._handler is not None:
            raise DiscobaseError(f"{type(self).__name__} is already attached; detach() it first")
        self.level = TRACE_LEVELS.get(level.upper(), level.upper()) if isinstance(level, str) else level
        self._filter = filter
        self._handler = _loguru.add(self._sink, level=self.level, filter=self._accept, catch=True)
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    def detach(self) -> None:
        """Remove the loguru sink (records already received are still written)."""
        if self._handler is not None:
            _loguru.remove(self._handler)
            self._handler = None

    def _accept(self, record: Record) -> bool:
        if _is_own(record["name"]):
            return False
        return self._filter is None or self._filter(record)

    def _sink(self, message: Message) -> None:
        if len(self._buffer) >= self.max_buffer:
            self.dropped += 1
            return
        self._buffer.append(record_from_loguru(message.record))
        self._received += 1
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            self._loop = running
            self._start()
            if self._wake is not None and not self._signalled:
                self._signalled = True
                self._wake.set()
        elif self._loop is not None and not self._signalled and not self._loop.is_closed():
            self._signalled = True
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        self._start()
        if self._wake is not None:
            self._wake.set()

    def _live(self) -> bool:
        return self.db.open or self.db.status.name == "STARTING"

    def _start(self) -> None:
        """Start the background task (on the running loop) if the database is open."""
        if self._task is not None and not self._task.done():
            return
        if not self._live():
            return  # records wait in the buffer until the database opens
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._lock = self._lock or asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"discobase {type(self).__name__}")
        self._task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

    async def _run(self) -> None:
        await self.db.ensure_ready()
        assert self._wake is not None
        assert self._progress is not None
        assert self._lock is not None
        async with self._lock:
            await self._setup()
        while True:
            self._signalled = False
            self._wake.clear()
            if not self._buffer:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._idle_timeout())
                except TimeoutError:
                    async with self._lock:
                        await self._idle()
                    continue
            batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
            try:
                async with self._lock:
                    await self._process(batch)
            except Exception as error:  # never let the worker die: count, and tell stderr
                self.dropped += len(batch)
                print(f"discobase: {len(batch)} log record(s) lost: {error!r}", file=sys.stderr)
            self._processed += len(batch)
            self._progress.set()

    def _idle_timeout(self) -> float | None:
        return None

    async def _idle(self) -> None:
        """Called when the buffer stayed empty for :meth:`_idle_timeout` seconds."""

    async def _setup(self) -> None:
        """Make sure the system tables are built (attaching after opening builds them now)."""
        for table in self._tables():
            if not binding_of(table).ready:
                await self.db.build_tables()
                return

    def _tables(self) -> list[type[Table]]:
        raise NotImplementedError

    async def _process(self, batch: list[LogRecord]) -> None:
        raise NotImplementedError

    async def _drain(self) -> None:
        """Wait until every record received so far is processed."""
        if not self.db.open:
            raise NotConnectedError("the database is not open: log records are written while it is")
        target = self._received
        if self._processed >= target:
            return
        self._start()
        while self._processed < target:
            task, progress = self._task, self._progress
            assert task is not None
            assert progress is not None
            if task.done():
                if not task.cancelled() and task.exception() is not None:
                    raise DiscobaseError("the log writer failed") from task.exception()
                self._start()
                continue
            progress.clear()
            if self._wake is not None:
                self._wake.set()
            waiter = asyncio.ensure_future(progress.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    async def before_close(self) -> None:
        """Called by ``Database.close()`` while the database is still open: write
        what the buffer holds, then stop the background task."""
        try:
            await self._drain()
            await self._closing()
        finally:
            task, self._task = self._task, None
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _closing(self) -> None:
        """Last work before the database closes."""


class LogCount(NamedTuple):
    """One row of :meth:`LogManager.counts`: a period (its first day), a level
    (None when not grouped by level) and how many records (``total``)."""

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


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def select(
    entries: Sequence[LogRecord],
    *,
    level: str | Sequence[str] | None = None,
    min_level: str | int | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    logger: str | None = None,
) -> list[LogRecord]:
    """The records matching every filter (see :meth:`LogManager.query`)."""
    levels = (
        None if level is None else {level.upper()} if isinstance(level, str) else {x.upper() for x in level}
    )
    floor = None if min_level is None else _level_no(min_level)
    after, before = _aware(after), _aware(before)
    found = []
    for entry in entries:
        if levels is not None and entry.level not in levels:
            continue
        if floor is not None and entry.level_no < floor:
            continue
        if after is not None and entry.time <= after:
            continue
        if before is not None and entry.time >= before:
            continue
        if logger is not None and not (entry.logger == logger or entry.logger.startswith(logger + ".")):
            continue
        found.append(entry)
    return found


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
        """Write what the fallback holds into the primary (in order, each record
        once); returns whether the fallback is empty."""
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
        """Wait until every record logged so far is written, and try replaying
        the fallback's records into the primary now."""
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
    async def _entries(self) -> list[LogRecord]:
        if self.db.open:
            await SinkWorker._setup(self)  # builds the table if it was attached after opening
        if not self._opened:
            await self.backend.open(self)
        entries = await self.backend.read()
        entries.sort(key=lambda e: e.sort_key)
        return entries

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
        found = select(
            await self._entries(), level=level, min_level=min_level, after=after, before=before, logger=logger
        )
        if direction == "desc":
            found.reverse()
        elif direction != "asc":
            raise ValueError(f"direction must be 'asc' or 'desc', not {direction!r}")
        end = None if limit is None else offset + limit
        return found[offset:end]

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
        """How many records per period (UTC day, month or year), and per level
        with ``by_level``. Rows sort by
        ``sort_by`` in ``direction``, ties by period then level, ascending."""
        if sort_by not in ("period", "total", "level"):
            raise ValueError(f"sort_by must be 'period', 'total' or 'level', not {sort_by!r}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"direction must be 'asc' or 'desc', not {direction!r}")
        found = select(
            await self._entries(), level=level, min_level=min_level, after=after, before=before, logger=logger
        )
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
        """Delete the stored records matching every filter (all of them without
        one); returns how many."""
        found = select(
            await self._entries(), level=level, min_level=min_level, after=after, before=before, logger=logger
        )
        return await self.backend.remove(found) if found else 0

    async def _retain(self, days: float) -> int:
        return await self.delete(before=datetime.now(UTC) - timedelta(days=days))

    async def retain(self, days: float) -> int:
        """Delete the records older than ``days`` days; returns how many."""
        if self._lock is None:
            return await self._retain(days)
        async with self._lock:
            return await self._retain(days)
