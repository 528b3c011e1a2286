"""Where log records are stored: the ``_logs`` table, files (JSON lines, CSV, SQLite) or memory.

Each backend may have a ``fallback=``, the backend that receives the records it fails to store.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from discobase.exceptions import DiscobaseError
from discobase.model.query import FieldExpr, Query
from discobase.system.log_records import LogFilter, LogRecord, portable

if TYPE_CHECKING:
    from discobase.system.logs import LogManager

__all__ = [
    "CSVBackend",
    "FileBackend",
    "JSONLBackend",
    "LogBackend",
    "MemoryBackend",
    "SQLiteBackend",
    "TableBackend",
]


def _field(table: type[LogRecord], name: str) -> FieldExpr:
    return cast(FieldExpr, getattr(table, name))


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
        """Store ``entries`` in order; returns those that could not be stored.

        Raising means none was."""
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

    async def select(
        self, where: LogFilter, *, descending: bool = False, offset: int = 0, limit: int | None = None
    ) -> list[LogRecord]:
        """The stored records ``where`` matches, oldest first (``descending``: newest first).

        From ``offset`` on, at most ``limit`` of them."""
        found = sorted((e for e in await self.read() if where.matches(e)), key=lambda e: e.sort_key)
        if descending:
            found.reverse()
        return found[offset : None if limit is None else offset + limit]

    async def delete(self, where: LogFilter) -> int:
        """Delete the stored records ``where`` matches; returns how many."""
        found = await self.select(where)
        return await self.remove(found) if found else 0


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
        self.entries.extend(portable(e) for e in entries)
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


class FileBackend(LogBackend):
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


class JSONLBackend(FileBackend):
    """Records as JSON lines in ``path``.

    An unreadable line (e.g. one cut short by a crash) is skipped."""

    def _write(self, entries: Sequence[LogRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(portable(e).model_dump_json() + "\n" for e in entries)
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


class CSVBackend(FileBackend):
    """Records as CSV rows in ``path``.

    One column per field; ``exception`` and ``extra`` as JSON."""

    @staticmethod
    def _row(entry: LogRecord) -> list[str]:
        data = portable(entry).model_dump(mode="json")
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


class SQLiteBackend(FileBackend):
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
                    [(e.process, e.seq, e.time.isoformat(), portable(e).model_dump_json()) for e in entries],
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

    def _ordered(self, where: LogFilter, descending: bool = False) -> Query[LogRecord]:
        table = self._table()
        keys = [_field(table, name) for name in ("time", "seq", "process")]
        return table.query(*where.conditions(table)).sort(*(-key if descending else key for key in keys))

    async def read(self) -> list[LogRecord]:
        return await self._ordered(LogFilter())

    async def select(
        self, where: LogFilter, *, descending: bool = False, offset: int = 0, limit: int | None = None
    ) -> list[LogRecord]:
        return await self._ordered(where, descending).skip(offset).limit(limit)

    async def delete(self, where: LogFilter) -> int:
        table = self._table()
        return await table.query(*where.conditions(table)).delete()

    async def remove(self, entries: Sequence[LogRecord]) -> int:
        table = self._table()
        by_process: dict[int, set[int]] = {}
        for entry in entries:
            by_process.setdefault(entry.process, set()).add(entry.seq)
        removed = 0
        for process, seqs in by_process.items():
            removed += await table.query(
                _field(table, "process") == process, _field(table, "seq").in_(sorted(seqs))
            ).delete()
        return removed

    async def count(self) -> int:
        return await self._table().query().count()
