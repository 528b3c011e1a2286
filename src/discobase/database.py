"""``Database``: one Discord guild used as a database.

The facade: the registry of tables, connecting and closing, lifecycle hooks. Its jobs live
beside it: connecting in :mod:`discobase._connect`, the catalog and schema evolution in
:mod:`discobase.engine.catalog`, versions and migrations in :mod:`discobase.engine.migrations`.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import discord
from discord.ext import commands
from loguru import logger

from discobase._connect import ConnectMixin, EmbeddedServerWarning
from discobase._discord.permissions import REQUIRED_PERMISSIONS
from discobase.engine.catalog import CatalogMixin
from discobase.engine.indexes import TableIndexes
from discobase.engine.instrumentation import EventHandler, EventTracker, TrackedTransport
from discobase.engine.migrations import MigrationsMixin
from discobase.engine.replica import TableMeta, TableReplica
from discobase.engine.state import COMPACTION_DELAY
from discobase.engine.stats import DatabaseStats, TableStats, collect_stats
from discobase.engine.versions import DBStatus, Migration, Version
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseTableError,
    DiscobaseError,
    GuildNotFoundError,
    NotConnectedError,
)
from discobase.model.binding import bind, binding_of
from discobase.model.table import Table, TableOptions
from discobase.storage.codec import Codec
from discobase.storage.discord_transport import invite_url
from discobase.storage.ids import IdGenerator, WorkerLease
from discobase.storage.lock import DiscordLock
from discobase.storage.transport import (
    ChannelInfo,
    MessageEvent,
    Transport,
)

if TYPE_CHECKING:
    from discobase._connect.embedded import EmbeddedServer
    from discobase.system.logs import LogManager
    from discobase.system.tickets import TicketManager

__all__ = [
    "REQUIRED_PERMISSIONS",
    "Database",
    "DatabaseStats",
    "EmbeddedServerWarning",
    "TableStats",
    "register_extension",
]

T = TypeVar("T", bound=type[Table])
#: What runs at the start of ``close()``, while the database is still open.
CloseHook = Callable[[], Awaitable[None]]

#: Features built on the database and made on first use (``db.logs``, ``db.tickets``),
#: registered by :mod:`discobase.system`: the core does not import them.
_EXTENSIONS: dict[str, Callable[[Database], object]] = {}


def register_extension(name: str, factory: Callable[[Database], object]) -> None:
    """Make ``factory(db)`` available as ``db.extension(name)`` (made once per database)."""
    _EXTENSIONS[name] = factory


class Database(ConnectMixin, CatalogMixin, MigrationsMixin):
    """A Discord server used as a database.

    Args:
        name: name of the guild that holds the database. The bot must be a
            member of it (bots cannot create guilds on Discord any more).
        logging: enable discobase's loguru logging (``logger.enable("discobase")``).
            ``False`` changes nothing: discobase's logging is disabled once, when
            the package is imported, and then left to the application.
        guild_id: select the guild by id instead of by name.
        server_url: URL of a standalone local server (``discobase local
            serve``); also read from ``DISCOBASE_API_URL``.
        key: encryption key (32 bytes, or a passphrase): records are stored
            AES-GCM encrypted.
        data_channels: data channels per new table; writes are spread over
            them to multiply Discord's per-channel rate limit.
        transport: a ready :class:`~discobase.storage.transport.Transport`
            (e.g. the in-memory one for tests) instead of discord.py.
        data_dir: where the embedded local server keeps its data (default
            ``.discobase/``, or ``DISCOBASE_DATA_DIR``).
        snapshot_every: operations between two background snapshots of a table.
        compaction_delay: seconds a data message is kept at least after a
            snapshot covers it (default 120): a write whose reply was lost is
            retried for up to a minute, and the retry must find its first copy
            to avoid storing a second one. ``0`` compacts at once (tests).
        on_corruption: what opening does with messages in a data channel that
            are not discobase data: every table is opened either way (the bad
            messages are skipped and listed in :attr:`problems`); ``"raise"``
            then raises :class:`~discobase.exceptions.DatabaseCorruptionError`
            naming them, ``"skip"`` only logs them.
        version: the version of the database this program expects (semantic
            versioning). With it (or with registered migrations), the stored
            version is checked at open and migrations run (see
            :meth:`migration`, :meth:`on_init`).
        log_table: store loguru's records in the ``_logs`` table (``True``: at
            INFO and above; or a level name): the same as ``db.logs.attach(level)``.
        event_handlers: :class:`~discobase.engine.instrumentation.EventHandler` instances told
            about every ORM call and every Discord request inside it (also
            ``db.events.register(handler)``).
        hide_names: with a key, name the channels of new tables after a keyed
            hash of the table's name instead of the name, so that table names,
            like field names and schemas, are not visible on Discord.
        cogs: load the admin slash commands (``/db ...``, :mod:`discobase.cogs.admin`)
            into the bot at open and sync its commands, as discobase 1.0.0 did.
            Off by default: ``await bot.load_extension("discobase.cogs.admin")``
            does the same in a bot you run.
        admin_roles: role ids or names allowed to use the ``/db`` commands,
            besides Discord's own check (members with Administrator, unless a
            server admin changed it under Integrations). Empty: no extra check.
    """

    def __init__(
        self,
        name: str,
        logging: bool = False,
        *,
        guild_id: int | None = None,
        server_url: str | None = None,
        key: bytes | str | None = None,
        data_channels: int = 1,
        transport: Transport | None = None,
        data_dir: str | Path | None = None,
        snapshot_every: int = 5000,
        compaction_delay: float = COMPACTION_DELAY,
        on_corruption: Literal["raise", "skip"] = "raise",
        version: str | Version | None = None,
        log_table: bool | str = False,
        event_handlers: Sequence[EventHandler[Any, Any]] = (),
        hide_names: bool = False,
        cogs: bool = False,
        admin_roles: Sequence[int | str] = (),
    ) -> None:
        if not isinstance(name, str) or not 2 <= len(name) <= 100:
            raise DiscobaseError(f"a database name is a guild name of 2 to 100 characters, not {name!r}")
        if not 1 <= data_channels <= 50:
            raise DiscobaseError(f"data_channels must be between 1 and 50, not {data_channels}")
        if logging:
            # Never the other way round: disabling here would undo the application's
            # logger.enable("discobase"), or another database's logging=True.
            logger.enable("discobase")
        self.name = name
        """Name of the Discord-database server."""
        self.guild_id = guild_id
        self.server_url = server_url
        self.data_channels = data_channels
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.snapshot_every = snapshot_every
        if not compaction_delay >= 0:
            raise DiscobaseError(f"compaction_delay must be >= 0 seconds, not {compaction_delay!r}")
        self.compaction_delay = float(compaction_delay)
        if on_corruption not in ("raise", "skip"):
            raise DiscobaseError(f"on_corruption must be 'raise' or 'skip', not {on_corruption!r}")
        self.on_corruption = on_corruption
        self._problems: list[DatabaseCorruptionError] = []
        self.tables: dict[str, type[Table]] = {}
        """Tables attached to this database, by name."""
        self.open: bool = False
        """Whether the database is connected."""
        self.guild: discord.Guild | None = None
        """The discord.py ``Guild`` of the database once connected (in memory, a stand-in)."""
        self.cogs = cogs
        self.admin_roles: tuple[int | str, ...] = tuple(admin_roles)
        """Roles (ids or names) allowed to use the ``/db`` commands; empty: Discord's check only."""
        if key is not None and not isinstance(key, str | bytes | bytearray | memoryview):
            raise TypeError("key must be 32 bytes, a passphrase string or None")
        if hide_names and key is None:
            raise DiscobaseError("hide_names=True needs a key: the channel names are derived from it")
        self.hide_names = hide_names
        # A bytes key is usable at once; a passphrase needs the database's salt
        # (in the catalog's key record), so its codec is made at open.
        self._key: bytes | str | None = bytes(key) if isinstance(key, bytearray | memoryview) else key
        self._codec = Codec(key=key) if isinstance(self._key, bytes) else Codec(accept_plaintext=key is None)
        self._transport: Transport | None = transport
        self._own_transport = transport is None
        self._bot: commands.Bot | None = None
        self._attached: commands.Bot | None = None
        self._embedded: EmbeddedServer | None = None
        self._cursors: dict[str, TableReplica] = {}
        self._channel_cursors: dict[int, TableReplica] = {}
        self._catalog: dict[str, TableMeta] = {}
        self._category_id: int | None = None
        self._catalog_channel: ChannelInfo | None = None
        # The last message id of every channel, from the channel list read at
        # connect (used once, by the first build_tables), and the events of
        # channels without a cursor yet, kept from that read until it is used.
        self._listed: dict[int, int | None] | None = None
        self._early: list[MessageEvent] | None = None
        self._ids = IdGenerator()
        self._lease: WorkerLease | None = None
        self._sealed_catalog = False  # catalog entries are sealed with the key (key records exist)
        self._raw_key: bytes | None = None  # the 32 bytes the key stands for, once known
        self._task: asyncio.Task[None] | None = None
        self._setup_event: asyncio.Event | None = None
        self._stop_event: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._writes: set[asyncio.Task[Any]] = set()
        self._subscribed = False
        self.version: Version | None = Version.parse(version) if version is not None else None
        """The version of the database this program expects."""
        self.status = DBStatus.STOPPED
        """Lifecycle status: STARTING, RUNNING, STOPPING, STOPPED or FAILED."""
        self._migrations: dict[Version, list[tuple[str, Migration]]] = {}
        self._on_init: list[tuple[str, Migration]] = []
        self._system: dict[str, type[Table]] = {}
        self.events = EventTracker(database=self)
        """The event handlers (see :mod:`discobase.engine.instrumentation`)."""
        for handler in event_handlers:
            self.events.register(handler)
        self._tracked: TrackedTransport | None = None
        self._extensions: dict[str, object] = {}
        self._close_hooks: list[CloseHook] = []
        self._opened_at: float | None = None
        if log_table:
            self.logs.attach("INFO" if log_table is True else log_table)

    def __repr__(self) -> str:
        return f"Database(name={self.name!r}, open={self.open}, tables={sorted(self.tables)})"

    @property
    def problems(self) -> list[DatabaseCorruptionError]:
        """What was skipped because it could not be read, oldest first.

        Messages in a table's channels that are not discobase data (found while opening), and
        stored records the model rejects (:class:`~discobase.exceptions.InvalidRecordError`,
        found by the reads that skip them; each once). Kept after ``close()``; yours to clear.
        """
        self._collect_problems()
        return self._problems

    def _collect_problems(self) -> None:
        """Move the records each table's reads rejected since last time into :attr:`problems`."""
        for cursor in self._cursors.values():
            if cursor.rejected:
                self._problems.extend(cursor.rejected)
                cursor.rejected.clear()

    # ------------------------------------------------------------------ logs and tickets
    @property
    def logs(self) -> LogManager:
        """Log records stored in the ``_logs`` table (see :mod:`discobase.system.logs`)."""
        return cast("LogManager", self.extension("logs"))

    @property
    def tickets(self) -> TicketManager:
        """Warnings and errors grouped into tickets (see :mod:`discobase.system.tickets`)."""
        return cast("TicketManager", self.extension("tickets"))

    def extension(self, name: str) -> object:
        """The feature registered as ``name`` (see :func:`register_extension`), made on first use."""
        if name not in self._extensions:
            factory = _EXTENSIONS.get(name)
            if factory is None:
                raise DiscobaseError(f"no extension {name!r} is registered (is discobase.system imported?)")
            self._extensions[name] = factory(self)
        return self._extensions[name]

    # ------------------------------------------------------------------ lifecycle hooks
    def on_close(self, hook: CloseHook) -> CloseHook:
        """Run ``hook`` at the start of every :meth:`close`, while the database is still open.

        Use it, for example, to write buffered records. Hooks run in registration order; one
        that fails is logged and does not stop the close.
        """
        self._close_hooks.append(hook)
        return hook

    @property
    def system_tables(self) -> dict[str, type[Table]]:
        """The system tables attached with :meth:`system_table`, by name (read only)."""
        return dict(self._system)

    @property
    def catalog(self) -> Mapping[str, TableMeta]:
        """A read-only copy of the stored catalog, by table name (filled while the database is open)."""
        return MappingProxyType({name: copy.deepcopy(meta) for name, meta in self._catalog.items()})

    @property
    def worker_id(self) -> int:
        """This process's worker number in new record ids (leased: unique among open processes)."""
        return self._ids.worker

    @property
    def metadata_channel_id(self) -> int | None:
        """The id of the ``_dbmetadata`` channel that holds the catalog; ``None`` while closed."""
        return None if self._catalog_channel is None else self._catalog_channel.id

    # ------------------------------------------------------------------ tables
    def table(self, table_class: T) -> T:
        """Attach a :class:`Table` subclass to this database (a decorator)."""
        if not isinstance(table_class, type) or not issubclass(table_class, Table):
            raise DatabaseTableError(
                f"{table_class} is not a subclass of discobase.Table, did you forget it?"
            )
        options = TableOptions(table_class)
        name = options.name
        if not 1 <= len(name) <= 90:
            raise DatabaseTableError(f"a table name must be 1 to 90 characters, not {name!r}", table=name)
        if name.startswith("_"):
            raise DatabaseTableError(
                f"table names starting with '_' are reserved for discobase's own tables ({name!r} is "
                f"{table_class.__name__}'s): give it another name, "
                "e.g. with an inner class Settings: name = ...",
                table=name,
            )
        if name in self.tables:
            raise DatabaseTableError(f"table {table_class.__name__} already exists", table=name)
        TableIndexes(table_class, name, options.indexes, options.unique)  # reject bad index declarations now
        bind(table_class, self, name)
        self.tables[name] = table_class
        return table_class

    def system_table(self, base: T) -> T:
        """Attach a discobase system table (``_versions``, ``_logs``, ...) to this database.

        It is a subclass of ``base`` made for this database (a table class belongs to one
        database), kept apart from :attr:`tables`, and built with them. Returns the existing one
        if ``base``'s table is already attached.
        """
        name = TableOptions(base).name
        existing = self._system.get(name)
        if existing is not None:
            return existing  # type: ignore[return-value]
        system: type[Table] = type(base.__name__, (base,), {"__module__": base.__module__})
        bind(system, self, name)
        self._system[name] = system
        return system  # type: ignore[return-value]

    # ------------------------------------------------------------------ connection
    def _require_transport(self) -> Transport:
        """The transport, wrapped so that every call is reported to the event handlers."""
        if self._transport is None:
            raise NotConnectedError("not connected to the database, did you forget to login?")
        if self._tracked is None or self._tracked.inner is not self._transport:
            self._tracked = TrackedTransport(self._transport, self.events)
        return self._tracked

    async def close(self) -> None:
        """Wait for pending writes, write snapshots, disconnect."""
        if not self.open:
            raise ValueError("cannot close a connection that is not open")
        for hook in list(self._close_hooks):
            try:
                await hook()
            except Exception as error:
                logger.warning("a close hook failed: {}", error)
        self.open = False
        self.status = DBStatus.STOPPING
        try:
            if self._writes:
                # wait() does not retrieve their outcomes, so a failure nobody awaited is still reported
                await asyncio.wait(list(self._writes))
            for cursor in self._cursors.values():
                await cursor.close()
        finally:
            await self._shutdown()
            self.status = DBStatus.STOPPED
            if self._stop_event is not None:
                self._stop_event.set()

    async def _shutdown(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None and self._transport is not None:
            await lease.release()
        self._collect_problems()
        for table in (*self.tables.values(), *self._system.values()):
            binding_of(table).store = None
        self._cursors.clear()
        self._channel_cursors.clear()
        transport, self._transport = self._transport, (None if self._own_transport else self._transport)
        if transport is not None and self._own_transport:
            await transport.close()
        embedded, self._embedded = self._embedded, None
        if embedded is not None:
            await embedded.close()
        self._detach()
        self._subscribed = False
        self._sealed_catalog = False
        self._catalog_channel = None
        self._listed = self._early = None
        self._category_id = None
        self._catalog.clear()

    def track_write(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` (a write nobody may await) until it ends; ``close()`` waits for it."""
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # ------------------------------------------------------------------ initialisation
    async def init(self) -> None:
        """Find the guild and build the tables (``login`` calls it)."""
        transport = self._require_transport()
        guilds = await transport.guilds()
        found = [g for g in guilds if self._wants_guild(g)]
        if not found:
            link = invite_url(transport.application_id, REQUIRED_PERMISSIONS)
            what = f"id {self.guild_id}" if self.guild_id else f"named {self.name!r}"
            raise GuildNotFoundError(
                f"the bot is not a member of a guild {what}. Bots cannot create guilds: "
                f"create it in Discord, then invite the bot with {link} "
                f"(permissions integer {REQUIRED_PERMISSIONS})",
                guild_name=self.name,
                guild_id=self.guild_id,
                invite_url=link,
            )
        if len(found) > 1:
            logger.warning(
                "{} guilds are named {!r}; using the oldest ({})", len(found), self.name, found[0].id
            )
        self.guild = self._native_guild(min(found, key=lambda g: g.id))
        self._opened_at = time.monotonic()
        if not self._subscribed:
            transport.subscribe(self._on_event)
            self._subscribed = True
        await self.build_tables()

    async def _on_event(self, event: MessageEvent) -> None:
        if event.kind in ("gap", "resumed"):  # events may be missing / the missed ones were replayed
            for table in {*self._cursors.values(), *self._channel_cursors.values()}:
                table.mark_disconnected(event.kind == "gap")
            return
        if event.kind == "session":  # events were lost: every table reads its channels again
            for table in list(self._cursors.values()):
                await table.resync()
            for table in {*self._channel_cursors.values()} - {*self._cursors.values()}:
                await table.resync()  # tables still opening catch up once they are open
            return
        cursor = self._channel_cursors.get(event.channel_id)
        if cursor is not None:
            await cursor.on_event(event)
        elif self._early is not None:
            self._early.append(event)  # perhaps a table's, whose cursor is not made yet

    async def build_tables(self) -> None:
        """Create or open every attached table; safe to call again after attaching more."""
        transport = self._require_transport()
        if self.guild is None:
            raise NotConnectedError("not connected to the database, did you forget to login?")
        metadata = await self._ensure_catalog()
        listed, self._listed = self._listed, None  # fresh only for the first build of a connection
        every = {**self._system, **self.tables}
        pending = [(name, model) for name, model in every.items() if name not in self._cursors]
        missing = [(name, model) for name, model in pending if name not in self._catalog]
        if missing:
            # Creating tables takes the catalog lock, so that two processes opening a new
            # database at once do not both create a table (each with its own channels).
            async with DiscordLock(transport, metadata.id, "catalog"):
                await self._read_catalog(metadata.id)
                for name, model in missing:
                    if name not in self._catalog:
                        await self._create_table(name, model, metadata.id)
        metas = []
        plans: dict[str, list[int] | None] = {}
        for name, model in pending:
            meta = self._catalog[name]
            if name not in dict(missing):
                plans[name] = self._schema_plan(name, model, meta)
            metas.append((model, meta))
        cursors = [
            TableReplica(
                model=model,
                meta=meta,
                transport=transport,
                codec=self._codec,
                ids=self._ids,
                snapshot_every=self.snapshot_every,
                compaction_delay=self.compaction_delay,
                options=TableOptions(model),
            )
            for model, meta in metas
        ]
        early, self._early = self._early or [], None
        for cursor in cursors:
            channels = set(cursor.meta.data_channels)
            cursor.keep([event for event in early if event.channel_id in channels])
            for channel_id in channels:
                self._channel_cursors[channel_id] = cursor
        results = await asyncio.gather(*(c.open(listed) for c in cursors), return_exceptions=True)
        problems: list[DatabaseCorruptionError] = []
        for cursor, result in zip(cursors, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                for channel_id in cursor.meta.data_channels:
                    self._channel_cursors.pop(channel_id, None)
                raise result
            self._cursors[cursor.name] = cursor
            binding_of(cursor.model).store = cursor
            problems.extend(cursor.problems)
            plan = plans.get(cursor.name)
            if plan is not None:
                await self._evolve(cursor, plan, metadata.id)
        self.problems.extend(problems)
        if problems and self.on_corruption == "raise":
            error = DatabaseCorruptionError(
                f"{len(problems)} unreadable message(s) were skipped while opening: "
                + "; ".join(str(p) for p in problems[:5])
                + " (open with on_corruption='skip' to use the database anyway)",
                table=problems[0].table,
                channel=problems[0].channel,
            )
            error.problems = problems  # type: ignore[attr-defined]
            raise error

    async def stats(self, *, system: bool = False) -> DatabaseStats:
        """Records, messages, channels and last snapshot of every table, and the requests made.

        ``system`` adds the system tables. Costs one history request per table.
        """
        if not self.open:
            raise NotConnectedError("stats() needs an open database")
        cursors = {n: c for n, c in self._cursors.items() if system or not n.startswith("_")}
        return await collect_stats(cursors, self._require_transport(), self._transport, self._opened_at)

    # ------------------------------------------------------------------ keys
    async def rotate_key(self, new_key: bytes | str) -> None:
        """Encrypt the whole database with ``new_key`` (also a database that had no key).

        Every table is written again as one snapshot sealed with the new key;
        older snapshots and the data messages they covered are deleted, the
        catalog entries are sealed again, and the key record of the old key is
        removed, so that only ``new_key`` opens the database afterwards.
        Messages that could not be read are never deleted (the rotation stops
        first). Stop other processes that write to this database before
        rotating, and open them with the new key afterwards.
        """
        if not self.open or self._catalog_channel is None:
            raise NotConnectedError("rotate_key() needs an open database")
        if not isinstance(new_key, str | bytes) or not new_key:
            raise TypeError("new_key must be 32 bytes or a non-empty passphrase string")
        transport = self._require_transport()
        channel_id = self._catalog_channel.id
        old_raw = self._raw_key
        previous = self._key_records(await self._read_channel(channel_id))
        await self._write_key_record(channel_id, new_key)
        new_raw = self._raw_key
        assert new_raw is not None
        codec = Codec(key=new_raw, old_keys=[old_raw] if old_raw is not None else [], accept_plaintext=True)
        self._codec = codec
        for meta in self._catalog.values():
            if meta.message_id is not None:
                await self._write_catalog(meta, channel_id)
        for cursor in self._cursors.values():
            await cursor.rewrite_all(codec)
        self._codec = Codec(key=new_raw)
        for cursor in self._cursors.values():
            cursor.codec = self._codec
        stale = [message_id for message_id, record in previous if record["kid"] != self._codec.key_id]
        if stale:
            await transport.delete_messages(channel_id, stale)
        self._key = new_key
        logger.info("database {}: key rotated to {}", self.name, self._codec.key_id)

    # ------------------------------------------------------------------ clean
    async def clean(self) -> None:
        """Delete every channel this database created (tables, catalog, category).

        Irreversible. Tables stay attached in memory but are no longer ready.
        """
        transport = self._require_transport()
        if self._catalog_channel is None:
            raise NotConnectedError("not connected to the database, did you forget to login?")
        for cursor in self._cursors.values():
            await cursor.flush()
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()
        channel_ids: list[int] = []
        for meta in self._catalog.values():
            channel_ids.extend([*meta.data_channels, meta.index_channel])
        channel_ids.append(self._catalog_channel.id)
        if self._category_id is not None:
            channel_ids.append(self._category_id)
        for channel_id in channel_ids:
            await transport.delete_channel(channel_id)
        for table in self.tables.values():
            binding_of(table).store = None
        self._cursors.clear()
        self._channel_cursors.clear()
        self._catalog.clear()
        self._catalog_channel = None
        self._category_id = None
        logger.info("cleaned database {}", self.name)
