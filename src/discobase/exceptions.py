"""The exception tree of discobase: one root, :class:`DiscobaseError`.

Every error carries the context it happened in (table, field, record,
channel, route) so that its message says what happened and where.
"""

from __future__ import annotations

__all__ = [
    "AlreadyConnectedError",
    "DatabaseCorruptionError",
    "DatabaseKeyError",
    "DatabaseLookupError",
    "DatabaseStorageError",
    "DatabaseTableError",
    "DatabaseUnavailableError",
    "DatabaseVersionError",
    "DiscobaseError",
    "GuildNotFoundError",
    "InvalidRecordError",
    "LocalServerError",
    "LoginError",
    "MigrationError",
    "MissingPermissionsError",
    "NotConnectedError",
    "QueryError",
    "UniqueViolationError",
]


class DiscobaseError(Exception):
    """Root of every exception raised by discobase.

    Keyword arguments name the context of the error; those that are given are
    appended to the message, e.g. ``... (table='users', channel=123)``.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        field: str | None = None,
        channel: int | str | None = None,
        route: str | None = None,
        record: int | None = None,
    ) -> None:
        self.message = message
        self.table = table
        self.field = field
        self.record = record
        """The id of the record concerned (``record_id``), when there is one."""
        self.channel = channel
        self.route = route
        super().__init__(message)

    @property
    def context(self) -> dict[str, object]:
        """The context items that are set, in a stable order."""
        items = {
            "table": self.table,
            "field": self.field,
            "record": self.record,
            "channel": self.channel,
            "route": self.route,
        }
        return {key: value for key, value in items.items() if value is not None}

    def __str__(self) -> str:
        context = self.context
        if not context:
            return self.message
        details = ", ".join(f"{key}={value!r}" for key, value in context.items())
        return f"{self.message} ({details})"


class LocalServerError(DiscobaseError):
    """The local Discord-compatible server could not do what was asked.

    A bad configuration, an unknown bot or guild, a server not started."""


class DatabaseCorruptionError(DiscobaseError):
    """The database was corrupted somehow."""


class InvalidRecordError(DatabaseCorruptionError):
    """A stored record that the model no longer accepts.

    E.g. a validator added after it was written rejects it. Reads skip it and
    list this error in ``Database.problems``; :attr:`record` is its id and
    :attr:`field` the first field that failed."""


class DatabaseLookupError(DiscobaseError):
    """Something went wrong with an entry lookup."""


class DatabaseStorageError(DiscobaseError):
    """Failed to store something in the database."""


class DatabaseUnavailableError(DatabaseStorageError):
    """Discord could not be reached, or answered with a server error (5xx).

    The request may or may not have taken effect. discobase retries such writes
    with the same nonce, so a write that did land is not stored twice."""


class DatabaseKeyError(DiscobaseError):
    """The key given does not open this database.

    A wrong key, or no key for an encrypted database. Raised at open, before
    anything is read or written."""


class DatabaseTableError(DiscobaseError):
    """Something is wrong with a Table type."""


class NotConnectedError(DiscobaseError):
    """The database is not connected."""


class AlreadyConnectedError(DiscobaseError, RuntimeError):
    """The database is already connected (or connecting).

    ``conn()`` or ``login()`` was called again before the open connection was
    closed. It is a ``RuntimeError`` too, which is what 1.0.0's ``login()`` raised."""


class LoginError(NotConnectedError):
    """The bot could not log in.

    Discord rejected its token, or the gateway refused the session (e.g.
    privileged intents that are not enabled)."""


class GuildNotFoundError(DatabaseLookupError):
    """The bot is not a member of the guild the database lives in (or it does not exist).

    :attr:`invite_url`, when known, is the OAuth2 URL that adds the bot to a guild.
    """

    def __init__(
        self,
        message: str,
        *,
        guild_name: str | None = None,
        guild_id: int | None = None,
        invite_url: str | None = None,
        table: str | None = None,
        field: str | None = None,
        channel: int | str | None = None,
        route: str | None = None,
    ) -> None:
        self.guild_name = guild_name
        self.guild_id = guild_id
        self.invite_url = invite_url
        super().__init__(message, table=table, field=field, channel=channel, route=route)


class MissingPermissionsError(DatabaseStorageError):
    """The bot lacks a permission.

    :attr:`permission` names it as Discord's client does (e.g. ``"Manage Messages"``)."""

    def __init__(
        self,
        message: str,
        *,
        permission: str,
        table: str | None = None,
        field: str | None = None,
        channel: int | str | None = None,
        route: str | None = None,
    ) -> None:
        self.permission = permission
        super().__init__(message, table=table, field=field, channel=channel, route=route)


class QueryError(DatabaseLookupError):
    """A query is malformed.

    An unknown field, a value of the wrong type for its field, or an operation
    the field's type does not support."""


class UniqueViolationError(DatabaseStorageError):
    """A write would give two records the same value of a unique field (or fields).

    :attr:`fields` and :attr:`value` name them."""

    def __init__(
        self,
        message: str,
        *,
        fields: tuple[str, ...] = (),
        value: object = None,
        table: str | None = None,
        channel: int | str | None = None,
    ) -> None:
        self.fields = fields
        self.value = value
        super().__init__(message, table=table, field=",".join(fields) or None, channel=channel)


class MigrationError(DiscobaseError):
    """A migration (or an ``on_init`` function) raised; the cause is chained.

    The database is FAILED, and the migration is not recorded as applied: fix
    it and open again to resume from it."""


class DatabaseVersionError(DiscobaseError):
    """The stored database version is newer than the program's.

    Opening it could lose data written by the newer program, so it is refused."""
