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

from discobase._discord.channels import CREATABLE_CHANNEL_TYPES, normalize_channel_name
from discobase._discord.limits import MAX_CHANNELS_PER_CATEGORY, MAX_CHANNELS_PER_GUILD, MAX_TOPIC
from discobase._discord.permissions import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    compute_permissions,
)
from discobase._discord.snowflakes import SnowflakeGenerator
from discobase.exceptions import DatabaseStorageError
from discobase.storage.discord_rules import Perm, missing_permissions
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

    def new_channel(
        self,
        bot: MemoryBot,
        guild_id: int,
        name: str,
        *,
        type: int,
        parent_id: int | None,
        topic: str | None,
        private: bool,
        route: str,
    ) -> MemoryChannel:
        """Create a channel as ``bot`` after Discord's checks, or raise what Discord answers.

        Checks the bot's permissions, the type, the name and topic lengths, the guild's and
        the category's channel caps and the parent; a private channel is hidden from
        @everyone, another one under a category takes the category's overwrites.
        """
        perms = self.permissions(bot, None, guild_id)
        needed = Perm.MANAGE_CHANNELS | (Perm.MANAGE_ROLES if private else 0)
        if perms & needed != needed:
            permission = "Manage Channels and Manage Roles" if private else "Manage Channels"
            raise missing_permissions(
                permission, route=route, channel=None, application_id=bot.application_id
            )
        if type not in CREATABLE_CHANNEL_TYPES:
            raise DatabaseStorageError(f"invalid channel type {type}", route=route)
        if not 1 <= len(name) <= 100:
            raise DatabaseStorageError("a channel name must be 1 to 100 characters", route=route)
        if topic is not None and len(topic) > MAX_TOPIC:
            raise DatabaseStorageError(f"a channel topic must be at most {MAX_TOPIC} characters", route=route)
        existing = [c for c in self.channels.values() if c.guild_id == guild_id]
        if len(existing) >= MAX_CHANNELS_PER_GUILD:
            raise DatabaseStorageError(
                f"Maximum number of server channels reached ({MAX_CHANNELS_PER_GUILD})", route=route
            )
        overwrites: list[Overwrite] = []
        if private:
            overwrites = [
                Overwrite(guild_id, 0, 0, Perm.VIEW_CHANNEL),
                Overwrite(bot.user_id, 1, Perm.PRIVATE_ALLOW, 0),
            ]
        if parent_id is not None:
            parent = self.channels.get(parent_id)
            if parent is None or parent.guild_id != guild_id or parent.type != 4 or type == 4:
                raise DatabaseStorageError(f"invalid parent channel {parent_id}", route=route)
            if sum(1 for c in existing if c.parent_id == parent_id) >= MAX_CHANNELS_PER_CATEGORY:
                raise DatabaseStorageError(
                    f"Maximum number of channels in category reached ({MAX_CHANNELS_PER_CATEGORY})",
                    route=route,
                )
            if not private:
                overwrites = list(parent.overwrites)  # a new channel is synced with its category
        channel = MemoryChannel(
            id=self.ids.next(),
            guild_id=guild_id,
            name=normalize_channel_name(name, type),
            type=type,
            position=len(existing),
            parent_id=parent_id,
            topic=topic,
            overwrites=overwrites,
        )
        self.channels[channel.id] = channel
        return channel

    def can_see(self, bot: MemoryBot, channel: MemoryChannel) -> bool:
        return bool(self.permissions(bot, channel, channel.guild_id) & Perm.VIEW_CHANNEL)

    # ------------------------------------------------------------------ events
    def dispatch(self, channel: MemoryChannel, event: MessageEvent) -> None:
        """Queue ``event`` for every connected transport whose bot can see ``channel``."""
        for transport in self.transports:
            if not transport.gateway_down and self.can_see(transport.bot, channel):
                transport.pump.put(event)
