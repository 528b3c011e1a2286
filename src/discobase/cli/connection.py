"""Opening a database from the command line, with no model code.

Every table's catalog entry stores a summary of its fields (their JSON
schemas and whether they are required, see :mod:`discobase.model.schema`).
The command line turns each summary back into a :class:`~discobase.Table`
subclass: fields of simple JSON types get the matching Python type (so that
``age>=18`` compares numbers), anything else is kept as JSON. Each field keeps
the stored schema as its JSON schema, so the model matches the catalog entry
exactly and opening never changes the stored schema. Records are written with
the fields they were given only (unset optional fields are left out), so the
application's model reads them with its own defaults.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import WithJsonSchema, create_model

from discobase.database import Database, EmbeddedServerWarning
from discobase.engine.state import TableMeta
from discobase.exceptions import DiscobaseError
from discobase.model.table import Table

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_USAGE",
    "CliError",
    "Opened",
    "StoredTable",
    "Target",
    "model_from_schema",
    "open_database",
    "python_type",
]

#: Exit codes (also in docs/cli.md): 0 success.
EXIT_ERROR = 1
"""A discobase error: cannot connect, a write failed, the key is wrong..."""
EXIT_USAGE = 2
"""A wrong option or argument, or a malformed query (typer's own usage errors exit 2 too)."""
EXIT_NOT_FOUND = 3
"""A table, record or ticket that does not exist."""
EXIT_CHECK_FAILED = 4
"""``doctor`` found a problem, or a backup or export file failed its checksum."""


class CliError(DiscobaseError):
    """An error the command line reports on stderr before exiting with :attr:`exit_code`."""

    def __init__(self, message: str, *, exit_code: int = EXIT_ERROR, **context: Any) -> None:
        super().__init__(message, **context)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Target:
    """Which database to open, from the global options and their environment variables."""

    guild: str | None = None
    token: str | None = None
    server_url: str | None = None
    data_dir: Path | None = None
    key: str | None = None

    def database(self) -> Database:
        """A :class:`~discobase.Database` for the guild named (or numbered) by ``--guild``."""
        guild = self.guild or os.environ.get("DISCOBASE_GUILD") or None
        if guild is None:
            raise CliError(
                "which database? Give the guild's name or id with --guild (or set DISCOBASE_GUILD)",
                exit_code=EXIT_USAGE,
            )
        guild_id = int(guild) if guild.isdigit() else None
        return Database(
            guild if guild_id is None else "database",
            guild_id=guild_id,
            server_url=self.server_url or None,
            data_dir=self.data_dir,
            key=self.key or os.environ.get("DISCOBASE_KEY") or None,
        )


def python_type(schema: Any) -> Any:
    """The Python type for a stored field schema: simple JSON types map to
    Python's (``integer`` → ``int``, ``string`` with ``format: date-time`` →
    ``datetime``, an ``enum`` → a ``Literal``, ``X | null`` → ``X | None``);
    anything else (nested models, unions) is ``Any``, read as JSON."""
    if not isinstance(schema, dict):
        return Any
    options = schema.get("anyOf")
    if isinstance(options, list):
        types = [python_type(option) for option in options if option != {"type": "null"}]
        nullable = len(types) < len(options)
        if len(types) == 1 and types[0] is not Any:
            return Union[types[0], None] if nullable else types[0]  # noqa: UP007
        return Any
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int | bool) for v in enum):
        return Literal[tuple(enum)]
    kind = schema.get("type")
    if kind == "string":
        return {"date-time": datetime, "date": date}.get(str(schema.get("format")), str)
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "boolean":
        return bool
    if kind == "array":
        return list[Any]
    if kind == "object":
        return dict[str, Any]
    if kind == "null":
        return None
    return Any


class StoredTable(Table):
    """Base of the models built from the catalog: dumps only the fields that
    are set (read from a record, or given), so that a field left out keeps the
    application's default when its own model reads the record."""

    def model_dump_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("exclude_unset", True)
        return super().model_dump_json(**kwargs)


def model_from_schema(name: str, meta: TableMeta) -> type[Table]:
    """A :class:`StoredTable` subclass named ``name`` whose fields are those of ``meta.schema``."""
    if not meta.schema:
        raise CliError(
            f"table {name!r} has no stored schema (its catalog entry is older than stored schemas): "
            "open it once with its model to store one",
            table=name,
        )
    fields: dict[str, Any] = {}
    for field_name, info in meta.schema.items():
        annotation: Any = Annotated[python_type(info.get("schema")), WithJsonSchema(info.get("schema", {}))]
        fields[field_name] = (annotation, ... if info.get("required") else None)
    # An inner class, as pydantic recognises one (by module and qualified name), not a field.
    qualname = f"Stored_{name}"
    settings = type(
        "Settings", (), {"name": name, "__module__": __name__, "__qualname__": f"{qualname}.Settings"}
    )
    namespace = {"Settings": settings, "__module__": __name__, "__qualname__": qualname}
    base = type(qualname, (StoredTable,), namespace)
    model: type[Table] = create_model(name, __base__=base, __module__=__name__, **fields)
    return model


@dataclass(slots=True)
class Opened:
    """An open database and the models of its tables, by name."""

    db: Database
    tables: dict[str, TableMeta]
    models: dict[str, type[Table]] = field(default_factory=dict)

    def model(self, name: str) -> type[Table]:
        found = self.models.get(name)
        if found is None:
            known = ", ".join(sorted(n for n in self.tables if not n.startswith("_"))) or "none"
            raise CliError(
                f"no table {name!r} in database {self.db.name!r} (tables: {known})",
                exit_code=EXIT_NOT_FOUND,
                table=name,
            )
        return found

    async def attach_stored(self, names: Iterable[str]) -> None:
        """Attach the tables of ``names`` that the catalog holds and are not attached yet."""
        found = [self.tables[name] for name in names if name in self.tables and name not in self.models]
        for meta in found:
            self._add(meta)
        if found:
            await self.db.build_tables()

    def _add(self, meta: TableMeta) -> type[Table]:
        model = model_from_schema(meta.name, meta)
        # A system table is attached as a subclass made for this database.
        model = self.db.system_table(model) if meta.name.startswith("_") else self.db.table(model)
        self.models[meta.name] = model
        self.tables[meta.name] = meta
        return model

    async def attach(self, meta: TableMeta) -> type[Table]:
        """Attach (creating it when it is new) a table with ``meta``'s name and schema."""
        model = self._add(meta)
        await self.db.build_tables()
        return model


@asynccontextmanager
async def open_database(target: Target, tables: Iterable[str] | None = ()) -> AsyncIterator[Opened]:
    """Open the database of ``target`` with models for ``tables`` (None: every
    table in the catalog, system tables included; unknown names are an error).
    Without a token, the embedded local server of ``--data-dir`` is used."""
    db = target.database()
    token = target.token or os.environ.get("DISCOBASE_TOKEN") or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmbeddedServerWarning)
        async with db.conn(token):
            stored = db.stored_tables()
            opened = Opened(db, stored)
            wanted = list(stored) if tables is None else list(dict.fromkeys(tables))
            for name in wanted:
                if name not in stored:
                    opened.model(name)  # raises, naming the tables there are
            await opened.attach_stored(wanted)
            yield opened
