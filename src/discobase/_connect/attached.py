"""A database inside the user's own bot: one login, one gateway session.

:meth:`Database.attach <discobase.database.Database.attach>` gives a database
an :class:`AttachedTransport`: the discord.py transport on the user's
``commands.Bot``, which never logs in, never starts or closes the gateway,
and only listens. Its :meth:`~AttachedTransport.connect` waits until the
database's guild is in the bot's cache, so the database can be attached
from ``setup_hook`` (before the gateway exists: READY comes only after
``setup_hook`` returns), before ``bot.start()``, from ``on_ready`` or on a
running bot: the open runs as a task and goes on by itself when the guild
arrives. Nothing is polled: listeners on ``guild_available``,
``guild_join`` and ``ready`` wake the wait.

The intents a database needs are the two non-privileged ones, ``guilds`` (the
guild and channel cache, channel events) and ``guild_messages`` (message
events in guild channels). Message content is a privileged intent, but
Discord always shows a bot the content of its own messages, and a
database's messages are all written by its bot.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord.ext import commands
from loguru import logger

from discobase._discord.permissions import REQUIRED_PERMISSIONS, Permission
from discobase.exceptions import DiscobaseError, MissingPermissionsError, NotConnectedError
from discobase.storage.discord_transport import DiscordTransport, invite_url

if TYPE_CHECKING:
    from discobase.database import Database

__all__ = [
    "REQUIRED_INTENTS",
    "AttachedTransport",
    "attach_attempts",
    "attached_databases",
    "check_intents",
    "check_permissions",
    "required_intents",
]

#: The gateway intents a database needs, by discord.py's attribute name (all non-privileged).
REQUIRED_INTENTS: dict[str, str] = {
    "guilds": "the guild and its channels in the cache, channel create/delete events",
    "guild_messages": "message create/edit/delete events, which keep other processes' writes in sync",
}

#: The databases attached to each bot (several databases, in several guilds, may share one bot).
_ATTACHED: weakref.WeakKeyDictionary[discord.Client, list[Database]] = weakref.WeakKeyDictionary()
#: Every database attached to each bot so far (see :func:`attach_attempts`).
_ATTEMPTS: weakref.WeakKeyDictionary[discord.Client, list[Database]] = weakref.WeakKeyDictionary()


def required_intents() -> discord.Intents:
    """The intents a bot that only stores data needs: ``guilds`` and ``guild_messages``."""
    intents = discord.Intents.none()
    for name in REQUIRED_INTENTS:
        setattr(intents, name, True)
    return intents


def check_intents(intents: discord.Intents) -> None:
    """Raise :class:`~discobase.exceptions.NotConnectedError` if ``intents`` lacks a needed one.

    The error names every missing intent and how to turn it on.
    """
    missing = [name for name in REQUIRED_INTENTS if not getattr(intents, name)]
    if not missing:
        return
    fixes = " and ".join(f"intents.{name} = True" for name in missing)
    reasons = "; ".join(f"{name}: {REQUIRED_INTENTS[name]}" for name in missing)
    raise NotConnectedError(
        f"the bot lacks the {', '.join(missing)} gateway intent(s) a database needs ({reasons}). "
        f"Set {fixes} on the discord.Intents you make the bot with (discord.Intents.default() has "
        "both). They are not privileged: nothing needs enabling in the Developer Portal"
    )


def check_permissions(guild: discord.Guild, application_id: int | None) -> None:
    """Raise :class:`~discobase.exceptions.MissingPermissionsError` if the bot lacks a required permission.

    It names the permissions of :data:`~discobase._discord.permissions.REQUIRED_PERMISSIONS` the
    bot's roles lack in ``guild`` (nothing is raised when the cache cannot tell).
    """
    me: discord.Member | None = guild.me
    if me is None:
        return
    granted = me.guild_permissions.value
    if guild.owner_id == me.id or granted & Permission.ADMINISTRATOR:
        return
    missing = REQUIRED_PERMISSIONS & ~granted
    if not missing:
        return
    names = [(flag.name or "").replace("_", " ").title() for flag in Permission if flag & missing]
    listed = ", ".join(names)
    hint = f", or invite it again with {invite_url(application_id)}" if application_id else ""
    raise MissingPermissionsError(
        f"the bot lacks the {listed} permission(s) in guild {guild.name!r}: give its role "
        f"{listed} in Server Settings → Roles{hint}",
        permission=listed,
    )


def attached_databases(bot: discord.Client) -> list[Database]:
    """The databases attached to ``bot``, oldest first.

    Attached with :meth:`Database.attach`, or running on it.
    """
    return list(_ATTACHED.get(bot, ()))


def attach_attempts(bot: discord.Client) -> list[Database]:
    """Every database attached to ``bot`` since it was made, oldest first, including those
    closed since and those whose open failed (which :func:`attached_databases` no longer
    lists): the testing harness reports their start-up errors."""
    return list(_ATTEMPTS.get(bot, ()))


def register(bot: discord.Client, database: Database) -> None:
    databases = _ATTACHED.setdefault(bot, [])
    if database not in databases:
        databases.append(database)
    attempts = _ATTEMPTS.setdefault(bot, [])
    if database not in attempts:
        attempts.append(database)


def unregister(bot: discord.Client, database: Database) -> None:
    databases = _ATTACHED.get(bot)
    if databases is not None and database in databases:
        databases.remove(database)


class AttachedTransport(DiscordTransport):
    """The discord.py transport on a bot that the user runs.

    It shares the bot's HTTP client and gateway session: :meth:`connect`
    waits (without polling) until the bot has logged in and the guild chosen
    by ``wanted`` is available, or the bot is ready without it (then the
    database's open reports the missing guild); :meth:`close` removes this
    transport's listeners and leaves the bot running.
    """

    def __init__(self, bot: commands.Bot, wanted: Callable[[discord.Guild], bool]) -> None:
        super().__init__(bot, token="")
        self._wanted = wanted
        self._wake = asyncio.Event()
        self._waking = False

    def __repr__(self) -> str:
        state = "connected" if self._connected else "waiting for its guild"
        return f"<AttachedTransport bot={type(self.client).__name__} {state}>"

    async def _on_wake(self, *args: object) -> None:
        self._wake.set()

    def _listen_for_guilds(self) -> None:
        if self._waking:
            return
        self._waking = True
        bot = self.bot
        for event in ("on_guild_available", "on_guild_join", "on_ready"):
            bot.add_listener(self._on_wake, event)

    @property
    def bot(self) -> commands.Bot:
        assert isinstance(self.client, commands.Bot)
        return self.client

    def _arrived(self) -> bool:
        """Whether the open may go on: the guild is in the cache, or it cannot arrive.

        It cannot arrive when every guild is in the cache and it is not among them.
        """
        client = self.client
        if client.user is None or client.application_id is None:
            return False  # not logged in yet
        if any(self._wanted(guild) and not guild.unavailable for guild in client.guilds):
            return True
        return client.is_ready() or self._gateway_complete()

    async def connect(self) -> None:
        """Wait until the database's guild is available.

        The bot logs in and connects by itself: ``bot.start()`` is the user's.
        """
        self.calls["connect"] += 1
        if self._connected:
            return
        self._listen_for_guilds()
        if not self._arrived():
            logger.debug("attached database: waiting for the bot to connect and its guild to arrive")
        while not self._arrived():
            if self.client.is_closed() and self.client.user is not None:
                raise NotConnectedError("the bot was closed before the database's guild became available")
            self._wake.clear()
            await self._wake.wait()
        self._connected = True
        logger.debug("attached to bot {} ({})", self.client.user, self.user_id)

    async def close(self) -> None:
        """Stop listening; the bot, its HTTP session and its gateway stay as they are."""
        self.calls["close"] += 1
        self._connected = False
        await self.pump.close()
        bot = self.bot
        if self._waking:
            for event in ("on_guild_available", "on_guild_join", "on_ready"):
                bot.remove_listener(self._on_wake, event)
            self._waking = False
        if self._listening:
            for name, listener in (
                ("on_message", self._on_message),
                ("on_raw_message_edit", self._on_raw_message_edit),
                ("on_raw_message_delete", self._on_raw_message_delete),
                ("on_raw_bulk_message_delete", self._on_raw_bulk_message_delete),
                ("on_connect", self._on_connect),
                ("on_disconnect", self._on_disconnect),
                ("on_resumed", self._on_resumed),
            ):
                bot.remove_listener(listener, name)
            self._listening = False


def check_bot(bot: object) -> commands.Bot:
    """``bot`` if a database can be attached to it, else a clear error."""
    if not isinstance(bot, commands.Bot):
        raise DiscobaseError(
            f"attach() needs a discord.ext.commands.Bot (or AutoShardedBot), not {type(bot).__name__}: "
            "a database listens to the bot's events with add_listener"
        )
    check_intents(bot.intents)
    return bot
