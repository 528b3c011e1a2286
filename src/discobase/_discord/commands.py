"""Who may use an application command in a guild: Discord's rules, as pure functions.

Two things decide it (https://discord.com/developers/docs/interactions/application-commands#permissions
and the change log of 2022-04-27, "Updated Command Permissions"):

* the command's ``default_member_permissions``: the permission bits a member must have
  (``None``: everyone; ``"0"``: nobody but administrators);
* the permission overwrites a guild's admins set (through the client or an app holding a
  Bearer token): ``{id, type, permission}`` entries for a role (1), a user (2) or a channel
  (3), either on one command or on the whole application (the set whose ``id`` is the
  application's id). ``id == guild_id`` means @everyone, ``id == guild_id - 1`` every channel.

Members with ADMINISTRATOR may use every command. Otherwise the channel must not be
disabled (the command's own channel entries first, then the application's), and the member
must be allowed: the command's own user, role and @everyone entries decide when any of them
applies (they override ``default_member_permissions``); otherwise an application-level entry
that denies refuses, and ``default_member_permissions`` must still be met.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from .permissions import ALL_PERMISSIONS, Permission

__all__ = [
    "COMMAND_PERMISSION_CHANNEL",
    "COMMAND_PERMISSION_ROLE",
    "COMMAND_PERMISSION_TYPES",
    "COMMAND_PERMISSION_USER",
    "MAX_COMMAND_PERMISSIONS",
    "all_channels_id",
    "command_permitted",
    "member_may_use",
]

#: Application command permission types.
COMMAND_PERMISSION_ROLE: Final = 1
COMMAND_PERMISSION_USER: Final = 2
COMMAND_PERMISSION_CHANNEL: Final = 3
COMMAND_PERMISSION_TYPES: Final = (
    COMMAND_PERMISSION_ROLE,
    COMMAND_PERMISSION_USER,
    COMMAND_PERMISSION_CHANNEL,
)
#: Overwrites in one command's (or the application's) permission set.
MAX_COMMAND_PERMISSIONS: Final = 100


def all_channels_id(guild_id: int) -> int:
    """The "All Channels" constant of a guild's command permissions: ``guild_id - 1``."""
    return guild_id - 1


def member_may_use(permissions: int, required: str | None) -> bool:
    """Whether a member with ``permissions`` meets ``default_member_permissions`` ``required``.

    ``None`` admits everyone, ``"0"`` administrators only; administrators meet every value.
    """
    if permissions & Permission.ADMINISTRATOR or permissions == ALL_PERMISSIONS:
        return True
    if required is None:
        return True
    try:
        bits = int(required)
    except ValueError:
        return False
    return bits != 0 and permissions & bits == bits


def _channel_verdict(entries: Iterable[Mapping[str, Any]], channel_id: int, guild_id: int) -> bool | None:
    """What a set's channel entries say of ``channel_id``: its own entry, else "All Channels"."""
    by_id = {int(e["id"]): bool(e["permission"]) for e in entries if e["type"] == COMMAND_PERMISSION_CHANNEL}
    if channel_id in by_id:
        return by_id[channel_id]
    return by_id.get(all_channels_id(guild_id))


def _member_verdict(
    entries: Iterable[Mapping[str, Any]], user_id: int, roles: Collection[int], guild_id: int
) -> bool | None:
    """What a set's user and role entries say of a member.

    The user's own entry, else its roles' (an allowing role wins over a denying one), else
    @everyone's.
    """
    users: dict[int, bool] = {}
    role_entries: dict[int, bool] = {}
    for entry in entries:
        if entry["type"] == COMMAND_PERMISSION_USER:
            users[int(entry["id"])] = bool(entry["permission"])
        elif entry["type"] == COMMAND_PERMISSION_ROLE:
            role_entries[int(entry["id"])] = bool(entry["permission"])
    if user_id in users:
        return users[user_id]
    verdicts = [role_entries[role] for role in roles if role in role_entries and role != guild_id]
    if verdicts:
        return any(verdicts)
    return role_entries.get(guild_id)


def command_permitted(
    *,
    permissions: int,
    default_member_permissions: str | None,
    user_id: int,
    roles: Collection[int],
    guild_id: int,
    channel_id: int | None,
    command_entries: Iterable[Mapping[str, Any]] = (),
    application_entries: Iterable[Mapping[str, Any]] = (),
) -> bool:
    """Whether a member may use a command in ``channel_id``.

    The member has ``permissions`` in the channel and ``roles``; the command has its
    ``default_member_permissions`` and the command-level and application-level permission
    entries (see the module docstring). ``channel_id=None`` asks about the guild as a whole
    (channel entries are not looked at).
    """
    if permissions & Permission.ADMINISTRATOR or permissions == ALL_PERMISSIONS:
        return True
    command = list(command_entries)
    application = list(application_entries)
    if channel_id is not None:
        channel = _channel_verdict(command, channel_id, guild_id)
        if channel is None:
            channel = _channel_verdict(application, channel_id, guild_id)
        if channel is False:
            return False
    member = _member_verdict(command, user_id, roles, guild_id)
    if member is not None:
        return member
    if _member_verdict(application, user_id, roles, guild_id) is False:
        return False
    return member_may_use(permissions, default_member_permissions)
