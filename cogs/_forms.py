"""The /db commands' record form, delete confirmation, conversions and audit row.

The record form is a modal generated from the model's fields; a change made through it
is recorded in ``_events`` with the member who made it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from loguru import logger
from pydantic import BaseModel, ValidationError

from discobase.database import Database
from discobase.exceptions import DiscobaseError
from discobase.model.table import Table
from discobase.system.events import EventRecord

from ._pages import truncate

__all__ = [
    "FIND_LIMIT",
    "AccessDenied",
    "ConfirmDelete",
    "RecordModal",
    "as_text",
    "audit",
    "built",
    "find_record",
    "parse_since",
    "record_id_of",
    "record_json",
    "requests_text",
    "type_name",
]

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


def record_id_of(text: str) -> int:
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
    """The record of ``model`` with ``record_id``; ``None`` if there is none."""
    return await model.get(record_id)


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
