"""discobase's own tables from the command line: ``logs``, ``tickets`` and ``migrate``.

They read the system tables (``_logs``, ``_tickets``, ``_occurrences``,
``_versions``, ``_migrations``) through models built from the catalog, like
every other table; ``migrate apply`` imports the application's database
object, because migrations are its code.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable
from rich.text import Text

from discobase.cli.connection import EXIT_NOT_FOUND, EXIT_USAGE, CliError, Opened, Target, open_database
from discobase.cli.core import app, console, print_json, run, target
from discobase.cli.records import print_records, record_json
from discobase.database import Database
from discobase.engine.versions import Version
from discobase.model.table import Table
from discobase.querytext import parse_query

__all__ = ["level_chart", "load_app"]

logs_app = typer.Typer(help="The log records stored in the _logs table.", no_args_is_help=True)
tickets_app = typer.Typer(help="Warnings and errors grouped into tickets.", no_args_is_help=True)
migrate_app = typer.Typer(help="The database's version and its migrations.", no_args_is_help=True)
app.add_typer(logs_app, name="logs")
app.add_typer(tickets_app, name="tickets")
app.add_typer(migrate_app, name="migrate")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
LOG_FIELDS = ["time", "level", "logger", "message"]
#: Colours of the levels in the chart, most severe first.
LEVEL_STYLES = {
    "CRITICAL": "bold red",
    "ERROR": "red",
    "WARNING": "yellow",
    "SUCCESS": "green",
    "INFO": "blue",
    "DEBUG": "cyan",
    "TRACE": "dim",
}


def _system(opened: Opened, name: str, what: str) -> type[Table]:
    if name not in opened.models:
        raise CliError(f"database {opened.db.name!r} has no {name} table: {what}", exit_code=EXIT_NOT_FOUND)
    return opened.models[name]


NO_LOGS = "it stores no logs (Database(log_table=True), or db.logs.attach())"


@logs_app.command("tail")
def logs_tail(
    ctx: typer.Context,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many records.", min=1)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest log records, oldest first."""
    _show_logs(ctx, f"sort:-time limit:{lines}", as_json, newest_last=True)


@logs_app.command("query")
def logs_query(
    ctx: typer.Context,
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help="Conditions on the _logs fields, e.g. level=ERROR logger^=app sort:-time limit:50.",
            metavar="QUERY",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Log records matching a query (the syntax of 'discobase find'), oldest first unless sorted."""
    _show_logs(ctx, " ".join(query or []), as_json, newest_last=False)


def _show_logs(ctx: typer.Context, text: str, as_json: bool, *, newest_last: bool) -> None:
    async def work() -> list[dict[str, Any]]:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_logs"])
            model = _system(opened, "_logs", NO_LOGS)
            parsed = parse_query(model, text)
            found = model.query(*parsed.conditions)
            found = found.sort(*parsed.sort) if parsed.sort else found.sort(model.time)
            if parsed.limit is not None:
                found = found.limit(parsed.limit)
            return [record_json(r) for r in await found.to_list()]

    records = run(work)
    if newest_last:
        records.reverse()
    if as_json:
        print_json(records)
    else:
        print_records("_logs", LOG_FIELDS, records)


def level_chart(rows: list[tuple[str, str, int]], width: int = 40) -> RichTable:
    """A bar per day: one segment per level, in the level's colour, scaled to the busiest day."""
    days: dict[str, Counter[str]] = {}
    for day, level, total in rows:
        days.setdefault(day, Counter())[level] += total
    busiest = max((sum(c.values()) for c in days.values()), default=0)
    chart = RichTable(title="log records per day and level", show_edge=False)
    chart.add_column("day", no_wrap=True)
    chart.add_column("records", justify="right")
    chart.add_column("", no_wrap=True)
    for day in sorted(days):
        counts = days[day]
        bar = Text()
        for level in sorted(
            counts, key=lambda lv: list(LEVEL_STYLES).index(lv) if lv in LEVEL_STYLES else 99
        ):
            cells = max(1, round(counts[level] * width / busiest)) if busiest else 0
            bar.append("█" * cells, style=LEVEL_STYLES.get(level, "white"))
        chart.add_row(day, str(sum(counts.values())), bar)
    chart.caption = "  ".join(f"[{style}]█[/] {level}" for level, style in LEVEL_STYLES.items())
    return chart


@logs_app.command("stats")
def logs_stats(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="How many days back (UTC).", min=1)] = 14,
    as_json: JsonOption = False,
) -> None:
    """Log records per day and level, as a bar chart."""
    since = (datetime.now(UTC) - timedelta(days=days - 1)).date()

    async def work() -> list[tuple[str, str, int]]:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_logs"])
            model = _system(opened, "_logs", NO_LOGS)
            tally: Counter[tuple[str, str]] = Counter()
            for record in await model.find():
                moment = datetime.fromisoformat(str(json.loads(record.model_dump_json())["time"]))
                day = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
                if day >= since:
                    tally[(day.isoformat(), str(getattr(record, "level", "")))] += 1
            return sorted((day, level, total) for (day, level), total in tally.items())

    rows = run(work)
    if as_json:
        print_json([{"day": day, "level": level, "records": total} for day, level, total in rows])
        return
    if not rows:
        console.print(f"no log records in the last {days} day(s)")
        return
    console.print(level_chart(rows))


NO_TICKETS = "it keeps no tickets (db.tickets.attach())"


@tickets_app.command("list")
def tickets_list(
    ctx: typer.Context,
    solved: Annotated[
        bool | None,
        typer.Option("--solved/--open", help="Only solved tickets, or only open ones (default: all)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Tickets, the most recent first."""

    async def work() -> list[dict[str, Any]]:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_tickets"])
            model = _system(opened, "_tickets", NO_TICKETS)
            query = model.query() if solved is None else model.query(model.solved == solved)
            return [record_json(r) for r in await query.sort(-model.last).to_list()]

    records = run(work)
    if as_json:
        print_json(records)
    else:
        print_records("_tickets", ["level", "location", "occurrences", "last", "solved"], records)


TicketArgument = Annotated[int, typer.Argument(help="The ticket's id.", metavar="ID")]


@tickets_app.command("show")
def tickets_show(
    ctx: typer.Context,
    ticket_id: TicketArgument,
    limit: Annotated[int, typer.Option(help="How many occurrences, newest first.", min=1)] = 20,
    as_json: JsonOption = False,
) -> None:
    """A ticket and its newest occurrences."""

    async def work() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_tickets", "_occurrences"])
            tickets = _system(opened, "_tickets", NO_TICKETS)
            ticket = await tickets.get(ticket_id)
            if ticket is None:
                raise CliError(f"no ticket {ticket_id}", exit_code=EXIT_NOT_FOUND)
            found: list[dict[str, Any]] = []
            if "_occurrences" in opened.models:
                occurrences = opened.models["_occurrences"]
                query = occurrences.query(occurrences.ticket == ticket_id)
                found = [record_json(r) for r in await query.sort(-occurrences.time).limit(limit).to_list()]
            return record_json(ticket), found

    ticket, occurrences = run(work)
    if as_json:
        print_json({"ticket": ticket, "occurrences": occurrences})
        return
    details = RichTable(show_header=False, title=f"ticket {ticket_id}")
    for name, value in ticket.items():
        details.add_row(name, value if isinstance(value, str) else json.dumps(value))
    console.print(details)
    print_records("occurrences", ["time", "level", "message", "exception"], occurrences)


@tickets_app.command("solve")
def tickets_solve(ctx: typer.Context, ticket_id: TicketArgument, as_json: JsonOption = False) -> None:
    """Mark a ticket solved (a new occurrence opens it again)."""

    async def work() -> bool:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_tickets"])
            tickets = _system(opened, "_tickets", NO_TICKETS)
            ticket = await tickets.get(ticket_id)
            if ticket is None:
                raise CliError(f"no ticket {ticket_id}", exit_code=EXIT_NOT_FOUND)
            if getattr(ticket, "solved", False):
                return False
            ticket.solved = True  # type: ignore[attr-defined]
            await ticket.update()
            return True

    changed = run(work)
    if as_json:
        print_json({"ticket": str(ticket_id), "solved": True, "changed": changed})
    else:
        console.print(f"ticket {ticket_id} solved" if changed else f"ticket {ticket_id} was solved already")


def load_app(spec: str) -> Database:
    """The :class:`~discobase.Database` named by ``module:attribute`` (the
    current directory is importable, as with ``python -m``)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise CliError(f"--app takes module:attribute (e.g. mybot.db:db), not {spec!r}", exit_code=EXIT_USAGE)
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CliError(f"cannot import {module_name!r}: {error}", exit_code=EXIT_USAGE) from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Database):
        raise CliError(
            f"{spec} is not a discobase.Database (it is {type(found).__name__})", exit_code=EXIT_USAGE
        )
    return found


async def _stored_version(opened: Opened) -> str | None:
    versions = opened.models.get("_versions")
    if versions is None:
        return None
    records = await versions.find()
    return str(getattr(records[0], "version", None)) if records else None


AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="The application's database as module:attribute (its migrations).",
        metavar="MODULE:ATTR",
    ),
]


@migrate_app.command("status")
def migrate_status(ctx: typer.Context, app_spec: AppOption = None, as_json: JsonOption = False) -> None:
    """The stored version, and with --app the version the application expects."""
    program = load_app(app_spec) if app_spec else None

    async def work() -> dict[str, Any]:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_versions", "_migrations"])
            stored = await _stored_version(opened)
            migrations = opened.models.get("_migrations")
            applied = len(await migrations.find()) if migrations is not None else 0
        expected = str(program.version) if program is not None and program.version is not None else None
        state = "unversioned" if stored is None else "current"
        if stored is not None and expected is not None:
            difference = Version.parse(stored).__lt__(Version.parse(expected))
            state = "behind" if difference else ("ahead" if stored != expected else "current")
        return {"stored": stored, "expected": expected, "state": state, "migrations_recorded": applied}

    status = run(work)
    if as_json:
        print_json(status)
        return
    console.print(f"stored version   {status['stored'] or '(none: the database is not versioned)'}")
    if program is not None:
        console.print(f"program version  {status['expected'] or '(none)'}")
    console.print(f"state            {status['state']}")


@migrate_app.command("history")
def migrate_history(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The migrations that ran (or failed), oldest first."""

    async def work() -> list[dict[str, Any]]:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(["_versions", "_migrations"])
            model = opened.models.get("_migrations")
            if model is None:
                return []
            return [record_json(r) for r in await model.query().sort(model.started).to_list()]

    records = run(work)
    if as_json:
        print_json(records)
    elif not records:
        console.print("no migration has run")
    else:
        print_records("_migrations", ["version", "name", "started", "duration", "outcome"], records)


@migrate_app.command("apply")
def migrate_apply(
    ctx: typer.Context,
    app_spec: Annotated[
        str,
        typer.Option("--app", help="The application's database as module:attribute.", metavar="MODULE:ATTR"),
    ],
    as_json: JsonOption = False,
) -> None:
    """Open the application's database, which runs its pending migrations (one process
    migrates, under a lock; the others wait), and print the version it is at."""
    where = target(ctx)

    async def work() -> dict[str, Any]:
        db = load_app(app_spec)
        _aim(db, where)
        async with db.conn(where.token or os.environ.get("DISCOBASE_TOKEN") or None):
            after = await db.get_version()
        return {"version": str(after) if after is not None else None}

    result = run(work)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"database {(result['version'] and 'at version ' + result['version']) or 'is not versioned'}"
        )


def _aim(db: Database, where: Target) -> None:
    """Point the application's database at the one the global options name."""
    if where.guild:
        if where.guild.isdigit():
            db.guild_id = int(where.guild)
        else:
            db.name = where.guild
    if where.server_url:
        db.server_url = where.server_url
    if where.data_dir is not None:
        db.data_dir = where.data_dir
