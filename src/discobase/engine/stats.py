"""Figures about an open database: what ``Database.stats()`` and ``/db stats`` show."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from discobase._discord.snowflakes import snowflake_datetime
from discobase.engine.replica import TableReplica
from discobase.storage.transport import Transport

__all__ = ["DatabaseStats", "TableStats", "collect_stats"]


@dataclass(frozen=True, slots=True)
class TableStats:
    """One table in :class:`DatabaseStats`."""

    name: str
    records: int
    messages: int
    """Data messages that hold the records' current versions."""
    channels: int
    """Data channels plus the index channel."""
    last_snapshot: datetime | None
    """When the newest message of the index channel (a snapshot) was written."""


@dataclass(frozen=True, slots=True)
class DatabaseStats:
    """Tables, and the Discord requests made since the database opened."""

    tables: list[TableStats] = field(default_factory=list)
    requests: int = 0
    minutes: float = 0.0
    """Minutes since the database opened."""

    @property
    def requests_per_minute(self) -> float:
        return self.requests / self.minutes if self.minutes > 0 else float(self.requests)


async def collect_stats(
    cursors: Mapping[str, TableReplica], transport: Transport, counted: object, opened_at: float | None
) -> DatabaseStats:
    """The stats of ``cursors``, one history request per table.

    Each table's request reads its index channel's newest message. Request counts come
    from ``counted``'s ``requests`` counter (the transport's, by route), if it has one."""
    tables = []
    for name, cursor in sorted(cursors.items()):
        newest = await transport.history(cursor.meta.index_channel, limit=1)
        tables.append(
            TableStats(
                name=name,
                records=len(cursor.records),
                messages=len(cursor.version_messages()),
                channels=len(cursor.meta.data_channels) + 1,
                last_snapshot=snowflake_datetime(newest[-1].id) if newest else None,
            )
        )
    requests = getattr(counted, "requests", None)
    total = sum(requests.values()) if isinstance(requests, dict) else 0
    minutes = (time.monotonic() - opened_at) / 60 if opened_at is not None else 0.0
    return DatabaseStats(tables=tables, requests=total, minutes=minutes)
