"""The catalog of a database: its channel, table entries, key records, creation and evolution.

A mixin of :class:`~discobase.database.Database`: it declares the state it shares
with the facade, which owns it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from loguru import logger

from discobase._discord.limits import CHANNEL_TYPE_CATEGORY, CHANNEL_TYPE_TEXT
from discobase.engine.replica import TableMeta, TableReplica
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseKeyError,
    DatabaseTableError,
    MissingPermissionsError,
)
from discobase.model.schema import diff_schemas, field_summary, format_diff
from discobase.model.table import Table, TableOptions
from discobase.storage.codec import Codec, CodecError, derive_key, key_id
from discobase.storage.ids import IdGenerator, WorkerLease
from discobase.storage.transport import (
    CONTENT_LIMIT,
    HISTORY_PAGE,
    ChannelInfo,
    FileData,
    GuildLike,
    MessageEvent,
    RawMessage,
    Transport,
)

__all__ = ["CATALOG_MARKER", "CATEGORY_NAME", "KEY_MARKER", "METADATA_CHANNEL", "CatalogMixin", "schema_hash"]

CATEGORY_NAME = "discobase"
METADATA_CHANNEL = "_dbmetadata"
CATALOG_PREFIX = "dbC1"
CATALOG_MARKER = "dbC1 "
CATALOG_FILE_MARKER = "dbC1+ "
CATALOG_TOPIC = "discobase catalog"
#: A catalog entry sealed with the database's key (``dbC1e <kid>:<base64>``), or
#: (too large for the content) in an attachment.
CATALOG_SEALED_MARKER = "dbC1e "
CATALOG_SEALED_FILE_MARKER = "dbC1e+"
#: The key record: which key encrypts the database, its passphrase salt, a check value.
KEY_MARKER = "dbK1 "


def schema_hash(model: type[Table]) -> str:
    schema = json.dumps(model.model_json_schema(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(schema.encode()).hexdigest()[:16]


class CatalogMixin:
    """Reads and writes the catalog channel; creates and evolves tables."""

    name: str
    guild: GuildLike | None
    hide_names: bool
    data_channels: int
    _key: bytes | str | None
    _codec: Codec
    _raw_key: bytes | None
    _sealed_catalog: bool
    _catalog: dict[str, TableMeta]
    _category_id: int | None
    _catalog_channel: ChannelInfo | None
    _listed: dict[int, int | None] | None
    _early: list[MessageEvent] | None
    _ids: IdGenerator
    _lease: WorkerLease | None

    def _require_transport(self) -> Transport:
        raise NotImplementedError

    def stored_tables(self) -> dict[str, TableMeta]:
        """The catalog's entries read at open, by table name (copies).

        Every table stored in the database, attached or not, with its channels and its
        schema (field summaries). Tools that have no model code (the ``discobase``
        command line) build their models from these."""
        return {
            name: TableMeta.from_json(meta.to_json(), meta.message_id) for name, meta in self._catalog.items()
        }

    async def _ensure_catalog(self) -> ChannelInfo:
        transport = self._require_transport()
        assert self.guild is not None
        if self._catalog_channel is not None:
            return self._catalog_channel
        self._early = []  # from here on, no event is missed: a message is either listed or kept
        channels = await transport.channels(self.guild.id, hidden=True)
        self._listed = {c.id: c.last_message_id for c in channels if c.visible}
        categories = [c for c in channels if c.type == CHANNEL_TYPE_CATEGORY and c.name == CATEGORY_NAME]
        category = next((c for c in categories if c.visible), categories[0] if categories else None)
        metadata = self._find_catalog(channels, category)
        if category is None:
            category = await transport.create_channel(
                self.guild.id, CATEGORY_NAME, type=CHANNEL_TYPE_CATEGORY, private=True
            )
        self._category_id = category.id
        if metadata is None:
            metadata = await transport.create_channel(
                self.guild.id,
                METADATA_CHANNEL,
                parent_id=category.id,
                topic=CATALOG_TOPIC,
                private=True,
            )
        self._catalog_channel = metadata
        self._lease = WorkerLease(transport, metadata.id, self._ids)
        await self._lease.post()  # before the catalog is read, which then shows every earlier claim
        await self._lease.confirm(await self._read_catalog(metadata.id))
        return metadata

    def _find_catalog(
        self, channels: Sequence[ChannelInfo], category: ChannelInfo | None
    ) -> ChannelInfo | None:
        """The catalog channel, by name or (renamed) by topic; None when the guild holds no database.

        Raises when the catalog exists but cannot be read, or is gone while tables remain:
        opening an empty database then would hide the stored records and start a second catalog
        beside them.
        """
        text = [c for c in channels if c.type == CHANNEL_TYPE_TEXT]
        mine = [c for c in text if category is not None and c.parent_id == category.id]
        found = (
            next((c for c in mine if c.name == METADATA_CHANNEL), None)
            or next((c for c in text if c.name == METADATA_CHANNEL), None)
            or next((c for c in mine if c.topic == CATALOG_TOPIC), None)
        )
        if found is not None:
            if not found.visible:
                raise MissingPermissionsError(
                    f"the bot cannot view the catalog channel #{found.name} of database {self.name!r}: "
                    "give it View Channel and Read Message History there (or on the discobase category). "
                    "Nothing was opened or written.",
                    permission="View Channel",
                    channel=found.id,
                )
            if found.name != METADATA_CHANNEL:
                logger.warning("the catalog channel was renamed to #{}; using it", found.name)
            return found
        tables = [c for c in mine if (c.topic or "").startswith(("discobase data:", "discobase index:"))]
        if category is not None and not category.visible:
            raise MissingPermissionsError(
                f"the bot cannot view the {CATEGORY_NAME!r} category of database {self.name!r}: give it "
                "View Channel there. Nothing was opened or written.",
                permission="View Channel",
                channel=category.id,
            )
        if tables:
            raise DatabaseCorruptionError(
                f"the catalog channel #{METADATA_CHANNEL} of database {self.name!r} is missing (deleted, or "
                f"moved out of the {CATEGORY_NAME!r} category) while {len(tables)} table channel(s) remain; "
                "restore it (or move it back) before opening. Nothing was written.",
                channel=tables[0].id,
            )
        return None

    async def _read_catalog(self, channel_id: int) -> list[RawMessage]:
        """Read every catalog entry; returns the channel's messages, oldest first.

        The key records come first: they say how the entries are sealed.
        """
        transport = self._require_transport()
        seen = await self._read_channel(channel_id)
        await self._use_key(channel_id, seen)
        for message in seen:
            if not message.content.startswith(CATALOG_PREFIX):
                continue
            try:
                context = self._catalog_context(channel_id, message.author_id)
                if message.content.startswith(CATALOG_SEALED_FILE_MARKER):
                    sealed = (await transport.read_attachment(message.attachments[0])).decode()
                    text = self._codec.open_text(sealed, context)
                elif message.content.startswith(CATALOG_SEALED_MARKER):
                    text = self._codec.open_text(message.content[len(CATALOG_SEALED_MARKER) :], context)
                elif self._sealed_catalog:
                    raise DatabaseCorruptionError(
                        f"catalog message {message.id} is not sealed with the database's key (was it posted "
                        "by someone else?); remove it before opening",
                        channel=channel_id,
                    )
                elif message.content.startswith(CATALOG_MARKER):
                    text = message.content[len(CATALOG_MARKER) :]
                else:  # too large for the content: in an attachment
                    text = (await transport.read_attachment(message.attachments[0])).decode()
                meta = TableMeta.from_json(json.loads(text), message.id)
            except (ValueError, KeyError, TypeError, IndexError, CodecError) as error:
                raise DatabaseCorruptionError(
                    f"catalog message {message.id} is unreadable: {error}", channel=channel_id
                ) from error
            self._catalog.setdefault(meta.name, meta)  # the oldest entry of a name wins
        return seen

    async def _read_channel(self, channel_id: int) -> list[RawMessage]:
        """Every message of the channel, oldest first."""
        transport = self._require_transport()
        after = 0
        seen: list[RawMessage] = []
        while True:
            page = await transport.history(channel_id, after=after, limit=HISTORY_PAGE)
            seen.extend(page)
            if page:
                after = page[-1].id
            if len(page) < HISTORY_PAGE:
                return seen

    @staticmethod
    def _key_records(messages: Sequence[RawMessage]) -> list[tuple[int, dict[str, Any]]]:
        """``(message id, record)`` of the key records among ``messages`` (each has a ``kid``)."""
        found: list[tuple[int, dict[str, Any]]] = []
        for message in messages:
            if message.content.startswith(KEY_MARKER):
                try:
                    record = json.loads(message.content[len(KEY_MARKER) :])
                    record["kid"] = str(record["kid"])
                except (ValueError, KeyError, TypeError):
                    continue
                found.append((message.id, record))
        return found

    @staticmethod
    def _catalog_context(channel_id: int, author_id: int) -> str:
        return f"catalog/{channel_id}/{author_id}"

    async def _use_key(self, channel_id: int, seen: Sequence[RawMessage]) -> None:
        """Check the key against the catalog's key records and make the codec.

        A new database with a key gets a key record: a random salt for a
        passphrase, the key's id and a check value. An existing one must be
        opened with a key whose id and check value match a record; otherwise
        :class:`DatabaseKeyError` is raised before anything else is read.
        Databases encrypted before key records existed have none, and are
        opened as they were (a passphrase with the fixed salt only).
        """
        records: list[dict[str, Any]] = []
        for _, record in self._key_records(seen):
            try:
                salt = record.get("salt")
                if salt is not None:
                    bytes.fromhex(salt)
                records.append({"kid": record["kid"], "salt": salt, "check": str(record["check"])})
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        self._sealed_catalog = bool(records)
        key = self._key
        if key is None:
            if records:
                raise DatabaseKeyError(
                    f"database {self.name!r} is encrypted: open it with its key (Database(..., key=...))",
                    channel=channel_id,
                )
            return
        ids = ", ".join(r["kid"] for r in records)
        for record in records:
            salt = record["salt"]
            if isinstance(key, str):
                raw = derive_key(key, salt=bytes.fromhex(salt) if isinstance(salt, str) else None)
            else:
                raw = key
            if key_id(raw) != record["kid"]:
                continue
            codec = Codec(key=raw)
            if not codec.verify_check(record["kid"], record["check"]):
                continue
            self._codec, self._raw_key = codec, raw
            return
        if records:
            raise DatabaseKeyError(
                f"the key given does not open database {self.name!r} (its key id is {ids}); "
                "nothing was read or written",
                channel=channel_id,
            )
        if any(m.content.startswith(CATALOG_PREFIX) for m in seen):
            # Written before key records: the key as it was derived then.
            self._raw_key = derive_key(key) if isinstance(key, str) else key
            self._codec = Codec(key=self._raw_key)
            return
        await self._write_key_record(channel_id, key)

    async def _write_key_record(self, channel_id: int, key: bytes | str) -> Codec:
        """Post a key record for ``key`` (a fresh salt for a passphrase) and use it."""
        salt = os.urandom(16) if isinstance(key, str) else None
        raw = derive_key(key, salt=salt) if isinstance(key, str) else key
        codec = Codec(key=raw)
        record = {"kid": codec.key_id, "salt": salt.hex() if salt else None, "check": codec.check_value()}
        await self._require_transport().send(
            channel_id, KEY_MARKER + json.dumps(record, separators=(",", ":"))
        )
        self._codec, self._raw_key = codec, raw
        self._sealed_catalog = True
        logger.info("database {} is encrypted with key {}", self.name, codec.key_id)
        return codec

    def _catalog_message(self, meta: TableMeta, channel_id: int) -> tuple[str, list[FileData]]:
        text = json.dumps(meta.to_json(), separators=(",", ":"))
        if self._sealed_catalog:
            context = self._catalog_context(channel_id, self._require_transport().user_id)
            sealed = self._codec.seal_text(text, context)
            if len(CATALOG_SEALED_MARKER) + len(sealed) <= CONTENT_LIMIT:
                return CATALOG_SEALED_MARKER + sealed, []
            return CATALOG_SEALED_FILE_MARKER, [FileData("catalog.dbz", sealed.encode())]
        if len(CATALOG_MARKER) + len(text) <= CONTENT_LIMIT:
            return CATALOG_MARKER + text, []
        return CATALOG_FILE_MARKER + meta.name, [FileData("catalog.json", text.encode())]

    async def _write_catalog(self, meta: TableMeta, channel_id: int) -> None:
        transport = self._require_transport()
        content, files = self._catalog_message(meta, channel_id)
        if meta.message_id is None:
            message = await transport.send(channel_id, content, files)
            meta.message_id = message.id
        else:
            await transport.edit(channel_id, meta.message_id, content, files)

    def _schema_plan(self, name: str, model: type[Table], meta: TableMeta) -> list[int] | None:
        """The record migrations to run for ``model``: [] if compatible, None if nothing changed.

        The migrations are their ``from_schema`` versions, in order. Raises with a diff if the
        change is incompatible and no migration covers it.
        """
        current = field_summary(model)
        if not meta.schema:  # an entry from before schemas were stored: adopt the model's
            meta.schema = current
            return []
        changes = diff_schemas(meta.schema, current)
        if not changes:
            return None
        if all(change.compatible for change in changes):
            logger.info("table {}: compatible schema change ({} field(s))", name, len(changes))
            return []
        steps = []
        version = meta.schema_version
        while version in model.__disco_record_migrations__:
            steps.append(version)
            version += 1
        if not steps:
            raise DatabaseTableError(format_diff(name, meta.schema_version, changes), table=name)
        return steps

    async def _evolve(self, cursor: TableReplica, steps: list[int], catalog_channel: int) -> None:
        """Run record migrations ``steps`` on an opened table, then store its new schema."""
        model, meta = cursor.model, cursor.meta
        if steps:
            migrations = [model.__disco_record_migrations__[step] for step in steps]

            def transform(record: dict[str, Any]) -> dict[str, Any]:
                for migrate in migrations:
                    record = migrate(dict(record))
                return record

            changed = await cursor.rewrite(transform, progress=sys.stderr.isatty())
            meta.schema_version = steps[-1] + 1
            logger.info("table {}: migrated {} records to schema {}", meta.name, changed, meta.schema_version)
        meta.schema = field_summary(model)
        meta.fields = list(model.model_fields)
        meta.schema_hash = schema_hash(model)
        await self._write_catalog(meta, catalog_channel)

    async def _create_table(self, name: str, model: type[Table], catalog_channel: int) -> TableMeta:
        transport = self._require_transport()
        assert self.guild is not None
        data = []
        # Unique constraints are resolved in message order, which only one channel gives.
        count = 1 if TableOptions(model).unique else self.data_channels
        label, shown = name, name
        if self.hide_names and self._raw_key is not None:
            digest = hmac.new(self._raw_key, b"discobase table name\x00" + name.encode(), hashlib.sha256)
            label, shown = "t-" + digest.hexdigest()[:12], ""
        for number in range(count):
            channel_name = label if count == 1 else f"{label}-{number}"
            channel = await transport.create_channel(
                self.guild.id,
                channel_name,
                parent_id=self._category_id,
                topic=f"discobase data: {shown}".rstrip(),
                private=True,
            )
            data.append(channel.id)
        index = await transport.create_channel(
            self.guild.id,
            f"{label}-index",
            parent_id=self._category_id,
            topic=f"discobase index: {shown}".rstrip(),
            private=True,
        )
        meta = TableMeta(
            name=name,
            data_channels=data,
            index_channel=index.id,
            fields=list(model.model_fields),
            schema_hash=schema_hash(model),
            json_schema={},
            schema=field_summary(model),
        )
        await self._write_catalog(meta, catalog_channel)
        self._catalog[name] = meta
        logger.info("created table {} ({} data channel(s))", name, len(data))
        return meta
