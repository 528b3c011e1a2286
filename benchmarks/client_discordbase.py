"""The client process for DiscordBase 0.1.0 (from the package index, unmodified).

``benchmarks/.discordbase-venv/bin/python -m benchmarks.client_discordbase
SPEC.json``, run from the repository root: ``discordbase`` is imported from
that environment, and only :mod:`benchmarks.protocol` and
:mod:`benchmarks.workloads` (standard library only) from this repository.

DiscordBase is REST-only (``httpx``): a ``DiscordRESTClient(token,
api_base=...)`` points it at the local server, and the client builds its
``DiscordBase(rest=..., guild_id=..., bot_user_id=...)`` the way
``DiscordBase.connect`` does (``connect`` itself has no ``api_base``). Bots
cannot create guilds on Discord and DiscordBase does not try: it is given the
guild the runner made (``RunSpec.guild_id``).

How the workloads map onto its API:

- tables are ``await db.table(name, pk="id", schema=..., create=True)``: a
  category, a catalog channel and a channel per table;
- every row is one message; a row needs a primary-key field, so each record
  carries ``id`` = its table and index (``user000012``); the other libraries
  make their ids themselves;
- ``insert`` / ``patch`` / ``delete`` / ``find(predicate)``: each one first
  reads the table's whole channel history (100 messages per request) to
  rebuild the rows, then writes at most one request;
- the cold reopen is a new ``DiscordRESTClient`` and ``DiscordBase`` loading
  both tables from the catalog.

``crud`` runs in both styles (at the peers' reduced sizes a phase issues at
most a few dozen operations together). ``bulk`` runs **sequentially**, one
insert after another until the rows or the time budget run out, reporting the
rate: DiscordBase's REST client retries a 429 at most five times (sleeping
``retry_after``) and then raises ``DiscordAPIError``, so of 100 inserts issued
together on the ``discord`` profile 75 failed in a probe (20 together all
succeeded). ``logs`` is not supported: DiscordBase has no log table or
logging sink.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Awaitable, Callable
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

#: The version the comparison is about.
VERSION = "0.1.0"
#: DiscordBase's schema type names for the workloads' tables (``id`` is the primary key).
SCHEMAS: dict[str, dict[str, str]] = {
    "user": {"id": "str", "name": "str", "email": "str", "age": "int"},
    "post": {"id": "str", "author": "str", "title": "str", "body": "str"},
}

Tables = dict[str, Any]


def load_discordbase() -> Any:
    """Import DiscordBase from this environment, checking that it is 0.1.0."""
    version = importlib.metadata.version("discordbase")
    if version != VERSION:
        raise RuntimeError(f"expected discordbase {VERSION} in this environment, found {version}")
    return importlib.import_module("discordbase")


def row_id(table: str, index: int) -> str:
    """The primary key of record ``index`` of ``table`` (DiscordBase needs one per row)."""
    return f"{table}{index:06d}"


def row(table: str, index: int, record: dict[str, Any]) -> dict[str, Any]:
    """The workload's ``record`` as a DiscordBase row: its fields and the ``id`` key."""
    return {"id": row_id(table, index), **record}


async def open_database(discordbase: Any, spec: RunSpec, *, create: bool) -> tuple[Any, Tables]:
    """A new DiscordBase client on the local server and its two tables.

    ``create``: make the tables (the first connect) rather than load them
    from the catalog (the cold reopen).
    """
    rest_module = importlib.import_module("discordbase.rest")
    rest = rest_module.DiscordRESTClient(spec.token, api_base=spec.url.rstrip("/") + "/api/v10")
    try:
        me = await rest.current_user()
        db = discordbase.DiscordBase(rest=rest, guild_id=spec.guild_id, bot_user_id=str(me["id"]))
        tables = {
            name: await db.table(name, pk="id", schema=schema if create else None, create=create)
            for name, schema in SCHEMAS.items()
        }
    except BaseException:
        await rest.close()
        raise
    return db, tables


def _find(tables: Tables, op: FindOp) -> Callable[[], Awaitable[Any]]:
    table = tables[op.table]
    return lambda: table.find(lambda stored: stored.get(op.field) == op.value)


async def run_crud(discordbase: Any, spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """``crud`` in ``spec.style`` (see :mod:`benchmarks.workloads`); stops where the budget runs out."""
    concurrent = spec.style == "concurrent"
    plan: CrudPlan = crud_plan(Sizes.from_json(spec.sizes), spec.seed)
    with recorder.phase("connect", part="setup"):
        db, tables = await open_database(discordbase, spec, create=True)
    recorder.start_budget()

    def insert(table: Any, index: int) -> Callable[[], Awaitable[Any]]:
        return lambda: tables[table].insert(row(table, index, plan.record(table, index)))

    def update(table: Any, index: int, values: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        return lambda: tables[table].patch(row_id(table, index), values)

    def delete(table: Any, index: int) -> Callable[[], Awaitable[Any]]:
        return lambda: tables[table].delete(row_id(table, index))

    ops = CrudOps(insert=insert, find=lambda op: _find(tables, op), update=update, delete=delete)
    phase: Phase | None = None
    try:
        phase = await run_crud_phases(recorder, plan, ops, concurrent=concurrent)
    finally:
        done = phase is not None and go_on(recorder, phase)
        with recorder.phase("close", part="workload" if done else "extra"):
            await db.close()
    if not done:
        return {}
    with recorder.phase("reopen"):
        db, tables = await open_database(discordbase, spec, create=False)
    try:
        with recorder.phase("reopen-find", len(plan.reopen_finds)) as phase:
            await run_ops(
                recorder,
                phase,
                [_find(tables, op) for op in plan.reopen_finds],
                concurrent=concurrent,
                check=lambda i, found: len(found) == plan.reopen_finds[i].expected,
            )
    finally:
        await db.close()
    return {}


async def run_bulk(discordbase: Any, spec: RunSpec, recorder: Recorder) -> dict[str, Any]:
    """``bulk``: one insert after another until the rows or the budget run out."""
    sizes = Sizes.from_json(spec.sizes)
    with recorder.phase("connect", part="setup"):
        db, tables = await open_database(discordbase, spec, create=True)
    try:
        user = tables["user"]
        rows = [row("user", i, data) for i, data in enumerate(bulk_records(sizes.bulk, spec.seed))]

        def insert(data: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
            return lambda: user.insert(data)

        recorder.start_budget()
        with recorder.phase("insert", len(rows)) as inserted:
            await run_ops(recorder, inserted, [insert(data) for data in rows], concurrent=False)
        with recorder.phase("verify", 1, part="extra") as phase:
            # The table holds exactly the acknowledged inserts.
            phase.checked = phase.done = 1
            phase.ok = int(await user.count() == inserted.done)
    finally:
        with recorder.phase("close"):
            await db.close()
    return {}


RUNNERS: dict[str, Callable[[Any, RunSpec, Recorder], Awaitable[dict[str, Any]]]] = {
    "crud": run_crud,
    "bulk": run_bulk,
}


async def amain(spec: RunSpec) -> int:
    if spec.workload not in RUNNERS:
        raise ValueError(f"DiscordBase has no {spec.workload!r} workload (it has no log table)")
    if not spec.guild_id:
        raise ValueError("DiscordBase needs the guild the runner made (RunSpec.guild_id)")
    discordbase = load_discordbase()
    return await record_run(spec, lambda recorder: RUNNERS[spec.workload](discordbase, spec, recorder))


def main(argv: list[str] | None = None) -> int:
    return client_main("benchmarks.client_discordbase", amain, argv)


if __name__ == "__main__":
    sys.exit(main())
