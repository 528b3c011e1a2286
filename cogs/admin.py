"""The ``/db`` slash commands: look at and change a database from Discord.

Load it into a bot that has a database attached (or use ``Database(..., cogs=True)``)::

    await bot.load_extension("discobase.cogs.admin")
    await bot.tree.sync()   # as for any application command

Every command acts on the database stored in the guild it is used in.

``/db tables`` · ``/db schema <table>`` · ``/db find <table> [query]`` ·
``/db count <table> [query]`` · ``/db insert <table>`` · ``/db update <table> <id>`` ·
``/db delete <table> <id>`` · ``/db stats`` · ``/db logs [level] [since]`` ·
``/db tickets [state]`` · ``/db ticket solve <id>`` · ``/db version`` · ``/db migrations``

Access: the commands are for members with the Administrator permission
(Discord hides them from everyone else; a server admin may grant them to
other roles under Server Settings → Integrations), and, if the database has
``admin_roles``, only for members with one of those roles. Every answer is
ephemeral (only the invoker sees it). Every change (insert, update, delete,
ticket solve) is recorded in the ``_events`` table with the member who made it.
Queries use :mod:`discobase.querytext` (``age>=18 name=ada sort:-age``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands
from loguru import logger

import discobase
from discobase._connect.attached import attached_databases
from discobase.database import Database
from discobase.exceptions import DiscobaseError
from discobase.model.table import Table, TableOptions
from discobase.querytext import ParsedQuery, field_names, parse_query

from ._forms import (
    FIND_LIMIT,
    AccessDenied,
    ConfirmDelete,
    RecordModal,
    as_text,
    audit,
    built,
    find_record,
    parse_since,
    record_id_of,
    record_json,
    requests_text,
    type_name,
)
from ._pages import Item, paginate, send_pages, truncate

__all__ = ["AdminCog", "setup"]


class AdminCog(commands.Cog, name="discobase"):
    """The ``/db`` command group (see the module docstring)."""

    db = app_commands.Group(
        name="db",
        description="Look at and change the discobase database of this server",
        guild_only=True,
        default_permissions=discord.Permissions(administrator=True),
    )
    ticket = app_commands.Group(name="ticket", description="Work on a ticket", parent=db)

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------ access
    def database(self, interaction: discord.Interaction) -> Database:
        """The database in the interaction's guild (an AccessDenied if there is none)."""
        guild_id = interaction.guild_id
        for db in attached_databases(self.bot):
            if db.guild is not None and db.guild.id == guild_id:
                return db
        for db in attached_databases(self.bot):
            if db.guild is None and db.guild_id in (None, guild_id):
                raise AccessDenied("The database is still opening; try again in a moment.")
        raise AccessDenied("No discobase database is stored in this server.")

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        db = self.database(interaction)
        if not db.open:
            raise AccessDenied("The database is not open (it is starting or closing); try again in a moment.")
        allowed = db.admin_roles
        if allowed:
            roles = getattr(interaction.user, "roles", [])
            if not any(role.id in allowed or role.name in allowed for role in roles):
                names = ", ".join(str(r) for r in allowed)
                raise AccessDenied(f"You need one of these roles to use /db: {names}.")
        return True

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, AccessDenied | DiscobaseError):
            message = cause.message if isinstance(cause, DiscobaseError) else str(cause)
        else:
            logger.opt(exception=cause).error("/db failed: {}", cause)
            message = f"Something went wrong: {type(cause).__name__}: {cause}"
        message, _ = truncate(message, 1900)
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)

    def table(self, interaction: discord.Interaction, name: str) -> type[Table]:
        db = self.database(interaction)
        model = db.tables.get(name)
        if model is None:
            known = ", ".join(sorted(db.tables)) or "none yet"
            raise DiscobaseError(f"There is no table {name!r} (tables: {known}).")
        return model

    # ------------------------------------------------------------------ autocomplete
    async def _table_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            db = self.database(interaction)
        except AccessDenied:
            return []
        names = [n for n in sorted(db.tables) if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    async def _query_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Complete the last word of a query with the table's field names."""
        try:
            model = self.table(interaction, str(getattr(interaction.namespace, "table", "")))
        except (AccessDenied, DiscobaseError):
            return []
        head, _, last = current.rpartition(" ")
        prefix = f"{head} " if head else ""
        fields = [f for f in field_names(model) if f.startswith(last)] if last else field_names(model)
        if last and any(op in last for op in "=<>~"):
            return [app_commands.Choice(name=current[:100], value=current[:100])] if current else []
        return [
            app_commands.Choice(name=f"{prefix}{f}"[:100], value=f"{prefix}{f}"[:100]) for f in fields[:25]
        ]

    # ------------------------------------------------------------------ reading
    @db.command(name="tables", description="The tables and how many records each holds")
    async def tables(self, interaction: discord.Interaction) -> None:
        db = self.database(interaction)
        items = [
            Item(
                name, f"{await model.query().count()} records · {len(model.model_fields)} fields", inline=True
            )
            for name, model in sorted(db.tables.items())
        ]
        await send_pages(
            interaction,
            paginate(f"Tables of {db.name}", items, description="" if items else "No tables yet."),
        )

    @db.command(name="schema", description="The fields of a table")
    @app_commands.describe(table="The table")
    @app_commands.autocomplete(table=_table_choices)
    async def schema(self, interaction: discord.Interaction, table: str) -> None:
        model = self.table(interaction, table)
        options = TableOptions(model)
        items = []
        for name, info in model.model_fields.items():
            parts = [f"`{type_name(info.annotation)}`"]
            if info.is_required():
                parts.append("required")
            else:
                parts.append(f"default `{as_text(info.get_default(call_default_factory=True))}`")
            if (name,) in options.unique:
                parts.append("unique")
            elif any(name in group for group in options.unique):
                parts.append(
                    "unique with " + ", ".join(g for u in options.unique if name in u for g in u if g != name)
                )
            if name in options.indexes:
                parts.append("indexed")
            items.append(Item(name, " · ".join(parts)))
        await send_pages(interaction, paginate(f"Schema of {table}", items, per_page=25))

    def _query(
        self, interaction: discord.Interaction, table: str, query: str
    ) -> tuple[type[Table], ParsedQuery]:
        model = self.table(interaction, table)
        return model, parse_query(model, query)

    @db.command(name="find", description="Records matching a query, e.g. age>=18 name=ada sort:-age")
    @app_commands.describe(
        table="The table", query="Conditions such as age>=18 name=ada (empty: every record)"
    )
    @app_commands.autocomplete(table=_table_choices, query=_query_choices)
    async def find(self, interaction: discord.Interaction, table: str, query: str = "") -> None:
        model, parsed = self._query(interaction, table, query)
        found = model.query(*parsed.conditions)
        if parsed.sort:
            found = found.sort(*parsed.sort)
        total = await found.count()
        records = await found.limit(min(parsed.limit or FIND_LIMIT, FIND_LIMIT)).to_list()
        items = [Item(f"#{r.record_id}", record_json(r), code=True) for r in records]
        shown = f"{total} record(s) match `{truncate(str(parsed), 200)[0]}`"
        if len(records) < total:
            shown += f"; the first {len(records)} are shown"
        await send_pages(interaction, paginate(f"{table}: find", items, description=shown))

    @db.command(name="count", description="How many records match a query")
    @app_commands.describe(table="The table", query="Conditions such as age>=18 (empty: every record)")
    @app_commands.autocomplete(table=_table_choices, query=_query_choices)
    async def count(self, interaction: discord.Interaction, table: str, query: str = "") -> None:
        model, parsed = self._query(interaction, table, query)
        total = await model.query(*parsed.conditions).count()
        await interaction.response.send_message(
            f"{table}: {total} record(s)" + (f" match `{parsed}`." if parsed.text else "."), ephemeral=True
        )

    # ------------------------------------------------------------------ changing
    @db.command(name="insert", description="Add a record (a form with the table's fields)")
    @app_commands.describe(table="The table")
    @app_commands.autocomplete(table=_table_choices)
    async def insert(self, interaction: discord.Interaction, table: str) -> None:
        model = self.table(interaction, table)
        await interaction.response.send_modal(RecordModal(self.database(interaction), model, None))

    @db.command(name="update", description="Change a record (a form with its current values)")
    @app_commands.describe(table="The table", id="The record's id (as /db find shows it)")
    @app_commands.autocomplete(table=_table_choices)
    async def update(self, interaction: discord.Interaction, table: str, id: str) -> None:
        model = self.table(interaction, table)
        record = await find_record(model, record_id_of(id))
        if record is None:
            raise DiscobaseError(f"There is no record {id} in {table}.")
        await interaction.response.send_modal(RecordModal(self.database(interaction), model, record))

    @db.command(name="delete", description="Delete a record (after you confirm)")
    @app_commands.describe(table="The table", id="The record's id (as /db find shows it)")
    @app_commands.autocomplete(table=_table_choices)
    async def delete(self, interaction: discord.Interaction, table: str, id: str) -> None:
        model = self.table(interaction, table)
        record = await find_record(model, record_id_of(id))
        if record is None:
            raise DiscobaseError(f"There is no record {id} in {table}.")
        text, _ = truncate(record_json(record), 1500)
        await interaction.response.send_message(
            f"Delete record {record.record_id} from {table}?\n```json\n{text}\n```",
            view=ConfirmDelete(self.database(interaction), record, interaction.user.id),
            ephemeral=True,
        )

    # ------------------------------------------------------------------ operations
    @db.command(name="stats", description="Records, messages, channels, snapshots and request rate")
    async def stats(self, interaction: discord.Interaction) -> None:
        db = self.database(interaction)
        figures = await db.stats()
        items = [
            Item(
                t.name,
                f"{t.records} records · {t.messages} messages · {t.channels} channels\n"
                f"last snapshot: {t.last_snapshot:%Y-%m-%d %H:%M:%S} UTC"
                if t.last_snapshot
                else f"{t.records} records · {t.messages} messages · {t.channels} channels\nno snapshot yet",
            )
            for t in figures.tables
        ]
        summary = (
            f"{sum(t.records for t in figures.tables)} records in {len(figures.tables)} tables · "
            + requests_text(figures.requests, figures.minutes)
        )
        await send_pages(interaction, paginate(f"Stats of {db.name}", items, description=summary))

    @db.command(name="logs", description="Stored log records, newest first")
    @app_commands.describe(level="The lowest level shown", since="How far back: 30m, 2h, 7d or a date")
    async def logs(
        self,
        interaction: discord.Interaction,
        level: Literal["DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] | None = None,
        since: str | None = None,
    ) -> None:
        db = self.database(interaction)
        after = parse_since(since) if since else None
        records = await db.logs.query(min_level=level, after=after, limit=100, direction="desc")
        items = [
            Item(f"{r.time:%Y-%m-%d %H:%M:%S} {r.level}", f"{r.message}\n({r.module}:{r.line})")
            for r in records
        ]
        what = (
            f"{len(records)} record(s)"
            + (f" at {level} or above" if level else "")
            + (f" since {after:%Y-%m-%d %H:%M} UTC" if after else "")
        )
        await send_pages(interaction, paginate("Logs", items, description=what))

    @db.command(name="tickets", description="Tickets: problems grouped by where they happen")
    @app_commands.describe(state="Only open or only solved tickets")
    async def tickets(
        self, interaction: discord.Interaction, state: Literal["open", "solved"] | None = None
    ) -> None:
        db = self.database(interaction)
        manager = db.tickets
        for table in (manager.tickets, manager.occurrence_table):
            await built(db, table)
        solved = None if state is None else state == "solved"
        found = await manager.get_tickets(solved=solved, limit=100)
        items = [
            Item(
                f"#{t.record_id} {t.level} {'solved' if t.solved else 'open'}",
                f"{t.location} ({t.module}) · seen {t.occurrences} times · last {t.last:%Y-%m-%d %H:%M} UTC",
            )
            for t in found
        ]
        await send_pages(
            interaction,
            paginate("Tickets", items, description=f"{len(found)} {state or 'open or solved'} ticket(s)"),
        )

    @ticket.command(name="solve", description="Mark a ticket solved (its next occurrence reopens it)")
    @app_commands.describe(id="The ticket's id (as /db tickets shows it)")
    async def ticket_solve(self, interaction: discord.Interaction, id: str) -> None:
        db = self.database(interaction)
        manager = db.tickets
        for table in (manager.tickets, manager.occurrence_table):
            await built(db, table)
        await manager.solve_ticket(record_id_of(id))
        await audit(db, interaction, "ticket solve", "_tickets", f"ticket {id}")
        await interaction.response.send_message(f"Ticket {id} is solved.", ephemeral=True)

    @db.command(name="version", description="discobase's version and the database's")
    async def version(self, interaction: discord.Interaction) -> None:
        db = self.database(interaction)
        stored = f"version {db.version}" if db.version is not None else "no version set"
        await interaction.response.send_message(
            f"discobase {discobase.__version__} · database {db.name}: {stored}, status {db.status.name}",
            ephemeral=True,
        )

    @db.command(name="migrations", description="The migrations applied to the database")
    async def migrations(self, interaction: discord.Interaction) -> None:
        db = self.database(interaction)
        table = db.system_tables.get("_migrations")
        rows = await table.query().to_list() if table is not None and table.__disco_cursor__ else []
        rows.sort(key=lambda r: getattr(r, "started", datetime.min.replace(tzinfo=UTC)))
        items = [
            Item(
                f"{getattr(r, 'version', '?')} {getattr(r, 'name', '?')}",
                f"{getattr(r, 'outcome', '?')} · {getattr(r, 'started', None):%Y-%m-%d %H:%M} UTC · "
                f"{getattr(r, 'duration', 0.0):.2f} s",
            )
            for r in rows
        ]
        await send_pages(
            interaction,
            paginate(
                "Migrations",
                items,
                description=f"{len(items)} migration(s) run" if items else "No migrations.",
            ),
        )


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add the ``/db`` commands to ``bot``."""
    await bot.add_cog(AdminCog(bot))
