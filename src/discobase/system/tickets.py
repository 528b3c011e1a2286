"""Tickets: warnings and errors grouped by where they come from.

``db.tickets.attach(level="WARNING")`` adds a loguru sink: every record at or
above the level is hashed from ``(level, logger, file, line, salt)``; records
with the same hash are one :class:`Ticket` (the ``_tickets`` table: first and
last occurrence, how many, solved or not) and each record is an
:class:`Occurrence` of it (the ``_occurrences`` table: time, message,
exception, extra). A new occurrence reopens a solved ticket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from discobase.exceptions import DiscobaseError, UniqueViolationError
from discobase.model.query import FieldExpr, Query
from discobase.model.table import Field, Table
from discobase.system.log_records import LogRecord
from discobase.system.sink import SinkWorker

if TYPE_CHECKING:
    from loguru import Record

    from discobase.database import Database

__all__ = ["Occurrence", "Ticket", "TicketManager", "ticket_hash"]

R = TypeVar("R", bound=Table)


class Ticket(Table):
    """One kind of problem: the ``_tickets`` system table. Its id is :attr:`record_id`."""

    hash: str = Field(unique=True)
    level: str
    logger: str
    location: str
    """``file:line`` of the log call."""
    module: str
    first: datetime
    last: datetime
    occurrences: int = 0
    """How many times it occurred (including occurrences no longer kept)."""
    solved: bool = False
    app_id: str | None = None

    class Settings:
        name = "_tickets"


class Occurrence(Table):
    """One record of a ticket: the ``_occurrences`` system table."""

    ticket: int
    time: datetime
    message: str
    level: str
    exception: str | None = None
    extra: dict[str, Any] = {}
    seq: int = 0
    app_id: str | None = None

    class Settings:
        name = "_occurrences"


def _field(model: type[Table], name: str) -> FieldExpr:
    return cast(FieldExpr, getattr(model, name))


def ticket_hash(entry: LogRecord, salt: str = "") -> str:
    """The hash that groups records into a ticket: ``(level, logger, file, line, salt)``."""
    text = "\0".join([entry.level, entry.logger, entry.file, str(entry.line), salt])
    return hashlib.sha256(text.encode()).hexdigest()


async def _ordered(query: Query[R], order_by: str, offset: int, limit: int | None) -> list[R]:
    """The records of ``query`` ordered by a field, from ``offset`` on, at most ``limit`` of them.

    ``-name`` orders descending; ``id`` is the record id; ties go by record id in the same
    direction.
    """
    descending = order_by.startswith("-")
    name = order_by.lstrip("+-")
    fields = list(query.model.model_fields)
    if name not in (*fields, "id"):
        raise ValueError(f"cannot order by {name!r}: one of {['id', *fields]}")
    if name != "id":
        query = query.sort(_field(query.model, name))  # ties keep record id order
    if not descending:
        return await query.skip(offset).limit(limit)
    found = await query
    found.reverse()
    return found[offset : None if limit is None else offset + limit]


class TicketManager(SinkWorker):
    """``db.tickets``: the ticketing sink and its query API."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.salt = ""
        self.app_id: str | None = None
        self.max_occurrences: int | None = None
        self.tickets: type[Ticket] = db.system_table(Ticket)
        self.occurrence_table: type[Occurrence] = db.system_table(Occurrence)

    def attach(
        self,
        level: str | int = "WARNING",
        *,
        salt: str = "",
        app_id: str | None = None,
        max_occurrences: int | None = None,
        batch_size: int = 500,
        filter: Callable[[Record], bool] | None = None,
    ) -> TicketManager:
        """Make tickets of loguru's records at or above ``level``.

        Args:
            salt: mixed into the hash (e.g. a release: the same line makes a
                new ticket in a new release).
            app_id: stored with tickets and occurrences (one database, several programs).
            max_occurrences: the most occurrences kept per ticket (the oldest are dropped).
        """
        if max_occurrences is not None and max_occurrences < 1:
            raise ValueError(f"max_occurrences must be at least 1, not {max_occurrences}")
        self.salt = salt
        self.app_id = app_id
        self.max_occurrences = max_occurrences
        self.batch_size = batch_size
        self._install(level, filter)
        return self

    def _tables(self) -> list[type[Table]]:
        return [self.tickets, self.occurrence_table]

    async def flush(self) -> None:
        """Wait until every record logged so far is in its ticket."""
        await self._drain()

    async def _process(self, batch: list[LogRecord]) -> None:
        groups: dict[str, list[LogRecord]] = {}
        for entry in batch:
            groups.setdefault(ticket_hash(entry, self.salt), []).append(entry)
        for digest, entries in groups.items():
            await self._record(digest, entries)

    async def _record(self, digest: str, entries: list[LogRecord]) -> None:
        first = entries[0]
        ticket = await self.tickets.find_unique(hash=digest, strict=False)
        if ticket is None:
            ticket = self.tickets(
                hash=digest,
                level=first.level,
                logger=first.logger,
                location=f"{first.file}:{first.line}",
                module=first.module,
                first=first.time,
                last=entries[-1].time,
                occurrences=len(entries),
                app_id=self.app_id,
            )
            try:
                await ticket.save()
            except UniqueViolationError:  # another process made it meanwhile
                ticket = await self.tickets.find_unique(hash=digest)
                ticket.occurrences += len(entries)
                ticket.last = max(ticket.last, entries[-1].time)
                ticket.solved = False
                await ticket.update()
        else:
            ticket.occurrences += len(entries)
            ticket.last = max(ticket.last, entries[-1].time)
            ticket.solved = False  # a new occurrence reopens it
            await ticket.update()
        assert ticket.record_id is not None
        await self.occurrence_table.insert_many(
            self.occurrence_table(
                ticket=ticket.record_id,
                time=e.time,
                message=e.message,
                level=e.level,
                exception=e.exception,
                extra=e.extra,
                seq=e.seq,
                app_id=self.app_id,
            )
            for e in entries
        )
        if self.max_occurrences is not None:
            table = self.occurrence_table
            kept = table.query(_field(table, "ticket") == ticket.record_id)
            excess = await kept.count() - self.max_occurrences
            if excess > 0:
                oldest = kept.sort(_field(table, "time"), _field(table, "seq")).limit(excess)
                await oldest.delete()

    # ------------------------------------------------------------------ queries
    def _ready(self) -> None:
        if not self.db.open:
            raise DiscobaseError("the database is not open")

    async def count_tickets(self, solved: bool | None = None) -> int:
        """How many tickets (only the solved or unsolved ones with ``solved``)."""
        self._ready()
        if solved is None:
            return await self.tickets.query().count()
        return await self.tickets.query(_field(self.tickets, "solved") == solved).count()

    async def get_tickets(
        self, order_by: str = "-last", limit: int | None = 50, offset: int = 0, solved: bool | None = None
    ) -> list[Ticket]:
        """Tickets ordered by a field (``-`` for descending; ``id`` for the ticket id)."""
        self._ready()
        conditions = [] if solved is None else [_field(self.tickets, "solved") == solved]
        return await _ordered(self.tickets.query(*conditions), order_by, offset, limit)

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        """The ticket with this id, or None."""
        self._ready()
        return await self.tickets.get(ticket_id)

    async def _require(self, ticket_id: int) -> Ticket:
        ticket = await self.get_ticket(ticket_id)
        if ticket is None:
            raise DiscobaseError(f"there is no ticket {ticket_id}")
        return ticket

    async def solve_ticket(self, ticket_id: int) -> None:
        """Mark a ticket solved (its next occurrence reopens it)."""
        ticket = await self._require(ticket_id)
        if not ticket.solved:
            ticket.solved = True
            await ticket.update()

    async def delete_ticket(self, ticket_id: int) -> None:
        """Delete a ticket and its occurrences."""
        ticket = await self._require(ticket_id)
        await self.occurrence_table.query(_field(self.occurrence_table, "ticket") == ticket_id).delete()
        await ticket.delete()

    async def get_occurrences(
        self, ticket: int | Ticket, order_by: str = "-time", limit: int | None = 50, offset: int = 0
    ) -> list[Occurrence]:
        """The kept occurrences of a ticket (an id or a :class:`Ticket`)."""
        self._ready()
        ticket_id = ticket.record_id if isinstance(ticket, Ticket) else ticket
        table = self.occurrence_table
        return await _ordered(table.query(_field(table, "ticket") == ticket_id), order_by, offset, limit)
