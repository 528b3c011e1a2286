"""The client process for discobase (this project).

``python -m benchmarks.client_ours SPEC.json``: connects to the local server
named in the :class:`~benchmarks.protocol.RunSpec` with
``discobase.Database(name, server_url=url)`` and ``db.conn(token)``, runs the
workload and reports through a :class:`~benchmarks.protocol.Recorder`.

Adding a workload is one ``async def run_<name>(spec, recorder)`` here,
registered in :data:`RUNNERS`, plus its entry in
:data:`benchmarks.workloads.AVAILABLE`.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from loguru import logger

import discobase
from benchmarks.protocol import Recorder, RunSpec, client_main, percentile, record_run, run_ops
from benchmarks.workloads import LOG_TEMPLATE, CrudPlan, FindOp, Sizes, bulk_records, crud_plan, log_lines

Models = dict[str, type[discobase.Table]]


def make_database(spec: RunSpec) -> tuple[discobase.Database, Models]:
    """A fresh ``Database`` with the two tables (a new object each time, as a new process has)."""
    db = discobase.Database(spec.database, server_url=spec.url, data_channels=spec.data_channels)

    @db.table
    class User(discobase.Table):
        name: str
        email: str
        age: int

    @db.table
    class Post(discobase.Table):
        author: str
        title: str
        body: str

    return db, {"user": User, "post": Post}


def _find(models: Models, op: FindOp) -> Callable[[], Awaitable[list[Any]]]:
    model = models[op.table]
    return lambda: model.find(**{op.field: op.value})


async def _connect(
    recorder: Recorder, spec: RunSpec, stack: AsyncExitStack, name: str, part: Any = "setup"
) -> Models:
    db, models = make_database(spec)
    with recorder.phase(name, part=part):
        await stack.enter_async_context(db.conn(spec.token))
    return models


async def run_crud(spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """The ``crud`` workload (see :mod:`benchmarks.workloads`)."""
    plan: CrudPlan = crud_plan(Sizes.from_json(spec.sizes), spec.seed)
    concurrent = spec.style == "concurrent"
    saved: dict[tuple[str, int], discobase.Table] = {}
    stack = AsyncExitStack()
    models = await _connect(recorder, spec, stack, "connect")
    recorder.start_budget()

    def insert(table: Any, index: int) -> Callable[[], Awaitable[Any]]:
        def op() -> Awaitable[Any]:
            record = models[table](**plan.record(table, index))
            saved[(table, index)] = record
            return record.save()

        return op

    def update(table: Any, index: int, values: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        def op() -> Awaitable[Any]:
            record = saved[(table, index)]
            for key, value in values.items():
                setattr(record, key, value)
            return record.update()

        return op

    def delete(table: Any, index: int) -> Callable[[], Awaitable[Any]]:
        return lambda: saved[(table, index)].delete()

    with recorder.phase("insert", len(plan.inserts)) as phase:
        await run_ops(recorder, phase, [insert(t, i) for t, i in plan.inserts], concurrent=concurrent)
    with recorder.phase("find", len(plan.finds)) as phase:
        ops = [_find(models, op) for op in plan.finds]
        await run_ops(
            recorder,
            phase,
            ops,
            concurrent=concurrent,
            check=lambda i, found: len(found) == plan.finds[i].expected,
        )
    with recorder.phase("update", len(plan.updates)) as phase:
        await run_ops(recorder, phase, [update(*u) for u in plan.updates], concurrent=concurrent)
    with recorder.phase("delete", len(plan.deletes)) as phase:
        await run_ops(recorder, phase, [delete(t, i) for t, i in plan.deletes], concurrent=concurrent)
    with recorder.phase("close"):
        await stack.aclose()

    async with AsyncExitStack() as stack:
        models = await _connect(recorder, spec, stack, "reopen", part="workload")
        with recorder.phase("reopen-find", len(plan.reopen_finds)) as phase:
            await run_ops(
                recorder,
                phase,
                [_find(models, op) for op in plan.reopen_finds],
                concurrent=concurrent,
                check=lambda i, found: len(found) == plan.reopen_finds[i].expected,
            )
        return await _find_latency(spec, recorder, models, plan)


async def _find_latency(spec: RunSpec, recorder: Recorder, models: Models, plan: CrudPlan) -> dict[str, Any]:
    """Warm ``find`` latency: equality finds timed one by one (not part of the workload)."""
    user = models["user"]
    live = [op.value for op in plan.reopen_finds if op.table == "user"] or [
        plan.users[0]["email"],
    ]
    rng = random.Random(spec.seed)
    probes = [rng.choice(live) for _ in range(spec.latency_samples)]
    samples: list[float] = []
    with recorder.phase("find-latency", len(probes), part="extra") as phase:
        await user.find(email=probes[0])  # indexes are built by the first find
        for email in probes:
            started = time.perf_counter_ns()
            await user.find(email=email)
            samples.append((time.perf_counter_ns() - started) / 1000)
            phase.done += 1
    return {
        "find_p50_us": percentile(samples, 0.50),
        "find_p99_us": percentile(samples, 0.99),
        "find_samples": len(samples),
    }


async def run_bulk(spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """The ``bulk`` workload: every insert issued at once, then awaited together."""
    sizes = Sizes.from_json(spec.sizes)
    async with AsyncExitStack() as stack:
        models = await _connect(recorder, spec, stack, "connect")
        user = models["user"]
        records = [user(**data) for data in bulk_records(sizes.bulk, spec.seed)]
        recorder.start_budget()
        with recorder.phase("insert", len(records)) as inserted:
            await run_ops(
                recorder, inserted, [r.save for r in records], concurrent=spec.style != "sequential"
            )
        with recorder.phase("verify", 1, part="extra") as phase:
            # The table holds exactly the acknowledged inserts.
            phase.checked = phase.done = 1
            phase.ok = int(len(await user.find()) == inserted.done)
        with recorder.phase("close"):
            await stack.aclose()
    return {}


async def run_logs(spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """The ``logs`` workload: loguru ``INFO`` records through the ``_logs`` sink,
    timed from the first call until every record is stored."""
    sizes = Sizes.from_json(spec.sizes)
    lines = log_lines(sizes.logs, spec.seed)
    calls = 0.0
    logger.remove()  # only the _logs sink: no console output for these records
    db = discobase.Database(spec.database, server_url=spec.url, data_channels=spec.data_channels)
    db.logs.attach("INFO")
    try:
        async with AsyncExitStack() as stack:
            with recorder.phase("connect", part="setup"):
                await stack.enter_async_context(db.conn(spec.token))
            recorder.start_budget()
            with recorder.phase("log", len(lines)) as phase:
                started = time.perf_counter()
                for args in lines:
                    logger.info(LOG_TEMPLATE, *args)
                calls = time.perf_counter() - started
                await db.logs.flush()
                phase.done = len(lines)
            with recorder.phase("verify", 1, part="extra") as phase:
                # Every record is stored once, in the order it was logged.
                stored = await db.logs.query(limit=None)
                phase.checked = phase.done = 1
                phase.ok = int([r.message for r in stored] == [LOG_TEMPLATE.format(*a) for a in lines])
            with recorder.phase("close"):
                await stack.aclose()
    finally:
        db.logs.detach()
    return {"log_calls_seconds": calls}


RUNNERS: dict[str, Callable[[RunSpec, Recorder], Awaitable[dict[str, Any]]]] = {
    "crud": run_crud,
    "bulk": run_bulk,
    "logs": run_logs,
}


async def amain(spec: RunSpec) -> int:
    return await record_run(spec, lambda recorder: RUNNERS[spec.workload](spec, recorder))


def main(argv: list[str] | None = None) -> int:
    return client_main("benchmarks.client_ours", amain, argv)


if __name__ == "__main__":
    sys.exit(main())
