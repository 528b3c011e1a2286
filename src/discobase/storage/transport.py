"""The Transport protocol: everything discobase needs from Discord, and nothing more.

The ORM (the engine and the database) speaks only this protocol. Two implementations:

- :class:`~discobase.storage.discord_transport.DiscordTransport` on discord.py
  (real Discord, or the local server);
- :class:`~discobase.storage.memory.MemoryTransport`, in memory, for fast unit
  tests, with the same semantics (ids, ordering, limits, events).

All ids are ints (snowflakes). Message lists are **oldest first**.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from discobase._discord.limits import (
    CONTENT_LIMIT,
    FILES_PER_MESSAGE,
    HISTORY_PAGE,
    MESSAGE_FILES_LIMIT,
    UPLOAD_LIMIT,
)

__all__ = [
    "CONTENT_LIMIT",
    "FILES_PER_MESSAGE",
    "HISTORY_PAGE",
    "MESSAGE_FILES_LIMIT",
    "UPLOAD_LIMIT",
    "ChannelInfo",
    "FileData",
    "GuildInfo",
    "GuildLike",
    "MessageEvent",
    "MessageListener",
    "RawAttachment",
    "RawMessage",
    "Transport",
]


@dataclass(frozen=True, slots=True)
class GuildInfo:
    id: int
    name: str


class GuildLike(Protocol):
    """What the ORM reads of a guild: a :class:`GuildInfo` or a ``discord.Guild``.

    A ``discord.Guild`` is the type of ``Database.guild`` on discord.py.
    """

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A guild channel as discobase sees it (``type`` 0 = text, 4 = category)."""

    id: int
    name: str
    type: int
    parent_id: int | None = None
    topic: str | None = None
    position: int = 0
    #: The newest message ever sent in the channel (Discord keeps it after that
    #: message is deleted); ``None``: no message was ever sent.
    last_message_id: int | None = None
    #: Whether the bot may view the channel (only channels listed with
    #: ``hidden=True`` can be ``False``).
    visible: bool = True


@dataclass(frozen=True, slots=True)
class FileData:
    """A file to upload."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RawAttachment:
    id: int
    filename: str
    size: int
    url: str


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message as stored: content plus attachment references (bytes are read on demand)."""

    id: int
    channel_id: int
    author_id: int
    content: str
    attachments: tuple[RawAttachment, ...] = ()
    edited: bool = False


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A gateway event on a message: ``create`` and ``update`` carry the message.

    Three kinds carry no message (channel 0) and tell how complete the stream
    of events is: ``gap`` — the gateway connection was lost, events may be
    missing from here on; ``resumed`` — it resumed, and the events missed were
    replayed; ``session`` — a new session began that did not resume the
    previous one: events sent in between are lost, and whoever keeps state from
    events reads the channels' history again.
    """

    kind: Literal["create", "update", "delete", "gap", "resumed", "session"]
    channel_id: int
    message_ids: tuple[int, ...]
    message: RawMessage | None = None
    extra: dict[str, object] = field(default_factory=dict)


MessageListener = Callable[[MessageEvent], Awaitable[None] | None]


@runtime_checkable
class Transport(Protocol):
    """What discobase needs from Discord.

    Implementations raise :class:`~discobase.exceptions.DatabaseStorageError` (with channel and
    route in its context) for failures that retrying will not fix.
    """

    @property
    def user_id(self) -> int:
        """The bot's user id (after :meth:`connect`)."""
        ...

    @property
    def application_id(self) -> int:
        """The bot's application id (after :meth:`connect`)."""
        ...

    async def connect(self) -> None:
        """Log in and wait until the guild list is known."""
        ...

    async def close(self) -> None: ...

    async def guilds(self) -> list[GuildInfo]:
        """Guilds the bot is a member of."""
        ...

    async def channels(self, guild_id: int, *, hidden: bool = False) -> list[ChannelInfo]:
        """Channels of a guild the bot can see; with ``hidden``, the others too.

        A hidden channel has ``visible=False``: its name and place, not its messages.
        """
        ...

    async def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,
        parent_id: int | None = None,
        topic: str | None = None,
        private: bool = False,
    ) -> ChannelInfo:
        """Create a channel; ``private`` hides it from @everyone (the bot keeps access)."""
        ...

    async def edit_channel(
        self, channel_id: int, *, topic: str | None = None, name: str | None = None
    ) -> None: ...

    async def delete_channel(self, channel_id: int) -> None:
        """Delete a channel; a channel that is already gone is not an error."""
        ...

    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        """Post a message; a second send with the same ``nonce`` returns the first message.

        With ``nonce`` (at most 25 characters), a second send with the same nonce by the same
        bot within a few minutes returns the first message instead of posting another (Discord's
        ``enforce_nonce``). Raises :class:`~discobase.exceptions.DatabaseUnavailableError` when
        the outcome is unknown (network error, 5xx).
        """
        ...

    async def edit(
        self,
        channel_id: int,
        message_id: int,
        content: str,
        files: Sequence[FileData] = (),
        keep_attachments: Sequence[int] = (),
    ) -> RawMessage:
        """Replace a message's content; attachments not in ``keep_attachments`` are removed."""
        ...

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        """Delete messages (bulk where Discord allows it); missing ones are ignored."""
        ...

    async def fetch(self, channel_id: int, message_id: int) -> RawMessage | None: ...

    async def history(
        self,
        channel_id: int,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = HISTORY_PAGE,
    ) -> list[RawMessage]:
        """One page of a channel's messages, **oldest first**.

        The ``limit`` oldest messages after ``after``, or the ``limit`` newest before ``before``
        (or newest overall).
        """
        ...

    async def read_attachment(self, attachment: RawAttachment) -> bytes: ...

    def subscribe(self, handler: MessageListener) -> None:
        """Receive message events of every channel (the caller filters)."""
        ...
