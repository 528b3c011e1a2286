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

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands
from loguru import logger
from pydantic import BaseModel, ValidationError

import discobase
from discobase._connect.attached import attached_databases
from discobase.database import Database
from discobase.exceptions import DiscobaseError
from discobase.model.table import Table, TableOptions
from discobase.querytext import ParsedQuery, field_names, parse_query
from discobase.system.events import EventRecord

from ._pages import Item, paginate, send_pages, truncate

__all__ = ["AdminCog", "setup"]

#: Text inputs a modal may hold (Discord's limit); a table with more fields is edited as JSON.
MODAL_INPUTS = 5
JSON_INPUT = "__record_json__"
#: How many records ``/db find`` shows at most (over all pages).
FIND_LIMIT = 250
_SINCE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class AccessDenied(app_commands.CheckFailure):
    """The member may not use ``/db`` here (the message says why)."""


# ---------------------------------------------------------------------- helpers
def type_name(annotation: Any) -> str:
    """A readable name of a field's type (``int``, ``str | None``, ``list[str]``)."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _is_text(annotation: Any) -> bool:
    """Whether a field takes text as typed (``str`` or ``str | None``)."""
    return annotation is str or type_name(annotation) in ("str | None", "Optional[str]")


def as_text(value: Any) -> str:
    """A field's value as the text a modal shows (JSON except for plain strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str, ensure_ascii=False)


def from_text(annotation: Any, text: str) -> Any:
    """What a modal's text means for a field: the text itself for a text field,
    else its JSON value if it is JSON (``18``, ``true``, ``[1, 2]``), else the
    text (which Pydantic then converts, e.g. a date)."""
    if _is_text(annotation):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def record_json(record: BaseModel) -> str:
    return json.dumps(record.model_dump(mode="json"), ensure_ascii=False, indent=1)


def validation_message(error: ValidationError) -> str:
    lines = [f"• {'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in error.errors()]
    return "The record was not saved:\n" + "\n".join(lines[:15])


def parse_since(text: str) -> datetime:
    """``30m``, ``2h``, ``7d``, ``1w`` ago, or an ISO date/time (UTC if naive)."""
    match = _SINCE.match(text)
    if match:
        amount, unit = int(match[1]), _UNITS[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DiscobaseError(f"since={text!r}: write a duration such as 30m, 2h, 7d, or a date") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def requests_text(requests: int, minutes: float) -> str:
    """``"31 Discord requests in the 12 s since open"``, with a rate per minute after the first minute."""
    if minutes < 1:
        return f"{requests} Discord requests in the {minutes * 60:.0f} s since open"
    return f"{requests} Discord requests in {minutes:.0f} min since open ({requests / minutes:.1f}/min)"


def _id(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DiscobaseError(f"{text!r} is not a record id (a number, as /db find shows it)") from None


async def built(db: Database, table: type[Table]) -> None:
    """Build ``table`` (a system table attached after the database opened) if it is not built yet."""
    if table.__disco_cursor__ is None:
        await db.build_tables()


async def audit(db: Database, interaction: discord.Interaction, action: str, table: str, detail: str) -> None:
    """Record a change made through ``/db`` in ``_events``, with the member who made it."""
    events = db.system_table(EventRecord)
    await built(db, events)
    user = interaction.user
    await events(
        time=datetime.now(UTC),
        request_id=interaction.id,
        operation=f"/db {action}",
        table=table,
        route=f"/db {action}",
        channel_id=interaction.channel_id,
        status="ok",
        duration=0.0,
        bytes_sent=0,
        bytes_received=0,
        actor=f"{user.name} ({user.id})",
        detail=detail,
    ).save()
    logger.info("/db {} on {} by {} ({}): {}", action, table, user.name, user.id, detail)


async def find_record(model: type[Table], record_id: int) -> Table | None:
    return next((r for r in await model.query().to_list() if r.record_id == record_id), None)


# ---------------------------------------------------------------------- modal and confirmation
class RecordModal(discord.ui.Modal):
    """A record's fields as text inputs (as one JSON input above five fields),
    validated by the model when submitted; ``record`` is the one to update, or
    None to insert."""

    def __init__(self, db: Database, model: type[Table], record: Table | None) -> None:
        name = model.__disco_name__
        title, _ = truncate(
            f"{'Edit' if record else 'New'} {name}" + (f" {record.record_id}" if record else ""), 45
        )
        super().__init__(title=title, timeout=900)
        self.db, self.model, self.record = db, model, record
        fields = model.model_fields
        current = record.model_dump(mode="json") if record is not None else {}
        if len(fields) <= MODAL_INPUTS:
            for field, info in fields.items():
                shown = as_text(current[field]) if field in current else ""
                if not shown and not info.is_required():
                    default = info.get_default(call_default_factory=True)
                    shown = "" if default is None else as_text(default)
                long = len(shown) > 80 or not isinstance(info.annotation, type)
                self.add_item(
                    discord.ui.TextInput(
                        label=truncate(field, 45)[0],
                        custom_id=field,
                        required=False,
                        default=truncate(shown, 4000)[0] or None,
                        placeholder=truncate(type_name(info.annotation), 100)[0],
                        style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                    )
                )
        else:
            template = current or {
                f: (None if i.is_required() else i.get_default(call_default_factory=True))
                for f, i in fields.items()
            }
            text = json.dumps(template, default=str, ensure_ascii=False, indent=1)
            self.add_item(
                discord.ui.TextInput(
                    label="record (JSON)",
                    custom_id=JSON_INPUT,
                    style=discord.TextStyle.paragraph,
                    default=truncate(text, 4000)[0],
                )
            )

    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for child in self.children:
            if not isinstance(child, discord.ui.TextInput):
                continue
            if child.custom_id == JSON_INPUT:
                loaded = json.loads(child.value)
                if not isinstance(loaded, dict):
                    raise ValueError("the record must be a JSON object")
                values.update(loaded)
            elif child.value != "":
                values[child.custom_id] = from_text(
                    self.model.model_fields[child.custom_id].annotation, child.value
                )
        return values

    async def on_submit(self, interaction: discord.Interaction) -> None:
        model, record = self.model, self.record
        try:
            values = self._values()
        except ValueError as error:
            await interaction.response.send_message(f"The record was not saved: {error}", ephemeral=True)
            return
        try:
            if record is None:
                fresh = model.model_validate(values)
            else:
                fresh = model.model_validate({**record.model_dump(), **values})
        except ValidationError as error:
            await interaction.response.send_message(validation_message(error), ephemeral=True)
            return
        try:
            if record is None:
                saved = await fresh.save()
                action = "insert"
            else:
                for field in model.model_fields:
                    setattr(record, field, getattr(fresh, field))
                saved = await record.update()
                action = "update"
        except DiscobaseError as error:
            await interaction.response.send_message(f"The record was not saved: {error}", ephemeral=True)
            return
        await audit(self.db, interaction, action, model.__disco_name__, f"record {saved.record_id}")
        text, _ = truncate(record_json(saved), 1900)
        verb = "Inserted" if action == "insert" else "Updated"
        await interaction.response.send_message(
            f"{verb} record {saved.record_id} in {model.__disco_name__}:\n```json\n{text}\n```",
            ephemeral=True,
        )


class ConfirmDelete(discord.ui.View):
    """Delete / Cancel buttons for the invoker; the record is deleted only on Delete."""

    def __init__(self, db: Database, record: Table, owner_id: int) -> None:
        super().__init__(timeout=300)
        self.db, self.record, self.owner_id = db, record, owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Only the member who asked can confirm.", ephemeral=True)
        return False

    def _done(self) -> None:
        for child in self.children:
            if isinstance(child, discord.ui.Button):
                child.disabled = True
        self.stop()

    @discord.ui.button(label="Delete", style=discord.ButtonStyle.danger, custom_id="discobase:delete")
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmDelete]
    ) -> None:
        record = self.record
        name = record.__disco_name__
        record_id = record.record_id
        self._done()
        try:
            await record.delete()
        except DiscobaseError as error:
            await interaction.response.edit_message(content=f"Not deleted: {error}", view=self)
            return
        await audit(self.db, interaction, "delete", name, f"record {record_id}")
        await interaction.response.edit_message(content=f"Deleted record {record_id} from {name}.", view=self)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id="discobase:cancel")
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmDelete]
    ) -> None:
        self._done()
        await interaction.response.edit_message(content="Cancelled: nothing was deleted.", view=self)


# ---------------------------------------------------------------------- the cog
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
        record = await find_record(model, _id(id))
        if record is None:
            raise DiscobaseError(f"There is no record {id} in {table}.")
        await interaction.response.send_modal(RecordModal(self.database(interaction), model, record))

    @db.command(name="delete", description="Delete a record (after you confirm)")
    @app_commands.describe(table="The table", id="The record's id (as /db find shows it)")
    @app_commands.autocomplete(table=_table_choices)
    async def delete(self, interaction: discord.Interaction, table: str, id: str) -> None:
        model = self.table(interaction, table)
        record = await find_record(model, _id(id))
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
        await manager.solve_ticket(_id(id))
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
