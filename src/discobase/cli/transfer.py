"""Moving records in and out: ``export``/``import`` (tables) and ``backup``/``restore`` (the whole database).

Both write the same file format, JSON Lines:

1. a header: ``{"format": "discobase-export" | "discobase-backup", "version": 1,
   "database": ..., "created": ..., "tables": {name: {"schema": ..., "schema_version": n,
   "records": n}}}``;
2. one line per record: ``{"table": name, "_id": record id, "record": {fields}}``;
3. a trailer: ``{"checksum": "sha256:<hex of every byte before this line>", "records": n}``.

A file is written under a temporary name and renamed when complete, and read
only when its checksum matches, so a cut or edited file writes nothing.

Loading (``import``, ``restore``) is idempotent by record id and resumable:
a record whose id is in the table already is updated to the file's values
(or left alone when equal); one already imported by an earlier run (noted in
``FILE.progress``, one line per record as soon as it is written) or whose
identical copy is in the table is skipped; others are inserted, with new ids
(ids are made by the database). ``restore`` also deletes the records the
backup does not hold, so that every table ends equal to the backup, and
rewrites the ticket ids that ``_occurrences`` records refer to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from discobase.cli.connection import EXIT_CHECK_FAILED, EXIT_USAGE, CliError, Opened, open_database
from discobase.cli.core import app, console, err, fail, print_json, run, target
from discobase.cli.records import record_json
from discobase.engine.state import TableMeta
from discobase.model.table import Table

__all__ = ["FORMAT_VERSION", "Dump", "read_dump"]

FORMAT_VERSION = 1
#: Records written per batch (concurrent writes, which group commit packs into few messages).
BATCH = 100
#: Fields that hold the id of a record of another table, rewritten when a restore gives that record a new id.
REFERENCES: dict[str, dict[str, str]] = {"_occurrences": {"ticket": "_tickets"}}


def _line(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n").encode()


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(slots=True)
class Dump:
    """A verified export or backup file, read into memory."""

    kind: str
    database: str
    tables: dict[str, dict[str, Any]]
    records: dict[str, list[tuple[int, dict[str, Any]]]]


def read_dump(path: Path) -> Dump:
    """Read and verify ``path``; raises :class:`CliError` (exit code 4) when
    its checksum does not match or it is cut short."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}", exit_code=EXIT_USAGE) from None
    body_end = raw.rstrip(b"\n").rfind(b"\n") + 1
    try:
        trailer = json.loads(raw[body_end:])
        header_end = raw.index(b"\n") + 1
        header = json.loads(raw[:header_end])
    except ValueError:
        raise CliError(
            f"{path} is not a discobase export or backup (or is cut short)", exit_code=EXIT_CHECK_FAILED
        ) from None
    if not isinstance(header, dict) or header.get("format") not in ("discobase-export", "discobase-backup"):
        raise CliError(f"{path} is not a discobase export or backup", exit_code=EXIT_CHECK_FAILED)
    if header.get("version") != FORMAT_VERSION:
        raise CliError(
            f"{path} has format version {header.get('version')}; this discobase reads {FORMAT_VERSION}"
        )
    expected = "sha256:" + hashlib.sha256(raw[:body_end]).hexdigest()
    if not isinstance(trailer, dict) or trailer.get("checksum") != expected:
        raise CliError(
            f"{path} fails its checksum (cut short or changed since it was written): nothing was written",
            exit_code=EXIT_CHECK_FAILED,
        )
    records: dict[str, list[tuple[int, dict[str, Any]]]] = {name: [] for name in header["tables"]}
    for line in raw[header_end:body_end].splitlines():
        item = json.loads(line)
        records[item["table"]].append((int(item["_id"]), item["record"]))
    return Dump(
        str(header["format"]).removeprefix("discobase-"), str(header["database"]), header["tables"], records
    )


@contextmanager
def _progress(total: int, what: str) -> Iterator[Any]:
    """A rich progress bar on stderr when it is a terminal; ``advance(n)`` either way."""
    if not err.is_terminal:
        yield lambda _task, advance=0: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        task = bar.add_task(what, total=total)
        yield lambda _task, advance=0: bar.update(task, advance=advance, description=_task)


async def _dump(opened: Opened, names: Sequence[str], kind: str, path: Path) -> int:
    """Write the records of ``names`` to ``path`` (see the module docstring); returns how many."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        found = await opened.model(name).find()
        rows[name] = sorted((record_json(r) for r in found), key=lambda r: int(r["_id"]))
    header = {
        "format": f"discobase-{kind}",
        "version": FORMAT_VERSION,
        "database": opened.db.name,
        "created": datetime.now(UTC).isoformat(),
        "tables": {
            name: {
                "schema": opened.tables[name].schema,
                "schema_version": opened.tables[name].schema_version,
                "records": len(rows[name]),
            }
            for name in names
        },
    }
    digest = hashlib.sha256()
    partial = path.with_name(path.name + ".part")
    total = sum(len(r) for r in rows.values())
    with partial.open("wb") as out, _progress(total, f"{kind} {path.name}") as advance:
        for chunk in (_line(header),):
            digest.update(chunk)
            out.write(chunk)
        for name in names:
            for row in rows[name]:
                record_id = row.pop("_id")
                chunk = _line({"table": name, "_id": str(record_id), "record": row})
                digest.update(chunk)
                out.write(chunk)
                advance(name, 1)
        out.write(_line({"checksum": "sha256:" + digest.hexdigest(), "records": total}))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    return total


class _Progress:
    """``FILE.progress``: which record of the file became which record of which database."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path.with_name(path.name + ".progress")
        self.database = database
        self.done: dict[tuple[str, int], int] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if item.get("database") == database:
                    self.done[(item["table"], int(item["source"]))] = int(item["target"])

    def note(self, table: str, pairs: Sequence[tuple[int, int]]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            for source, made in pairs:
                self.done[(table, source)] = made
                line = {"database": self.database, "table": table, "source": str(source), "target": str(made)}
                out.write(json.dumps(line) + "\n")
            out.flush()
            os.fsync(out.fileno())


@dataclass(slots=True)
class LoadResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
        }


async def _gather(tasks: Sequence[Any]) -> None:
    for start in range(0, len(tasks), BATCH):
        await asyncio.gather(*tasks[start : start + BATCH])


async def _load(opened: Opened, dump: Dump, path: Path, names: Sequence[str], *, prune: bool) -> LoadResult:
    """Write ``dump``'s records of ``names`` into the open database (see the module docstring)."""
    result = LoadResult()
    state = _Progress(path, opened.db.name)
    made: dict[str, dict[int, int]] = {}  # table -> file id -> record id in the database
    total = sum(len(dump.records[n]) for n in names)
    ordered = sorted(names, key=lambda n: n in REFERENCES)  # referenced tables first
    with _progress(total, "load") as advance:
        for name in ordered:
            if name in opened.models:
                model = opened.models[name]
            else:
                stored = opened.tables.get(name)
                schema = dump.tables[name]["schema"]
                meta = stored or TableMeta(name=name, data_channels=[], index_channel=0, schema=schema)
                model = await opened.attach(meta)
            existing = {r.record_id: r for r in await model.find()}
            by_content: dict[str, list[int]] = {}
            for record_id, record in existing.items():
                assert record_id is not None
                by_content.setdefault(_canonical(json.loads(record.model_dump_json())), []).append(record_id)
            mapping = made.setdefault(name, {})
            file_ids = {record_id for record_id, _ in dump.records[name]}  # matched by id, not content
            kept: set[int] = set()
            inserts: list[tuple[int, Table]] = []
            updates: list[Table] = []
            for source, values in dump.records[name]:
                for field, other in REFERENCES.get(name, {}).items():
                    if isinstance(values.get(field), int) and values[field] in made.get(other, {}):
                        values = {**values, field: made[other][values[field]]}
                already = state.done.get((name, source))
                if source in existing:
                    record = existing[source]
                    if _canonical(json.loads(record.model_dump_json())) == _canonical(values):
                        result.unchanged += 1
                    else:
                        changed = model.model_validate(values)
                        for field in values:
                            setattr(record, field, getattr(changed, field))
                        updates.append(record)
                    mapping[source] = source
                elif already is not None and already in existing and already not in kept:
                    mapping[source] = already
                    result.unchanged += 1
                else:
                    copies = [
                        i
                        for i in by_content.get(_canonical(values), [])
                        if i not in kept and i not in file_ids
                    ]
                    if copies:
                        mapping[source] = copies[0]
                        result.unchanged += 1
                    else:
                        inserts.append((source, model.model_validate(values)))
                        continue
                kept.add(mapping[source])
                advance(name, 1)
            await _gather([record.update() for record in updates])
            result.updated += len(updates)
            for start in range(0, len(inserts), BATCH):
                chunk = inserts[start : start + BATCH]
                await model.insert_many([record for _, record in chunk])
                pairs = [(source, record.record_id) for source, record in chunk]
                state.note(name, [(s, r) for s, r in pairs if r is not None])
                for source, record_id in pairs:
                    assert record_id is not None
                    mapping[source] = record_id
                    kept.add(record_id)
                result.inserted += len(chunk)
                advance(name, len(chunk))
            if prune:
                doomed = [record for record_id, record in existing.items() if record_id not in kept]
                await _gather([record.delete() for record in doomed])
                result.deleted += len(doomed)
    return result


FileArgument = Annotated[Path, typer.Argument(help="The JSON Lines file.", metavar="FILE")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("export")
def export_(
    ctx: typer.Context,
    table_or_file: Annotated[
        list[str], typer.Argument(help="TABLE FILE, or FILE with --all.", metavar="[TABLE] FILE")
    ],
    all_tables: Annotated[bool, typer.Option("--all", help="Every table (not discobase's own).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a table's records (or every table's) to a JSON Lines file, with a checksum."""
    if len(table_or_file) != (1 if all_tables else 2):
        raise typer.BadParameter("give TABLE FILE, or --all FILE", param_hint="[TABLE] FILE")
    path = Path(table_or_file[-1])

    async def work() -> dict[str, Any]:
        async with open_database(target(ctx), None if all_tables else [table_or_file[0]]) as opened:
            names = (
                sorted(n for n in opened.models if not n.startswith("_"))
                if all_tables
                else [table_or_file[0]]
            )
            written = await _dump(opened, names, "export", path)
        return {"file": str(path), "tables": names, "records": written}

    result = run(work)
    if as_json:
        print_json(result)
    else:
        console.print(f"exported {result['records']} record(s) of {', '.join(result['tables'])} to {path}")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: FileArgument,
    tables: Annotated[list[str] | None, typer.Option("--table", help="Only this table (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load an export file (creating missing tables from its schemas); resumable, idempotent by record id."""
    dump = _verified(path)
    names = list(tables or dump.tables)
    unknown = [n for n in names if n not in dump.tables]
    if unknown:
        raise typer.BadParameter(f"{path} holds no table {', '.join(unknown)}", param_hint="--table")

    async def work() -> LoadResult:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(names)
            return await _load(opened, dump, path, names, prune=False)

    _finish(run(work), as_json, "imported")


def _verified(path: Path) -> Dump:
    """The dump in ``path``, or exit: 2 when there is no such file, 4 when it fails its checksum."""
    if not path.exists():
        raise typer.BadParameter(f"no file {path}", param_hint="FILE")
    try:
        return read_dump(path)
    except CliError as error:
        fail(error, error.exit_code)


def _finish(result: LoadResult, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"{verb}: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged"
        + (f", {result.deleted} deleted" if result.deleted else "")
    )


@app.command()
def backup(ctx: typer.Context, path: FileArgument, as_json: JsonOption = False) -> None:
    """Write the whole database (every table, discobase's own included) to FILE, with a checksum."""

    async def work() -> dict[str, Any]:
        async with open_database(target(ctx), None) as opened:
            names = sorted(opened.models)
            written = await _dump(opened, names, "backup", path)
        return {"file": str(path), "tables": names, "records": written}

    result = run(work)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"backed up {result['records']} record(s) of {len(result['tables'])} table(s) to {path}"
        )


@app.command()
def restore(
    ctx: typer.Context,
    path: FileArgument,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Needed: records not in the backup are deleted.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make every table of a backup equal to it (after checking its checksum)."""
    dump = _verified(path)
    if dump.kind != "backup":
        raise typer.BadParameter(f"{path} is an export: load it with 'discobase import'", param_hint="FILE")
    if not yes:
        raise typer.BadParameter(
            "restoring deletes the records the backup does not hold: add --yes", param_hint="--yes"
        )

    async def work() -> LoadResult:
        async with open_database(target(ctx)) as opened:
            await opened.attach_stored(dump.tables)
            return await _load(opened, dump, path, list(dump.tables), prune=True)

    _finish(run(work), as_json, "restored")
