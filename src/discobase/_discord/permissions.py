"""Discord permission bits and the permission computation of a member in a channel.

The algorithm is Discord's (developers/topics/permissions "Permission
Hierarchy"): the guild owner and ADMINISTRATOR get everything; otherwise the
@everyone role, then the member's roles, then channel overwrites in the order
@everyone, roles (deny then allow), member.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntFlag

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DM_PERMISSIONS",
    "REQUIRED_PERMISSIONS",
    "Overwrite",
    "Permission",
    "compute_permissions",
]


class Permission(IntFlag):
    """The permission bits the local server knows (Discord's values)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


ALL_PERMISSIONS = 0
for _flag in Permission:
    ALL_PERMISSIONS |= int(_flag)

#: What @everyone gets in a new guild (Discord's default set, without the voice ones).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.SEND_POLLS
)

#: What a user may do in a DM channel (there are no roles or overwrites there).
DM_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
)

#: What a storage bot needs: manage channels and roles (to hide its category),
#: read and write messages with files, manage and pin messages.
DEFAULT_BOT_PERMISSIONS = int(
    Permission.MANAGE_CHANNELS
    | Permission.MANAGE_ROLES
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.MANAGE_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.CREATE_INSTANT_INVITE
    | Permission.PIN_MESSAGES
)

#: Everything the ORM needs: create, hide and edit channels; read and write messages with files.
REQUIRED_PERMISSIONS = int(
    Permission.MANAGE_CHANNELS
    | Permission.MANAGE_ROLES
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.MANAGE_MESSAGES
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
)


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A channel permission overwrite: ``type`` 0 = role, 1 = member."""

    id: int
    type: int
    allow: int
    deny: int


def compute_permissions(
    *,
    user_id: int,
    owner_id: int,
    guild_id: int,
    role_permissions: dict[int, int],
    member_roles: Iterable[int],
    overwrites: Iterable[Overwrite] = (),
) -> int:
    """Permissions of ``user_id`` in a channel with ``overwrites`` (or the guild if none).

    ``role_permissions`` maps every role id of the guild (the @everyone role's
    id is the guild id) to its permission integer.
    """
    if user_id == owner_id:
        return ALL_PERMISSIONS
    roles = [role for role in member_roles if role in role_permissions]
    base = role_permissions.get(guild_id, 0)
    for role in roles:
        base |= role_permissions[role]
    if base & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    by_id = {(ow.type, ow.id): ow for ow in overwrites}
    everyone = by_id.get((0, guild_id))
    if everyone is not None:
        base = (base & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role in roles:
        ow = by_id.get((0, role))
        if ow is not None:
            allow |= ow.allow
            deny |= ow.deny
    base = (base & ~deny) | allow
    member = by_id.get((1, user_id))
    if member is not None:
        base = (base & ~member.deny) | member.allow
    return base
