"""``db.logs``: the loguru sink, the ``_logs`` table, fallbacks, analytics."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger

import discobase
from discobase.exceptions import DatabaseStorageError, DiscobaseError
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.transport import FileData, RawMessage
from discobase.system.logs import (
    TRACE_LEVELS,
    CSVBackend,
    JSONLBackend,
    LogBackend,
    LogCount,
    LogRecord,
    MemoryBackend,
    SQLiteBackend,
    TableBackend,
)


class FlakyTransport(MemoryTransport):
    """A memory transport whose sends fail while ``broken`` is set."""

    broken = False

    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        if self.broken:
            raise DatabaseStorageError("Discord is down")
        return await super().send(channel_id, content, files, nonce=nonce)


@pytest.fixture
def memory() -> MemoryDiscord:
    return MemoryDiscord(["db"])


@pytest.fixture
def transport(memory: MemoryDiscord) -> FlakyTransport:
    return FlakyTransport(memory)


@pytest.fixture
def make_db(memory: MemoryDiscord) -> Iterator[Callable[..., discobase.Database]]:
    """Databases on the shared memory server; their sinks are removed afterwards."""
    made: list[discobase.Database] = []

    def make(transport: MemoryTransport | None = None, **kwargs: Any) -> discobase.Database:
        db = discobase.Database("db", transport=transport or MemoryTransport(memory), **kwargs)
        made.append(db)
        return db

    yield make
    for db in made:
        db.logs.detach()


@pytest.fixture
async def opened(make_db: Callable[..., discobase.Database]) -> AsyncIterator[discobase.Database]:
    db = make_db()
    db.logs.attach("DEBUG")
    async with db.conn():
        yield db


def entry(
    when: datetime, level: str = "INFO", name: str = "app", seq: int = 0, message: str = "m"
) -> LogRecord:
    numbers = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
    return LogRecord(
        time=when,
        level=level,
        level_no=numbers[level],
        message=message,
        logger=name,
        module="mod",
        function="f",
        file="mod.py",
        line=1,
        process=1,
        seq=seq,
    )


# ---------------------------------------------------------------------- the sink
async def test_records_logged_through_loguru_land_in_the_logs_table(opened: discobase.Database) -> None:
    for number in range(300):
        logger.bind(number=number).info("record {}", number)
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("it failed")
    logger.debug("a debug line")
    await opened.logs.flush()
    records = await opened.logs.query()
    assert [r.message for r in records[:300]] == [f"record {n}" for n in range(300)]
    assert [r.extra["number"] for r in records[:300]] == list(range(300))
    first = records[0]
    assert first.level == "INFO"
    assert first.level_no == 20
    assert first.logger == __name__
    assert first.module == "test_logs"
    assert first.function == "test_records_logged_through_loguru_land_in_the_logs_table"
    assert first.file == __file__
    assert first.line > 0
    assert first.time.tzinfo is not None
    failed = records[300]
    assert failed.level == "ERROR"
    assert failed.exception is not None
    assert "ValueError: bad value" in failed.exception
    assert records[301].level == "DEBUG"
    assert len(await opened.logs.table.find()) == 302  # stored once each


async def test_writes_are_batched_into_few_messages(
    make_db: Callable[..., discobase.Database], memory: MemoryDiscord
) -> None:
    transport = MemoryTransport(memory)
    db = make_db(transport)
    db.logs.attach()
    async with db.conn():
        transport.requests.clear()
        for number in range(1000):
            logger.info("record {}", number)
        await db.logs.flush()
        sends = transport.requests["POST /channels/{channel_id}/messages"]
        assert len(await db.logs.table.find()) == 1000
        assert sends < 100  # group commit: far fewer messages than records


async def test_discobase_own_records_are_not_stored(make_db: Callable[..., discobase.Database]) -> None:
    db = make_db(logging=True)  # discobase logs (a lot) while writing the log records
    db.logs.attach("DEBUG")
    try:
        async with db.conn():
            logger.info("mine")
            await db.logs.flush()
            await asyncio.sleep(0.05)
            await db.logs.flush()
            records = await db.logs.query()
            assert [r.message for r in records] == ["mine"]
    finally:
        logger.disable("discobase")


async def test_records_from_threads_are_stored(opened: discobase.Database) -> None:
    def work(number: int) -> None:
        for line in range(50):
            logger.info("thread {} line {}", number, line)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join)
    await opened.logs.flush()
    messages = [r.message for r in await opened.logs.query()]
    assert sorted(messages) == sorted(f"thread {n} line {x}" for n in range(4) for x in range(50))
    for number in range(4):  # each thread's records keep their order
        own = [m for m in messages if m.startswith(f"thread {number} ")]
        assert own == [f"thread {number} line {x}" for x in range(50)]


async def test_log_table_option_keeps_records_logged_before_open_and_at_close(
    make_db: Callable[..., discobase.Database],
) -> None:
    db = make_db(log_table=True)
    assert db.logs.attached
    assert db.logs.level == "INFO"
    logger.info("before open")
    logger.debug("below the level")
    async with db.conn():
        logger.info("while open")
    # close() wrote the buffered records: a new process sees them
    again = make_db()
    async with again.conn():
        assert [r.message for r in await again.logs.query()] == ["before open", "while open"]


async def test_attach_after_opening_builds_the_table(make_db: Callable[..., discobase.Database]) -> None:
    db = make_db()
    async with db.conn():
        db.logs.attach()
        logger.info("late")
        await db.logs.flush()
        assert [r.message for r in await db.logs.query()] == ["late"]


def test_trace_levels_and_bad_arguments(make_db: Callable[..., discobase.Database]) -> None:
    assert TRACE_LEVELS == {
        "DEPRECATED": "WARNING",
        "ERROR": "ERROR",
        "WARNING": "WARNING",
        "NORMAL": "INFO",
        "DEBUG": "DEBUG",
    }
    db = make_db()
    db.logs.attach("NORMAL")
    assert db.logs.level == "INFO"
    with pytest.raises(DiscobaseError, match="already attached"):
        db.logs.attach()
    db.logs.detach()
    assert not db.logs.attached
    with pytest.raises(ValueError, match="batch_size"):
        db.logs.attach(batch_size=0)


# ---------------------------------------------------------------------- fallbacks
def backends(tmp: Path) -> dict[str, LogBackend]:
    return {
        "memory": MemoryBackend(),
        "jsonl": JSONLBackend(tmp / "spool.jsonl"),
        "csv": CSVBackend(tmp / "spool.csv"),
        "sqlite": SQLiteBackend(tmp / "spool.sqlite3"),
    }


@pytest.mark.parametrize("kind", ["memory", "jsonl", "csv", "sqlite"])
async def test_failed_writes_go_to_the_fallback_and_are_replayed_once_in_order(
    kind: str, tmp_path: Path, make_db: Callable[..., discobase.Database], transport: FlakyTransport
) -> None:
    fallback = backends(tmp_path)[kind]
    db = make_db(transport)
    db.logs.attach(fallback=fallback, batch_size=64, retry_interval=0.01)
    async with db.conn():
        logger.info("before the outage")
        await db.logs.flush()
        transport.broken = True
        for number in range(500):
            logger.bind(number=number).info("during the outage {}", number)
        await db.logs.flush()  # the replay it tries fails too
        assert await db.logs.pending() == 500
        assert await fallback.count() == 500
        assert len(await db.logs.table.find()) == 1
        transport.broken = False
        await db.logs.flush()
        assert await db.logs.pending() == 0
        records = await db.logs.query()
        expected = ["before the outage", *(f"during the outage {n}" for n in range(500))]
        assert [r.message for r in records] == expected
        assert len(await db.logs.table.find()) == 501  # each exactly once
        assert [r.extra["number"] for r in records[1:]] == list(range(500))


async def test_the_background_task_replays_without_a_flush(
    make_db: Callable[..., discobase.Database], transport: FlakyTransport
) -> None:
    db = make_db(transport)
    db.logs.attach(retry_interval=0.01)
    async with db.conn():
        transport.broken = True
        for number in range(50):
            logger.info("outage {}", number)
        await db.logs.flush()
        assert await db.logs.pending() == 50
        transport.broken = False
        for _ in range(200):
            if await db.logs.pending() == 0:
                break
            await asyncio.sleep(0.01)
        assert [r.message for r in await db.logs.query()] == [f"outage {n}" for n in range(50)]


class CountingBackend(MemoryBackend):
    """A memory fallback that remembers how many records it received."""

    received = 0

    async def write(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        self.received += len(entries)
        return await super().write(entries)


async def test_a_failed_message_is_spooled_and_replayed_once(
    make_db: Callable[..., discobase.Database], memory: MemoryDiscord
) -> None:
    transport = MemoryTransport(memory)
    db = make_db(transport)
    spool = CountingBackend()
    db.logs.attach(fallback=spool, retry_interval=0.0, batch_size=500)
    async with db.conn():
        transport.fail_next("send", DatabaseStorageError("message lost"), times=1)
        for number in range(2000):
            logger.info("record {}", number)
        await db.logs.flush()
        assert spool.received == 500  # the first batch (one message) was spooled, then replayed
        assert await db.logs.pending() == 0
        messages = [r.message for r in await db.logs.query()]
        assert messages == [f"record {n}" for n in range(2000)]
        assert len(await db.logs.table.find()) == 2000


class HalfBackend(MemoryBackend):
    """A primary whose next ``failures`` writes store only every other record."""

    failures = 1

    async def write(self, entries: Sequence[LogRecord]) -> list[LogRecord]:
        if self.failures:
            self.failures -= 1
            await super().write(entries[::2])
            return list(entries[1::2])
        return await super().write(entries)


async def test_a_write_failing_part_way_stores_each_record_once(
    make_db: Callable[..., discobase.Database],
) -> None:
    primary, spool = HalfBackend(), CountingBackend()
    db = make_db()
    db.logs.attach(backend=primary, fallback=spool, retry_interval=0.0)
    async with db.conn():
        for number in range(100):
            logger.info("record {}", number)
        await db.logs.flush()
        assert spool.received == 50  # only the records that failed
        assert await db.logs.pending() == 0
        assert sorted(e.message for e in primary.entries) == sorted(f"record {n}" for n in range(100))
        assert [r.message for r in await db.logs.query()] == [f"record {n}" for n in range(100)]


async def test_records_spooled_by_an_earlier_run_are_replayed_at_start(
    tmp_path: Path, make_db: Callable[..., discobase.Database]
) -> None:
    spool = JSONLBackend(tmp_path / "spool.jsonl")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await spool.write([entry(start + timedelta(seconds=n), seq=n, message=f"old {n}") for n in range(10)])
    db = make_db()
    db.logs.attach(fallback=spool)
    async with db.conn():
        logger.info("new")
        await db.logs.flush()
        assert [r.message for r in await db.logs.query()] == [*(f"old {n}" for n in range(10)), "new"]
        assert await spool.count() == 0


@pytest.mark.parametrize("kind", ["jsonl", "csv", "sqlite"])
async def test_file_backends_as_the_primary(
    kind: str, tmp_path: Path, make_db: Callable[..., discobase.Database]
) -> None:
    primary = backends(tmp_path)[kind]
    db = make_db()
    db.logs.attach("DEBUG", backend=primary)
    async with db.conn():
        logger.bind(user="ann").warning("disk {}% full", 91)
        logger.debug("detail")
        await db.logs.flush()
        records = await db.logs.query()
        assert [(r.level, r.message) for r in records] == [("WARNING", "disk 91% full"), ("DEBUG", "detail")]
        assert records[0].extra == {"user": "ann"}
        assert records[0].exception is None
        assert await db.logs.delete(level="DEBUG") == 1
        assert [r.message for r in await primary.read()] == ["disk 91% full"]
        assert await db.logs.table.find() == []


async def test_a_backend_fallback_is_used_when_none_is_given(tmp_path: Path) -> None:
    db = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
    spool = CSVBackend(tmp_path / "spool.csv")
    db.logs.attach(backend=TableBackend(fallback=spool))
    try:
        assert db.logs.fallback is spool
    finally:
        db.logs.detach()


async def test_unreadable_lines_of_a_jsonl_file_are_skipped(tmp_path: Path) -> None:
    backend = JSONLBackend(tmp_path / "logs.jsonl")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    await backend.write([entry(when, seq=1)])
    with (tmp_path / "logs.jsonl").open("a") as file:
        file.write('{"time": "2024-05-01T00:0')  # cut short by a crash
    assert [e.seq for e in await backend.read()] == [1]


# ---------------------------------------------------------------------- reading and analytics
async def test_query_filters(opened: discobase.Database) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    rows = [
        entry(start, "DEBUG", "app", 1),
        entry(start + timedelta(hours=1), "INFO", "app.db", 2),
        entry(start + timedelta(hours=2), "WARNING", "application", 3),
        entry(start + timedelta(hours=3), "ERROR", "other", 4),
    ]
    assert await opened.logs.backend.write(rows) == []
    logs = opened.logs

    async def seqs(**filters: Any) -> list[int]:
        return [r.seq for r in await logs.query(**filters)]

    assert await seqs() == [1, 2, 3, 4]
    assert await seqs(level="INFO") == [2]
    assert await seqs(level=["INFO", "error"]) == [2, 4]
    assert await seqs(min_level="WARNING") == [3, 4]
    assert await seqs(min_level=20) == [2, 3, 4]
    assert await seqs(logger="app") == [1, 2]
    assert await seqs(after=start) == [2, 3, 4]
    assert await seqs(before=start + timedelta(hours=2)) == [1, 2]
    assert await seqs(after=datetime(2024, 3, 1, 0, 30)) == [2, 3, 4]  # naive: UTC
    assert await seqs(limit=2, direction="desc") == [4, 3]
    assert await seqs(limit=2, offset=1) == [2, 3]
    with pytest.raises(ValueError, match="direction"):
        await logs.query(direction="up")  # type: ignore[arg-type]


levels = st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR"])
moments = st.datetimes(min_value=datetime(2022, 1, 1), max_value=datetime(2025, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
records = st.lists(st.tuples(moments, levels, st.sampled_from(["a", "a.b", "c"])), max_size=60)


def period_of(moment: datetime, group_by: str) -> Any:
    day = moment.date()
    return {"day": day, "month": day.replace(day=1), "year": day.replace(month=1, day=1)}[group_by]


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(
    rows=records,
    group_by=st.sampled_from(["day", "month", "year"]),
    by_level=st.booleans(),
    sort_by=st.sampled_from(["period", "total", "level"]),
    direction=st.sampled_from(["asc", "desc"]),
    limit=st.none() | st.integers(0, 10),
    after=st.none() | moments,
    min_level=st.none() | levels,
    name=st.none() | st.sampled_from(["a", "c"]),
)
def test_counts_and_query_agree_with_a_plain_computation(
    rows: list[tuple[datetime, str, str]],
    group_by: Any,
    by_level: bool,
    sort_by: Any,
    direction: Any,
    limit: int | None,
    after: datetime | None,
    min_level: str | None,
    name: str | None,
) -> None:
    db = discobase.Database("db", transport=MemoryTransport())
    backend = MemoryBackend()
    db.logs.backend = backend
    stored = [entry(moment, level, logger_name, seq) for seq, (moment, level, logger_name) in enumerate(rows)]
    asyncio.run(backend.write(stored))
    numbers = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}

    def keep(row: LogRecord) -> bool:
        return (
            (after is None or row.time > after)
            and (min_level is None or numbers[row.level] >= numbers[min_level])
            and (name is None or row.logger == name or row.logger.startswith(name + "."))
        )

    kept = [row for row in stored if keep(row)]
    tally = Counter((period_of(r.time, group_by), r.level if by_level else None) for r in kept)
    sign = -1 if direction == "desc" else 1

    def order(one: LogCount, other: LogCount) -> int:
        """The documented order, compared pairwise: ``sort_by`` in ``direction``, then period and
        level ascending."""
        mine, theirs = getattr(one, sort_by) or "", getattr(other, sort_by) or ""
        if mine != theirs:
            return sign if mine > theirs else -sign
        tie, other_tie = (one.period, one.level or ""), (other.period, other.level or "")
        return (tie > other_tie) - (tie < other_tie)

    rows = [LogCount(p, lv, n) for (p, lv), n in tally.items()]
    expected = sorted(rows, key=functools.cmp_to_key(order))[:limit]
    got = asyncio.run(
        db.logs.counts(
            group_by,
            by_level=by_level,
            after=after,
            min_level=min_level,
            logger=name,
            sort_by=sort_by,
            direction=direction,
            limit=limit,
        )
    )
    assert got == expected
    if limit is None:
        assert sum(r.total for r in got) == len(kept)
    else:
        assert len(got) <= limit
    queried = asyncio.run(db.logs.query(after=after, min_level=min_level, logger=name))
    assert [r.seq for r in queried] == [r.seq for r in sorted(kept, key=lambda r: (r.time, r.seq))]


async def test_counts_on_the_table_and_bad_arguments(opened: discobase.Database) -> None:
    rows = [
        entry(datetime(2024, 1, 31, 23, tzinfo=UTC), "INFO", seq=1),
        entry(datetime(2024, 2, 1, 1, tzinfo=UTC), "INFO", seq=2),
        entry(datetime(2024, 2, 1, 2, tzinfo=UTC), "INFO", seq=3),
        entry(datetime(2025, 2, 1, 2, tzinfo=UTC), "ERROR", seq=4),
    ]
    await opened.logs.backend.write(rows)
    day = datetime(2024, 1, 1).date()
    assert await opened.logs.counts("year", by_level=False) == [
        LogCount(day, None, 3),
        LogCount(day.replace(year=2025), None, 1),
    ]
    assert await opened.logs.counts("month", sort_by="total", direction="desc", limit=1) == [
        LogCount(day.replace(month=2), "INFO", 2),
    ]
    with pytest.raises(ValueError, match="group_by"):
        await opened.logs.counts("week")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sort_by"):
        await opened.logs.counts(sort_by="size")  # type: ignore[arg-type]


async def test_delete_and_retention(opened: discobase.Database) -> None:
    now = datetime.now(UTC)
    rows = [
        entry(now - timedelta(days=days), "DEBUG" if days % 2 else "INFO", seq=days) for days in range(10)
    ]
    await opened.logs.backend.write(rows)
    assert await opened.logs.delete(level="DEBUG", before=now - timedelta(days=6)) == 2  # 7 and 9 days old
    assert await opened.logs.retain(days=3.5) == 4  # 4, 5, 6 and 8 days old
    assert sorted(r.seq for r in await opened.logs.query()) == [0, 1, 2, 3]
    assert await opened.logs.delete() == 4
    assert await opened.logs.query() == []


async def test_retention_runs_in_the_background(make_db: Callable[..., discobase.Database]) -> None:
    db = make_db()
    db.logs.attach(keep_days=1)
    async with db.conn():
        old = entry(datetime.now(UTC) - timedelta(days=2), seq=1)
        await db.logs.backend.write([old])
        db.logs.retention_interval = 0.0
        logger.info("fresh")
        await db.logs.flush()
        for _ in range(100):
            if [r.message for r in await db.logs.query()] == ["fresh"]:
                break
            await asyncio.sleep(0.02)
        assert [r.message for r in await db.logs.query()] == ["fresh"]


async def test_two_databases_read_and_delete_each_others_records(
    make_db: Callable[..., discobase.Database],
) -> None:
    """Queries and deletes run on each process's replica of ``_logs``; another process's writes
    and deletes reach it through Discord."""
    first, second = make_db(), make_db()
    first.logs.attach("DEBUG")  # attaches (and builds) the _logs table
    second.logs.attach("DEBUG")
    start = datetime(2024, 6, 1, tzinfo=UTC)
    async with first.conn(), second.conn():
        rows = [entry(start + timedelta(minutes=n), "DEBUG" if n % 2 else "INFO", seq=n) for n in range(6)]
        assert await first.logs.backend.write(rows) == []
        for _ in range(100):
            if len(await second.logs.query()) == 6:
                break
            await asyncio.sleep(0.01)
        assert [r.seq for r in await second.logs.query(level="DEBUG", direction="desc")] == [5, 3, 1]
        assert await second.logs.delete(level="DEBUG", after=start) == 3
        assert await second.logs.backend.remove([rows[0]]) == 1
        for _ in range(100):
            if len(await first.logs.query()) == 2:
                break
            await asyncio.sleep(0.01)
        assert [r.seq for r in await first.logs.query()] == [2, 4]
        assert await first.logs.counts("day", by_level=False) == [LogCount(start.date(), None, 2)]
