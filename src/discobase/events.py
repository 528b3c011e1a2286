"""Event handlers around discobase's work (the ``discobase.events`` namespace).

A **request** is a public ORM call (``save``, ``update``, ``delete``, ``find``,
a query, ``insert_many``, a migration); an **event** is each Discord request
made inside it. See :mod:`discobase.engine.instrumentation` for the protocol and
:mod:`discobase.system.events` for the ``_events`` table.
"""

from discobase.engine.instrumentation import (
    BufferEventHandler,
    DiscordEvent,
    EventHandler,
    EventTracker,
    LoguruEventHandler,
    RequestEnd,
    RequestStart,
    TrackedTransport,
)
from discobase.system.events import EventRecord, TableEventHandler

__all__ = [
    "BufferEventHandler",
    "DiscordEvent",
    "EventHandler",
    "EventRecord",
    "EventTracker",
    "LoguruEventHandler",
    "RequestEnd",
    "RequestStart",
    "TableEventHandler",
    "TrackedTransport",
]
