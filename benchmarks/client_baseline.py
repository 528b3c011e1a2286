"""The client process for discobase 1.0.0 (from PyPI, unmodified).

``benchmarks/.baseline-venv/bin/python -m benchmarks.client_baseline SPEC.json``,
run from the repository root, so that ``discobase`` is 1.0.0 from that
environment (this project's package lives under ``src/`` and is not on the
path). The launcher points discord.py at the local server before discobase
1.0.0 is imported, without touching its source (shared reference
``discordpy-integration.md`` §1)::

    discord.http.Route.BASE = url + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ws_url)

discobase 1.0.0 makes its own guild (``POST /guilds``), so the server must run
with ``allow_guild_create=True``.

1.0.0 runs every workload **sequentially**: its saves race on the index resize
when they are issued concurrently and fail with ``DatabaseCorruptionError``
(the shared reference §5 explains the resize bugs). ``bulk`` therefore saves
one record after another until the time budget runs out and reports the rate.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.protocol import (
    CrudOps,
    Phase,
    Recorder,
    RunSpec,
    client_main,
    go_on,
    record_run,
    run_crud_phases,
    run_ops,
)
from benchmarks.workloads import CrudPlan, FindOp, Sizes, bulk_records, crud_plan

#: How long to wait after connecting for 1.0.0's fire-and-forget start-up calls
#: (invite, command sync), so that they are not counted in the first phase.
STARTUP_TAIL = 10.0


def install_overrides(url: str) -> Any:
    """Point discord.py at ``url``, then import and return discobase 1.0.0."""
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = url.rstrip("/") + "/api/v10"
    gateway = "ws" + url.rstrip("/")[4:] + "/gateway"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    module = importlib.import_module("discobase")
    version = getattr(importlib.import_module("discobase.__about__"), "__version__", "?")
    if version != "1.0.0":
        raise RuntimeError(f"expected discobase 1.0.0 in this environment, found {version}")
    return module


def make_database(discobase: Any, spec: RunSpec) -> tuple[Any, dict[str, Any]]:
    """A fresh 1.0.0 ``Database`` with the two tables."""
    db = discobase.Database(spec.database)

    @db.table
    class User(discobase.Table):  # type: ignore[misc]
        name: str
        email: str
        age: int

    @db.table
    class Post(discobase.Table):  # type: ignore[misc]
        author: str
        title: str
        body: str

    return db, {"user": User, "post": Post}


async def _startup_tail(recorder: Recorder) -> None:
    """Wait until 1.0.0's ``tree.sync()`` (its last start-up request) reached the server."""
    before = _commands(recorder.stats())
    deadline = time.perf_counter() + STARTUP_TAIL
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
        if _commands(recorder.stats()) > before:
            return


def _commands(stats: dict[str, int]) -> int:
    return sum(v for k, v in stats.items() if k.startswith("PUT ") and k.endswith("/commands"))


async def _connect(
    discobase: Any, recorder: Recorder, spec: RunSpec, stack: AsyncExitStack, name: str, part: Any
) -> dict[str, Any]:
    db, models = make_database(discobase, spec)
    with recorder.phase(name, part=part):
        before = _commands(recorder.stats())
        await stack.enter_async_context(db.conn(spec.token))
        if _commands(recorder.stats()) == before:
            await _startup_tail(recorder)
    return models


def _find(models: dict[str, Any], op: FindOp) -> Callable[[], Awaitable[Any]]:
    model = models[op.table]
    return lambda: model.find(**{op.field: op.value})


def _delete(saved: dict[tuple[str, int], Any], table: str, index: int) -> Callable[[], Awaitable[Any]]:
    return lambda: saved[(table, index)].delete()


async def run_crud(discobase: Any, spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """``crud``, sequentially (see the module docstring); stops where the budget runs out."""
    if spec.style != "sequential":
        raise ValueError("discobase 1.0.0 runs crud sequentially only (concurrent saves corrupt its indexes)")
    plan: CrudPlan = crud_plan(Sizes.from_json(spec.sizes), spec.seed)
    saved: dict[tuple[str, int], Any] = {}
    stack = AsyncExitStack()
    models = await _connect(discobase, recorder, spec, stack, "connect", "setup")
    recorder.start_budget()

    def insert(table: str, index: int) -> Callable[[], Awaitable[Any]]:
        def op() -> Awaitable[Any]:
            record = models[table](**plan.record(table, index))  # type: ignore[arg-type]
            saved[(table, index)] = record
            return record.save()  # type: ignore[no-any-return]

        return op

    def update(table: str, index: int, values: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        def op() -> Awaitable[Any]:
            record = saved[(table, index)]
            for key, value in values.items():
                setattr(record, key, value)
            return record.update()  # type: ignore[no-any-return]

        return op

    ops = CrudOps(
        insert=insert,
        find=lambda op: _find(models, op),
        update=update,
        delete=lambda table, index: _delete(saved, table, index),
    )
    phase: Phase | None = None
    try:
        phase = await run_crud_phases(recorder, plan, ops, concurrent=False)
    finally:
        done = phase is not None and go_on(recorder, phase)
        with recorder.phase("close", part="workload" if done else "extra"):
            await asyncio.wait_for(stack.aclose(), 60)
    if not done:
        return {}
    async with AsyncExitStack() as stack:
        models = await _connect(discobase, recorder, spec, stack, "reopen", "workload")
        with recorder.phase("reopen-find", len(plan.reopen_finds)) as phase:
            await run_ops(
                recorder,
                phase,
                [_find(models, op) for op in plan.reopen_finds],
                concurrent=False,
                check=lambda i, found: len(found) == plan.reopen_finds[i].expected,
            )
    return {}


async def run_bulk(discobase: Any, spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """``bulk``: one save after another until the records or the budget run out."""
    sizes = Sizes.from_json(spec.sizes)
    async with AsyncExitStack() as stack:
        models = await _connect(discobase, recorder, spec, stack, "connect", "setup")
        user = models["user"]
        records = [user(**data) for data in bulk_records(sizes.bulk, spec.seed)]
        recorder.start_budget()
        with recorder.phase("insert", len(records)) as phase:
            await run_ops(recorder, phase, [r.save for r in records], concurrent=False)
        with recorder.phase("close"):
            await asyncio.wait_for(stack.aclose(), 60)
    return {}


RUNNERS: dict[str, Callable[[Any, RunSpec, Recorder], Awaitable[dict[str, Any]]]] = {
    "crud": run_crud,
    "bulk": run_bulk,
}


async def amain(spec: RunSpec) -> int:
    discobase = install_overrides(spec.url)
    return await record_run(spec, lambda recorder: RUNNERS[spec.workload](discobase, spec, recorder))


def main(argv: list[str] | None = None) -> int:
    return client_main("benchmarks.client_baseline", amain, argv)


if __name__ == "__main__":
    sys.exit(main())
