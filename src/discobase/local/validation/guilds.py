"""Role, member and DM-channel bodies.

See https://docs.discord.com/developers/resources/guild and
https://docs.discord.com/developers/resources/user#create-dm."""

from __future__ import annotations

from dataclasses import dataclass, field

from discobase._discord.limits import MAX_INT32
from discobase.local.errors import FormErrors
from discobase.local.validation.fields import (
    MISSING,
    array_items,
    body_object,
    given_value,
    parse_array,
    parse_boolean,
    parse_integer,
    parse_object,
    parse_permissions,
    parse_snowflake,
    parse_string,
    parse_timestamp,
    report_required,
)

__all__ = [
    "MemberEdit",
    "RoleCreate",
    "parse_dm_create",
    "parse_member_edit",
    "parse_role_create",
    "parse_role_positions",
]

# ------------------------------------------------------------------------------------ roles, members, DMs


@dataclass(slots=True)
class RoleCreate:
    """``POST /guilds/{guild_id}/roles``, and Modify Guild Role.

    In Modify Guild Role ``fields_set`` says what was given
    (https://discord.com/developers/docs/resources/guild#create-guild-role).
    """

    name: str = "new role"
    permissions: int | None = None
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    fields_set: set[str] = field(default_factory=set)


def parse_role_create(body: object) -> RoleCreate:
    """Role fields: ``name`` ≤ 100, ``permissions``, ``color``, ``hoist`` and ``mentionable``.

    ``permissions`` is a string bitfield, ``color`` 0-0xFFFFFF, ``hoist`` / ``mentionable``
    booleans; ``null`` keeps the default.
    """
    data = body_object(body) if body is not None else {}
    errors = FormErrors()
    result = RoleCreate()
    value = given_value(data, "name")
    if value is not MISSING and value is not None:
        name = parse_string(value, ("name",), errors, max_len=100)
        if name is not None:
            result.name = name
            result.fields_set.add("name")
    value = given_value(data, "permissions")
    if value is not MISSING and value is not None:
        result.permissions = parse_permissions(value, ("permissions",), errors)
        result.fields_set.add("permissions")
    value = given_value(data, "color")
    if value is not MISSING and value is not None:
        color = parse_integer(value, ("color",), errors, minimum=0, maximum=0xFFFFFF)
        if color is not None:
            result.color = color
            result.fields_set.add("color")
    for key in ("hoist", "mentionable"):
        value = given_value(data, key)
        if value is not MISSING and value is not None:
            flag = parse_boolean(value, (key,), errors)
            if flag is not None:
                setattr(result, key, flag)
                result.fields_set.add(key)
    errors.raise_if_any()
    return result


def parse_role_positions(body: object) -> list[tuple[int, int | None]]:
    """``PATCH /guilds/{guild_id}/roles``: ``[{id, position?}]`` (Modify Guild Role Positions)."""
    errors = FormErrors()
    values = parse_array(body, (), errors, max_len=250)
    errors.raise_if_any()
    result: list[tuple[int, int | None]] = []
    for index, item in array_items(values or [], (), errors, "object"):
        data = parse_object(item, (index,), errors)
        if data is None:
            continue
        raw_id = given_value(data, "id")
        if raw_id is MISSING:
            report_required(errors, (index, "id"))
            continue
        role_id = parse_snowflake(raw_id, (index, "id"), errors)
        raw_position = given_value(data, "position")
        position = None
        if raw_position is not MISSING and raw_position is not None:
            position = parse_integer(raw_position, (index, "position"), errors, minimum=0, maximum=MAX_INT32)
        if role_id is not None:
            result.append((role_id, position))
    errors.raise_if_any()
    return result


@dataclass(slots=True)
class MemberEdit:
    """``PATCH /guilds/{guild_id}/members/{user_id}`` (https://discord.com/developers/docs/resources/guild#modify-guild-member)."""

    nick: str | None = None
    roles: list[int] | None = None
    communication_disabled_until: str | None = None
    fields_set: set[str] = field(default_factory=set)


def parse_member_edit(body: object) -> MemberEdit:
    """A member edit: ``nick``, ``roles`` and ``communication_disabled_until``.

    ``nick`` ≤ 32 (``null`` / ``""`` resets), ``roles`` (snowflakes),
    ``communication_disabled_until`` (ISO8601 or ``null``); ``mute``, ``deaf``, ``channel_id``,
    ``flags`` are accepted and ignored.
    """
    data = body_object(body) if body is not None else {}
    errors = FormErrors()
    result = MemberEdit()
    value = given_value(data, "nick")
    if value is not MISSING:
        result.fields_set.add("nick")
        if value is not None:
            result.nick = parse_string(value, ("nick",), errors, max_len=32) or None
    value = given_value(data, "roles")
    if value is not MISSING:
        result.fields_set.add("roles")
        roles: list[int] = []
        for index, item in enumerate(parse_array(value, ("roles",), errors, max_len=250) or []):
            role_id = parse_snowflake(item, ("roles", index), errors)
            if role_id is not None and role_id not in roles:
                roles.append(role_id)
        result.roles = roles
    value = given_value(data, "communication_disabled_until")
    if value is not MISSING:
        result.fields_set.add("communication_disabled_until")
        if value is not None:
            result.communication_disabled_until = parse_timestamp(
                value, ("communication_disabled_until",), errors
            )
    errors.raise_if_any()
    return result


def parse_dm_create(body: object) -> int:
    """``POST /users/@me/channels``: ``recipient_id`` (required snowflake)."""
    data = body_object(body)
    errors = FormErrors()
    value = given_value(data, "recipient_id")
    recipient = None
    if value is MISSING:
        report_required(errors, ("recipient_id",))
    else:
        recipient = parse_snowflake(value, ("recipient_id",), errors)
    errors.raise_if_any()
    assert recipient is not None
    return recipient
