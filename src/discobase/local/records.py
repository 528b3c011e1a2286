"""The local server's records: accounts, guilds, roles, members, channels, messages and more.

Plain dataclasses the :class:`~discobase.local.store.Store` keeps, and their JSON form in its
SQLite file (a bot's plain token is never part of it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from discobase._discord.permissions import Overwrite
from discobase._discord.snowflakes import iso_timestamp
from discobase.exceptions import LocalServerError

__all__ = [
    "Attachment",
    "BotAccount",
    "Channel",
    "Command",
    "Grant",
    "Guild",
    "Invite",
    "Member",
    "Message",
    "Role",
    "bot_discriminator",
    "dump_bot",
    "dump_message",
    "dump_record",
    "hash_token",
    "load_channel",
    "load_message",
    "make_token",
]


@dataclass(slots=True)
class BotAccount:
    """A bot user of the local server and its application.

    ``token_hash`` is the SHA-256 digest of the bot's token, which is all the data
    file keeps. ``issued_token`` is the token itself, known only in the process that
    made it (:meth:`LocalDiscord.create_bot <discobase.local.LocalDiscord.create_bot>`
    or :meth:`~discobase.local.LocalDiscord.reset_token`) and ``None`` after a restart.
    """

    user_id: int
    application_id: int
    name: str
    token_hash: str
    discriminator: str = "0000"
    avatar: str | None = None
    owner_id: int = 0
    issued_token: str | None = field(default=None, repr=False, compare=False)
    #: ``False`` for a person (:meth:`LocalDiscord.create_user <discobase.local.LocalDiscord.create_user>`):
    #: a user on Discord's new name system (discriminator ``"0"``, a ``global_name``), whose
    #: token is sent without the ``Bot`` prefix and who has no application.
    bot: bool = True
    global_name: str | None = None

    @property
    def id(self) -> int:
        return self.user_id

    @property
    def token(self) -> str:
        """The bot's token, as shown once when it was made.

        Raises :class:`~discobase.exceptions.LocalServerError` when this process did
        not make it (the data file keeps only its digest): a server restarted on the
        same file still accepts the token, but cannot show it again;
        :meth:`~discobase.local.LocalDiscord.reset_token` makes a new one.
        """
        if self.issued_token is None:
            raise LocalServerError(
                f"the token of bot {self.name!r} was shown when it was made and is not kept; "
                "use LocalDiscord.reset_token(bot) (or 'discobase local serve --reset-token') for a new one"
            )
        return self.issued_token

    def __repr__(self) -> str:  # never show the token
        kind = "BotAccount" if self.bot else "UserAccount"
        return f"{kind}(user_id={self.user_id}, application_id={self.application_id}, name={self.name!r})"


def bot_discriminator(user_id: int) -> str:
    """A bot's four-digit discriminator, never ``"0000"``.

    Bots stay on Discord's legacy ``name#1234`` system while people moved to unique names with
    discriminator ``"0"``
    (https://discord.com/developers/docs/change-log#unique-usernames-on-discord).
    """
    return f"{(user_id >> 22) % 9999 + 1:04d}"


@dataclass(slots=True)
class Guild:
    id: int
    name: str
    owner_id: int
    description: str | None = None
    system_channel_id: int | None = None
    preferred_locale: str = "en-US"


@dataclass(slots=True)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None


@dataclass(slots=True)
class Member:
    guild_id: int
    user_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: str = ""
    nick: str | None = None
    communication_disabled_until: str | None = None


@dataclass(slots=True)
class Channel:
    id: int
    guild_id: int
    type: int
    name: str
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    last_message_id: int | None = None
    last_pin_timestamp: str | None = None
    flags: int = 0
    bitrate: int | None = None
    user_limit: int | None = None
    #: The two users of a DM channel (type 1), whose ``guild_id`` is 0.
    recipients: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Attachment:
    """Attachment metadata (its bytes are in the attachments table)."""

    id: int
    filename: str
    size: int
    content_type: str | None = None
    description: str | None = None
    flags: int = 0


@dataclass(slots=True)
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    components: list[Any] = field(default_factory=list)
    edited_timestamp: str | None = None
    pinned: bool = False
    pinned_at: str | None = None
    tts: bool = False
    flags: int = 0
    type: int = 0
    nonce: str | int | None = None
    mention_everyone: bool = False
    mentions: list[int] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    message_reference: dict[str, Any] | None = None
    #: ``[{"emoji": {"id": str | None, "name": str}, "users": [user ids in order]}]``
    reactions: list[dict[str, Any]] = field(default_factory=list)
    #: For a response to an interaction: its ``interaction_metadata``, the application and
    #: the webhook (the application's id) that sent it.
    interaction_metadata: dict[str, Any] | None = None
    application_id: int | None = None
    webhook_id: int | None = None

    @property
    def timestamp(self) -> str:
        return iso_timestamp(self.id)


@dataclass(slots=True)
class Command:
    id: int
    application_id: int
    guild_id: int | None
    data: dict[str, Any]
    version: int = 0


@dataclass(slots=True)
class Grant:
    """An OAuth2 access token a person gave an application (sent as ``Bearer <token>``).

    Only the token's SHA-256 digest is kept, as for bot tokens; ``scopes`` are what the
    person authorized (e.g. ``applications.commands.permissions.update``).
    """

    token_hash: str
    user_id: int
    application_id: int
    scopes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Invite:
    code: str
    guild_id: int
    channel_id: int
    inviter_id: int
    max_age: int = 86400
    max_uses: int = 0
    temporary: bool = False
    uses: int = 0
    created_at: str = ""


def dump_record(obj: Any) -> str:
    """A record as compact JSON."""
    return json.dumps(asdict(obj), separators=(",", ":"))


def dump_bot(bot: BotAccount) -> str:
    """A bot account as compact JSON, without its plain token."""
    data = asdict(bot)
    del data["issued_token"]  # never written: the file keeps the digest only
    return json.dumps(data, separators=(",", ":"))


def load_channel(data: dict[str, Any]) -> Channel:
    """A channel from its JSON object."""
    data["overwrites"] = [Overwrite(**ow) for ow in data.get("overwrites", [])]
    return Channel(**data)


def load_message(channel_id: int, author_id: int, data: dict[str, Any]) -> Message:
    """A message from its JSON object and the ids kept in their own columns."""
    data["attachments"] = [Attachment(**a) for a in data.get("attachments", [])]
    return Message(channel_id=channel_id, author_id=author_id, **data)


def dump_message(message: Message) -> str:
    """A message as compact JSON, without the ids kept in their own columns."""
    data = asdict(message)
    del data["channel_id"], data["author_id"]
    return json.dumps(data, separators=(",", ":"))


def make_token(user_id: int) -> str:
    """A token shaped like Discord's: base64(user id) . timestamp . HMAC-like secret."""
    head = base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    stamp = base64.urlsafe_b64encode(int(time.time()).to_bytes(4, "big")).decode().rstrip("=")
    return f"{head}.{stamp}.{secrets.token_urlsafe(27)}"


def hash_token(token: str) -> str:
    """The SHA-256 digest (hex) under which a token is stored and looked up.

    A token carries 216 random bits, so an unsalted digest cannot be reversed by
    guessing; a salt or a slow hash would only matter for low-entropy secrets.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
