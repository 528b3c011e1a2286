"""discord.py's errors as discobase errors: refused logins, failed gateways and HTTP errors."""

from __future__ import annotations

import discord

from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseUnavailableError,
    DiscobaseError,
    GuildNotFoundError,
    LoginError,
    NotConnectedError,
)
from discobase.storage.discord_rules import ROUTE_GUILD_CHANNELS, invite_url, missing_permissions

__all__ = ["GUILD_ROUTES", "LOGIN_CLOSE_CODES", "gateway_error", "http_error"]

#: Close codes of the gateway that mean the bot cannot log in at all.
LOGIN_CLOSE_CODES = {
    4004: "authentication failed (bad token)",
    4013: "invalid intents",
    4014: "disallowed intents",
}
#: The routes whose 404 or "Missing Access" means the bot is not in the guild.
GUILD_ROUTES = ("GET " + ROUTE_GUILD_CHANNELS, "POST " + ROUTE_GUILD_CHANNELS)


def gateway_error(error: BaseException | None) -> DiscobaseError:
    """The discobase error for a gateway task that ended before READY."""
    if error is None:
        return NotConnectedError("the Discord gateway connection closed before it was ready")
    if isinstance(error, discord.PrivilegedIntentsRequired):
        message = (
            "Discord refused the gateway session: the bot asks for privileged intents "
            "(message content, members, presences) that are not enabled in the Developer Portal"
        )
        return _chain(LoginError(message), error)
    if isinstance(error, discord.ConnectionClosed) and error.code in LOGIN_CLOSE_CODES:
        reason = LOGIN_CLOSE_CODES[error.code]
        return _chain(LoginError(f"Discord refused the gateway session: {error.code} {reason}"), error)
    if isinstance(error, discord.LoginFailure):
        return _chain(LoginError("Discord rejected the bot token on the gateway"), error)
    return _chain(
        NotConnectedError(f"the Discord gateway connection failed: {type(error).__name__}: {error}"),
        error,
    )


def http_error(
    error: discord.HTTPException,
    *,
    route: str,
    channel: int | None,
    permission: str,
    guild_id: int | None,
    application_id: int | None,
) -> DiscobaseError:
    """The discobase error for an HTTP error of ``route``, with the channel and route in its context."""
    code = error.code
    if route in GUILD_ROUTES and (code == 10004 or (isinstance(error, discord.Forbidden) and code == 50001)):
        url = invite_url(application_id) if application_id is not None else None
        hint = f"; add it with {url}" if url else ""
        return GuildNotFoundError(
            f"the bot is not a member of guild {guild_id}{hint}",
            guild_id=guild_id,
            invite_url=url,
            route=route,
        )
    if isinstance(error, discord.Forbidden):
        if code == 50001:
            return missing_permissions(
                "View Channel", route=route, channel=channel, application_id=application_id
            )
        if code == 50013:
            return missing_permissions(
                permission or "needed", route=route, channel=channel, application_id=application_id
            )
        if code == 50005:
            return DatabaseStorageError(
                "cannot edit a message another user wrote", channel=channel, route=route
            )
    if isinstance(error, discord.NotFound):
        what = {10003: "channel", 10008: "message"}.get(code, "resource")
        return DatabaseLookupError(
            f"the {what} does not exist (404, code {code}): {error.text}", channel=channel, route=route
        )
    kind = DatabaseUnavailableError if error.status >= 500 else DatabaseStorageError
    return kind(
        f"Discord answered {error.status} (code {code}): {error.text or error.response.reason}",
        channel=channel,
        route=route,
    )


def _chain(error: DiscobaseError, cause: BaseException) -> DiscobaseError:
    """``error`` with ``cause`` as its ``__cause__``."""
    error.__cause__ = cause
    return error
