"""Application command bodies (https://docs.discord.com/developers/interactions/application-commands)."""

from __future__ import annotations

from typing import Any

from discobase._discord.commands import COMMAND_PERMISSION_TYPES, MAX_COMMAND_PERMISSIONS
from discobase._discord.limits import (
    COMMAND_TYPES,
    MAX_COMMAND_DESCRIPTION,
    MAX_COMMAND_NAME,
    MAX_COMMAND_OPTIONS,
    MAX_COMMANDS_PER_REQUEST,
    MAX_COMMANDS_PER_TYPE,
    MAX_LOCALIZATIONS,
    MAX_OPTION_CHOICES,
    OPTION_TYPES,
    SUBCOMMAND_TYPES,
)
from discobase.local.errors import FormErrors, bad_request
from discobase.local.validation.fields import (
    MISSING,
    Path,
    array_items,
    body_object,
    form_error,
    given_value,
    parse_array,
    parse_boolean,
    parse_choice,
    parse_object,
    parse_permissions,
    parse_snowflake,
    parse_string,
    report_required,
)

__all__ = [
    "parse_application_commands",
    "parse_command_permissions",
]

# -------------------------------------------------------------------------------- application commands


def _command_name_ok(name: str) -> bool:
    """CHAT_INPUT names match ``^[-_\\p{L}\\p{N}]{1,32}$`` and are lowercase where possible [DOC].

    ``str.isalnum`` is exactly \\p{L} plus \\p{N}; the docs also allow Devanagari and Thai
    letters, which ``isalnum`` covers except for combining marks (accepted here too).
    """
    for ch in name:
        if ch in "-_":
            continue
        if not (ch.isalnum() or _is_indic_mark(ch)):
            return False
        if ch.lower() != ch:
            return False
    return True


def _is_indic_mark(ch: str) -> bool:
    code = ord(ch)
    return 0x0900 <= code <= 0x097F or 0x0E00 <= code <= 0x0E7F  # \p{sc=Deva}, \p{sc=Thai}


def _command_name(value: object, path: Path, errors: FormErrors, *, chat_input: bool) -> str | None:
    """A command or option name: 1-32 characters; CHAT_INPUT rules → APPLICATION_COMMAND_INVALID_NAME."""
    name = parse_string(value, path, errors, min_len=1, max_len=MAX_COMMAND_NAME)
    if name is None:
        return None
    if chat_input and not _command_name_ok(name):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        return None
    return name


def _description(value: object, path: Path, errors: FormErrors) -> str | None:
    return parse_string(value, path, errors, min_len=1, max_len=MAX_COMMAND_DESCRIPTION)


def _localizations(
    data: dict[str, Any], key: str, path: Path, errors: FormErrors, max_len: int
) -> dict[str, str] | None:
    raw = given_value(data, key)
    if raw is MISSING:
        return None
    if not isinstance(raw, dict):
        errors.add((*path, key), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return None
    if len(raw) > MAX_LOCALIZATIONS:
        errors.add((*path, key), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_LOCALIZATIONS} or fewer in length.")
        return None
    result: dict[str, str] = {}
    for locale, text in raw.items():
        # A user-supplied key must not collide with the ``_errors`` leaf of the error tree.
        where = (*path, key) if locale == "_errors" else (*path, key, str(locale))
        checked = parse_string(text, where, errors, min_len=1, max_len=max_len)
        if checked is not None:
            result[str(locale)] = checked
    return result


def _command_options(
    value: object, path: Path, errors: FormErrors, *, depth: int
) -> list[dict[str, Any]] | None:
    """``options``: ≤ 25 options, each with ``type`` 1-11, ``name`` and ``description``.

    Sub-command (1) and group (2) options nest their own ``options`` (at most two levels,
    as Discord allows); ``choices`` ≤ 25 each with ``name`` 1-100 and a ``value``.
    """
    values = parse_array(value, path, errors, max_len=MAX_COMMAND_OPTIONS)
    if values is None:
        return None
    result: list[dict[str, Any]] = []
    for index, item in array_items(values, path, errors, "ModelType"):
        option_path = (*path, index)
        data = parse_object(item, option_path, errors)
        if data is None:
            continue
        option: dict[str, Any] = dict(data)
        raw_type = given_value(data, "type")
        if raw_type is MISSING:
            report_required(errors, (*option_path, "type"))
        else:
            kind = parse_choice(raw_type, (*option_path, "type"), errors, OPTION_TYPES)
            if kind is not None:
                option["type"] = kind
        raw_name = given_value(data, "name")
        if raw_name is MISSING:
            report_required(errors, (*option_path, "name"))
        else:
            _command_name(raw_name, (*option_path, "name"), errors, chat_input=True)
        raw_description = given_value(data, "description")
        if raw_description is MISSING:
            report_required(errors, (*option_path, "description"))
        else:
            _description(raw_description, (*option_path, "description"), errors)
        raw_required = given_value(data, "required")
        if raw_required is not MISSING:
            parse_boolean(raw_required, (*option_path, "required"), errors)
        raw_choices = given_value(data, "choices")
        if raw_choices is not MISSING:
            choices = parse_array(raw_choices, (*option_path, "choices"), errors, max_len=MAX_OPTION_CHOICES)
            for choice_index, choice in array_items(
                choices or [], (*option_path, "choices"), errors, "ModelType"
            ):
                choice_path = (*option_path, "choices", choice_index)
                choice_data = parse_object(choice, choice_path, errors)
                if choice_data is None:
                    continue
                if given_value(choice_data, "name") is MISSING:
                    report_required(errors, (*choice_path, "name"))
                else:
                    _description(choice_data["name"], (*choice_path, "name"), errors)
                if given_value(choice_data, "value") is MISSING:
                    report_required(errors, (*choice_path, "value"))
        raw_options = given_value(data, "options")
        if raw_options is not MISSING:
            if depth >= 2 or option.get("type") not in SUBCOMMAND_TYPES:
                errors.add(
                    (*option_path, "options"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",  # UNCONFIRMED code
                    "Only sub-command and sub-command group options may have options",
                )
            else:
                nested = _command_options(raw_options, (*option_path, "options"), errors, depth=depth + 1)
                if nested is not None:
                    option["options"] = nested
        result.append(option)
    return result


def parse_application_commands(body: object) -> list[dict[str, Any]]:
    """Validate ``PUT …/commands`` (bulk overwrite): a list of ApplicationCommandUpdateRequest [DOC; SPEC].

    Each command: an object (else MODEL_TYPE_CONVERT "Expected an object/dictionary." [OBS]);
    ``type`` 1|2|3 (default 1); ``name`` required 1-32, for CHAT_INPUT lowercase
    ``[-_\\p{L}\\p{N}]`` (APPLICATION_COMMAND_INVALID_NAME "Command name is invalid");
    ``description`` required 1-100 for CHAT_INPUT (``""`` for USER/MESSAGE commands);
    ``options`` ≤ 25; ``default_member_permissions`` a bitfield; ``dm_permission``/``nsfw``
    bools; localisations dicts. At most 130 commands per request [SPEC]; per type at most
    100 CHAT_INPUT, 15 USER, 15 MESSAGE → 400/30032 "Maximum number of application commands
    reached (N)" (status and placement UNCONFIRMED); a repeated (type, name) is the
    whole-request error APPLICATION_COMMANDS_DUPLICATE_NAME "Application command names must
    be unique". Returns normalised copies (``type`` and ``description`` filled in).
    """
    if body is None:
        return []
    if not isinstance(body, list):
        raise form_error((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    errors = FormErrors()
    if len(body) > MAX_COMMANDS_PER_REQUEST:
        raise form_error(
            (), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_COMMANDS_PER_REQUEST} or fewer in length."
        )
    commands: list[dict[str, Any]] = []
    for index, item in array_items(body, (), errors, "ModelType"):
        data = parse_object(item, (index,), errors)
        if data is None:
            continue
        command: dict[str, Any] = dict(data)
        kind = 1
        raw_type = given_value(data, "type")
        if raw_type is not MISSING:
            kind = parse_choice(raw_type, (index, "type"), errors, COMMAND_TYPES) or 1
        command["type"] = kind
        chat_input = kind == 1
        raw_name = given_value(data, "name")
        if raw_name is MISSING:
            report_required(errors, (index, "name"))
        else:
            name = _command_name(raw_name, (index, "name"), errors, chat_input=chat_input)
            if name is not None:
                command["name"] = name
        raw_description = given_value(data, "description")
        if chat_input:
            if raw_description is MISSING:
                report_required(errors, (index, "description"))
            else:
                _description(raw_description, (index, "description"), errors)
        else:
            if raw_description is not MISSING:
                parse_string(raw_description, (index, "description"), errors, max_len=MAX_COMMAND_DESCRIPTION)
            command["description"] = ""
        for key, limit in (("name_localizations", MAX_COMMAND_NAME), ("description_localizations", 100)):
            localized = _localizations(data, key, (index,), errors, limit)
            if localized is not None:
                command[key] = localized
        raw_options = given_value(data, "options")
        if raw_options is not MISSING:
            if not chat_input:
                errors.add(
                    (index, "options"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",  # UNCONFIRMED code
                    "Only chat input commands may have options",
                )
            else:
                options = _command_options(raw_options, (index, "options"), errors, depth=0)
                if options is not None:
                    command["options"] = options
        raw_permissions = given_value(data, "default_member_permissions")
        if raw_permissions is not MISSING:
            permissions = parse_permissions(raw_permissions, (index, "default_member_permissions"), errors)
            if permissions is not None:
                command["default_member_permissions"] = str(permissions)
        for key in ("dm_permission", "nsfw"):
            raw_flag = given_value(data, key)
            if raw_flag is not MISSING:
                parse_boolean(raw_flag, (index, key), errors)
        commands.append(command)
    errors.raise_if_any()

    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for command in commands:
        ident = (int(command["type"]), str(command["name"]))
        if ident in seen:
            raise form_error(
                (), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add(ident)
        counts[ident[0]] = counts.get(ident[0], 0) + 1
    for kind, count in counts.items():
        limit = MAX_COMMANDS_PER_TYPE.get(kind, MAX_COMMANDS_PER_REQUEST)
        if count > limit:
            raise bad_request(30032, f"Maximum number of application commands reached ({limit})")
    return commands


def parse_command_permissions(body: object) -> list[dict[str, Any]]:
    """The body of ``PUT .../commands/{command_id}/permissions``, as Discord echoes it.

    ``{"permissions": [...]}`` with at most 100 ``{id, type, permission}`` entries (type 1 role,
    2 user, 3 channel), ``id`` unique per type
    (https://discord.com/developers/docs/interactions/application-commands#edit-application-command-permissions;
    [SPEC] ``ApplicationCommandPermission``).
    """
    data = body_object(body)
    errors = FormErrors()
    raw = given_value(data, "permissions")
    if raw is MISSING:
        report_required(errors, ("permissions",))
        errors.raise_if_any()
    values = parse_array(raw, ("permissions",), errors, max_len=MAX_COMMAND_PERMISSIONS)
    entries: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    for index, item in array_items(values or [], ("permissions",), errors, "ApplicationCommandPermission"):
        path: Path = ("permissions", index)
        entry = parse_object(item, path, errors)
        if entry is None:
            continue
        parsed: dict[str, Any] = {}
        for key in ("id", "type", "permission"):
            if given_value(entry, key) is MISSING:
                report_required(errors, (*path, key))
        if given_value(entry, "id") is not MISSING:
            target = parse_snowflake(entry["id"], (*path, "id"), errors)
            if target is not None:
                parsed["id"] = str(target)
        if given_value(entry, "type") is not MISSING:
            parsed["type"] = parse_choice(entry["type"], (*path, "type"), errors, COMMAND_PERMISSION_TYPES)
        if given_value(entry, "permission") is not MISSING:
            parsed["permission"] = parse_boolean(entry["permission"], (*path, "permission"), errors)
        if len(parsed) == 3 and None not in parsed.values():
            target_key = (int(parsed["id"]), int(parsed["type"]))
            if target_key in seen:
                errors.add((*path, "id"), "APPLICATION_COMMAND_PERMISSIONS_DUPLICATE", "Duplicate id")
            seen.add(target_key)
            entries.append(parsed)
    errors.raise_if_any()
    return entries
