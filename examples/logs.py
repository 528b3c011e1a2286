"""Log records stored in the database (on the embedded local server).

loguru's records at INFO and above go to the ``_logs`` table; if writing to
it fails, they go to a JSON-lines file and are replayed when it works again.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

import discobase

data_dir = Path(os.environ.get("DISCOBASE_DATA_DIR") or tempfile.mkdtemp())


def unit_price(total: int, units: int) -> float:
    return total / units


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    logger.remove()  # keep this example's output short: no console sink
    db = discobase.Database("discobase logs", data_dir=data_dir)
    db.logs.attach("INFO", fallback=discobase.system.JSONLBackend(data_dir / "logs-spool.jsonl"))
    started = datetime.now(UTC)

    async with db.conn():
        for order in range(20):
            logger.bind(order=order).info("order {} shipped", order)
        logger.warning("stock of tea is low")
        try:
            unit_price(10, 0)
        except ZeroDivisionError:
            logger.exception("pricing failed")
        logger.debug("not stored: below INFO")
        await db.logs.flush()  # wait for the background writer

        records = await db.logs.query(after=started)
        print("stored:", len(records), "records")
        print("first:", records[0].level, records[0].message, records[0].extra)
        errors = await db.logs.query(min_level="WARNING", after=started)
        print("warnings and errors:", [(r.level, r.message) for r in errors])
        print("traceback ends with:", errors[-1].exception.strip().splitlines()[-1])  # type: ignore[union-attr]
        for row in await db.logs.counts("day", after=started):
            print(f"per day: {row.level} {row.total}")
        print("deleted:", await db.logs.delete(level="INFO", after=started), "INFO records")
        print("left:", len(await db.logs.query(after=started)))


if __name__ == "__main__":
    asyncio.run(main())
