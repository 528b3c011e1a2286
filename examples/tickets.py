"""Tickets: warnings and errors grouped by the line that logs them (on the embedded local server)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import warnings
from pathlib import Path

from loguru import logger

import discobase

data_dir = os.environ.get("DISCOBASE_DATA_DIR") or tempfile.mkdtemp()


def check_disk(used: int) -> None:
    if used > 90:
        logger.warning("disk {}% full", used)  # every call from this line: one ticket


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    logger.remove()  # keep this example's output short: no console sink
    db = discobase.Database("discobase tickets", data_dir=data_dir)
    db.tickets.attach("WARNING", max_occurrences=3, app_id="example")

    async with db.conn():
        for used in (91, 95, 97, 99, 50):
            check_disk(used)
        logger.error("payment service unreachable")
        logger.info("not a ticket: below WARNING")
        await db.tickets.flush()

        print("tickets:", await db.tickets.count_tickets())
        for ticket in await db.tickets.get_tickets(order_by="-occurrences"):
            where = Path(ticket.location).name  # file:line
            print(f"  {ticket.level} seen {ticket.occurrences}x at {where}, solved: {ticket.solved}")
        disk = (await db.tickets.get_tickets(order_by="-occurrences", limit=1))[0]
        assert disk.record_id is not None
        kept = await db.tickets.get_occurrences(disk, order_by="time")
        print("kept occurrences:", [o.message for o in kept])

        await db.tickets.solve_ticket(disk.record_id)
        print("open tickets after solving:", await db.tickets.count_tickets(solved=False))
        check_disk(98)  # it happens again: the ticket reopens
        await db.tickets.flush()
        reopened = await db.tickets.get_ticket(disk.record_id)
        assert reopened is not None
        print("reopened:", not reopened.solved, "seen", reopened.occurrences, "times")


if __name__ == "__main__":
    asyncio.run(main())
