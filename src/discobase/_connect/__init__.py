"""Connecting a database: token and environment, the user's bot or our own, the local servers.

The open/close lifecycle around them; the only importer of :mod:`discobase.local`.

Three ways in, one open:

- ``async with db.conn(token)`` / ``login(token)``: the database makes its own
  ``commands.Bot`` (intents ``guilds`` and ``guild_messages`` only), logs it in
  and runs its gateway; with no token, the embedded local server.
- ``await db.attach(bot)``: the user's bot (see :mod:`discobase._connect.attached`);
  one login, one gateway session, and ``close()`` leaves the bot running.
- ``Database(transport=...)``: a ready transport (the in-memory one in tests).
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Self, cast

import discord
from discord.ext import commands
from loguru import logger

from discobase._connect.attached import (
    AttachedTransport,
    check_bot,
    check_permissions,
    register,
    required_intents,
    unregister,
)
from discobase.engine.versions import DBStatus
from discobase.exceptions import AlreadyConnectedError, DiscobaseError, NotConnectedError
from discobase.storage.discord_transport import DiscordTransport
from discobase.storage.transport import ChannelInfo, GuildInfo, Transport

if TYPE_CHECKING:
    from discobase._connect.embedded import EmbeddedServer
    from discobase.engine.instrumentation import EventTracker

__all__ = ["ConnectMixin", "EmbeddedServerWarning"]

#: The extension the ``cogs=True`` flag loads (see :mod:`discobase.cogs.admin`).
ADMIN_EXTENSION = "discobase.cogs.admin"

#: Seconds the open waits for a channel it created to reach discord.py's cache.
CACHE_TIMEOUT = 10.0


class EmbeddedServerWarning(UserWarning):
    """discobase started its embedded local Discord server (no token was given)."""


class ConnectMixin:
    """How a :class:`~discobase.database.Database` reaches Discord, opens and closes."""

    name: str
    guild_id: int | None
    server_url: str | None
    data_dir: Path | None
    open: bool
    status: DBStatus
    events: EventTracker
    cogs: bool
    _transport: Transport | None
    _own_transport: bool
    _bot: commands.Bot | None
    _attached: commands.Bot | None
    _embedded: EmbeddedServer | None
    _task: asyncio.Task[None] | None
    _setup_event: asyncio.Event | None
    _stop_event: asyncio.Event | None
    _startup_error: BaseException | None
    _catalog_channel: ChannelInfo | None
    guild: discord.Guild | None

    if TYPE_CHECKING:

        async def init(self) -> None: ...
        async def close(self) -> None: ...
        async def _shutdown(self) -> None: ...
        async def _check_version(self) -> None: ...
        def _register_system_tables(self) -> None: ...

    # ------------------------------------------------------------------ the bot
    @property
    def bot(self) -> commands.Bot:
        """The discord.py ``Bot`` that talks to Discord.

        The one given to :meth:`attach`, else the database's own (made on first use, with the
        intents ``guilds`` and ``guild_messages`` only).
        """
        if self._attached is not None:
            return self._attached
        if self._bot is None:
            self._bot = commands.Bot(command_prefix="!", intents=required_intents(), guild_ready_timeout=0.5)
            self._bot.db = self  # type: ignore[attr-defined]
        return self._bot

    @property
    def _metadata_channel(self) -> discord.TextChannel | ChannelInfo | None:
        """The catalog channel (``_dbmetadata``) while connected: discord.py's
        ``TextChannel`` from the guild's cache when running on discord.py, as
        discobase 1.0.0 had it (its programs and tests compare it with the
        channels of :attr:`guild`); the transport's :class:`ChannelInfo` on
        another transport (the in-memory one)."""
        info = self._catalog_channel
        if info is None:
            return None
        if isinstance(self._transport, DiscordTransport) and isinstance(self.guild, discord.Guild):
            channel = self.guild.get_channel(info.id)
            if isinstance(channel, discord.TextChannel):
                return channel
        return info

    async def _cache_catalog_channel(self, timeout: float = CACHE_TIMEOUT) -> None:
        """On discord.py, wait until the catalog channel is in the guild's cache,
        so that :attr:`_metadata_channel` and ``guild.channels`` show it once the
        database is open. A channel discobase just created reaches the cache
        through the gateway's CHANNEL_CREATE event, which may come after the
        REST reply; if it has not come within ``timeout`` seconds, a warning
        says so and the database opens anyway."""
        info, guild = self._catalog_channel, self.guild
        if info is None or not isinstance(self._transport, DiscordTransport):
            return
        if not isinstance(guild, discord.Guild) or guild.get_channel(info.id) is not None:
            return

        def created(channel: discord.abc.GuildChannel) -> bool:
            return channel.id == info.id

        try:
            await self._transport.client.wait_for("guild_channel_create", check=created, timeout=timeout)
        except TimeoutError:
            logger.warning(
                "database {}: the catalog channel {} did not reach discord.py's cache within {}s "
                "(no CHANNEL_CREATE event from the gateway)",
                self.name,
                info.id,
                timeout,
            )

    def _wants_guild(self, guild: discord.Guild | GuildInfo) -> bool:
        """Whether ``guild`` is this database's (by id if given, else by name)."""
        return guild.id == self.guild_id if self.guild_id else guild.name == self.name

    def _native_guild(self, info: GuildInfo) -> discord.Guild:
        """The ``discord.Guild`` of ``info`` on discord.py, else ``info`` itself.

        With another transport (the in-memory one), ``info`` stands in for it: it has the ``id``
        and ``name``.
        """
        if isinstance(self._transport, DiscordTransport):
            guild = self._transport.client.get_guild(info.id)
            if guild is not None:
                check_permissions(guild, self._transport.client.application_id)
                return guild
        return cast("discord.Guild", info)

    async def _resolve_transport(self, token: str | None) -> Transport:
        if self._transport is not None:
            return self._transport
        if self._attached is not None:
            transport: Transport = AttachedTransport(self._attached, self._wants_guild)
            self._transport = transport
            return transport
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
        """Serve the data directory's embedded server, or join the process that serves it.

        See :mod:`discobase._connect.embedded`. Returns the bot's token.
        """
        from discobase._connect.embedded import DATA_FILE, EmbeddedServer

        directory = self.data_dir or Path(os.environ.get("DISCOBASE_DATA_DIR", ".discobase"))
        warnings.warn(
            "no Discord token given: discobase uses its embedded local Discord server, "
            f"persisted in {directory / DATA_FILE}",
            EmbeddedServerWarning,
            stacklevel=4,
        )
        self._embedded = EmbeddedServer(directory)
        return await self._embedded.join(self.name, self.bot)

    # ------------------------------------------------------------------ attaching to the user's bot
    async def attach(self, bot: commands.Bot) -> None:
        """Store this database through ``bot``, a bot you run.

        One login, one gateway session, the bot's HTTP client.

        Call it wherever is convenient: in ``setup_hook`` (discord.py's place for
        start-up work), before ``bot.start()``, in ``on_ready`` or on a running
        bot. If the bot's gateway is ready (or the guild is already in its
        cache), it returns once the database is open; otherwise it returns at
        once and the database opens by itself as soon as its guild is
        available (``await db.wait_ready()`` waits for that, from anywhere
        except ``setup_hook``, which must return first).
        :meth:`close` closes the database and leaves the bot running. Several
        databases (each in its own guild) may share one bot.

        The bot needs the ``guilds`` and ``guild_messages`` intents (both
        non-privileged); a missing one is a
        :class:`~discobase.exceptions.NotConnectedError` naming it. Start-up
        errors (missing guild, missing permissions) are raised by
        :meth:`wait_ready` and by this method when it waits.
        """
        checked = check_bot(bot)
        if self._transport is not None and not self._own_transport:
            raise DiscobaseError("this database was made with transport=...: it cannot also attach to a bot")
        self._claim()
        self._attached = checked
        register(checked, self)  # type: ignore[arg-type]
        self._start()
        if checked.is_ready() or any(self._wants_guild(g) and not g.unavailable for g in checked.guilds):
            await self.wait_ready()  # nothing to wait for but the open itself

    def _detach(self) -> None:
        """Forget the bot (the user's is left running; ours is closed by then)."""
        for bot in (self._attached, self._bot):
            if bot is not None:
                unregister(bot, self)  # type: ignore[arg-type]
        self._attached = self._bot = None

    async def _load_admin_cogs(self) -> None:
        """Make the database known to its bot's cogs, and load the admin cogs with ``cogs=True``.

        With ``cogs=True`` the admin cogs are loaded into the bot (once) and its application
        commands synced, as discobase 1.0.0 did at start.
        """
        if not isinstance(self._transport, DiscordTransport):
            return
        bot = self.bot
        register(bot, self)  # type: ignore[arg-type]  # where the cogs find the database of a guild
        if not self.cogs:
            return
        if ADMIN_EXTENSION not in bot.extensions:
            await bot.load_extension(ADMIN_EXTENSION)
        try:
            await bot.tree.sync()
        except discord.HTTPException as error:
            raise DiscobaseError(f"could not register the /db commands: {error}") from error
        logger.info("database {}: admin cogs loaded and synced", self.name)

    # ------------------------------------------------------------------ logging in
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
        """Mark the database STARTING, or refuse if it is already connecting or connected.

        A second connection of the same database would share (and at its close, tear down) the
        open one's state.
        """
        if self.open or self.status in (DBStatus.STARTING, DBStatus.RUNNING, DBStatus.STOPPING):
            raise AlreadyConnectedError(
                f"database {self.name!r} is already connected ({self.status.value}): use the open "
                "connection; a nested 'async with db.conn()', a second login() or attach() is "
                "refused, and the open connection goes on unaffected"
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
            await self._cache_catalog_channel()
            await self._load_admin_cogs()
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
        self._claim()
        return self._start(bot_token)

    def _start(self, bot_token: str | None = None) -> asyncio.Task[None]:
        """Run :meth:`_login` as the database's task (the database is claimed)."""
        loop = asyncio.get_running_loop()
        self._ready_event()
        task = loop.create_task(self._login(bot_token), name=f"discobase-open-{self.name}")

        def finished(done: asyncio.Task[None]) -> None:
            if done.cancelled():
                if self.status is DBStatus.STARTING:  # cancelled before it began: nothing to undo
                    self.status = DBStatus.STOPPED
                    self._detach()
            else:
                error = done.exception()  # raised by wait_ready()/conn(); not an unretrieved error
                if error is not None and self._attached is not None:
                    logger.error("database {} could not open on the bot: {}", self.name, error)

        task.add_done_callback(finished)
        self._task = task
        return task

    async def ensure_ready(self) -> None:
        """Wait until the database is RUNNING; raise the start-up error if it FAILED"""
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
    async def conn(self, bot_token: str | None = None) -> AsyncIterator[Self]:
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
