"""``Harness``: a local Discord server with a guild, the bot account, people and a database,
for testing a bot in any test framework (the pytest plugin builds its fixtures on it).

Everything goes over real sockets: the bot under test is the developer's own unmodified
discord.py ``Client`` or ``commands.Bot``, pointed at the server with
:meth:`LocalDiscord.attach <discobase.local.LocalDiscord.attach>`; people act through the
server's REST routes (:class:`~discobase.local.Person`); what the bot does is awaited with
:meth:`LocalDiscord.next_message <discobase.local.LocalDiscord.next_message>` and
:meth:`LocalDiscord.wait_for <discobase.local.LocalDiscord.wait_for>`, never with sleeps.

```python
async with Harness() as harness:
    bot = await harness.run_bot(MyBot())
    ada = await harness.member("ada")
    reply = await ada.ask(harness.guild.general, "!ping")  # the bot's answer
    assert reply["content"] == "pong"
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import aiohttp
import discord
from discord.ext import commands
from loguru import logger

import discobase
from discobase._connect.attached import attach_attempts, attached_databases
from discobase.engine.versions import DBStatus
from discobase.exceptions import DiscobaseError
from discobase.local import BotAccount, FaultInjector, LocalDiscord, Overwrite, Person, RateLimitProfile

if TYPE_CHECKING:
    from discobase.database import Database

__all__ = [
    "BotConnectionError",
    "BotHandlerError",
    "HandlerError",
    "Harness",
    "LocalGuild",
    "start_client",
    "stop_client",
]

ClientT = TypeVar("ClientT", bound=discord.Client)

#: Where the code of the tasks the harness may cancel at the end lives: discord.py (the bot's
#: event handlers and ``ext.tasks`` loops), aiohttp and discobase itself.
_OWNED_CODE = tuple(
    str(Path(module.__file__).parent) + os.sep
    for module in (discord, aiohttp, discobase)
    if module.__file__ is not None
)
_OWNED_NAMES = ("discord.py", "discord-ext-tasks", "discobase")


class BotConnectionError(DiscobaseError):
    """The bot under test could not log in, connect or become ready, or its connection to
    the server ended with an error before it was stopped."""


class BotHandlerError(DiscobaseError):
    """The bot under test raised in an event handler, a command, a view or a task loop:
    discord.py only logs that, so the harness reports it at the end (see
    :attr:`Harness.handler_errors`)."""


@dataclass(frozen=True, slots=True)
class HandlerError:
    """An error discord.py logged instead of raising: ``where`` is its message
    (``"Ignoring exception in command 'rank'"``), ``error`` the exception."""

    where: str
    error: BaseException | None

    def __str__(self) -> str:
        return f"{self.where}: {self.error!r}" if self.error is not None else self.where


def _connection_lost(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is a lost connection: a request of a bot being
    closed (its session is closed under it), or a connection the test's faults dropped."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, aiohttp.ClientConnectionError | discord.ConnectionClosed):
            return True
        if isinstance(error, RuntimeError) and str(error) == "Session is closed":
            return True
        error = error.__cause__ or error.__context__
    return False


class _HandlerErrors(logging.Handler):
    """Collects the errors of handlers that discord.py logs ("Ignoring exception in ...",
    "Unhandled exception in internal background task ..."), not its reconnects. Neither an
    unknown prefix command (``CommandNotFound``) nor a lost connection (a bot closed during
    a request, a dropped connection) is an error of the bot."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[HandlerError] = []
        self.added = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.msg, str) or not record.msg.startswith(
            ("Ignoring exception", "Unhandled exception")
        ):
            return
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, commands.CommandNotFound) or _connection_lost(error):
            logger.debug("not an error of the bot: {}: {!r}", record.getMessage(), error)
            return
        self.errors.append(HandlerError(record.getMessage(), error))
        self.added.set()


@dataclass(frozen=True, slots=True)
class LocalGuild:
    """A guild of the local server: its ``id``, ``name`` and ``owner`` (a person), with
    lookups of its channels. Pass ``guild.id`` where the server's API takes a guild id."""

    server: LocalDiscord = field(repr=False)
    id: int
    name: str
    owner: Person

    @property
    def general(self) -> int:
        """The id of ``#general``, the guild's system channel."""
        guild = self.server.store.guilds[self.id]
        if guild.system_channel_id is None:
            raise DiscobaseError(f"guild {self.name!r} has no system channel")
        return guild.system_channel_id

    def channel(self, name: str) -> int:
        """The id of the guild's channel named ``name`` (``"general"``, without ``#``)."""
        for channel in self.server.store.guild_channels(self.id):
            if channel.name == name.removeprefix("#"):
                return channel.id
        names = [c.name for c in self.server.store.guild_channels(self.id)]
        raise DiscobaseError(f"guild {self.name!r} has no channel {name!r}; it has {names}")

    async def create_channel(
        self, name: str, *, kind: int = 0, overwrites: list[Overwrite] | None = None
    ) -> int:
        """Create a text channel (``kind`` 0) or another kind, as the owner does in Discord's
        client (``POST /guilds/{id}/channels``): running bots get CHANNEL_CREATE. Returns its id."""
        body: dict[str, Any] = {"name": name, "type": kind}
        if overwrites:
            body["permission_overwrites"] = [
                {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
                for o in overwrites
            ]
        created = await self.owner.request("POST", f"/guilds/{self.id}/channels", body)
        return int(created["id"])


@dataclass(slots=True)
class _RunningBot:
    client: discord.Client
    account: BotAccount
    task: asyncio.Task[None]


class Harness:
    """A started :class:`~discobase.local.LocalDiscord` (in memory) with a guild owned by a
    person, the bot account the bots under test log in with, and helpers.

    Args:
        rate_limits: ``"off"`` (the default: tests run at full speed), ``"discord"`` for
            Discord's buckets and 429s, or a :class:`~discobase.local.RateLimitProfile`.
        guild_name: the name of :attr:`guild`.
        bot_name: the name of :attr:`bot_account`.
        seed: the seed of the fault injector (:attr:`faults`).
        ready_timeout: seconds :meth:`run_bot` waits for a bot to become ready.
        fail_on_handler_errors: raise :class:`BotHandlerError` at the end if the bots
            raised in a handler (see :attr:`handler_errors`).
        server_options: more keyword arguments of :class:`~discobase.local.LocalDiscord`.

    Use it as an async context manager, or call :meth:`start` and :meth:`aclose`. At the end
    it stops the bots it ran and closes the databases it opened, stops the server and its
    people's sessions, and cancels what is left of the bots' tasks, so nothing leaks into
    the next test. Then it raises :class:`BotHandlerError` if a bot raised in an event
    handler, a command, a view or a task loop meanwhile: discord.py only logs those.
    """

    def __init__(
        self,
        *,
        rate_limits: Literal["discord", "off"] | RateLimitProfile = "off",
        guild_name: str = "test guild",
        bot_name: str = "test-bot",
        seed: int | None = 0,
        ready_timeout: float = 15.0,
        fail_on_handler_errors: bool = True,
        **server_options: Any,
    ) -> None:
        self.server = LocalDiscord(":memory:", rate_limits=rate_limits, seed=seed, **server_options)
        self.ready_timeout = ready_timeout
        self.fail_on_handler_errors = fail_on_handler_errors
        self._handler_errors = _HandlerErrors()
        self._guild_name = guild_name
        self._bot_name = bot_name
        self._bot_account: BotAccount | None = None
        self._database_account: BotAccount | None = None
        self._guild: LocalGuild | None = None
        self._bots: list[_RunningBot] = []
        self._databases: dict[int, tuple[Database, contextlib.AsyncExitStack, str | None]] = {}
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the server and make the bot account and the guild."""
        if self._started:
            return
        if self._closed:
            raise DiscobaseError("this harness was closed: make a new one (each has its own server)")
        self._tasks_before = asyncio.all_tasks()
        self._handler_errors.errors.clear()
        await self.server.start()
        logging.getLogger("discord").addHandler(self._handler_errors)
        self._started = True
        self._bot_account = self.server.create_bot(self._bot_name)
        owner = self.server.create_user("guild-owner")
        guild_id = self.server.create_guild(self._guild_name, owner=owner.id, members=[self._bot_account])
        self._guild = LocalGuild(self.server, guild_id, self._guild_name, owner)

    async def aclose(self) -> None:
        """Stop the bots, close the databases, stop the server, cancel leftover tasks."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            self.server.store.close()  # never served: only its store is open
            return
        self._started = False
        # what fails while everything stops is not the bots' doing
        logging.getLogger("discord").removeHandler(self._handler_errors)
        errors: list[BaseException] = []
        for running in reversed(self._bots):
            try:
                await self._stop(running)
            except Exception as error:
                errors.append(error)
        self._bots.clear()
        for key in list(self._databases):
            try:
                await self._close_database(key)
            except Exception as error:
                errors.append(error)
        await self.server.stop()
        await self._cancel_leftovers()
        if errors:
            raise errors[0]
        if self.fail_on_handler_errors and self.handler_errors:
            found = self.handler_errors
            lines = "\n".join(f"  {e}" for e in found)
            raise BotHandlerError(
                f"the bot under test raised {len(found)} error(s) that discord.py only logged "
                f"(a test that expects them clears handler_errors):\n{lines}"
            ) from found[0].error

    @property
    def handler_errors(self) -> list[HandlerError]:
        """What the bots raised in event handlers, commands, views and task loops so far
        (discord.py logs those and goes on). Clear it to accept them."""
        return self._handler_errors.errors

    async def next_handler_error(self, *, timeout: float = 10.0) -> HandlerError:
        """The oldest of :attr:`handler_errors`, taken out of it (so it no longer fails the
        end), waiting up to ``timeout`` seconds for one: for a test of a bot's failure."""
        collected = self._handler_errors
        try:
            async with asyncio.timeout(timeout):
                while not collected.errors:
                    collected.added.clear()
                    await collected.added.wait()
        except TimeoutError:
            raise BotHandlerError(f"the bot raised nothing in its handlers within {timeout:g} s") from None
        return collected.errors.pop(0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _cancel_leftovers(self) -> None:
        """Cancel the tasks started since :meth:`start` that discord.py, aiohttp or discobase
        run and that are still pending (a bot's event handler still busy, an ``ext.tasks``
        loop nobody stopped), and wait for them."""
        current = asyncio.current_task()
        leftovers = [
            task
            for task in asyncio.all_tasks()
            if task is not current and task not in self._tasks_before and not task.done() and _owned(task)
        ]
        for task in leftovers:
            logger.debug("cancelling the leftover task {}", task.get_name())
            task.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)

    def _require_started(self) -> None:
        if not self._started:
            raise DiscobaseError("the harness is not started: use 'async with Harness()' or start()")

    # ------------------------------------------------------------------ accounts and people
    @property
    def bot_account(self) -> BotAccount:
        """The bot account :meth:`run_bot` logs in with (a member of :attr:`guild`)."""
        self._require_started()
        assert self._bot_account is not None
        return self._bot_account

    @property
    def guild(self) -> LocalGuild:
        """The guild, with ``#general``; :attr:`bot_account` is a member with Discord's
        default bot permissions, its owner is a person."""
        self._require_started()
        assert self._guild is not None
        return self._guild

    @property
    def faults(self) -> FaultInjector:
        """The server's fault injector: ``harness.faults.add(Fault("status", route=...))``."""
        return self.server.faults

    def user(self, name: str, *, global_name: str | None = None) -> Person:
        """A person who is in no guild yet (see :meth:`member`)."""
        self._require_started()
        return self.server.create_user(name, global_name=global_name)

    async def member(
        self,
        name: str,
        *,
        guild: LocalGuild | int | None = None,
        roles: list[int] | None = None,
        nick: str | None = None,
    ) -> Person:
        """A person who joined ``guild`` (default :attr:`guild`); running bots got
        GUILD_MEMBER_ADD when this returns."""
        person = self.user(name)
        guild_id = self.guild.id if guild is None else guild if isinstance(guild, int) else guild.id
        await person.join(guild_id, roles=roles, nick=nick)
        return person

    # ------------------------------------------------------------------ bots
    async def run_bot(
        self,
        client: ClientT,
        *,
        account: BotAccount | None = None,
        guild_ready_timeout: float | None = 0.05,
    ) -> ClientT:
        """Start ``client`` (a ``discord.Client`` or ``commands.Bot``, as the application
        builds it) on the server, logged in as ``account`` (default :attr:`bot_account`),
        and return it once ready (its ``setup_hook`` ran, ``on_ready`` was dispatched) and
        the databases it attached by then (``await db.attach(self)`` in ``setup_hook`` or
        before the start) are open: a database's start-up error is raised here.

        ``guild_ready_timeout`` replaces discord.py's wait for more guilds after READY (2 s
        by default; the local server sends them all at once); ``None`` keeps the client's.
        ``await client.close()`` stops it early (a restart runs a new client); the harness
        stops it at the end otherwise.
        Raises :class:`BotConnectionError` if it cannot log in, connect or become ready.
        """
        self._require_started()
        if any(running.client is client and not running.task.done() for running in self._bots):
            raise DiscobaseError(f"{client!r} is already running")
        if client.is_closed():
            raise DiscobaseError(
                f"{client!r} was closed and discord.py cannot start it again: make a new one, "
                "as a restarted application would"
            )
        account = account or self.bot_account
        task = await start_client(
            self.server,
            client,
            account,
            timeout=self.ready_timeout,
            guild_ready_timeout=guild_ready_timeout,
        )
        self._bots.append(_RunningBot(client, account, task))
        for db in attach_attempts(client):
            if db.status is DBStatus.STOPPED:
                continue  # attached, then closed already
            try:
                async with asyncio.timeout(self.ready_timeout):
                    await db.wait_ready()  # raises the start-up error of a database that FAILED
            except TimeoutError:
                raise BotConnectionError(
                    f"the database {db.name!r} attached to bot {account.name!r} did not open within "
                    f"{self.ready_timeout:g} s (status {db.status.value})"
                ) from None
        return client

    async def stop_bot(self, client: discord.Client) -> None:
        """Stop a bot started with :meth:`run_bot` (what ``client.close()`` does, and wait
        for its connection to end)."""
        for running in list(self._bots):
            if running.client is client:
                self._bots.remove(running)
                await self._stop(running)
                return
        raise DiscobaseError(f"{client!r} was not started by this harness")

    @staticmethod
    async def _stop(running: _RunningBot) -> None:
        """Close the databases still open on the bot (while its connection can write their
        last snapshots; an application usually does it in its bot's ``close``), then the bot."""
        try:
            for db in attached_databases(running.client):
                if db.open:
                    await db.close()
        finally:
            await stop_client(running.client, running.task, name=running.account.name)

    # ------------------------------------------------------------------ databases
    @property
    def database_account(self) -> BotAccount:
        """The bot account databases log in with (made on first use; see :meth:`open_database`)."""
        self._require_started()
        if self._database_account is None:
            self._database_account = self.server.create_bot("test-database")
        return self._database_account

    async def open_database(self, db: Database, *, account: BotAccount | None = None) -> Database:
        """Connect ``db`` (with its tables) to the server, as ``async with db.conn(token)``
        would, logged in as ``account`` (default :attr:`database_account`). Its guild
        (named ``db.name``) is made if the server has none, and ``account`` joins it.

        The harness closes it at the end. Called again for the same database (closed by
        the test, or still open), it reconnects it: the data is still on the server, as
        after a restart of the application.
        """
        self._require_started()
        key = id(db)
        if key in self._databases:
            await self._close_database(key)
        account = account or self.database_account
        guilds = self.server.store.guilds_by_name(db.name)
        if guilds:
            for guild in guilds:
                self.server.add_member(guild.id, account)
        else:
            self.server.create_guild(db.name, owner=self.guild.owner.id, members=[account])
        previous_url = db.server_url
        db.server_url = self.server.url
        stack = contextlib.AsyncExitStack()
        self._databases[key] = (db, stack, previous_url)
        try:
            await stack.enter_async_context(db.conn(account.token))
        except BaseException:
            await self._close_database(key)
            raise
        return db

    async def _close_database(self, key: int) -> None:
        db, stack, previous_url = self._databases.pop(key)
        try:
            await stack.aclose()
        finally:
            db.server_url = previous_url


async def start_client(
    server: LocalDiscord,
    client: discord.Client,
    account: BotAccount,
    *,
    timeout: float = 15.0,
    guild_ready_timeout: float | None = 0.05,
) -> asyncio.Task[None]:
    """Point ``client`` at ``server``, log it in as ``account``, connect it and wait until it
    is ready; returns the task that runs its connection (give it to :func:`stop_client`).

    ``guild_ready_timeout`` replaces discord.py's wait for more guilds after READY (2 s by
    default; the local server sends them all at once); ``None`` keeps the client's. Raises
    :class:`BotConnectionError` (with the client closed) if it cannot log in, connect or become
    ready within ``timeout`` seconds.
    """
    server.attach(client)
    if guild_ready_timeout is not None:
        state = getattr(client, "_connection", None)
        if state is not None and hasattr(state, "guild_ready_timeout"):
            state.guild_ready_timeout = guild_ready_timeout
    try:
        async with asyncio.timeout(timeout):
            await client.login(account.token)  # runs the client's setup_hook
    except Exception as error:
        await client.close()
        if isinstance(error, TimeoutError):
            raise BotConnectionError(
                f"bot {account.name!r} did not log in within {timeout:g} s "
                "(is its setup_hook waiting for something?)"
            ) from None
        raise BotConnectionError(f"bot {account.name!r} could not log in: {error!r}") from error
    task = asyncio.create_task(client.connect(), name=f"discobase.testing: {account.name}")
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait({ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        logger.debug("bot {} is ready on {}", account.name, server.url)
        return task
    ready.cancel()
    await asyncio.gather(ready, return_exceptions=True)
    sessions = server.gateway.session_count()
    await client.close()
    (failure,) = await asyncio.gather(task, return_exceptions=True)
    if task in done and isinstance(failure, BaseException):
        raise BotConnectionError(f"bot {account.name!r} could not connect: {failure!r}") from failure
    raise BotConnectionError(
        f"bot {account.name!r} was not ready within {timeout:g} s: {sessions} gateway session(s) open"
    )


async def stop_client(client: discord.Client, task: asyncio.Task[None], *, name: str | None = None) -> None:
    """Close ``client`` (started with :func:`start_client`) and wait for its connection task
    to end; raises :class:`BotConnectionError` if that task failed."""
    await client.close()
    (outcome,) = await asyncio.gather(task, return_exceptions=True)
    if isinstance(outcome, Exception):
        who = name or repr(client)
        raise BotConnectionError(f"bot {who!r} stopped with {outcome!r}") from outcome


def _owned(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` runs discord.py's, aiohttp's or discobase's code (see :meth:`Harness.aclose`)."""
    if task.get_name().startswith(_OWNED_NAMES):
        return True
    code = getattr(task.get_coro(), "cr_code", None)
    filename = getattr(code, "co_filename", "")
    return isinstance(filename, str) and filename.startswith(_OWNED_CODE)
