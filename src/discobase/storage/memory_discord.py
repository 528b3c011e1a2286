"""``MemoryDiscord``: the shared state behind :class:`~discobase.storage.memory.MemoryTransport` instances.

Guilds, channels (with permission overwrites), messages, attachment bytes and
bots, and the fan-out of message events to every connected transport whose bot
can see the channel.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from discobase._discord.permissions import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    compute_permissions,
)
from discobase._discord.snowflakes import SnowflakeGenerator
from discobase.storage.discord_rules import Perm
from discobase.storage.transport import ChannelInfo, MessageEvent, RawMessage

if TYPE_CHECKING:
    from discobase.storage.memory import MemoryTransport

__all__ = [
    "MemoryBot",
    "MemoryChannel",
    "MemoryDiscord",
    "MemoryGuild",
]


@dataclass(slots=True)
class MemoryBot:
    """A bot account of a :class:`MemoryDiscord`.

    It is a member of every guild, with a role that holds ``permissions``.
    """

    name: str
    user_id: int
    application_id: int
    role_id: int
    token: str
    permissions: int = DEFAULT_BOT_PERMISSIONS


@dataclass(slots=True)
class MemoryGuild:
    """A guild of a :class:`MemoryDiscord`."""

    id: int
    name: str
    owner_id: int
    everyone: int = DEFAULT_EVERYONE_PERMISSIONS


@dataclass(slots=True)
class MemoryChannel:
    """A channel of a :class:`MemoryDiscord`, with its messages in order."""

    id: int
    guild_id: int
    name: str
    type: int
    position: int
    parent_id: int | None = None
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    messages: dict[int, RawMessage] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    last_message_id: int | None = None  # kept when that message is deleted, as Discord does

    def info(self, *, visible: bool = True) -> ChannelInfo:
        """The channel as the transports list it."""
        return ChannelInfo(
            id=self.id,
            name=self.name,
            type=self.type,
            parent_id=self.parent_id,
            topic=self.topic,
            position=self.position,
            last_message_id=self.last_message_id,
            visible=visible,
        )


class MemoryDiscord:
    """The shared state of :class:`MemoryTransport` instances.

    Guilds, channels, messages, attachment bytes and bots.

    Args:
        guilds: names of the guilds to create.
        default_channels: give each new guild Discord's ``Text Channels``
            category and ``#general`` (as the local server does).
    """

    def __init__(self, guilds: Sequence[str] = ("discobase",), *, default_channels: bool = True) -> None:
        self.ids = SnowflakeGenerator(worker=2)
        self.default_channels = default_channels
        self.guilds: dict[int, MemoryGuild] = {}
        self.channels: dict[int, MemoryChannel] = {}
        self.files: dict[int, bytes] = {}
        #: ``(bot user id, nonce)`` -> the message its first send stored (``enforce_nonce``).
        self.nonces: dict[tuple[int, str], int] = {}
        self.bots: dict[str, MemoryBot] = {}
        self.transports: list[MemoryTransport] = []
        for name in guilds:
            self.create_guild(name)

    # ------------------------------------------------------------------ set-up
    def create_guild(self, name: str) -> int:
        """Create a guild (owned by a person, not by a bot) and return its id."""
        guild = MemoryGuild(self.ids.next(), name, owner_id=self.ids.next())
        self.guilds[guild.id] = guild
        if self.default_channels:
            category = MemoryChannel(self.ids.next(), guild.id, "Text Channels", 4, position=0)
            general = MemoryChannel(
                self.ids.next(), guild.id, "general", 0, position=0, parent_id=category.id
            )
            self.channels[category.id] = category
            self.channels[general.id] = general
        return guild.id

    def guild_id(self, name: str) -> int:
        """The id of the (first) guild named ``name``."""
        for guild in self.guilds.values():
            if guild.name == name:
                return guild.id
        raise KeyError(name)

    def create_bot(self, name: str, *, permissions: int = DEFAULT_BOT_PERMISSIONS) -> MemoryBot:
        """A bot that is a member of every guild with ``permissions`` (guild-wide)."""
        if name in self.bots:
            raise ValueError(f"there is already a bot named {name!r}")
        bot = MemoryBot(
            name=name,
            user_id=self.ids.next(),
            application_id=self.ids.next(),
            role_id=self.ids.next(),
            token=secrets.token_urlsafe(24),
            permissions=permissions,
        )
        self.bots[name] = bot
        return bot

    def bot(self, name: str) -> MemoryBot:
        """The bot named ``name``, created with the default permissions if needed."""
        return self.bots.get(name) or self.create_bot(name)

    # ------------------------------------------------------------------ permissions
    def permissions(self, bot: MemoryBot, channel: MemoryChannel | None, guild_id: int) -> int:
        """Discord's permission computation for ``bot`` in ``channel`` (or the guild)."""
        guild = self.guilds[guild_id]
        return compute_permissions(
            user_id=bot.user_id,
            owner_id=guild.owner_id,
            guild_id=guild_id,
            role_permissions={guild_id: guild.everyone, bot.role_id: bot.permissions},
            member_roles=[bot.role_id],
            overwrites=channel.overwrites if channel is not None else (),
        )

    def can_see(self, bot: MemoryBot, channel: MemoryChannel) -> bool:
        return bool(self.permissions(bot, channel, channel.guild_id) & Perm.VIEW_CHANNEL)

    # ------------------------------------------------------------------ events
    def dispatch(self, channel: MemoryChannel, event: MessageEvent) -> None:
        """Queue ``event`` for every connected transport whose bot can see ``channel``."""
        for transport in self.transports:
            if not transport.gateway_down and self.can_see(transport.bot, channel):
                transport.pump.put(event)
