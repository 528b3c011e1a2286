"""Log ingest: loguru records into the `_logs` table, on the local server.

    python benchmarks/logs_ingest.py --records 10000

Runs with the `discord` rate-limit profile; prints the wall time from the
first log call until every record is stored, records per second, and the
requests per route the server counted. Times are measured, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from loguru import logger

import discobase
from discobase.local import LocalDiscord

GUILD = "logs bench"


async def run(records: int, batch_size: int, data: Path) -> dict[str, object]:
    async with LocalDiscord(data, rate_limits="discord") as server:
        bot = server.create_bot("logs-bot")
        server.create_guild(GUILD, members=[bot])
        db = discobase.Database(GUILD, server_url=server.url)
        db.logs.attach("INFO", batch_size=batch_size)
        async with db.conn(bot.token):
            server.reset_stats()
            started = time.perf_counter()
            for i in range(records):
                logger.info("request {} served in {} ms", i, i % 97)
            logged = time.perf_counter() - started
            await db.logs.flush()
            stored = time.perf_counter() - started
            count = len(await db.logs.query(limit=None))
            stats = {k: v for k, v in sorted(server.stats().items()) if not k.startswith("GATEWAY")}
        db.logs.detach()
    return {
        "records": records,
        "stored": count,
        "seconds_to_log": round(logged, 3),
        "seconds_until_stored": round(stored, 3),
        "records_per_second": round(records / stored),
        "requests": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--data", type=Path, default=Path("benchmarks/results/logs.sqlite3"))
    args = parser.parse_args()
    args.data.parent.mkdir(parents=True, exist_ok=True)
    args.data.unlink(missing_ok=True)
    logger.remove()  # no console output for the benchmark's own records
    for key, value in asyncio.run(run(args.records, args.batch_size, args.data)).items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
