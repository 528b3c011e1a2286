"""Features built on the public API and lifecycle hooks: logs, tickets, the ``_events`` table.

Importing the package registers ``db.logs`` and ``db.tickets``; the core never imports it.
"""

from discobase.database import register_extension
from discobase.system.logs import LogManager
from discobase.system.tickets import TicketManager

__all__ = ["LogManager", "TicketManager"]

register_extension("logs", LogManager)
register_extension("tickets", TicketManager)
