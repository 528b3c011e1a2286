"""The exception tree of discobase: one root, :class:`DiscobaseError`.

Every error carries the context it happened in (table, field, channel, route)
so that its message says what happened and where.
"""

from __future__ import annotations

__all__ = ["DiscobaseError", "LocalServerError"]


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
    ) -> None:
        self.message = message
        self.table = table
        self.field = field
        self.channel = channel
        self.route = route
        super().__init__(message)

    @property
    def context(self) -> dict[str, object]:
        """The context items that are set, in a stable order."""
        items = {"table": self.table, "field": self.field, "channel": self.channel, "route": self.route}
        return {key: value for key, value in items.items() if value is not None}

    def __str__(self) -> str:
        context = self.context
        if not context:
            return self.message
        details = ", ".join(f"{key}={value!r}" for key, value in context.items())
        return f"{self.message} ({details})"


class LocalServerError(DiscobaseError):
    """The local Discord-compatible server could not do what was asked
    (bad configuration, unknown bot or guild, server not started)."""
