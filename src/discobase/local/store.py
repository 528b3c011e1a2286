"""Persistence of the local server: SQLite (a file, or ``:memory:``).

Small, hot objects (bots, guilds, roles, members, channels, commands, invites)
are held in memory and written through to SQLite; messages and attachment
bytes live only in SQLite and are read with indexed queries. Restarting on the
same file restores everything.

The file holds everything a bot stored, so it is created readable by its owner
only (mode 0600; SQLite gives its ``-wal`` and ``-shm`` files the same mode),
and a file found with wider permissions is narrowed to 0600. Bot tokens are
not in it: only their SHA-256 digests are, and a presented token is checked
by hashing it. The plain token exists only in the process that made it (see
:attr:`BotAccount.token`); a data file written by an older version with plain
tokens is rewritten with digests when it is opened.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from discobase._discord.permissions import DEFAULT_EVERYONE_PERMISSIONS
from discobase._discord.snowflakes import SnowflakeGenerator
from discobase.local.records import (
    Attachment,
    BotAccount,
    Channel,
    Command,
    Grant,
    Guild,
    Invite,
    Member,
    Message,
    Role,
    bot_discriminator,
    dump_bot,
    dump_message,
    dump_record,
    hash_token,
    load_channel,
    load_message,
    make_token,
)

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
    "Store",
    "bot_discriminator",
    "hash_token",
    "make_token",
]

#: Seconds a nonce is remembered (Discord dedupes ``enforce_nonce`` creates "in
#: the past few minutes"; the create route applies that window itself).
NONCE_MEMORY = 3600.0

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bots (user_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS guilds (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roles (id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id));
CREATE TABLE IF NOT EXISTS channels (id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS invites (code TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS command_permissions (
    application_id INTEGER NOT NULL, guild_id INTEGER NOT NULL, command_id INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (application_id, guild_id, command_id));
CREATE TABLE IF NOT EXISTS grants (token_hash TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (
    user_id INTEGER NOT NULL, nonce TEXT NOT NULL, channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (user_id, nonce)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL, author_id INTEGER NOT NULL,
    pinned_at TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel_id, id);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL, channel_id INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_by_message ON attachments (message_id);
"""


def _database_path(path: object) -> str:
    """``path`` as the string SQLite opens; refuses anything but a ``str`` or ``os.PathLike``."""
    if isinstance(path, str):
        text = path
    elif isinstance(path, os.PathLike):
        fspath = os.fspath(path)
        if not isinstance(fspath, str):
            raise TypeError(f"the data path must be a str or a str os.PathLike, not bytes: {fspath!r}")
        text = fspath
    else:
        raise TypeError(
            "the data path must be a file path (str or os.PathLike) or ':memory:', "
            f"not {type(path).__name__}: {path!r}"
        )
    if not text or "\0" in text:
        raise ValueError(f"the data path must be a file path or ':memory:', not {text!r}")
    return text


def _create_private(path: str) -> None:
    """Create ``path`` (and its directories) readable by its owner only; narrow a wider one to 0600."""
    target = Path(path)
    if not target.parent.exists():
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = os.fstat(fd).st_mode & 0o777
        if mode & 0o077 and os.name == "posix":
            os.fchmod(fd, 0o600)
            logger.info("local server data file {} was readable by others; now mode 0600", path)
    finally:
        os.close(fd)


class Store:
    """All state of one local server, persisted in SQLite.

    ``path`` is a file path (``str`` or ``os.PathLike``) or ``":memory:"``; anything
    else is a :class:`TypeError` (``None`` is not "in memory": pass ``":memory:"``).
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = _database_path(path)
        if self.path != ":memory:":
            _create_private(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.snowflakes = SnowflakeGenerator(worker=1, process=0)
        self.bots: dict[int, BotAccount] = {}
        self._bots_by_token_hash: dict[str, BotAccount] = {}
        self._nonce_writes = 0
        self.guilds: dict[int, Guild] = {}
        self.roles: dict[int, Role] = {}
        self.members: dict[tuple[int, int], Member] = {}
        self.channels: dict[int, Channel] = {}
        self.commands: dict[int, Command] = {}
        self.invites: dict[str, Invite] = {}
        #: ``(application_id, guild_id, command_id) -> [{"id", "type", "permission"}]``; the
        #: application-level set has the application's id as ``command_id``.
        self.command_permissions: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
        self.grants: dict[str, Grant] = {}
        self._load()

    # ------------------------------------------------------------------ lifecycle
    def _load(self) -> None:
        top = 0
        migrated: list[BotAccount] = []
        for (data,) in self._db.execute("SELECT data FROM bots"):
            fields = json.loads(data)
            plain = fields.pop("token", None)
            if plain is not None:  # a file from before tokens were hashed
                fields["token_hash"] = hash_token(plain)
            bot = BotAccount(**fields)
            if bot.bot and bot.discriminator == "0000":  # written before bots got real discriminators
                bot.discriminator = bot_discriminator(bot.user_id)
            if plain is not None:
                bot.issued_token = plain  # read in this process, so it can still be shown once
                migrated.append(bot)
            self.bots[bot.user_id] = bot
            self._bots_by_token_hash[bot.token_hash] = bot
            top = max(top, bot.user_id, bot.application_id)
        for bot in migrated:
            self._db.execute("UPDATE bots SET data = ? WHERE user_id = ?", (dump_bot(bot), bot.user_id))
        if migrated:
            logger.info("replaced {} plain bot token(s) in the data file by their digests", len(migrated))
        self.guilds.update((g.id, g) for g in self._rows("guilds", lambda d: Guild(**d)))
        self.roles.update((r.id, r) for r in self._rows("roles", lambda d: Role(**d)))
        self.members.update(
            ((m.guild_id, m.user_id), m) for m in self._rows("members", lambda d: Member(**d))
        )
        self.channels.update((c.id, c) for c in self._rows("channels", load_channel))
        self.commands.update((c.id, c) for c in self._rows("commands", lambda d: Command(**d)))
        self.invites.update((i.code, i) for i in self._rows("invites", lambda d: Invite(**d)))
        top = max([top, *self.guilds, *self.roles, *self.channels, *self.commands])
        for application_id, guild_id, command_id, data in self._db.execute(
            "SELECT application_id, guild_id, command_id, data FROM command_permissions"
        ):
            self.command_permissions[(application_id, guild_id, command_id)] = json.loads(data)
        self.grants.update((g.token_hash, g) for g in self._rows("grants", lambda d: Grant(**d)))
        for (value,) in self._db.execute(
            "SELECT max(id) FROM messages UNION ALL SELECT max(id) FROM attachments"
        ):
            if value is not None:
                top = max(top, int(value))
        self.snowflakes.bump(top)

    def _rows(self, table: str, load: Callable[[dict[str, Any]], T]) -> list[T]:
        """Every record of ``table``, from its ``data`` column of JSON."""
        return [load(json.loads(data)) for (data,) in self._db.execute(f"SELECT data FROM {table}")]

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes into one SQLite transaction."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def next_id(self) -> int:
        return self.snowflakes.next()

    # ------------------------------------------------------------------ nonces
    def remember_nonce(self, user_id: int, nonce: str, channel_id: int, message_id: int) -> None:
        """Keep which message a create with ``enforce_nonce`` stored, across restarts as on Discord."""
        now = time.time()
        self._db.execute(
            "INSERT OR REPLACE INTO nonces VALUES (?, ?, ?, ?, ?)",
            (user_id, nonce, channel_id, message_id, now),
        )
        self._nonce_writes += 1
        if self._nonce_writes % 1000 == 0:  # forget the old ones now and then
            self._db.execute("DELETE FROM nonces WHERE created < ?", (now - NONCE_MEMORY,))

    def known_nonce(self, user_id: int, nonce: str) -> tuple[int, int, float] | None:
        """``(channel id, message id, unix time)`` of the create that used ``nonce``."""
        row = self._db.execute(
            "SELECT channel_id, message_id, created FROM nonces WHERE user_id = ? AND nonce = ?",
            (user_id, nonce),
        ).fetchone()
        return (int(row[0]), int(row[1]), float(row[2])) if row is not None else None

    # ------------------------------------------------------------------ bots and guilds
    def create_bot(self, name: str) -> BotAccount:
        """A new bot; its token is in :attr:`BotAccount.issued_token` (only its digest is stored)."""
        user_id = self.next_id()
        token = make_token(user_id)
        bot = BotAccount(
            user_id=user_id,
            application_id=user_id,
            name=name,
            token_hash=hash_token(token),
            discriminator=bot_discriminator(user_id),
            issued_token=token,
        )
        self.bots[user_id] = bot
        self._bots_by_token_hash[bot.token_hash] = bot
        self._db.execute("INSERT INTO bots VALUES (?, ?)", (user_id, dump_bot(bot)))
        return bot

    def create_user(self, name: str, global_name: str | None = None) -> BotAccount:
        """A new person (not a bot), discriminator ``"0"``; its token is only in ``issued_token``."""
        user_id = self.next_id()
        token = make_token(user_id)
        user = BotAccount(
            user_id=user_id,
            application_id=0,
            name=name,
            token_hash=hash_token(token),
            discriminator="0",
            issued_token=token,
            bot=False,
            global_name=name if global_name is None else global_name,
        )
        self.bots[user_id] = user
        self._bots_by_token_hash[user.token_hash] = user
        self._db.execute("INSERT INTO bots VALUES (?, ?)", (user_id, dump_bot(user)))
        return user

    def reset_token(self, bot: BotAccount, token: str | None = None) -> str:
        """Give ``bot`` a new token (``token``, or a new one) and return it; the old one stops working."""
        token = token if token is not None else make_token(bot.user_id)
        owner = self._bots_by_token_hash.get(hash_token(token))
        if owner is not None and owner.user_id != bot.user_id:
            raise ValueError("this token belongs to another bot")
        self._bots_by_token_hash.pop(bot.token_hash, None)
        bot.token_hash = hash_token(token)
        bot.issued_token = token
        self._bots_by_token_hash[bot.token_hash] = bot
        self._db.execute("UPDATE bots SET data = ? WHERE user_id = ?", (dump_bot(bot), bot.user_id))
        return token

    def bot_for_token(self, token: str) -> BotAccount | None:
        """The bot whose token is ``token`` (compared by digest), if any."""
        return self._bots_by_token_hash.get(hash_token(token))

    def meta_secret(self, key: str, size: int = 32) -> bytes:
        """A random secret named ``key``, made on first use and kept in the file."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        secret = secrets.token_bytes(size)
        self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, secret.hex()))
        return secret

    def bot_by_name(self, name: str) -> BotAccount | None:
        for bot in self.bots.values():
            if bot.bot and bot.name == name:
                return bot
        return None

    def create_guild(self, name: str, owner_id: int) -> Guild:
        guild = Guild(id=self.next_id(), name=name, owner_id=owner_id)
        everyone = Role(
            id=guild.id, guild_id=guild.id, name="@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS
        )
        with self.transaction():
            self.guilds[guild.id] = guild
            self._db.execute("INSERT INTO guilds VALUES (?, ?)", (guild.id, dump_record(guild)))
            self.save_role(everyone)
        return guild

    def save_guild(self, guild: Guild) -> None:
        self.guilds[guild.id] = guild
        self._db.execute("INSERT OR REPLACE INTO guilds VALUES (?, ?)", (guild.id, dump_record(guild)))

    def guilds_by_name(self, name: str) -> list[Guild]:
        return [guild for guild in self.guilds.values() if guild.name == name]

    def save_role(self, role: Role) -> None:
        self.roles[role.id] = role
        self._db.execute(
            "INSERT OR REPLACE INTO roles VALUES (?, ?, ?)", (role.id, role.guild_id, dump_record(role))
        )

    def guild_roles(self, guild_id: int) -> list[Role]:
        roles = [role for role in self.roles.values() if role.guild_id == guild_id]
        return sorted(roles, key=lambda role: (role.position, role.id))

    def save_member(self, member: Member) -> None:
        self.members[(member.guild_id, member.user_id)] = member
        self._db.execute(
            "INSERT OR REPLACE INTO members VALUES (?, ?, ?)",
            (member.guild_id, member.user_id, dump_record(member)),
        )

    def remove_member(self, guild_id: int, user_id: int) -> None:
        self.members.pop((guild_id, user_id), None)
        self._db.execute("DELETE FROM members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))

    def member(self, guild_id: int, user_id: int) -> Member | None:
        return self.members.get((guild_id, user_id))

    def guild_members(self, guild_id: int) -> list[Member]:
        return [m for (gid, _), m in self.members.items() if gid == guild_id]

    def guilds_of(self, user_id: int) -> list[int]:
        return sorted(gid for (gid, uid) in self.members if uid == user_id)

    # ------------------------------------------------------------------ channels
    def save_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        self._db.execute(
            "INSERT OR REPLACE INTO channels VALUES (?, ?, ?)",
            (channel.id, channel.guild_id, dump_record(channel)),
        )

    def guild_channels(self, guild_id: int) -> list[Channel]:
        channels = [c for c in self.channels.values() if c.guild_id == guild_id]
        return sorted(channels, key=lambda c: (c.position, c.id))

    def dm_channel(self, user_a: int, user_b: int) -> Channel | None:
        """The DM channel between two users, if one was opened."""
        pair = sorted((user_a, user_b))
        for channel in self.channels.values():
            if channel.type == 1 and sorted(channel.recipients) == pair:
                return channel
        return None

    def delete_channel(self, channel_id: int) -> None:
        with self.transaction():
            self.channels.pop(channel_id, None)
            self._db.execute("DELETE FROM channels WHERE id = ?", (channel_id,))
            self._db.execute("DELETE FROM messages WHERE channel_id = ?", (channel_id,))
            self._db.execute("DELETE FROM attachments WHERE channel_id = ?", (channel_id,))

    # ------------------------------------------------------------------ messages
    def insert_message(self, message: Message, files: Iterable[tuple[int, bytes]] = ()) -> None:
        """Store a message and the bytes of its new attachments (``(attachment id, data)``)."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.channel_id,
                    message.author_id,
                    message.pinned_at,
                    dump_message(message),
                ),
            )
            self._store_files(message, files)
            channel = self.channels.get(message.channel_id)
            if channel is not None:
                channel.last_message_id = message.id
                self.save_channel(channel)

    def update_message(
        self, message: Message, files: Iterable[tuple[int, bytes]] = (), removed: Iterable[int] = ()
    ) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE messages SET pinned_at = ?, data = ? WHERE id = ?",
                (message.pinned_at, dump_message(message), message.id),
            )
            self._store_files(message, files)
            for attachment_id in removed:
                self._db.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))

    def _store_files(self, message: Message, files: Iterable[tuple[int, bytes]]) -> None:
        self._db.executemany(
            "INSERT INTO attachments VALUES (?, ?, ?, ?)",
            [(aid, message.id, message.channel_id, data) for aid, data in files],
        )

    def delete_messages(self, channel_id: int, message_ids: Iterable[int]) -> None:
        ids = [(mid, channel_id) for mid in message_ids]
        with self.transaction():
            self._db.executemany("DELETE FROM messages WHERE id = ? AND channel_id = ?", ids)
            self._db.executemany("DELETE FROM attachments WHERE message_id = ? AND channel_id = ?", ids)

    def get_message(self, channel_id: int, message_id: int) -> Message | None:
        row = self._db.execute(
            "SELECT author_id, data FROM messages WHERE id = ? AND channel_id = ?", (message_id, channel_id)
        ).fetchone()
        if row is None:
            return None
        return load_message(channel_id, row[0], json.loads(row[1]))

    def message_exists(self, channel_id: int, message_id: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM messages WHERE id = ? AND channel_id = ?", (message_id, channel_id)
        ).fetchone()
        return row is not None

    def _messages(self, sql: str, params: tuple[Any, ...], channel_id: int) -> list[Message]:
        return [
            load_message(channel_id, author, json.loads(data))
            for author, data in self._db.execute(sql, params)
        ]

    def history(
        self,
        channel_id: int,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
    ) -> list[Message]:
        """Messages newest first, as ``GET /channels/{id}/messages`` returns them.

        ``after`` gives the ``limit`` oldest messages after the anchor (still
        newest first). ``around`` gives ``limit // 2`` messages on each side of
        the anchor plus the anchor itself when it exists, so an even ``limit``
        can give ``limit + 1`` messages (as discord.py documents of Discord).
        """
        base = "SELECT author_id, data FROM messages WHERE channel_id = ?"
        if around is not None:
            half = limit // 2
            newer = self._messages(
                base + " AND id > ? ORDER BY id ASC LIMIT ?", (channel_id, around, half), channel_id
            )
            anchor = self._messages(base + " AND id = ?", (channel_id, around), channel_id)
            older = self._messages(
                base + " AND id < ? ORDER BY id DESC LIMIT ?", (channel_id, around, half), channel_id
            )
            return newer[::-1] + anchor + older
        if after is not None:
            rows = self._messages(
                base + " AND id > ? ORDER BY id ASC LIMIT ?", (channel_id, after, limit), channel_id
            )
            return rows[::-1]
        if before is not None:
            return self._messages(
                base + " AND id < ? ORDER BY id DESC LIMIT ?", (channel_id, before, limit), channel_id
            )
        return self._messages(base + " ORDER BY id DESC LIMIT ?", (channel_id, limit), channel_id)

    def pinned(self, channel_id: int, *, before: str | None, limit: int) -> list[Message]:
        """Pinned messages, most recently pinned first."""
        sql = "SELECT author_id, data FROM messages WHERE channel_id = ? AND pinned_at IS NOT NULL"
        params: tuple[Any, ...] = (channel_id,)
        if before is not None:
            sql += " AND pinned_at < ?"
            params += (before,)
        sql += " ORDER BY pinned_at DESC, id DESC LIMIT ?"
        return self._messages(sql, (*params, limit), channel_id)

    def pin_count(self, channel_id: int) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM messages WHERE channel_id = ? AND pinned_at IS NOT NULL", (channel_id,)
        ).fetchone()
        return int(row[0])

    def message_count(self, channel_id: int | None = None) -> int:
        if channel_id is None:
            row = self._db.execute("SELECT count(*) FROM messages").fetchone()
        else:
            row = self._db.execute(
                "SELECT count(*) FROM messages WHERE channel_id = ?", (channel_id,)
            ).fetchone()
        return int(row[0])

    def attachment_data(self, channel_id: int, attachment_id: int) -> bytes | None:
        row = self._db.execute(
            "SELECT data FROM attachments WHERE id = ? AND channel_id = ?", (attachment_id, channel_id)
        ).fetchone()
        return None if row is None else bytes(row[0])

    # ------------------------------------------------------------------ commands and invites
    def save_command(self, command: Command) -> None:
        self.commands[command.id] = command
        self._db.execute("INSERT OR REPLACE INTO commands VALUES (?, ?)", (command.id, dump_record(command)))

    def replace_commands(self, application_id: int, guild_id: int | None, commands: list[Command]) -> None:
        """Make ``commands`` the application's commands of one scope (dropped ones lose their overwrites)."""
        kept = {command.id for command in commands}
        with self.transaction():
            for old in self.list_commands(application_id, guild_id):
                del self.commands[old.id]
                self._db.execute("DELETE FROM commands WHERE id = ?", (old.id,))
                if old.id not in kept:
                    for key in [
                        k for k in self.command_permissions if k[0] == application_id and k[2] == old.id
                    ]:
                        del self.command_permissions[key]
                    self._db.execute(
                        "DELETE FROM command_permissions WHERE application_id = ? AND command_id = ?",
                        (application_id, old.id),
                    )
            for command in commands:
                self.save_command(command)

    def set_command_permissions(
        self, application_id: int, guild_id: int, command_id: int, permissions: list[dict[str, Any]]
    ) -> None:
        """Replace the permission overwrites of one command in a guild.

        With the application's id as ``command_id``, those of the whole application; an empty
        list removes the set.
        """
        key = (application_id, guild_id, command_id)
        if not permissions:
            self.command_permissions.pop(key, None)
            self._db.execute(
                "DELETE FROM command_permissions"
                " WHERE application_id = ? AND guild_id = ? AND command_id = ?",
                key,
            )
            return
        self.command_permissions[key] = permissions
        self._db.execute(
            "INSERT OR REPLACE INTO command_permissions VALUES (?, ?, ?, ?)",
            (*key, json.dumps(permissions, separators=(",", ":"))),
        )

    def save_grant(self, grant: Grant) -> None:
        self.grants[grant.token_hash] = grant
        self._db.execute(
            "INSERT OR REPLACE INTO grants VALUES (?, ?)", (grant.token_hash, dump_record(grant))
        )

    def grant_for_token(self, token: str) -> Grant | None:
        """The OAuth2 grant whose access token is ``token`` (compared by digest), if any."""
        return self.grants.get(hash_token(token))

    def list_commands(self, application_id: int, guild_id: int | None) -> list[Command]:
        return [
            c for c in self.commands.values() if c.application_id == application_id and c.guild_id == guild_id
        ]

    def save_invite(self, invite: Invite) -> None:
        self.invites[invite.code] = invite
        self._db.execute("INSERT OR REPLACE INTO invites VALUES (?, ?)", (invite.code, dump_record(invite)))
