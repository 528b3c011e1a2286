"""Features built on the public API and lifecycle hooks: logs, tickets, the ``_events`` table.

Importing the package registers ``db.logs`` and ``db.tickets``; the core never imports it.
"""

from discobase.database import register_extension
from discobase.system.events import EventRecord, TableEventHandler
from discobase.system.log_backends import (
    CSVBackend,
    JSONLBackend,
    LogBackend,
    MemoryBackend,
    SQLiteBackend,
    TableBackend,
)
from discobase.system.log_records import TRACE_LEVELS, LogFilter, LogRecord
from discobase.system.logs import LogCount, LogManager
from discobase.system.tickets import Occurrence, Ticket, TicketManager

__all__ = [
    "TRACE_LEVELS",
    "CSVBackend",
    "EventRecord",
    "JSONLBackend",
    "LogBackend",
    "LogCount",
    "LogFilter",
    "LogManager",
    "LogRecord",
    "MemoryBackend",
    "Occurrence",
    "SQLiteBackend",
    "TableBackend",
    "TableEventHandler",
    "Ticket",
    "TicketManager",
]

register_extension("logs", LogManager)
register_extension("tickets", TicketManager)
