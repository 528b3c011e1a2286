"""Channel bodies: create, edit, permission overwrites and invites.

See https://docs.discord.com/developers/resources/channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from discobase._discord.channels import CREATABLE_CHANNEL_TYPES, FORUM_TYPES, normalize_channel_name
from discobase._discord.limits import (
    AUTO_ARCHIVE_DURATIONS,
    INVITE_TARGET_TYPES,
    MAX_CHANNEL_NAME,
    MAX_FORUM_TOPIC,
    MAX_INT32,
    MAX_INVITE_AGE,
    MAX_INVITE_USES,
    MAX_OVERWRITES,
    MAX_SLOWMODE,
    MAX_TOPIC,
    OVERWRITE_TYPES,
    VIDEO_QUALITY_MODES,
)
from discobase._discord.permissions import Overwrite
from discobase.local.errors import FormErrors
from discobase.local.validation.fields import (
    MISSING,
    Path,
    array_items,
    body_object,
    given_value,
    parse_array,
    parse_boolean,
    parse_choice,
    parse_flags,
    parse_integer,
    parse_object,
    parse_permissions,
    parse_required_snowflake,
    parse_snowflake,
    parse_string,
    report_required,
)

__all__ = [
    "ChannelCreate",
    "ChannelEdit",
    "InviteCreate",
    "Overwrite",
    "OverwriteEdit",
    "parse_channel_create",
    "parse_channel_edit",
    "parse_invite_create",
    "parse_overwrite_edit",
]

# ------------------------------------------------------------------------------------------ channels


class OverwriteEdit(NamedTuple):
    """``PUT /channels/{id}/permissions/{overwrite_id}`` body, unpackable as ``allow, deny, type``."""

    allow: int
    deny: int
    type: int


@dataclass
class ChannelCreate:
    """A validated ``POST /guilds/{id}/channels`` body (CreateGuildChannelRequest).

    ``name`` is already normalised for text/announcement channels (see
    :func:`normalize_channel_name`, which is idempotent). ``fields_set`` names the keys given
    non-null.
    """

    name: str
    type: int = 0
    topic: str | None = None
    position: int | None = None
    parent_id: int | None = None
    nsfw: bool = False
    permission_overwrites: list[Overwrite] = field(default_factory=list)
    rate_limit_per_user: int | None = None
    bitrate: int | None = None
    user_limit: int | None = None
    rtc_region: str | None = None
    video_quality_mode: int | None = None
    default_auto_archive_duration: int | None = None
    fields_set: set[str] = field(default_factory=set)


@dataclass
class ChannelEdit:
    """A validated ``PATCH /channels/{id}`` body for a guild channel (partial).

    Only keys in ``fields_set`` change the channel. ``null`` resets the nullable fields:
    ``topic``/``parent_id``/``rtc_region`` → ``None``, ``nsfw`` → ``False``,
    ``rate_limit_per_user`` → ``0``, ``permission_overwrites`` → ``[]``. ``name``, ``type``,
    ``position`` and the voice settings ignore ``null`` (not recorded).
    """

    name: str | None = None
    type: int | None = None
    topic: str | None = None
    position: int | None = None
    parent_id: int | None = None
    nsfw: bool | None = None
    permission_overwrites: list[Overwrite] | None = None
    rate_limit_per_user: int | None = None
    bitrate: int | None = None
    user_limit: int | None = None
    rtc_region: str | None = None
    video_quality_mode: int | None = None
    default_auto_archive_duration: int | None = None
    flags: int | None = None
    fields_set: set[str] = field(default_factory=set)


def _channel_type_choices() -> str:
    """``Value must be one of {0, 2, 4, 5, 13, 15}.``: Discord formats channel types as a set [OBS]."""
    return "Value must be one of {" + ", ".join(str(t) for t in sorted(CREATABLE_CHANNEL_TYPES)) + "}."


def _channel_type(value: object, errors: FormErrors) -> int | None:
    number = parse_integer(value, ("type",), errors)
    if number is None:
        return None
    if number not in CREATABLE_CHANNEL_TYPES:
        errors.add(("type",), "BASE_TYPE_CHOICES", _channel_type_choices())
        return None
    return number


def _channel_name(value: object, errors: FormErrors) -> str | None:
    """``name``: 1-100 characters, BASE_TYPE_BAD_LENGTH "Must be between 1 and 100 in length." [OBS]."""
    return parse_string(value, ("name",), errors, min_len=1, max_len=MAX_CHANNEL_NAME)


def _topic(value: object, errors: FormErrors, channel_type: int | None) -> str | None:
    """``topic``: 0-1024 characters, 0-4096 for forum/media channels [DOC CH]."""
    limit = MAX_FORUM_TOPIC if channel_type in FORUM_TYPES else MAX_TOPIC
    return parse_string(value, ("topic",), errors, max_len=limit)


def _overwrite(value: object, path: Path, errors: FormErrors) -> Overwrite | None:
    """One overwrite: ``id`` snowflake and ``type`` 0|1 required; ``allow``/``deny`` default 0."""
    data = parse_object(value, path, errors)
    if data is None:
        return None
    ok = True
    overwrite_id = parse_required_snowflake(data, "id", path, errors)
    ok = overwrite_id is not None
    raw_type = given_value(data, "type")
    kind: int | None = None
    if raw_type is MISSING:
        report_required(errors, (*path, "type"))
        ok = False
    else:
        kind = parse_choice(raw_type, (*path, "type"), errors, OVERWRITE_TYPES)
        ok = ok and kind is not None
    bits = {"allow": 0, "deny": 0}
    for key in bits:
        raw = given_value(data, key)
        if raw is not MISSING:
            number = parse_permissions(raw, (*path, key), errors)
            if number is None:
                ok = False
            else:
                bits[key] = number
    if not ok or overwrite_id is None or kind is None:
        return None
    return Overwrite(overwrite_id, kind, bits["allow"], bits["deny"])


def _overwrites(value: object, errors: FormErrors) -> list[Overwrite] | None:
    """``permission_overwrites``: at most 100 overwrites [SPEC]."""
    path: Path = ("permission_overwrites",)
    values = parse_array(value, path, errors, max_len=MAX_OVERWRITES)
    if values is None:
        return None
    result: list[Overwrite] = []
    for index, item in array_items(values, path, errors, "ModelType"):
        overwrite = _overwrite(item, (*path, index), errors)
        if overwrite is not None:
            result.append(overwrite)
    return result if len(result) == len(values) else None


def _user_limit(value: object, errors: FormErrors, channel_type: int | None) -> int | None:
    """``user_limit``: 0-99 for voice, 0-10000 for stage channels [DOC CH]."""
    maximum = 10000 if channel_type == 13 else 99
    return parse_integer(value, ("user_limit",), errors, minimum=0, maximum=maximum)


def _channel_fields(data: dict[str, Any], errors: FormErrors, kind: int | None) -> dict[str, object]:
    """Parse the optional fields shared by channel create and edit.

    Keys present in the body map to their parsed value; ``None`` means "given as null" (or
    invalid, in which case an error was recorded).
    """
    parsers: dict[str, Callable[[object], object]] = {
        "topic": lambda v: _topic(v, errors, kind),
        "position": lambda v: parse_integer(v, ("position",), errors, minimum=0, maximum=MAX_INT32),
        "parent_id": lambda v: parse_snowflake(v, ("parent_id",), errors),
        "nsfw": lambda v: parse_boolean(v, ("nsfw",), errors),
        "rate_limit_per_user": lambda v: parse_integer(
            v, ("rate_limit_per_user",), errors, minimum=0, maximum=MAX_SLOWMODE
        ),
        "permission_overwrites": lambda v: _overwrites(v, errors),
        "bitrate": lambda v: parse_integer(v, ("bitrate",), errors, minimum=8000, maximum=MAX_INT32),
        "user_limit": lambda v: _user_limit(v, errors, kind),
        "rtc_region": lambda v: parse_string(v, ("rtc_region",), errors),
        "video_quality_mode": lambda v: parse_choice(v, ("video_quality_mode",), errors, VIDEO_QUALITY_MODES),
        "default_auto_archive_duration": lambda v: parse_choice(
            v, ("default_auto_archive_duration",), errors, AUTO_ARCHIVE_DURATIONS
        ),
    }
    out: dict[str, object] = {}
    for key, parser in parsers.items():
        if key in data:
            raw = data[key]
            out[key] = None if raw is None else parser(raw)
    return out


def parse_channel_create(body: object) -> ChannelCreate:
    """Validate a Create Guild Channel body [DOC GLD; DOC CH; SPEC CreateGuildChannelRequest].

    ``name`` required, 1-100; ``type`` one of {0, 2, 4, 5, 13, 15} (default 0, else
    BASE_TYPE_CHOICES "Value must be one of {0, 2, 4, 5, 13, 15}."); ``topic`` ≤ 1024
    (≤ 4096 for forums); ``position`` ≥ 0; ``parent_id`` snowflake; ``nsfw`` bool;
    ``rate_limit_per_user`` 0-21600; ``permission_overwrites`` ≤ 100 of
    ``{id, type 0|1, allow, deny}``; ``bitrate`` ≥ 8000; ``user_limit`` 0-99 (stage 0-10000);
    ``video_quality_mode`` 1|2; ``default_auto_archive_duration`` 60|1440|4320|10080.
    Text and announcement names come back normalised (:func:`normalize_channel_name`).
    """
    data = body_object(body)
    errors = FormErrors()
    kind = 0
    raw_type = given_value(data, "type")
    if raw_type is not MISSING:
        parsed_type = _channel_type(raw_type, errors)
        kind = parsed_type if parsed_type is not None else 0
    name: str | None = None
    raw_name = given_value(data, "name")
    if raw_name is MISSING:
        report_required(errors, ("name",))
    else:
        name = _channel_name(raw_name, errors)
    values = _channel_fields(data, errors, kind)
    errors.raise_if_any()
    assert name is not None
    fields_set = {key for key, value in data.items() if value is not None and key in _CHANNEL_KEYS}
    return ChannelCreate(
        name=normalize_channel_name(name, kind),
        type=kind,
        topic=_opt_str(values.get("topic")),
        position=_opt_int(values.get("position")),
        parent_id=_opt_int(values.get("parent_id")),
        nsfw=values.get("nsfw") is True,
        permission_overwrites=_opt_overwrites(values.get("permission_overwrites")) or [],
        rate_limit_per_user=_opt_int(values.get("rate_limit_per_user")),
        bitrate=_opt_int(values.get("bitrate")),
        user_limit=_opt_int(values.get("user_limit")),
        rtc_region=_opt_str(values.get("rtc_region")),
        video_quality_mode=_opt_int(values.get("video_quality_mode")),
        default_auto_archive_duration=_opt_int(values.get("default_auto_archive_duration")),
        fields_set=fields_set,
    )


_CHANNEL_KEYS: Final = frozenset(
    {
        "name",
        "type",
        "topic",
        "position",
        "parent_id",
        "nsfw",
        "rate_limit_per_user",
        "permission_overwrites",
        "bitrate",
        "user_limit",
        "rtc_region",
        "video_quality_mode",
        "default_auto_archive_duration",
        "flags",
    }
)
_NULL_IGNORED: Final = frozenset(
    {
        "name",
        "type",
        "position",
        "bitrate",
        "user_limit",
        "video_quality_mode",
        "default_auto_archive_duration",
        "flags",
    }
)


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_overwrites(value: object) -> list[Overwrite] | None:
    if isinstance(value, list) and all(isinstance(item, Overwrite) for item in value):
        return list(value)
    return None


def parse_channel_edit(body: object, *, channel_type: int | None = None) -> ChannelEdit:
    """Validate a Modify Channel body for a guild channel (partial) [DOC CH; SPEC].

    Same per-field rules as :func:`parse_channel_create`. ``channel_type`` (the stored
    channel's type, or the ``type`` in the body) selects the topic and user-limit bounds and,
    for text/announcement channels, normalises ``name``; without it the name is returned as
    given. ``type`` may only switch between text and announcement on Discord; the body is
    checked against the supported types and the conversion rule is left to the caller.
    """
    data = body_object(body)
    errors = FormErrors()
    result = ChannelEdit()
    raw_type = given_value(data, "type")
    if raw_type is not MISSING:
        result.type = _channel_type(raw_type, errors)
    kind = result.type if result.type is not None else channel_type
    raw_name = given_value(data, "name")
    if raw_name is not MISSING:
        result.name = _channel_name(raw_name, errors)
    raw_flags = given_value(data, "flags")
    if raw_flags is not MISSING:
        result.flags = parse_flags(raw_flags, ("flags",), errors)
    values = _channel_fields(data, errors, kind)
    errors.raise_if_any()
    if result.name is not None and kind is not None:
        result.name = normalize_channel_name(result.name, kind)
    result.fields_set = {
        key
        for key, value in data.items()
        if key in _CHANNEL_KEYS and (value is not None or key not in _NULL_IGNORED)
    }
    result.topic = _opt_str(values.get("topic"))
    result.position = _opt_int(values.get("position"))
    result.parent_id = _opt_int(values.get("parent_id"))
    result.rtc_region = _opt_str(values.get("rtc_region"))
    result.bitrate = _opt_int(values.get("bitrate"))
    result.user_limit = _opt_int(values.get("user_limit"))
    result.video_quality_mode = _opt_int(values.get("video_quality_mode"))
    result.default_auto_archive_duration = _opt_int(values.get("default_auto_archive_duration"))
    if "nsfw" in result.fields_set:
        result.nsfw = values.get("nsfw") is True
    if "rate_limit_per_user" in result.fields_set:
        result.rate_limit_per_user = _opt_int(values.get("rate_limit_per_user")) or 0
    if "permission_overwrites" in result.fields_set:
        result.permission_overwrites = _opt_overwrites(values.get("permission_overwrites")) or []
    return result


def parse_overwrite_edit(body: object) -> OverwriteEdit:
    """Validate ``PUT /channels/{id}/permissions/{overwrite_id}``: ``{type, allow?, deny?}`` [DOC CH].

    ``type`` (0 role, 1 member) is required; ``allow``/``deny`` are permission bitfields given
    as strings of digits or integers, default 0. Returns ``(allow, deny, type)``.
    """
    data = body_object(body)
    errors = FormErrors()
    kind: int | None = None
    raw_type = given_value(data, "type")
    if raw_type is MISSING:
        report_required(errors, ("type",))
    else:
        kind = parse_choice(raw_type, ("type",), errors, OVERWRITE_TYPES)
    bits = {"allow": 0, "deny": 0}
    for key in bits:
        raw = given_value(data, key)
        if raw is not MISSING:
            bits[key] = parse_permissions(raw, (key,), errors) or 0
    errors.raise_if_any()
    assert kind is not None
    return OverwriteEdit(bits["allow"], bits["deny"], kind)


# ------------------------------------------------------------------------------------------- invites


@dataclass
class InviteCreate:
    """A validated ``POST /channels/{id}/invites`` body (defaults as documented)."""

    max_age: int = 86400
    max_uses: int = 0
    temporary: bool = False
    unique: bool = False
    target_type: int | None = None
    target_user_id: int | None = None
    target_application_id: int | None = None


def parse_invite_create(body: object) -> InviteCreate:
    """Validate a Create Channel Invite body; an empty or ``null`` body takes the defaults [DOC CH].

    ``max_age`` 0-604800 s (0 = never; default 86400), ``max_uses`` 0-100 (0 = unlimited),
    ``temporary``/``unique`` bools, ``target_type`` 1|2 with ``target_user_id`` /
    ``target_application_id`` snowflakes.
    """
    data = body_object(body)
    errors = FormErrors()
    result = InviteCreate()
    value = given_value(data, "max_age")
    if value is not MISSING:
        result.max_age = parse_integer(value, ("max_age",), errors, minimum=0, maximum=MAX_INVITE_AGE) or 0
    value = given_value(data, "max_uses")
    if value is not MISSING:
        result.max_uses = parse_integer(value, ("max_uses",), errors, minimum=0, maximum=MAX_INVITE_USES) or 0
    for key in ("temporary", "unique"):
        value = given_value(data, key)
        if value is not MISSING:
            setattr(result, key, parse_boolean(value, (key,), errors) is True)
    value = given_value(data, "target_type")
    if value is not MISSING:
        result.target_type = parse_choice(value, ("target_type",), errors, INVITE_TARGET_TYPES)
    for key in ("target_user_id", "target_application_id"):
        value = given_value(data, key)
        if value is not MISSING:
            setattr(result, key, parse_snowflake(value, (key,), errors))
    errors.raise_if_any()
    return result
