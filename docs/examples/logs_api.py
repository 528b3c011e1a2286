"""The calls shown in docs/logging.md and docs/tickets.md, run for real."""

from __future__ import annotations

import asyncio
import os
import tempfile
import warnings
from datetime import UTC, datetime, timedelta

from loguru import logger

import discobase

logger.remove()  # no console output in this example (before attaching: it removes every sink)
directory = os.environ.get("DISCOBASE_DATA_DIR") or tempfile.mkdtemp()
db = discobase.Database("discobase logs api", data_dir=directory)

# --8<-- [start:attach]
db.logs.attach(
    "INFO",  # level: loguru name or number, or a daf trace level
    backend=None,  # primary: the _logs table
    fallback=discobase.system.JSONLBackend(os.path.join(directory, "spool.jsonl")),
    batch_size=5000,  # the most records per write
    retry_interval=1.0,  # seconds between replay attempts
    keep_days=30,  # retention (None: keep everything)
    filter=lambda record: (record["name"] or "").startswith("__main__"),  # None: no module name
)
# --8<-- [end:attach]

# --8<-- [start:tickets]
db.tickets.attach(
    "WARNING",  # records at or above this level (the default)
    salt="",  # mixed into the hash, e.g. a release number
    app_id=None,  # stored with tickets and occurrences
    max_occurrences=None,  # the most occurrences kept per ticket (oldest dropped)
)
# --8<-- [end:tickets]


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    async with db.conn():
        await db.logs.delete()
        for n in range(3):
            logger.info("served request {}", n)
        logger.warning("disk almost full")
        await db.logs.flush()
        await db.tickets.flush()

        # --8<-- [start:query]
        records = await db.logs.query(
            min_level="WARNING",  # at or above this level (or level="ERROR": exactly)
            after=datetime(2024, 1, 1, tzinfo=UTC),  # strictly after (naive times are UTC)
            before=None,  # strictly before
            logger="__main__",  # this logger and its children
            limit=100,
            offset=0,
            direction="desc",  # newest first
        )
        rows = await db.logs.counts(
            "day",  # or "month", "year" (UTC periods)
            by_level=True,  # one row per (period, level); False: per period
            sort_by="period",  # or "total", "level"
            direction="asc",
            limit=500,
        )
        # --8<-- [end:query]
        print("warnings:", [r.message for r in records])
        print("counts:", [(row.level, row.total) for row in rows])

        # --8<-- [start:delete]
        await db.logs.delete(level="DEBUG", before=datetime.now(UTC) - timedelta(days=7))
        await db.logs.retain(days=30)  # delete records older than 30 days
        await db.logs.delete()  # everything
        # --8<-- [end:delete]
        print("left:", len(await db.logs.query(limit=None)))
        print("tickets:", await db.tickets.count_tickets())


if __name__ == "__main__":
    asyncio.run(main())
