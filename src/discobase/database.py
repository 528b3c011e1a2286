"""``Database``: one Discord guild used as a database (the discobase 1.0.0 API, done right)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import discord
from discord.ext import commands
from loguru import logger

from discobase.events import EventHandler, EventTracker, TrackedTransport
from discobase.exceptions import (
    AlreadyConnectedError,
    DatabaseCorruptionError,
    DatabaseKeyError,
    DatabaseTableError,
    DatabaseVersionError,
    DiscobaseError,
    GuildNotFoundError,
    MigrationError,
    MissingPermissionsError,
    NotConnectedError,
)
from discobase.schema import diff_schemas, field_summary, format_diff
from discobase.storage.codec import Codec, CodecError, derive_key, key_id
from discobase.storage.cursor import TableCursor, TableMeta
from discobase.storage.discord_transport import DiscordTransport, invite_url
from discobase.storage.ids import IdGenerator, WorkerLease
from discobase.storage.indexes import TableIndexes
from discobase.storage.lock import DiscordLock
from discobase.storage.transport import (
    CONTENT_LIMIT,
    HISTORY_PAGE,
    ChannelInfo,
    FileData,
    GuildInfo,
    MessageEvent,
    RawMessage,
    Transport,
)
from discobase.table import Table, TableOptions
from discobase.versioning import DBStatus, Migration, MigrationRecord, Version, VersionRecord, now

if TYPE_CHECKING:
    from discobase._embedded import EmbeddedServer
    from discobase.logs import LogManager
    from discobase.ticketing import TicketManager

__all__ = ["REQUIRED_PERMISSIONS", "Database", "EmbeddedServerWarning"]

T = TypeVar("T", bound=type[Table])

#: Permissions the bot needs in the guild (manage channels and roles to make
#: its hidden category; read, write, attach and delete messages).
REQUIRED_PERMISSIONS = (
    (1 << 4)  # MANAGE_CHANNELS
    | (1 << 28)  # MANAGE_ROLES
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 13)  # MANAGE_MESSAGES
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
)
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


class EmbeddedServerWarning(UserWarning):
    """discobase started its embedded local Discord server (no token was given)."""


def schema_hash(model: type[Table]) -> str:
    schema = json.dumps(model.model_json_schema(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(schema.encode()).hexdigest()[:16]


class Database:
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
        event_handlers: :class:`~discobase.events.EventHandler` instances told
            about every ORM call and every Discord request inside it (also
            ``db.events.register(handler)``).
        hide_names: with a key, name the channels of new tables after a keyed
            hash of the table's name instead of the name, so that table names,
            like field names and schemas, are not visible on Discord.
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
        on_corruption: Literal["raise", "skip"] = "raise",
        version: str | Version | None = None,
        log_table: bool | str = False,
        event_handlers: Sequence[EventHandler[Any, Any]] = (),
        hide_names: bool = False,
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
        if on_corruption not in ("raise", "skip"):
            raise DiscobaseError(f"on_corruption must be 'raise' or 'skip', not {on_corruption!r}")
        self.on_corruption = on_corruption
        self._problems: list[DatabaseCorruptionError] = []
        self.tables: dict[str, type[Table]] = {}
        """Tables attached to this database, by name."""
        self.open: bool = False
        """Whether the database is connected."""
        self.guild: GuildInfo | None = None
        """The guild used as the database (id and name), once connected."""
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
        self._embedded: EmbeddedServer | None = None
        self._cursors: dict[str, TableCursor] = {}
        self._channel_cursors: dict[int, TableCursor] = {}
        self._catalog: dict[str, TableMeta] = {}
        self._category_id: int | None = None
        self._metadata_channel: ChannelInfo | None = None
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
        """The event handlers (see :mod:`discobase.events`)."""
        for handler in event_handlers:
            self.events.register(handler)
        self._tracked: TrackedTransport | None = None
        self._logs: LogManager | None = None
        self._tickets: TicketManager | None = None
        if log_table:
            self.logs.attach("INFO" if log_table is True else log_table)

    def __repr__(self) -> str:
        return f"Database(name={self.name!r}, open={self.open}, tables={sorted(self.tables)})"

    @property
    def problems(self) -> list[DatabaseCorruptionError]:
        """What was skipped because it could not be read, oldest first:
        messages in a table's channels that are not discobase data (found while
        opening), and stored records the model rejects
        (:class:`~discobase.exceptions.InvalidRecordError`, found by the reads
        that skip them; each once). Kept after ``close()``; the list is yours
        to clear."""
        self._collect_problems()
        return self._problems

    def _collect_problems(self) -> None:
        """Move the records each table's reads rejected since last time into :attr:`problems`."""
        for cursor in self._cursors.values():
            if cursor.rejected:
                self._problems.extend(cursor.rejected)
                cursor.rejected.clear()

    # ------------------------------------------------------------------ discord.py
    @property
    def bot(self) -> commands.Bot:
        """The discord.py ``Bot`` that talks to Discord (made on first use)."""
        if self._bot is None:
            intents = discord.Intents.none()
            intents.guilds = True
            intents.guild_messages = True
            intents.message_content = True
            self._bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.5)
            self._bot.db = self  # type: ignore[attr-defined]
        return self._bot

    # ------------------------------------------------------------------ logs and tickets
    @property
    def logs(self) -> LogManager:
        """Log records stored in the ``_logs`` table (see :mod:`discobase.logs`)."""
        if self._logs is None:
            from discobase.logs import LogManager

            self._logs = LogManager(self)
        return self._logs

    @property
    def tickets(self) -> TicketManager:
        """Warnings and errors grouped into tickets (see :mod:`discobase.ticketing`)."""
        if self._tickets is None:
            from discobase.ticketing import TicketManager

            self._tickets = TicketManager(self)
        return self._tickets

    # ------------------------------------------------------------------ tables
    def table(self, clas: T) -> T:
        """Attach a :class:`Table` subclass to this database (a decorator)."""
        if not isinstance(clas, type) or not issubclass(clas, Table):
            raise DatabaseTableError(f"{clas} is not a subclass of discobase.Table, did you forget it?")
        options = TableOptions(clas)
        name = options.name
        if not 1 <= len(name) <= 90:
            raise DatabaseTableError(f"a table name must be 1 to 90 characters, not {name!r}", table=name)
        if name.startswith("_"):
            raise DatabaseTableError(
                f"table names starting with '_' are reserved for discobase's own tables ({name!r} is "
                f"{clas.__name__}'s): give it another name, e.g. with an inner class Settings: name = ...",
                table=name,
            )
        if name in self.tables:
            raise DatabaseTableError(f"table {clas.__name__} already exists", table=name)
        if clas.__disco_database__ is not None:
            raise DatabaseTableError(f"{clas!r} can only be attached to one database", table=name)
        clas.__disco_name__ = name
        clas.__disco_database__ = self
        clas.__disco_keys__ = set(clas.model_fields.keys())  # type: ignore[call-overload]
        TableIndexes(clas, name, options.indexes, options.unique)  # reject bad index declarations now
        self.tables[name] = clas
        return clas

    # ------------------------------------------------------------------ versions and migrations
    def migration(self, version: str | Version) -> Callable[[Migration], Migration]:
        """Register an async migration to ``version``: it runs at open when the
        stored version is below ``version``, in version order, and is recorded
        in the ``_migrations`` table.

        ```python
        @db.migration("1.3.0")
        async def add_emails(db: discobase.Database) -> None:
            await User.query(User.email.is_none()).update(email="")
        ```
        """
        target = Version.parse(version)

        def register(func: Migration) -> Migration:
            self._migrations.setdefault(target, []).append((getattr(func, "__qualname__", repr(func)), func))
            return func

        return register

    def on_init(self, func: Migration) -> Migration:
        """Register an async function that runs once, when the database is new
        (smdb's ``init_db``): e.g. to fill default data."""
        self._on_init.append((getattr(func, "__qualname__", repr(func)), func))
        return func

    @property
    def versioned(self) -> bool:
        return self.version is not None or bool(self._migrations) or bool(self._on_init)

    def _register_system_tables(self) -> None:
        if self.versioned:
            for base in (VersionRecord, MigrationRecord):
                self.system_table(base)

    def system_table(self, base: T) -> T:
        """Attach a discobase system table (``_versions``, ``_logs``, ...) to this
        database: a subclass of ``base`` made for this database (a table class
        belongs to one database), kept apart from :attr:`tables`, and built with
        them. Returns the existing one if ``base``'s table is already attached."""
        name = TableOptions(base).name
        existing = self._system.get(name)
        if existing is not None:
            return existing  # type: ignore[return-value]
        system: type[Table] = type(base.__name__, (base,), {"__module__": base.__module__})
        system.__disco_name__ = name
        system.__disco_database__ = self
        system.__disco_keys__ = set(system.model_fields.keys())
        self._system[name] = system
        return system  # type: ignore[return-value]

    def _target_version(self) -> Version:
        return self.version or max(self._migrations, default=Version(0, 0, 0))

    async def get_version(self) -> Version | None:
        """The stored version of the database (None for a database without one)."""
        versions = self._system.get("_versions")
        if versions is None:
            return None
        records = await versions.find()
        return Version.parse(records[0].version) if records else None  # type: ignore[attr-defined]

    async def update_version(self, version: str | Version) -> None:
        """Store ``version`` as the database's version."""
        if not self._system:
            raise DiscobaseError("this database is not versioned: pass version= to Database()")
        versions = self._system["_versions"]
        records = await versions.find()
        text = str(Version.parse(version))
        if records:
            record = records[0]
            record.version = text  # type: ignore[attr-defined]
            record.updated = now()  # type: ignore[attr-defined]
            await record.update()
        else:
            await versions(version=text, updated=now()).save()

    async def _check_version(self) -> None:
        """New database → on_init; newer stored version → refuse; older → migrate."""
        if not self.versioned:
            return
        target = self._target_version()
        stored = await self.get_version()
        if stored == target:
            return
        if stored is not None and stored > target:
            raise self._too_new(stored, target)
        # Only one process migrates: the others wait for the lock, then find the work done.
        transport = self._require_transport()
        assert self._metadata_channel is not None
        async with DiscordLock(transport, self._metadata_channel.id, "migrations"):
            for cursor in list(self._cursors.values()):
                for channel_id in cursor.meta.data_channels:
                    await cursor._catch_up(channel_id)  # what the previous holder wrote
            await self._migrate(target)

    def _too_new(self, stored: Version, target: Version) -> DatabaseVersionError:
        return DatabaseVersionError(
            f"the database {self.name!r} is at version {stored}, newer than this program's {target}: "
            "upgrade the program (opening it with an older one could lose data)"
        )

    async def _migrate(self, target: Version) -> None:
        stored = await self.get_version()
        if stored is None:
            for name, func in self._on_init:
                await self._run_migration(target, name, func, record=False)
            await self.update_version(target)
            logger.info("new database {} at version {}", self.name, target)
            return
        if stored > target:
            raise self._too_new(stored, target)
        if stored == target:
            return
        migrations = self._system["_migrations"]
        done = {
            (m.version, m.name)  # type: ignore[attr-defined]
            for m in await migrations.find()
            if m.outcome == "applied"  # type: ignore[attr-defined]
        }
        for version in sorted(v for v in self._migrations if stored < v <= target):
            for name, func in self._migrations[version]:
                if (str(version), name) not in done:
                    await self._run_migration(version, name, func)
            await self.update_version(version)
        await self.update_version(target)
        logger.info("database {} migrated from {} to {}", self.name, stored, target)

    async def _run_migration(
        self, version: Version, name: str, func: Migration, *, record: bool = True
    ) -> None:
        started, clock = now(), time.perf_counter()

        async def note(outcome: str) -> None:
            await self._system["_migrations"](
                version=str(version),
                name=name,
                started=started,
                finished=now(),
                duration=time.perf_counter() - clock,
                outcome=outcome[:1000],
            ).save()

        try:
            await self.events.run("migrate", None, func(self), version=str(version), name=name)
        except Exception as error:
            if record:
                await note(f"failed: {error!r}")
            what = "on_init function" if not record else f"migration to {version}"
            raise MigrationError(f"{what} {name} failed: {error}") from error
        if record:
            await note("applied")

    # ------------------------------------------------------------------ connection
    def _require_transport(self) -> Transport:
        """The transport, wrapped so that every call is reported to the event handlers."""
        if self._transport is None:
            raise NotConnectedError("not connected to the database, did you forget to login?")
        if self._tracked is None or self._tracked.inner is not self._transport:
            self._tracked = TrackedTransport(self._transport, self.events)
        return self._tracked

    async def _resolve_transport(self, token: str | None) -> Transport:
        if self._transport is not None:
            return self._transport
        token = token or os.environ.get("DISCOBASE_TOKEN") or None
        server_url = self.server_url or os.environ.get("DISCOBASE_API_URL") or None
        if server_url is not None:
            if token is None:
                raise NotConnectedError(
                    f"a token is needed to use the local server at {server_url}: "
                    "'discobase local serve' prints one (pass it to conn(), or set DISCOBASE_TOKEN)"
                )
            from discobase.local.server import attach

            attach(self.bot, server_url)
        elif token is None:
            token = await self._start_embedded_server()
        transport = DiscordTransport(self.bot, token)
        self._transport = transport
        return transport

    async def _start_embedded_server(self) -> str:
        """Serve the data directory's embedded server, or join the process that
        serves it (see :mod:`discobase._embedded`); returns the bot's token."""
        from discobase._embedded import DATA_FILE, EmbeddedServer

        directory = self.data_dir or Path(os.environ.get("DISCOBASE_DATA_DIR", ".discobase"))
        warnings.warn(
            "no Discord token given: discobase uses its embedded local Discord server, "
            f"persisted in {directory / DATA_FILE}",
            EmbeddedServerWarning,
            stacklevel=4,
        )
        self._embedded = EmbeddedServer(directory)
        return await self._embedded.join(self.name, self.bot)

    async def login(self, bot_token: str | None = None) -> None:
        """Connect, build the tables, and stay connected until :meth:`close`.

        Errors while starting (bad token, missing guild, missing permissions)
        are raised here and from :meth:`wait_ready`. Called while the database
        is connected or connecting, it raises
        :class:`~discobase.exceptions.AlreadyConnectedError` (a ``RuntimeError``
        too, as in 1.0.0).
        """
        self._claim()
        await self._login(bot_token)

    def _claim(self) -> None:
        """Mark the database STARTING, or refuse: a second connection of the same
        database would share (and at its close, tear down) the open one's state."""
        if self.open or self.status in (DBStatus.STARTING, DBStatus.RUNNING, DBStatus.STOPPING):
            raise AlreadyConnectedError(
                f"database {self.name!r} is already connected ({self.status.value}): use the open "
                "connection; a nested 'async with db.conn()' or a second login() is refused, and the "
                "open connection goes on unaffected"
            )
        self.status = DBStatus.STARTING

    async def _login(self, bot_token: str | None) -> None:
        self._ready_event()
        assert self._setup_event is not None
        self._stop_event = asyncio.Event()
        self._startup_error = None
        self.status = DBStatus.STARTING
        try:
            transport = await self._resolve_transport(bot_token)
            await transport.connect()
            self._register_system_tables()

            async def open_database() -> None:
                await self.init()
                self.open = True
                await self._check_version()

            await self.events.run("open", None, open_database())
        except BaseException as error:
            self._startup_error = error
            self.status = DBStatus.FAILED
            self.open = False
            try:
                await self._shutdown()  # release everything before anyone is told
            finally:
                self._setup_event.set()
            raise
        self.status = DBStatus.RUNNING
        self._setup_event.set()
        await self._stop_event.wait()

    def login_task(self, bot_token: str | None = None) -> asyncio.Task[None]:
        """Run :meth:`login` as a task (the database keeps a reference to it).

        Raises :class:`~discobase.exceptions.AlreadyConnectedError` at once if
        the database is connected or connecting."""
        loop = asyncio.get_running_loop()
        self._claim()
        self._ready_event()
        task = loop.create_task(self._login(bot_token))

        def finished(done: asyncio.Task[None]) -> None:
            if done.cancelled():
                if self.status is DBStatus.STARTING:  # cancelled before it began: nothing to undo
                    self.status = DBStatus.STOPPED
            else:
                done.exception()  # raised by wait_ready()/conn(); not an unretrieved error

        task.add_done_callback(finished)
        self._task = task
        return task

    async def ensure_ready(self) -> None:
        """Wait until the database is RUNNING; raise the start-up error if it FAILED
        (smdb's ``ensure_ready``)."""
        if self.status is DBStatus.RUNNING:
            return
        if self.status is DBStatus.FAILED and self._startup_error is not None:
            raise self._startup_error
        await self._ready_event().wait()
        if self._startup_error is not None:
            raise self._startup_error

    def _ready_event(self) -> asyncio.Event:
        """The event set when the current (or next) start-up ends."""
        if self._setup_event is None or (self._setup_event.is_set() and not self.open):
            self._setup_event = asyncio.Event()
        return self._setup_event

    async def wait_ready(self) -> None:
        """Wait until the database is ready; raises the start-up error if it failed."""
        if self._setup_event is None:
            raise NotConnectedError("not connected to the database, did you forget to login?")
        await self._setup_event.wait()
        if self._startup_error is not None:
            raise self._startup_error

    @asynccontextmanager
    async def conn(self, bot_token: str | None = None) -> AsyncIterator[Database]:
        """Connect for the duration of an ``async with`` block (the recommended way).

        ``bot_token`` None (and no ``DISCOBASE_TOKEN``) uses the embedded local
        Discord server. Inside an open connection of the same database it raises
        :class:`~discobase.exceptions.AlreadyConnectedError` (and the open
        connection goes on).
        """
        self.login_task(bot_token)  # refuses a nested connection before anything is entered
        try:
            await self.wait_ready()
            yield self
        finally:
            if self.open:
                await self.close()
            elif self._task is not None:
                if not self._task.done():
                    self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        """Wait for pending writes, write snapshots, disconnect."""
        if not self.open:
            raise ValueError("cannot close a connection that is not open")
        for sink in (self._logs, self._tickets):  # write buffered log records while still open
            if sink is not None:
                try:
                    await sink._before_close()
                except Exception as error:
                    logger.warning("writing buffered log records at close failed: {}", error)
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
            table.__disco_cursor__ = None
        self._cursors.clear()
        self._channel_cursors.clear()
        transport, self._transport = self._transport, (None if self._own_transport else self._transport)
        if transport is not None and self._own_transport:
            await transport.close()
        embedded, self._embedded = self._embedded, None
        if embedded is not None:
            await embedded.close()
        self._bot = None
        self._subscribed = False
        self._sealed_catalog = False
        self._metadata_channel = None
        self._listed = self._early = None
        self._category_id = None
        self._catalog.clear()

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # ------------------------------------------------------------------ initialisation
    async def init(self) -> None:
        """Find the guild and build the tables (``login`` calls it)."""
        transport = self._require_transport()
        guilds = await transport.guilds()
        found = [g for g in guilds if (g.id == self.guild_id if self.guild_id else g.name == self.name)]
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
        self.guild = min(found, key=lambda g: g.id)
        if not self._subscribed:
            transport.subscribe(self._on_event)
            self._subscribed = True
        await self.build_tables()

    async def _on_event(self, event: MessageEvent) -> None:
        if event.kind in ("gap", "resumed"):  # events may be missing / the missed ones were replayed
            for table in {*self._cursors.values(), *self._channel_cursors.values()}:
                table.gap = event.kind == "gap"
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

    async def _ensure_catalog(self) -> ChannelInfo:
        transport = self._require_transport()
        assert self.guild is not None
        if self._metadata_channel is not None:
            return self._metadata_channel
        self._early = []  # from here on, no event is missed: a message is either listed or kept
        channels = await transport.channels(self.guild.id, hidden=True)
        self._listed = {c.id: c.last_message_id for c in channels if c.visible}
        categories = [c for c in channels if c.type == 4 and c.name == CATEGORY_NAME]
        category = next((c for c in categories if c.visible), categories[0] if categories else None)
        metadata = self._find_catalog(channels, category)
        if category is None:
            category = await transport.create_channel(self.guild.id, CATEGORY_NAME, type=4, private=True)
        self._category_id = category.id
        if metadata is None:
            metadata = await transport.create_channel(
                self.guild.id,
                METADATA_CHANNEL,
                parent_id=category.id,
                topic=CATALOG_TOPIC,
                private=True,
            )
        self._metadata_channel = metadata
        self._lease = WorkerLease(transport, metadata.id, self._ids)
        await self._lease.post()  # before the catalog is read, which then shows every earlier claim
        await self._lease.confirm(await self._read_catalog(metadata.id))
        return metadata

    def _find_catalog(
        self, channels: Sequence[ChannelInfo], category: ChannelInfo | None
    ) -> ChannelInfo | None:
        """The catalog channel, by name or (renamed) by topic; None when the guild
        holds no trace of a database. Raises when the catalog exists but cannot
        be read, or is gone while tables remain: opening an empty database then
        would hide the stored records and start a second catalog beside them."""
        text = [c for c in channels if c.type == 0]
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
        """Read every catalog entry (after the key records, which say how they are
        sealed); returns the channel's messages, oldest first."""
        transport = self._require_transport()
        after = 0
        seen: list[RawMessage] = []
        while True:
            page = await transport.history(channel_id, after=after, limit=HISTORY_PAGE)
            seen.extend(page)
            if page:
                after = page[-1].id
            if len(page) < HISTORY_PAGE:
                break
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
        for message in seen:
            if message.content.startswith(KEY_MARKER):
                try:
                    record = json.loads(message.content[len(KEY_MARKER) :])
                    salt = record.get("salt")
                    if salt is not None:
                        bytes.fromhex(salt)
                    records.append({"kid": str(record["kid"]), "salt": salt, "check": str(record["check"])})
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
        """Record migrations to run for ``model`` (their ``from_schema`` versions, in
        order), [] if compatible, None if nothing changed. Raises with a diff if
        the change is incompatible and no migration covers it."""
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

    async def build_tables(self) -> None:
        """Create or open every attached table. Safe to call again (e.g. after
        attaching more tables while connected)."""
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
            TableCursor(
                model=model,
                meta=meta,
                transport=transport,
                codec=self._codec,
                ids=self._ids,
                snapshot_every=self.snapshot_every,
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
            cursor.model.__disco_cursor__ = cursor
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

    async def _evolve(self, cursor: TableCursor, steps: list[int], catalog_channel: int) -> None:
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

    # ------------------------------------------------------------------ keys
    async def rotate_key(self, new_key: bytes | str) -> None:
        """Encrypt the whole database with ``new_key`` (also: encrypt a database
        that had no key).

        Every table is written again as one snapshot sealed with the new key;
        older snapshots and the data messages they covered are deleted, the
        catalog entries are sealed again, and the key record of the old key is
        removed, so that only ``new_key`` opens the database afterwards.
        Messages that could not be read are never deleted (the rotation stops
        first). Stop other processes that write to this database before
        rotating, and open them with the new key afterwards.
        """
        if not self.open or self._metadata_channel is None:
            raise NotConnectedError("rotate_key() needs an open database")
        if not isinstance(new_key, str | bytes) or not new_key:
            raise TypeError("new_key must be 32 bytes or a non-empty passphrase string")
        transport = self._require_transport()
        channel_id = self._metadata_channel.id
        old_raw = self._raw_key
        previous = await self._read_key_records(channel_id)
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
        stale = [message_id for message_id, kid in previous if kid != self._codec.key_id]
        if stale:
            await transport.delete_messages(channel_id, stale)
        self._key = new_key
        logger.info("database {}: key rotated to {}", self.name, self._codec.key_id)

    async def _read_key_records(self, channel_id: int) -> list[tuple[int, str]]:
        """``(message id, key id)`` of the catalog's key records."""
        transport = self._require_transport()
        found: list[tuple[int, str]] = []
        after = 0
        while True:
            page = await transport.history(channel_id, after=after, limit=HISTORY_PAGE)
            for message in page:
                after = message.id
                if message.content.startswith(KEY_MARKER):
                    try:
                        found.append((message.id, str(json.loads(message.content[len(KEY_MARKER) :])["kid"])))
                    except (ValueError, KeyError, TypeError):
                        continue
            if len(page) < HISTORY_PAGE:
                return found

    # ------------------------------------------------------------------ clean
    async def clean(self) -> None:
        """Delete every channel this database created (tables, catalog, category).

        Irreversible. Tables stay attached in memory but are no longer ready.
        """
        transport = self._require_transport()
        if self._metadata_channel is None:
            raise NotConnectedError("not connected to the database, did you forget to login?")
        for cursor in self._cursors.values():
            await cursor.flush()
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()
        channel_ids: list[int] = []
        for meta in self._catalog.values():
            channel_ids.extend([*meta.data_channels, meta.index_channel])
        channel_ids.append(self._metadata_channel.id)
        if self._category_id is not None:
            channel_ids.append(self._category_id)
        for channel_id in channel_ids:
            await transport.delete_channel(channel_id)
        for table in self.tables.values():
            table.__disco_cursor__ = None
        self._cursors.clear()
        self._channel_cursors.clear()
        self._catalog.clear()
        self._metadata_channel = None
        self._category_id = None
        logger.info("cleaned database {}", self.name)
