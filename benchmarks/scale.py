"""Scale benchmark of one table: bulk insert, cold open, warm finds, ranges, memory.

Runs on the local server with the `discord` rate-limit profile:

    python -m benchmarks.scale --records 100000

Prints the figures (and writes them as JSON with ``--json``). Times are
measured, never asserted; request counts come from the server's counters.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any, cast

import discobase
from discobase.local import LocalDiscord
from discobase.model import FieldExpr

GUILD = "scale bench"


class Person(discobase.Table):
    email: str
    name: str
    age: int = discobase.Field(0, index=True)
    city: str = ""


def database(url: str) -> tuple[discobase.Database, type[Person]]:
    db = discobase.Database(GUILD, server_url=url)

    @db.table
    class People(Person):
        class Settings:
            name = "people"

    return db, People


def rest(stats: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in sorted(stats.items()) if not k.startswith("GATEWAY")}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(records: int, seed: int, data: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    cities = ["Oslo", "Lima", "Pune", "Kyiv", "Accra", "Quito"]
    result: dict[str, Any] = {"records": records, "seed": seed}
    async with LocalDiscord(data, rate_limits="discord") as server:
        bot = server.create_bot("scale-bot")
        server.create_guild(GUILD, members=[bot])

        db, People = database(server.url)
        async with db.conn(bot.token):
            rows = [
                People(
                    email=f"user{i}@example.org",
                    name=f"user {i}",
                    age=rng.randrange(100),
                    city=rng.choice(cities),
                )
                for i in range(records)
            ]
            server.reset_stats()
            started = time.perf_counter()
            await People.insert_many(rows)
            result["insert_many_seconds"] = time.perf_counter() - started
            result["insert_many_requests"] = rest(server.stats())
            result["insert_many_records_per_second"] = records / result["insert_many_seconds"]

        server.reset_stats()
        db, People = database(server.url)
        started = time.perf_counter()
        async with db.conn(bot.token):
            result["open_seconds"] = time.perf_counter() - started
            result["open_requests"] = rest(server.stats())
            assert await People.query().count() == records

            await People.find(email="user0@example.org")  # builds the hash indexes
            probes = [f"user{rng.randrange(records)}@example.org" for _ in range(2000)]
            samples = []
            for email in probes:
                before = time.perf_counter_ns()
                found = await People.find(email=email)
                samples.append((time.perf_counter_ns() - before) / 1000)
                assert len(found) == 1
            result["warm_find_us_p50"] = statistics.median(samples)
            result["warm_find_us_p99"] = percentile(samples, 0.99)

            lo = 42
            age = cast(FieldExpr, People.age)  # a field expression at runtime; type checkers see an int
            await People.query(age == lo).count()  # builds the sorted index too
            samples = []
            for _ in range(200):
                before = time.perf_counter_ns()
                page = await People.query(age >= lo, age < lo + 1).limit(100).to_list()
                samples.append((time.perf_counter_ns() - before) / 1000)
                assert len(page) == 100
            result["range_100_us_p50"] = statistics.median(samples)

        # Memory: a third open under tracemalloc, with every index built.
        gc.collect()
        tracemalloc.start()
        db, People = database(server.url)
        async with db.conn(bot.token):
            await People.find(email="user0@example.org")
            await People.query(cast(FieldExpr, People.age) == 1).count()
            current, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            result["memory_bytes_per_record"] = current / records
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--data", type=Path, default=Path("benchmarks/results/scale.sqlite3"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    args.data.parent.mkdir(parents=True, exist_ok=True)
    args.data.unlink(missing_ok=True)
    result = asyncio.run(run(args.records, args.seed, args.data))
    for key, value in result.items():
        print(f"{key:32} {value:.1f}" if isinstance(value, float) else f"{key:32} {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
