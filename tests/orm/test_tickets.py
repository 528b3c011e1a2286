"""``db.tickets``: warnings grouped into tickets and occurrences (logbook's ticketing)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from loguru import logger

import discobase
from discobase.exceptions import DiscobaseError
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.system.tickets import Occurrence, Ticket, ticket_hash


@pytest.fixture
def db() -> Iterator[discobase.Database]:
    database = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
    yield database
    database.tickets.detach()


@pytest.fixture
async def opened(db: discobase.Database) -> AsyncIterator[discobase.Database]:
    db.tickets.attach()
    async with db.conn():
        yield db


def warn(number: int) -> None:
    logger.warning("disk {}% full", number)  # one line: one ticket


async def test_repeated_warnings_from_one_line_make_one_ticket(opened: discobase.Database) -> None:
    for number in range(7):
        warn(number)
    logger.error("another line")
    logger.info("below the level: no ticket")
    await opened.tickets.flush()
    assert await opened.tickets.count_tickets() == 2
    tickets = await opened.tickets.get_tickets(order_by="-occurrences")
    ticket = tickets[0]
    assert isinstance(ticket, Ticket)
    assert ticket.occurrences == 7
    assert ticket.level == "WARNING"
    assert ticket.logger == __name__
    assert ticket.module == "test_tickets"
    assert ticket.location == f"{__file__}:{warn.__code__.co_firstlineno + 1}"
    assert not ticket.solved
    assert ticket.first <= ticket.last
    assert tickets[1].occurrences == 1
    assert tickets[1].level == "ERROR"
    assert ticket.record_id is not None
    occurrences = await opened.tickets.get_occurrences(ticket.record_id, order_by="time", limit=None)
    assert [o.message for o in occurrences] == [f"disk {n}% full" for n in range(7)]
    assert all(isinstance(o, Occurrence) and o.ticket == ticket.record_id for o in occurrences)


async def test_the_count_keeps_growing_across_batches(opened: discobase.Database) -> None:
    for round_ in range(3):
        for number in range(4):
            warn(round_ * 10 + number)
        await opened.tickets.flush()
    (ticket,) = await opened.tickets.get_tickets()
    assert ticket.occurrences == 12
    assert len(await opened.tickets.get_occurrences(ticket, limit=None)) == 12


async def test_a_new_occurrence_reopens_a_solved_ticket(opened: discobase.Database) -> None:
    warn(1)
    await opened.tickets.flush()
    (ticket,) = await opened.tickets.get_tickets()
    assert ticket.record_id is not None
    await opened.tickets.solve_ticket(ticket.record_id)
    assert await opened.tickets.count_tickets(solved=True) == 1
    assert await opened.tickets.count_tickets(solved=False) == 0
    assert await opened.tickets.get_tickets(solved=False) == []
    warn(2)
    await opened.tickets.flush()
    reopened = await opened.tickets.get_ticket(ticket.record_id)
    assert reopened is not None
    assert not reopened.solved
    assert reopened.occurrences == 2
    assert await opened.tickets.count_tickets(solved=False) == 1


async def test_max_occurrences_keeps_the_newest(db: discobase.Database) -> None:
    db.tickets.attach(max_occurrences=3)
    async with db.conn():
        for number in range(5):
            warn(number)
        await db.tickets.flush()
        for number in range(5, 8):
            warn(number)
        await db.tickets.flush()
        (ticket,) = await db.tickets.get_tickets()
        assert ticket.occurrences == 8  # every occurrence counts
        kept = await db.tickets.get_occurrences(ticket, order_by="time")
        assert [o.message for o in kept] == ["disk 5% full", "disk 6% full", "disk 7% full"]


async def test_paging_ordering_and_deleting(opened: discobase.Database) -> None:
    for number in range(3):
        warn(number)
    logger.error("e1")
    logger.error("e2")
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("boom")
    await opened.tickets.flush()
    tickets = await opened.tickets.get_tickets(order_by="id", limit=None)
    assert len(tickets) == 4
    ids = [t.record_id for t in tickets]
    assert ids == sorted(ids)  # type: ignore[type-var]
    assert await opened.tickets.get_tickets(order_by="id", limit=2, offset=1) == tickets[1:3]
    assert await opened.tickets.get_tickets(order_by="-id", limit=1) == [tickets[-1]]
    boom = tickets[-1]
    (occurrence,) = await opened.tickets.get_occurrences(boom)
    assert occurrence.exception is not None
    assert "KeyError: 'missing'" in occurrence.exception
    assert boom.record_id is not None
    await opened.tickets.delete_ticket(boom.record_id)
    assert await opened.tickets.get_ticket(boom.record_id) is None
    assert await opened.tickets.get_occurrences(boom.record_id) == []
    assert await opened.tickets.count_tickets() == 3
    with pytest.raises(DiscobaseError, match="no ticket"):
        await opened.tickets.solve_ticket(boom.record_id)
    with pytest.raises(ValueError, match="cannot order by"):
        await opened.tickets.get_tickets(order_by="size")
    # ties (every ticket unsolved) keep record id order, reversed with the direction
    left = [t.record_id for t in tickets[:3]]
    assert [t.record_id for t in await opened.tickets.get_tickets(order_by="solved")] == left
    assert [t.record_id for t in await opened.tickets.get_tickets(order_by="-solved")] == left[::-1]
    assert [t.record_id for t in await opened.tickets.get_tickets(order_by="-solved", offset=1, limit=1)] == [
        left[1]
    ]
    await opened.tickets.solve_ticket(left[1])  # type: ignore[arg-type]
    assert [t.record_id for t in await opened.tickets.get_tickets(order_by="-solved")] == [
        left[1],
        left[2],
        left[0],
    ]


async def test_salt_and_app_id(db: discobase.Database) -> None:
    db.tickets.attach("ERROR", salt="release 2", app_id="worker")
    async with db.conn():
        logger.warning("below ERROR")
        logger.error("failed")
        await db.tickets.flush()
        (ticket,) = await db.tickets.get_tickets()
        assert ticket.app_id == "worker"
        (occurrence,) = await db.tickets.get_occurrences(ticket)
        assert occurrence.app_id == "worker"
        records = await db.tickets.occurrence_table.find()
        assert len(records) == 1


def test_hash_depends_on_level_logger_file_line_and_salt() -> None:
    from datetime import UTC, datetime

    from discobase.system.logs import LogRecord

    base = LogRecord(
        time=datetime(2024, 1, 1, tzinfo=UTC),
        level="WARNING",
        level_no=30,
        message="a",
        logger="app",
        module="m",
        function="f",
        file="m.py",
        line=3,
        process=1,
    )
    same = base.model_copy(update={"message": "another message", "time": datetime(2025, 1, 1, tzinfo=UTC)})
    assert ticket_hash(base) == ticket_hash(same)
    for change in ({"level": "ERROR"}, {"logger": "other"}, {"file": "n.py"}, {"line": 4}):
        assert ticket_hash(base.model_copy(update=change)) != ticket_hash(base)
    assert ticket_hash(base, salt="x") != ticket_hash(base)


def test_bad_arguments(db: discobase.Database) -> None:
    with pytest.raises(ValueError, match="max_occurrences"):
        db.tickets.attach(max_occurrences=0)
    db.tickets.attach()
    with pytest.raises(DiscobaseError, match="already attached"):
        db.tickets.attach()
