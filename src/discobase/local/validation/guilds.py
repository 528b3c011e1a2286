"""Role, member and DM-channel bodies (https://docs.discord.com/developers/resources/guild,
https://docs.discord.com/developers/resources/user#create-dm)."""

from __future__ import annotations

from dataclasses import dataclass, field

from discobase._discord.limits import MAX_INT32
from discobase.local.errors import FormErrors
from discobase.local.validation.fields import (
    _MISSING,
    _array,
    _body_object,
    _boolean,
    _given,
    _integer,
    _items,
    _model,
    _permissions,
    _required,
    _string,
    _timestamp,
    parse_snowflake,
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
    """``POST /guilds/{guild_id}/roles`` (https://discord.com/developers/docs/resources/guild#create-guild-role);
    also Modify Guild Role, where ``fields_set`` says what was given."""

    name: str = "new role"
    permissions: int | None = None
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    fields_set: set[str] = field(default_factory=set)


def parse_role_create(body: object) -> RoleCreate:
    """Role fields: ``name`` ≤ 100, ``permissions`` (string bitfield), ``color`` 0-0xFFFFFF,
    ``hoist`` / ``mentionable`` booleans; ``null`` keeps the default."""
    data = _body_object(body) if body is not None else {}
    errors = FormErrors()
    result = RoleCreate()
    value = _given(data, "name")
    if value is not _MISSING and value is not None:
        name = _string(value, ("name",), errors, max_len=100)
        if name is not None:
            result.name = name
            result.fields_set.add("name")
    value = _given(data, "permissions")
    if value is not _MISSING and value is not None:
        result.permissions = _permissions(value, ("permissions",), errors)
        result.fields_set.add("permissions")
    value = _given(data, "color")
    if value is not _MISSING and value is not None:
        color = _integer(value, ("color",), errors, minimum=0, maximum=0xFFFFFF)
        if color is not None:
            result.color = color
            result.fields_set.add("color")
    for key in ("hoist", "mentionable"):
        value = _given(data, key)
        if value is not _MISSING and value is not None:
            flag = _boolean(value, (key,), errors)
            if flag is not None:
                setattr(result, key, flag)
                result.fields_set.add(key)
    errors.raise_if_any()
    return result


def parse_role_positions(body: object) -> list[tuple[int, int | None]]:
    """``PATCH /guilds/{guild_id}/roles``: ``[{id, position?}]`` (Modify Guild Role Positions)."""
    errors = FormErrors()
    values = _array(body, (), errors, max_len=250)
    errors.raise_if_any()
    result: list[tuple[int, int | None]] = []
    for index, item in _items(values or [], (), errors, "object"):
        data = _model(item, (index,), errors)
        if data is None:
            continue
        raw_id = _given(data, "id")
        if raw_id is _MISSING:
            _required(errors, (index, "id"))
            continue
        role_id = parse_snowflake(raw_id, (index, "id"), errors)
        raw_position = _given(data, "position")
        position = None
        if raw_position is not _MISSING and raw_position is not None:
            position = _integer(raw_position, (index, "position"), errors, minimum=0, maximum=MAX_INT32)
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
    """``nick`` ≤ 32 (``null`` / ``""`` resets), ``roles`` (snowflakes), ``communication_disabled_until``
    (ISO8601 or ``null``); ``mute``, ``deaf``, ``channel_id``, ``flags`` are accepted and ignored."""
    data = _body_object(body) if body is not None else {}
    errors = FormErrors()
    result = MemberEdit()
    value = _given(data, "nick")
    if value is not _MISSING:
        result.fields_set.add("nick")
        if value is not None:
            result.nick = _string(value, ("nick",), errors, max_len=32) or None
    value = _given(data, "roles")
    if value is not _MISSING:
        result.fields_set.add("roles")
        roles: list[int] = []
        for index, item in enumerate(_array(value, ("roles",), errors, max_len=250) or []):
            role_id = parse_snowflake(item, ("roles", index), errors)
            if role_id is not None and role_id not in roles:
                roles.append(role_id)
        result.roles = roles
    value = _given(data, "communication_disabled_until")
    if value is not _MISSING:
        result.fields_set.add("communication_disabled_until")
        if value is not None:
            result.communication_disabled_until = _timestamp(value, ("communication_disabled_until",), errors)
    errors.raise_if_any()
    return result


def parse_dm_create(body: object) -> int:
    """``POST /users/@me/channels``: ``recipient_id`` (required snowflake)."""
    data = _body_object(body)
    errors = FormErrors()
    value = _given(data, "recipient_id")
    recipient = None
    if value is _MISSING:
        _required(errors, ("recipient_id",))
    else:
        recipient = parse_snowflake(value, ("recipient_id",), errors)
    errors.raise_if_any()
    assert recipient is not None
    return recipient
