"""The loguru sink that feeds the log table and tickets: a buffer and a background writer."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger as _loguru

from discobase.exceptions import DiscobaseError, NotConnectedError
from discobase.model.binding import binding_of
from discobase.model.table import Table
from discobase.system.log_records import TRACE_LEVELS, LogRecord, is_own_logger, record_from_loguru

if TYPE_CHECKING:
    from loguru import Message, Record

    from discobase.database import Database

__all__ = ["SinkWorker"]


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
        if is_own_logger(record["name"]):
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
        """Write what the buffer holds, then stop the background task.

        Runs at the start of ``Database.close()``, while the database is still open."""
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
