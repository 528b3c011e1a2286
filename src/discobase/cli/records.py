"""Commands on tables and records: ``tables``, ``schema``, ``find``, ``count``, ``insert``,
``update`` and ``delete``."""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

import typer
from pydantic import ValidationError
from rich.table import Table as RichTable

from discobase.cli.connection import EXIT_NOT_FOUND, EXIT_USAGE, CliError, open_database
from discobase.cli.core import app, console, print_json, run, target
from discobase.model.table import Table
from discobase.querytext import parse_query

__all__ = ["parse_assignments", "record_json"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
TableArgument = Annotated[str, typer.Argument(help="The table's name.", metavar="TABLE")]


def record_json(record: Table) -> dict[str, Any]:
    """A record as JSON: ``_id`` (its record id), then its fields as stored."""
    data: dict[str, Any] = json.loads(record.model_dump_json())
    return {"_id": record.record_id, **data}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def print_records(
    name: str, fields: list[str], records: list[dict[str, Any]], total: int | None = None
) -> None:
    """``records`` (as :func:`record_json` makes them) as a rich table."""
    shown = RichTable(title=f"{name}: {len(records)}" + (f" of {total}" if total is not None else ""))
    shown.add_column("_id", style="dim", no_wrap=True)
    for field in fields:
        shown.add_column(field, overflow="fold")
    for record in records:
        shown.add_row(str(record["_id"]), *(_text(record.get(field)) for field in fields))
    console.print(shown)


def _is_text(model: type[Table], field: str) -> bool:
    """Whether a field holds text, so that ``name=36`` gives the string ``"36"``."""
    annotation = model.model_fields[field].annotation
    return annotation is str or str in get_args(annotation)


def parse_assignments(model: type[Table], words: list[str]) -> dict[str, Any]:
    """``field=value`` words as values: text for text fields, else JSON when it
    reads as JSON (``36``, ``true``, ``["a"]``, ``null``), else the text
    (Pydantic then converts it, e.g. a date)."""
    values: dict[str, Any] = {}
    for word in words:
        name, equals, raw = word.partition("=")
        if not equals or not name:
            raise CliError(f"{word!r} is not field=value", exit_code=EXIT_USAGE)
        if name not in model.model_fields:
            known = ", ".join(model.model_fields)
            raise CliError(f"table has no field {name!r} (fields: {known})", exit_code=EXIT_USAGE, field=name)
        if _is_text(model, name) and raw != "null":
            values[name] = raw
            continue
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


def _validate(model: type[Table], values: dict[str, Any]) -> Table:
    """``values`` as a record of ``model``, or a usage error naming each invalid field."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise CliError(f"invalid record: {problems}", exit_code=EXIT_USAGE) from None


@app.command()
def tables(
    ctx: typer.Context,
    system: Annotated[
        bool, typer.Option("--system", help="Include discobase's own tables (_logs...).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List the tables: records, channels and when each last wrote a snapshot."""

    async def work() -> None:
        async with open_database(target(ctx), None) as opened:
            stats = await opened.db.stats(system=system)
        rows = [
            {
                "name": t.name,
                "records": t.records,
                "channels": t.channels,
                "fields": len(opened.tables[t.name].schema),
                "schema_version": opened.tables[t.name].schema_version,
                "last_snapshot": t.last_snapshot.isoformat() if t.last_snapshot else None,
            }
            for t in stats.tables
        ]
        if as_json:
            print_json(rows)
            return
        shown = RichTable(title=f"database {opened.db.name!r}")
        for column in ("table", "records", "fields", "channels", "schema", "last snapshot"):
            shown.add_column(
                column, justify="right" if column in ("records", "fields", "channels") else "left"
            )
        for row in rows:
            shown.add_row(
                str(row["name"]),
                str(row["records"]),
                str(row["fields"]),
                str(row["channels"]),
                f"v{row['schema_version']}",
                str(row["last_snapshot"] or "never"),
            )
        console.print(shown)

    run(work)


@app.command()
def schema(ctx: typer.Context, table: TableArgument, as_json: JsonOption = False) -> None:
    """Show a table's stored schema: its fields, their types and which are required."""

    async def work() -> None:
        async with open_database(target(ctx)) as opened:
            meta = opened.tables.get(table)
            if meta is None:
                opened.model(table)  # raises, naming the tables there are
                return
        if as_json:
            print_json({"table": table, "schema_version": meta.schema_version, "fields": meta.schema})
            return
        shown = RichTable(title=f"{table} (schema version {meta.schema_version})")
        for column in ("field", "type", "required", "JSON schema"):
            shown.add_column(column, overflow="fold")
        for name, info in meta.schema.items():
            shown.add_row(
                name,
                str(info.get("type")),
                "yes" if info.get("required") else "no",
                _text(info.get("schema")),
            )
        console.print(shown)

    run(work)


QueryArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Conditions such as age>=18 name=ada sort:-age limit:5 (none: every record).", metavar="QUERY"
    ),
]


@app.command()
def find(
    ctx: typer.Context, table: TableArgument, query: QueryArgument = None, as_json: JsonOption = False
) -> None:
    """Find records with the query syntax of the /db find slash command.

    Words are conditions (all must hold): field, operator (= != < <= > >= ~ ^=)
    and value; sort:field or sort:-field and limit:n shape the result.
    """
    text = " ".join(query or [])

    async def work() -> None:
        async with open_database(target(ctx), [table]) as opened:
            model = opened.model(table)
            parsed = parse_query(model, text)
            found = model.query(*parsed.conditions)
            if parsed.sort:
                found = found.sort(*parsed.sort)
            if parsed.limit is not None:
                found = found.limit(parsed.limit)
            records = [record_json(r) for r in await found.to_list()]
        if as_json:
            print_json(records)
        else:
            print_records(table, list(opened.tables[table].schema), records)

    run(work)


@app.command()
def count(
    ctx: typer.Context, table: TableArgument, query: QueryArgument = None, as_json: JsonOption = False
) -> None:
    """Count the records matching a query (none: every record)."""
    text = " ".join(query or [])

    async def work() -> None:
        async with open_database(target(ctx), [table]) as opened:
            model = opened.model(table)
            parsed = parse_query(model, text)
            total = await model.query(*parsed.conditions).count()
        if as_json:
            print_json({"table": table, "count": total})
        else:
            console.print(total)

    run(work)


Assignments = Annotated[
    list[str], typer.Argument(help="Values as field=value words.", metavar="FIELD=VALUE...")
]


@app.command()
def insert(
    ctx: typer.Context, table: TableArgument, values: Assignments, as_json: JsonOption = False
) -> None:
    """Insert a record (e.g. name=ada age=36 'tags=["x"]'); prints its id."""

    async def work() -> None:
        async with open_database(target(ctx), [table]) as opened:
            model = opened.model(table)
            record = _validate(model, parse_assignments(model, values))
            await record.save()
            result = record_json(record)
        if as_json:
            print_json(result)
        else:
            console.print(result["_id"])

    run(work)


IdArgument = Annotated[int, typer.Argument(help="The record's id (the _id column of find).", metavar="ID")]


@app.command()
def update(
    ctx: typer.Context,
    table: TableArgument,
    record_id: IdArgument,
    values: Assignments,
    as_json: JsonOption = False,
) -> None:
    """Change fields of a record (e.g. age=37)."""

    async def work() -> None:
        async with open_database(target(ctx), [table]) as opened:
            model = opened.model(table)
            record = await model.get(record_id)
            if record is None:
                raise CliError(
                    f"no record {record_id} in table {table!r}", exit_code=EXIT_NOT_FOUND, table=table
                )
            changes = parse_assignments(model, values)
            current = json.loads(record.model_dump_json())
            changed = _validate(model, {**current, **changes})
            for name in changes:
                setattr(record, name, getattr(changed, name))
            await record.update()
            result = record_json(record)
        if as_json:
            print_json(result)
        else:
            console.print(f"updated {record_id}")

    run(work)


@app.command()
def delete(
    ctx: typer.Context,
    table: TableArgument,
    record_ids: Annotated[
        list[int] | None, typer.Argument(help="Ids of the records to delete.", metavar="ID...")
    ] = None,
    where: Annotated[
        str | None,
        typer.Option("--where", help="Delete every record matching this query instead.", metavar="QUERY"),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Needed with --where: no question asked.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete records by id, or every record matching --where (with --yes)."""
    if not record_ids and where is None:
        raise typer.BadParameter("give record ids, or --where QUERY", param_hint="ID...")
    if where is not None and not yes:
        raise typer.BadParameter("deleting by query needs --yes", param_hint="--where")

    async def work() -> int:
        async with open_database(target(ctx), [table]) as opened:
            model = opened.model(table)
            if where is not None:
                parsed = parse_query(model, where)
                return await model.query(*parsed.conditions).delete()
            records = []
            for record_id in record_ids or []:
                record = await model.get(record_id)
                if record is None:
                    raise CliError(
                        f"no record {record_id} in table {table!r}", exit_code=EXIT_NOT_FOUND, table=table
                    )
                records.append(record)
            for record in records:
                await record.delete()
            return len(records)

    deleted = run(work)
    if as_json:
        print_json({"table": table, "deleted": deleted})
    else:
        console.print(f"deleted {deleted}")
