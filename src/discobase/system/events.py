"""The ``_events`` system table and the handler that fills it."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from discobase.engine.instrumentation import DiscordEvent, EventHandler, RequestEnd, RequestStart, quietly
from discobase.model.binding import binding_of
from discobase.model.table import Table

if TYPE_CHECKING:
    from discobase.database import Database

__all__ = ["EventRecord", "TableEventHandler"]


class EventRecord(Table):
    """The ``_events`` system table: Discord requests and the ``/db`` commands' changes.

    One row per Discord request, and one per change made through the ``/db`` commands (with
    :attr:`actor`).
    """

    time: datetime
    request_id: int | None
    operation: str | None
    table: str | None
    route: str
    channel_id: int | None
    status: str
    duration: float
    bytes_sent: int
    bytes_received: int
    error: str | None = None
    actor: str | None = None
    """Who asked for a change made from Discord (``name (user id)``, e.g. by ``/db``)."""
    detail: str | None = None
    """What was changed (e.g. ``record 123``), for rows of changes made from Discord."""

    class Settings:
        name = "_events"


class TableEventHandler(EventHandler[RequestStart, None]):
    """Writes a row to the ``_events`` table for every Discord request.

    ``sample_rate`` of the requests (1.0 = all). Register it before the
    database opens (``Database(..., event_handlers=[TableEventHandler()])``).
    The rows of a request are written when it ends, without being reported
    themselves."""

    system_table = "_events"

    def __init__(self, sample_rate: float = 1.0, *, seed: int | None = None) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, not {sample_rate}")
        self.sample_rate = sample_rate
        self._random = random.Random(seed)
        self._table: type[Table] | None = None
        self._pending: dict[int, list[Table]] = {}

    def bind(self, database: Database) -> None:
        self._table = database.system_table(EventRecord)

    async def request_start(self, user_request: RequestStart) -> RequestStart | None:
        if self._table is None or self._random.random() >= self.sample_rate:
            return None
        self._pending[user_request.request_id] = []
        return user_request

    async def event_start(self, event: DiscordEvent, request_context: RequestStart | None) -> None:
        return None

    async def event_end(
        self, event: DiscordEvent, request_context: RequestStart | None, event_context: None
    ) -> None:
        if request_context is None or self._table is None:
            return
        rows = self._pending.get(request_context.request_id)
        if rows is None:
            return
        rows.append(
            self._table(
                time=datetime.now(UTC),
                request_id=request_context.request_id,
                operation=request_context.operation,
                table=request_context.table,
                route=event.route,
                channel_id=event.channel_id,
                status=event.status,
                duration=event.duration or 0.0,
                bytes_sent=event.bytes_sent,
                bytes_received=event.bytes_received,
                error=event.error,
            )
        )

    async def request_end(self, output: RequestEnd, request_context: RequestStart | None) -> None:
        if request_context is None or self._table is None:
            return
        rows = self._pending.pop(output.request_id, [])
        if not rows or not binding_of(self._table).ready:
            return  # nothing to write, or the database did not open (a failed start-up)
        with quietly():  # our own writes are not reported
            await self._table.insert_many(rows)
