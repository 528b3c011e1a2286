"""Request-body validation for the local server, answering bad input as Discord does.

Every ``parse_*`` function takes whatever :func:`json.loads` produced (any
JSON value, including ``None``) and either returns a typed, normalised value
or raises :class:`~discobase.local.errors.HTTPError`; nothing else escapes.
Field errors of one request are all collected (as Discord reports them all)
and raised together as 400/50035 "Invalid Form Body" with the nested
``errors`` tree, e.g.::

    {"message": "Invalid Form Body", "code": 50035,
     "errors": {"content": {"_errors": [
         {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}

Sources: Discord's docs (https://docs.discord.com/developers/resources/message,
https://docs.discord.com/developers/resources/channel, error shapes in
https://docs.discord.com/developers/reference#error-messages) and its OpenAPI spec
(https://github.com/discord/discord-api-spec). Where the OpenAPI spec and the
docs disagree the docs win (``content`` 2000 not 4000, text-channel ``topic``
1024 not 4096). Leaf codes and messages are the ones seen on the wire
(BASE_TYPE_REQUIRED, BASE_TYPE_MAX_LENGTH, NUMBER_TYPE_COERCE, …); the few
that could not be confirmed are marked "UNCONFIRMED" next to their use.

General conventions, mirroring Discord's (Python) form validation:

* ``null`` counts as "not given" for optional fields; on PATCH routes it is
  recorded in ``fields_set`` where the docs make the field nullable (clear).
* Unknown keys are ignored.
* Strings must be JSON strings (``STRING_TYPE_CONVERT``); lengths count
  Python ``str`` characters, i.e. Unicode code points (Discord's counting
  unit is UNCONFIRMED).
* Booleans must be JSON ``true``/``false`` (``BOOLEAN_TYPE_CONVERT``).
* Integers accept JSON integers, integer-looking strings (``"5"``) and
  finite floats (truncated; observed for embed ``color``); never booleans.
* Snowflakes accept JSON integers and strings of ASCII digits in
  ``0..2**63-1``; anything else is ``NUMBER_TYPE_COERCE`` 'Value "x" is not snowflake.'.
  Discord's ids are signed 64-bit integers (a snowflake with bit 63 set would be
  dated after 2084), so nothing above ``2**63-1`` can name an object, and such a
  value must never reach SQLite, whose INTEGER is signed 64-bit too. ``0`` is a
  well-formed snowflake that names nothing (discord.py sends ``after=0`` to page
  from the start; an upload placeholder ``attachments[].id`` may be ``0``).
* A list longer than its maximum reports the length error and its items are
  not checked further (keeps error bodies bounded).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from discobase._discord.channels import normalize_channel_name
from discobase._discord.snowflakes import MAX_ID, coerce_snowflake, snowflake_at
from discobase.local.errors import FormErrors, HTTPError, bad_request

__all__ = [
    "CHANNEL_TYPES",
    "AttachmentSpec",
    "ChannelCreate",
    "ChannelEdit",
    "InviteCreate",
    "MessageCreate",
    "MessageEdit",
    "Overwrite",
    "OverwriteEdit",
    "Path",
    "check_bulk_delete_age",
    "normalize_channel_name",
    "parse_application_commands",
    "parse_bulk_delete",
    "parse_channel_create",
    "parse_channel_edit",
    "parse_invite_create",
    "parse_message_create",
    "parse_message_edit",
    "parse_overwrite_edit",
    "parse_query_bool",
    "parse_query_int",
    "parse_query_snowflake",
    "parse_snowflake",
]

Path = tuple[str | int, ...]
"""A location in the request body: keys and list indexes (``("embeds", 0, "title")``)."""

# ---------------------------------------------------------------------------------------------- limits
# Facts §2 unless noted.
MAX_CONTENT_LENGTH: Final = 2000  # [DOC MSG] (the spec's 4000 is the Nitro user limit)
MAX_EMBEDS: Final = 10
MAX_EMBED_TOTAL: Final = 6000
MAX_EMBED_TITLE: Final = 256
MAX_EMBED_DESCRIPTION: Final = 4096
MAX_EMBED_FIELDS: Final = 25
MAX_FIELD_NAME: Final = 256
MAX_FIELD_VALUE: Final = 1024
MAX_FOOTER_TEXT: Final = 2048
MAX_AUTHOR_NAME: Final = 256
MAX_URL: Final = 2048
MAX_COLOR: Final = 0xFFFFFF
MAX_ATTACHMENTS: Final = 10
MAX_ATTACHMENT_TEXT: Final = 1024  # filename (min 1), description, title
MAX_WAVEFORM: Final = 400  # [SPEC] MessageAttachmentRequest.waveform
MAX_NONCE_LENGTH: Final = 25
MAX_STICKERS: Final = 3
MAX_COMPONENTS: Final = 40  # [SPEC]
MAX_MENTION_IDS: Final = 100  # [SPEC] MessageAllowedMentionsRequest.users/roles
MAX_CHANNEL_NAME: Final = 100
MAX_TOPIC: Final = 1024
MAX_FORUM_TOPIC: Final = 4096  # GUILD_FORUM (15) and GUILD_MEDIA (16)
MAX_SLOWMODE: Final = 21600
MAX_OVERWRITES: Final = 100  # [SPEC] permission_overwrites.maxItems
MAX_INT32: Final = 2**31 - 1
MAX_INT64: Final = 2**63 - 1
MAX_SNOWFLAKE: Final = MAX_ID  # ids are signed 64-bit (see the module docstring)
MAX_PERMISSIONS: Final = 2**64 - 1
BULK_DELETE_MIN: Final = 2
BULK_DELETE_MAX: Final = 100
BULK_DELETE_MAX_AGE_MS: Final = 14 * 24 * 60 * 60 * 1000
MAX_INVITE_AGE: Final = 604800  # [DOC] 7 days (the spec says 5184000)
MAX_INVITE_USES: Final = 100
MAX_COMMANDS_PER_REQUEST: Final = 130  # [SPEC] bulk overwrite maxItems (100 chat + 15 user + 15 message)
MAX_COMMANDS_PER_TYPE: Final = {1: 100, 2: 15, 3: 15}  # [DOC] application commands "Registering a Command"
MAX_COMMAND_NAME: Final = 32
MAX_COMMAND_DESCRIPTION: Final = 100
MAX_COMMAND_OPTIONS: Final = 25
MAX_OPTION_CHOICES: Final = 25
MAX_LOCALIZATIONS: Final = 34  # [SPEC] name_localizations.maxProperties

CHANNEL_TYPES: Final = frozenset({0, 2, 4, 5, 13, 15})
"""Channel types the local server creates: text, voice, category, announcement, stage, forum."""
FORUM_TYPES: Final = frozenset({15, 16})
OVERWRITE_TYPES: Final = (0, 1)  # role, member
VIDEO_QUALITY_MODES: Final = (1, 2)
AUTO_ARCHIVE_DURATIONS: Final = (60, 1440, 4320, 10080)
MESSAGE_REFERENCE_TYPES: Final = (0, 1)  # DEFAULT (reply), FORWARD [DOC MSG]
ALLOWED_MENTION_TYPES: Final = ("users", "roles", "everyone")
INVITE_TARGET_TYPES: Final = (1, 2)
COMMAND_TYPES: Final = (1, 2, 3)  # CHAT_INPUT, USER, MESSAGE
OPTION_TYPES: Final = tuple(range(1, 12))  # SUB_COMMAND … ATTACHMENT
SUBCOMMAND_TYPES: Final = (1, 2)

_INT_TEXT: Final = re.compile(r"[+-]?[0-9]{1,4000}")
_MISSING: Final = object()

# ------------------------------------------------------------------------------------- error helpers


def _display(value: object) -> str:
    """How a rejected value is quoted in a message (Python ``str``, as Discord's backend does)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # deep nesting or an over-long int: never fail while reporting
        return type(value).__name__


def _form_error(path: Path, code: str, message: str) -> HTTPError:
    """A 400/50035 carrying a single field error (used for whole-body type errors)."""
    errors = FormErrors()
    errors.add(path, code, message)
    return HTTPError(400, 50035, "Invalid Form Body", errors.errors)


def _required(errors: FormErrors, path: Path) -> None:
    errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")


def _choices_message(choices: tuple[int, ...] | tuple[str, ...]) -> str:
    """``Value must be one of (0, 1).``: Python tuple formatting, as in the docs' example."""
    return f"Value must be one of {choices!r}."


def _check_length(
    errors: FormErrors, path: Path, length: int, min_len: int | None, max_len: int | None
) -> bool:
    """Discord's length rule for strings and lists: BAD_LENGTH when both bounds exist."""
    too_short = min_len is not None and length < min_len
    too_long = max_len is not None and length > max_len
    if not (too_short or too_long):
        return True
    if min_len is not None and max_len is not None:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {min_len} and {max_len} in length.")
    elif max_len is not None:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {max_len} or fewer in length.")
    else:
        errors.add(path, "BASE_TYPE_MIN_LENGTH", f"Must be {min_len} or more in length.")
    return False


# ------------------------------------------------------------------------------------ type converters


def _string(
    value: object,
    path: Path,
    errors: FormErrors,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
) -> str | None:
    """A JSON string within ``min_len..max_len`` code points, else STRING_TYPE_CONVERT / *_LENGTH."""
    if not isinstance(value, str):
        errors.add(path, "STRING_TYPE_CONVERT", f'Could not interpret "{_display(value)}" as string.')
        return None
    if not _check_length(errors, path, len(value), min_len, max_len):
        return None
    return value


def _coerce_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # pragma: no cover - the regex keeps int() within its digit limit
            return None
    return None


def _integer(
    value: object,
    path: Path,
    errors: FormErrors,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer in ``minimum..maximum``: NUMBER_TYPE_COERCE / NUMBER_TYPE_MIN / NUMBER_TYPE_MAX."""
    number = _coerce_int(value)
    if number is None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not int.')
        return None
    if minimum is not None and number < minimum:
        errors.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {minimum}.")
        return None
    if maximum is not None and number > maximum:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {maximum}.")
        return None
    return number


def _choice(value: object, path: Path, errors: FormErrors, choices: tuple[int, ...]) -> int | None:
    """An integer out of ``choices``: BASE_TYPE_CHOICES "Value must be one of (…)."."""
    number = _integer(value, path, errors)
    if number is None:
        return None
    if number not in choices:
        errors.add(path, "BASE_TYPE_CHOICES", _choices_message(choices))
        return None
    return number


def _number(value: object, path: Path, errors: FormErrors, *, minimum: int, maximum: int) -> float | None:
    """A finite JSON number (``duration_secs``): NUMBER_TYPE_COERCE 'Value "x" is not float.'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        ok = False
    else:
        ok = isinstance(value, int) or math.isfinite(value)
    if not ok:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not float.')
        return None
    assert isinstance(value, int | float)
    if value < minimum:  # compared before float(): a huge int would overflow the conversion
        errors.add(path, "NUMBER_TYPE_MIN", f"float value should be greater than or equal to {minimum}.")
        return None
    if value > maximum:
        errors.add(path, "NUMBER_TYPE_MAX", f"float value should be less than or equal to {maximum}.")
        return None
    return float(value)


def _boolean(value: object, path: Path, errors: FormErrors) -> bool | None:
    """JSON ``true``/``false`` only: BOOLEAN_TYPE_CONVERT "Must be either true or false." [OBS]."""
    if isinstance(value, bool):
        return value
    errors.add(path, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")
    return None


def _array(
    value: object,
    path: Path,
    errors: FormErrors,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
) -> list[Any] | None:
    """A JSON array within the item bounds: LIST_TYPE_CONVERT or a *_LENGTH error."""
    if not isinstance(value, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return None
    if not _check_length(errors, path, len(value), min_len, max_len):
        return None
    return value


def _items(values: list[Any], path: Path, errors: FormErrors, type_name: str) -> Iterator[tuple[int, Any]]:
    """Non-null items with their index; ``null`` items are LIST_ITEM_VALUE_REQUIRED [OBS]."""
    for index, item in enumerate(values):
        if item is None:
            errors.add(
                (*path, index), "LIST_ITEM_VALUE_REQUIRED", f"List item values of {type_name} are required"
            )
            continue
        yield index, item


def _model(value: object, path: Path, errors: FormErrors) -> dict[str, Any] | None:
    """A nested JSON object: MODEL_TYPE_CONVERT "Expected an object/dictionary." [OBS]."""
    if isinstance(value, dict):
        return value
    errors.add(path, "MODEL_TYPE_CONVERT", "Expected an object/dictionary.")
    return None


def parse_snowflake(value: object, path: Path, errors: FormErrors) -> int | None:
    """A snowflake (JSON int or digit string, ``0..2**63-1``), else records NUMBER_TYPE_COERCE.

    Real error [OBS]:
    ``{"code": "NUMBER_TYPE_COERCE", "message": 'Value "abc" is not snowflake.'}``.
    Returns ``None`` after recording the error in ``errors``.
    """
    number = coerce_snowflake(value)
    if number is None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not snowflake.')
    return number


def _permissions(value: object, path: Path, errors: FormErrors) -> int | None:
    """A permission bitfield: JSON int or digit string (what discord.py sends), ``0..2**64-1``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        number = int(value) if _INT_TEXT.fullmatch(value) else None
    if number is None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not int.')
        return None
    if number < 0:
        errors.add(path, "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0.")
        return None
    if number > MAX_PERMISSIONS:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {MAX_PERMISSIONS}.")
        return None
    return number


def _body_object(body: object) -> dict[str, Any]:
    """The request body as an object; ``null`` is an empty body.

    Anything else (array, string, number) is 50035 with a whole-request error
    ``{"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used in a DictType"}]}``
    (code and message UNCONFIRMED for the top level; this is Discord's dict-type error).
    """
    if body is None:
        return {}
    if isinstance(body, dict):
        return body
    raise _form_error((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")


def _given(data: dict[str, Any], key: str) -> object:
    """``data[key]``, or ``_MISSING`` when absent or ``null`` (Discord treats both alike)."""
    value = data.get(key)
    return _MISSING if value is None else value


# ------------------------------------------------------------------------------------------- embeds


def _url(value: object, path: Path, errors: FormErrors, *, attachment_ok: bool) -> str | None:
    """An embed URL: ≤ 2048 characters, scheme http(s) (or ``attachment://`` for media).

    Errors [OBS]: URL_TYPE_INVALID_SCHEME 'Scheme "x" is not supported. Scheme must be one of
    ('http', 'https').' and URL_TYPE_INVALID_URL "Not a well formed URL.". Discord checks host
    names more strictly (e.g. needs a dot); this server accepts any non-empty host.
    """
    text = _string(value, path, errors, max_len=MAX_URL)
    if text is None:
        return None
    schemes = ("http", "https", "attachment") if attachment_ok else ("http", "https")
    try:
        parts = urlsplit(text)
    except ValueError:
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        return None
    if parts.scheme.lower() not in schemes:
        errors.add(
            path,
            "URL_TYPE_INVALID_SCHEME",
            f'Scheme "{parts.scheme}" is not supported. Scheme must be one of {schemes!r}.',
        )
        return None
    if not parts.netloc or any(ch.isspace() for ch in text):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        return None
    return text


def _timestamp(value: object, path: Path, errors: FormErrors) -> str | None:
    """An ISO 8601 timestamp, normalised to ``isoformat()`` with an offset (naive → UTC).

    Error [OBS]: DATE_TIME_TYPE_PARSE "Could not parse {value}. Should be ISO8601.".
    """
    text = _string(value, path, errors)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        errors.add(path, "DATE_TIME_TYPE_PARSE", f"Could not parse {text}. Should be ISO8601.")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _embed_text(
    data: dict[str, Any], key: str, path: Path, errors: FormErrors, max_len: int, out: dict[str, Any]
) -> int:
    """Copy an optional embed text field into ``out``; return its counted (trimmed) length.

    Discord trims leading/trailing whitespace and does not count it [DOC MSG "Embed Limits"];
    the stored value is trimmed too and dropped when nothing is left.
    """
    value = _given(data, key)
    if value is _MISSING:
        return 0
    text = _string(value, (*path, key), errors, max_len=max_len)
    if text is None:
        return 0
    text = text.strip()
    if text:
        out[key] = text
    return len(text)


def _embed_media(data: dict[str, Any], key: str, path: Path, errors: FormErrors, out: dict[str, Any]) -> None:
    """``image``/``thumbnail``/``video``: an object whose ``url`` may be ``attachment://name``."""
    value = _given(data, key)
    if value is _MISSING:
        return
    media = _model(value, (*path, key), errors)
    if media is None:
        return
    result: dict[str, Any] = {}
    url = _given(media, "url")
    if url is not _MISSING:
        checked = _url(url, (*path, key, "url"), errors, attachment_ok=True)
        if checked is not None:
            result["url"] = checked
    for dim in ("width", "height"):
        size = _given(media, dim)
        if size is not _MISSING:
            number = _integer(size, (*path, key, dim), errors, minimum=0, maximum=MAX_INT32)
            if number is not None:
                result[dim] = number
    description = _given(media, "description")
    if description is not _MISSING:
        text = _string(description, (*path, key, "description"), errors, max_len=MAX_EMBED_DESCRIPTION)
        if text is not None:
            result["description"] = text
    if result:
        out[key] = result


def _embed(value: object, path: Path, errors: FormErrors) -> tuple[dict[str, Any], int] | None:
    """One rich embed (RichEmbed), normalised, with its character count for the 6000 rule.

    Limits [DOC MSG, SPEC]: title 256, description 4096, ≤ 25 fields (name ≤ 256 and value
    ≤ 1024, both required and non-blank), footer.text 2048, author.name 256, provider.name 256,
    every URL ≤ 2048, color 0..16777215, timestamp ISO 8601. An embed with nothing to show
    (no title, description, fields, author, footer, image, thumbnail or video) is
    ``description`` BASE_TYPE_REQUIRED, as Discord answers an empty embed [OBS].
    """
    data = _model(value, path, errors)
    if data is None:
        return None
    start = errors.count
    out: dict[str, Any] = {"type": "rich"}
    kind = _given(data, "type")
    if kind is not _MISSING:
        _string(kind, (*path, "type"), errors)  # bots always send "rich"; other types are ignored
    total = _embed_text(data, "title", path, errors, MAX_EMBED_TITLE, out)
    total += _embed_text(data, "description", path, errors, MAX_EMBED_DESCRIPTION, out)
    url = _given(data, "url")
    if url is not _MISSING:
        checked = _url(url, (*path, "url"), errors, attachment_ok=False)
        if checked is not None:
            out["url"] = checked
    timestamp = _given(data, "timestamp")
    if timestamp is not _MISSING:
        moment = _timestamp(timestamp, (*path, "timestamp"), errors)
        if moment is not None:
            out["timestamp"] = moment
    color = _given(data, "color")
    if color is not _MISSING:
        number = _integer(color, (*path, "color"), errors, minimum=0, maximum=MAX_COLOR)
        if number is not None:
            out["color"] = number

    footer = _given(data, "footer")
    if footer is not _MISSING:
        footer_data = _model(footer, (*path, "footer"), errors)
        if footer_data is not None:
            footer_out: dict[str, Any] = {}
            total += _embed_text(footer_data, "text", (*path, "footer"), errors, MAX_FOOTER_TEXT, footer_out)
            icon = _given(footer_data, "icon_url")
            if icon is not _MISSING:
                checked = _url(icon, (*path, "footer", "icon_url"), errors, attachment_ok=True)
                if checked is not None:
                    footer_out["icon_url"] = checked
            if footer_out:
                out["footer"] = footer_out

    author = _given(data, "author")
    if author is not _MISSING:
        author_data = _model(author, (*path, "author"), errors)
        if author_data is not None:
            author_out: dict[str, Any] = {}
            total += _embed_text(author_data, "name", (*path, "author"), errors, MAX_AUTHOR_NAME, author_out)
            for key, media_ok in (("url", False), ("icon_url", True)):
                link = _given(author_data, key)
                if link is not _MISSING:
                    checked = _url(link, (*path, "author", key), errors, attachment_ok=media_ok)
                    if checked is not None:
                        author_out[key] = checked
            if author_out:
                out["author"] = author_out

    provider = _given(data, "provider")
    if provider is not _MISSING:
        provider_data = _model(provider, (*path, "provider"), errors)
        if provider_data is not None:
            provider_out: dict[str, Any] = {}
            _embed_text(provider_data, "name", (*path, "provider"), errors, MAX_AUTHOR_NAME, provider_out)
            link = _given(provider_data, "url")
            if link is not _MISSING:
                checked = _url(link, (*path, "provider", "url"), errors, attachment_ok=False)
                if checked is not None:
                    provider_out["url"] = checked
            if provider_out:
                out["provider"] = provider_out

    for media in ("image", "thumbnail", "video"):
        _embed_media(data, media, path, errors, out)

    fields = _given(data, "fields")
    if fields is not _MISSING:
        values = _array(fields, (*path, "fields"), errors, max_len=MAX_EMBED_FIELDS)
        if values is not None:
            fields_out: list[dict[str, Any]] = []
            for index, item in _items(values, (*path, "fields"), errors, "ModelType"):
                parsed = _embed_field(item, (*path, "fields", index), errors)
                if parsed is not None:
                    entry, size = parsed
                    fields_out.append(entry)
                    total += size
            if fields_out:
                out["fields"] = fields_out

    shown = ("title", "description", "fields", "author", "footer", "image", "thumbnail", "video")
    if not any(key in out for key in shown) and errors.count == start:
        _required(errors, (*path, "description"))
    return out, total


def _embed_field(value: object, path: Path, errors: FormErrors) -> tuple[dict[str, Any], int] | None:
    """An embed field: ``name`` ≤ 256 and ``value`` ≤ 1024, required and not blank [DOC MSG; OBS]."""
    data = _model(value, path, errors)
    if data is None:
        return None
    result: dict[str, Any] = {}
    size = 0
    for key, limit in (("name", MAX_FIELD_NAME), ("value", MAX_FIELD_VALUE)):
        raw = _given(data, key)
        if raw is _MISSING:
            _required(errors, (*path, key))
            continue
        text = _string(raw, (*path, key), errors, max_len=limit)
        if text is None:
            continue
        text = text.strip()
        if not text:  # whitespace-only is "This field is required" (why bots use "\u200b")
            _required(errors, (*path, key))
            continue
        result[key] = text
        size += len(text)
    inline = _given(data, "inline")
    result["inline"] = False
    if inline is not _MISSING:
        flag = _boolean(inline, (*path, "inline"), errors)
        if flag is not None:
            result["inline"] = flag
    if "name" not in result or "value" not in result:
        return None
    return result, size


def _embeds(value: object, errors: FormErrors) -> list[dict[str, Any]] | None:
    """``embeds``: ≤ 10 embeds, together ≤ 6000 counted characters.

    Over 6000 → ``errors.embeds._errors = [{"code": "MAX_EMBED_SIZE_EXCEEDED",
    "message": "Embed size exceeds maximum size of 6000"}]`` ("In embeds: Embed size exceeds
    maximum size of 6000" [OBS]; the leaf code is UNCONFIRMED).
    """
    values = _array(value, ("embeds",), errors, max_len=MAX_EMBEDS)
    if values is None:
        return None
    result: list[dict[str, Any]] = []
    total = 0
    failed = False
    for index, item in _items(values, ("embeds",), errors, "ModelType"):
        parsed = _embed(item, ("embeds", index), errors)
        if parsed is None:
            failed = True
            continue
        embed, size = parsed
        result.append(embed)
        total += size
    if total > MAX_EMBED_TOTAL:
        errors.add(
            ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
        )
    return None if failed else result


# ------------------------------------------------------------------------------------------ messages


@dataclass
class AttachmentSpec:
    """One entry of a message's ``attachments`` (MessageAttachmentRequest).

    ``id`` is either the placeholder ``n`` of an upload ``files[n]`` or, on edits, the id of
    an attachment to keep. ``fields_set`` names the keys that were given (non-null): on an
    edit only those change an existing attachment (``description``/``is_spoiler`` are
    editable since 2026-06-24).
    """

    id: int
    filename: str | None = None
    description: str | None = None
    title: str | None = None
    is_spoiler: bool | None = None
    duration_secs: float | None = None
    waveform: str | None = None
    fields_set: frozenset[str] = frozenset()


@dataclass
class MessageCreate:
    """A validated ``POST /channels/{id}/messages`` body (MessageCreateRequest)."""

    content: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[AttachmentSpec] | None = None
    nonce: str | int | None = None
    enforce_nonce: bool = False
    tts: bool = False
    flags: int = 0
    components: list[Any] = field(default_factory=list)
    sticker_ids: list[int] = field(default_factory=list)
    message_reference: dict[str, Any] | None = None
    """Wire form for the message object: ``{type, message_id, channel_id?, guild_id?}`` (string ids)."""
    fail_if_not_exists: bool = True
    """``message_reference.fail_if_not_exists`` (request-only, so not in ``message_reference``)."""
    allowed_mentions: dict[str, Any] | None = None
    poll: dict[str, Any] | None = None
    fields_set: set[str] = field(default_factory=set)


@dataclass
class MessageEdit:
    """A validated ``PATCH /channels/{id}/messages/{id}`` body (MessageEditRequestPartial).

    Only keys in ``fields_set`` change the message. ``content: null`` clears the content
    (``content`` is then ``None``); ``embeds``/``components``/``attachments: null`` clear them
    (value ``[]``). ``attachments`` is the full list to keep plus new uploads (v10 rule).
    ``flags: null`` and ``allowed_mentions: null`` change nothing and are not recorded.
    """

    content: str | None = None
    embeds: list[dict[str, Any]] | None = None
    flags: int | None = None
    allowed_mentions: dict[str, Any] | None = None
    components: list[Any] | None = None
    attachments: list[AttachmentSpec] | None = None
    fields_set: set[str] = field(default_factory=set)


def _content(value: object, errors: FormErrors) -> str | None:
    """``content``: a string of at most 2000 characters (code points) [DOC MSG].

    2001 → ``{"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
    "message": "Must be 2000 or fewer in length."}]}}`` [OBS].
    """
    return _string(value, ("content",), errors, max_len=MAX_CONTENT_LENGTH)


def _nonce(value: object, errors: FormErrors) -> str | int | None:
    """``nonce``: an int64 or a string of ≤ 25 characters [DOC MSG; SPEC].

    Codes as reproduced by a Discord mock (UNCONFIRMED on the wire): NONCE_TYPE_INVALID_TYPE
    "This field must be a string or integer.", NONCE_TYPE_TOO_LONG "Must be 25 or fewer
    characters long.", NONCE_TYPE_OUT_OF_BOUNDS for integers outside int64.
    """
    path: Path = ("nonce",)
    if isinstance(value, str):
        if len(value) > MAX_NONCE_LENGTH:
            errors.add(path, "NONCE_TYPE_TOO_LONG", f"Must be {MAX_NONCE_LENGTH} or fewer characters long.")
            return None
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value <= MAX_INT64:
            errors.add(path, "NONCE_TYPE_OUT_OF_BOUNDS", f"Must be between {-(2**63)} and {MAX_INT64}.")
            return None
        return value
    errors.add(path, "NONCE_TYPE_INVALID_TYPE", "This field must be a string or integer.")
    return None


def _snowflake_list(
    value: object, path: Path, errors: FormErrors, *, max_len: int | None, type_name: str = "SnowflakeType"
) -> list[int] | None:
    values = _array(value, path, errors, max_len=max_len)
    if values is None:
        return None
    result: list[int] = []
    ok = True
    for index, item in _items(values, path, errors, type_name):
        number = parse_snowflake(item, (*path, index), errors)
        if number is None:
            ok = False
        else:
            result.append(number)
    return result if ok and len(result) == len(values) else None


def _sticker_ids(value: object, errors: FormErrors) -> list[int] | None:
    """``sticker_ids``: at most 3 snowflakes [DOC MSG; SPEC]."""
    return _snowflake_list(value, ("sticker_ids",), errors, max_len=MAX_STICKERS)


def _components(value: object, errors: FormErrors) -> list[Any] | None:
    """``components``: at most 40 top-level components [SPEC], each an object with an int ``type``.

    Components are otherwise passed through unchecked (their layout rules are not mirrored).
    """
    values = _array(value, ("components",), errors, max_len=MAX_COMPONENTS)
    if values is None:
        return None
    start = errors.count
    for index, item in _items(values, ("components",), errors, "ModelType"):
        data = _model(item, ("components", index), errors)
        if data is None:
            continue
        kind = _given(data, "type")
        if kind is _MISSING:
            _required(errors, ("components", index, "type"))
        else:
            _integer(kind, ("components", index, "type"), errors, minimum=1, maximum=MAX_INT32)
    return list(values) if errors.count == start else None


def _flags(value: object, path: Path, errors: FormErrors) -> int | None:
    """``flags``: an integer bitfield (Discord keeps only the flags a request may set)."""
    return _integer(value, path, errors, minimum=0, maximum=MAX_INT64)


def _allowed_mentions(value: object, errors: FormErrors) -> dict[str, Any] | None:
    """``allowed_mentions`` (MessageAllowedMentionsRequest), normalised.

    ``parse`` ⊆ ('users', 'roles', 'everyone') (a set: SET_TYPE_CONVERT "Only iterables may be
    used in a SetType" [OBS message; code UNCONFIRMED]); ``users``/``roles`` ≤ 100 snowflakes;
    ``replied_user`` bool; ``parse: ["users"]`` together with ``users: [...]`` is
    MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE (likewise roles).
    """
    path: Path = ("allowed_mentions",)
    data = _model(value, path, errors)
    if data is None:
        return None
    result: dict[str, Any] = {}
    ok = True
    parse = _given(data, "parse")
    if parse is not _MISSING:
        if not isinstance(parse, list):
            errors.add((*path, "parse"), "SET_TYPE_CONVERT", "Only iterables may be used in a SetType")
            ok = False
        else:
            kinds: list[str] = []
            for index, item in enumerate(parse):
                if item is None:
                    continue
                if not isinstance(item, str) or item not in ALLOWED_MENTION_TYPES:
                    errors.add(
                        (*path, "parse", index), "BASE_TYPE_CHOICES", _choices_message(ALLOWED_MENTION_TYPES)
                    )
                    ok = False
                elif item not in kinds:
                    kinds.append(item)
            result["parse"] = kinds
    for key in ("users", "roles"):
        ids = _given(data, key)
        if ids is _MISSING:
            continue
        values = _array(ids, (*path, key), errors, max_len=MAX_MENTION_IDS)
        if values is None:
            ok = False
            continue
        parsed: list[int] = []
        for index, item in enumerate(values):
            if item is None:
                continue
            number = parse_snowflake(item, (*path, key, index), errors)
            if number is None:
                ok = False
            elif number not in parsed:
                parsed.append(number)
        result[key] = parsed
        if parsed and key in result.get("parse", []):
            errors.add(
                path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{key}"] and {key}: [ids...] are mutually exclusive.',
            )
            ok = False
    replied = _given(data, "replied_user")
    if replied is not _MISSING:
        flag = _boolean(replied, (*path, "replied_user"), errors)
        if flag is None:
            ok = False
        else:
            result["replied_user"] = flag
    return result if ok else None


def _message_reference(value: object, errors: FormErrors) -> tuple[dict[str, Any], bool] | None:
    """``message_reference`` (MessageReferenceRequest): ``message_id`` required.

    Returns the wire form (``type``, ids as strings) and ``fail_if_not_exists`` (default true).
    ``type`` is 0 (DEFAULT, a reply) or 1 (FORWARD) [DOC MSG].
    """
    path: Path = ("message_reference",)
    data = _model(value, path, errors)
    if data is None:
        return None
    result: dict[str, Any] = {"type": 0}
    ok = True
    kind = _given(data, "type")
    if kind is not _MISSING:
        choice = _choice(kind, (*path, "type"), errors, MESSAGE_REFERENCE_TYPES)
        if choice is None:
            ok = False
        else:
            result["type"] = choice
    message_id = _given(data, "message_id")
    if message_id is _MISSING:
        _required(errors, (*path, "message_id"))
        ok = False
    else:
        number = parse_snowflake(message_id, (*path, "message_id"), errors)
        if number is None:
            ok = False
        else:
            result["message_id"] = str(number)
    for key in ("channel_id", "guild_id"):
        raw = _given(data, key)
        if raw is not _MISSING:
            number = parse_snowflake(raw, (*path, key), errors)
            if number is None:
                ok = False
            else:
                result[key] = str(number)
    fail = True
    raw_fail = _given(data, "fail_if_not_exists")
    if raw_fail is not _MISSING:
        flag = _boolean(raw_fail, (*path, "fail_if_not_exists"), errors)
        if flag is None:
            ok = False
        else:
            fail = flag
    return (result, fail) if ok else None


def _attachment(value: object, path: Path, errors: FormErrors) -> AttachmentSpec | None:
    """One MessageAttachmentRequest: ``id`` (snowflake) required; filename 1-1024, description ≤ 1024."""
    data = _model(value, path, errors)
    if data is None:
        return None
    ok = True
    given: set[str] = set()
    raw_id = _given(data, "id")
    attachment_id: int | None = None
    if raw_id is _MISSING:
        _required(errors, (*path, "id"))
        ok = False
    else:
        attachment_id = parse_snowflake(raw_id, (*path, "id"), errors)
        ok = attachment_id is not None
    texts: dict[str, str] = {}
    for key, min_len, max_len in (
        ("filename", 1, MAX_ATTACHMENT_TEXT),
        ("description", None, MAX_ATTACHMENT_TEXT),
        ("title", None, MAX_ATTACHMENT_TEXT),
        ("waveform", None, MAX_WAVEFORM),
    ):
        raw = _given(data, key)
        if raw is _MISSING:
            continue
        text = _string(raw, (*path, key), errors, min_len=min_len, max_len=max_len)
        if text is None:
            ok = False
        else:
            texts[key] = text
            given.add(key)
    spoiler: bool | None = None
    raw_spoiler = _given(data, "is_spoiler")
    if raw_spoiler is not _MISSING:
        spoiler = _boolean(raw_spoiler, (*path, "is_spoiler"), errors)
        ok = ok and spoiler is not None
        given.add("is_spoiler")
    duration: float | None = None
    raw_duration = _given(data, "duration_secs")
    if raw_duration is not _MISSING:
        duration = _number(raw_duration, (*path, "duration_secs"), errors, minimum=0, maximum=MAX_INT32)
        ok = ok and duration is not None
        given.add("duration_secs")
    if not ok or attachment_id is None:
        return None
    return AttachmentSpec(
        id=attachment_id,
        filename=texts.get("filename"),
        description=texts.get("description"),
        title=texts.get("title"),
        is_spoiler=spoiler,
        duration_secs=duration,
        waveform=texts.get("waveform"),
        fields_set=frozenset(given),
    )


def _attachments(value: object, errors: FormErrors) -> list[AttachmentSpec] | None:
    """``attachments``: at most 10 entries [SPEC maxItems 10]."""
    values = _array(value, ("attachments",), errors, max_len=MAX_ATTACHMENTS)
    if values is None:
        return None
    result: list[AttachmentSpec] = []
    for index, item in _items(values, ("attachments",), errors, "ModelType"):
        spec = _attachment(item, ("attachments", index), errors)
        if spec is not None:
            result.append(spec)
    return result if len(result) == len(values) else None


def _check_uploads(uploads: int) -> None:
    """More than 10 ``files[n]`` parts → 400/30015 "Maximum number of attachments in message reached (10)"."""
    if uploads > MAX_ATTACHMENTS:
        raise bad_request(30015, f"Maximum number of attachments in message reached ({MAX_ATTACHMENTS})")


def parse_message_create(body: object, *, uploads: int = 0) -> MessageCreate:
    """Validate a Create Message body (``payload_json`` or the JSON body) [DOC MSG; SPEC].

    ``uploads`` is the number of ``files[n]`` parts. Checks, in Discord's order:

    1. more than 10 uploads → 400/30015;
    2. every field (all errors collected) → 400/50035: ``content`` ≤ 2000, ``embeds`` ≤ 10 and
       ≤ 6000 characters in total, ``nonce`` int64 or ≤ 25 characters, ``sticker_ids`` ≤ 3,
       ``components`` ≤ 40, ``attachments`` ≤ 10 each with an ``id``, ``tts``/``enforce_nonce``
       booleans, ``flags`` int, ``allowed_mentions``, ``message_reference``, ``poll`` object;
    3. nothing to send → 400/50006 "Cannot send an empty message": no content (``""`` or only
       whitespace counts as none), no embeds, stickers, components, uploads or poll.
       (Discord trims message content; the whitespace rule is UNCONFIRMED for bots.)
    """
    _check_uploads(uploads)
    data = _body_object(body)
    errors = FormErrors()
    result = MessageCreate()

    value = _given(data, "content")
    if value is not _MISSING:
        result.content = _content(value, errors)
        result.fields_set.add("content")
    value = _given(data, "embeds")
    if value is not _MISSING:
        result.embeds = _embeds(value, errors) or []
        result.fields_set.add("embeds")
    value = _given(data, "attachments")
    if value is not _MISSING:
        result.attachments = _attachments(value, errors)
        result.fields_set.add("attachments")
    value = _given(data, "nonce")
    if value is not _MISSING:
        result.nonce = _nonce(value, errors)
        result.fields_set.add("nonce")
    for key in ("enforce_nonce", "tts"):
        value = _given(data, key)
        if value is not _MISSING:
            flag = _boolean(value, (key,), errors)
            setattr(result, key, bool(flag))
            result.fields_set.add(key)
    value = _given(data, "flags")
    if value is not _MISSING:
        result.flags = _flags(value, ("flags",), errors) or 0
        result.fields_set.add("flags")
    value = _given(data, "components")
    if value is not _MISSING:
        result.components = _components(value, errors) or []
        result.fields_set.add("components")
    value = _given(data, "sticker_ids")
    if value is not _MISSING:
        result.sticker_ids = _sticker_ids(value, errors) or []
        result.fields_set.add("sticker_ids")
    value = _given(data, "allowed_mentions")
    if value is not _MISSING:
        result.allowed_mentions = _allowed_mentions(value, errors)
        result.fields_set.add("allowed_mentions")
    value = _given(data, "message_reference")
    if value is not _MISSING:
        reference = _message_reference(value, errors)
        if reference is not None:
            result.message_reference, result.fail_if_not_exists = reference
        result.fields_set.add("message_reference")
    value = _given(data, "poll")
    if value is not _MISSING:
        result.poll = _model(value, ("poll",), errors)
        result.fields_set.add("poll")
    errors.raise_if_any()

    has_content = bool(result.content and result.content.strip())
    if not (
        has_content
        or result.embeds
        or result.sticker_ids
        or result.components
        or uploads > 0
        or result.poll is not None
        or _given(data, "shared_client_theme") is not _MISSING
    ):
        raise bad_request(50006, "Cannot send an empty message")
    return result


def parse_message_edit(body: object, *, uploads: int = 0) -> MessageEdit:
    """Validate an Edit Message body (partial: every field optional and nullable) [DOC MSG; SPEC].

    Same per-field limits as :func:`parse_message_create`; more than 10 uploads is 30015.
    Whether the edited message would be empty (50006) depends on the stored message, so it
    is left to the caller.
    """
    _check_uploads(uploads)
    data = _body_object(body)
    errors = FormErrors()
    result = MessageEdit()
    if "content" in data:
        value = data["content"]
        result.content = None if value is None else _content(value, errors)
        result.fields_set.add("content")
    if "embeds" in data:
        value = data["embeds"]
        result.embeds = [] if value is None else _embeds(value, errors)
        result.fields_set.add("embeds")
    if "components" in data:
        value = data["components"]
        result.components = [] if value is None else _components(value, errors)
        result.fields_set.add("components")
    if "attachments" in data:
        value = data["attachments"]
        result.attachments = [] if value is None else _attachments(value, errors)
        result.fields_set.add("attachments")
    value = _given(data, "flags")
    if value is not _MISSING:
        result.flags = _flags(value, ("flags",), errors)
        result.fields_set.add("flags")
    value = _given(data, "allowed_mentions")
    if value is not _MISSING:
        result.allowed_mentions = _allowed_mentions(value, errors)
        result.fields_set.add("allowed_mentions")
    errors.raise_if_any()
    return result


def parse_bulk_delete(body: object, *, now_ms: int | None = None) -> list[int]:
    """Validate ``POST /channels/{id}/messages/bulk-delete``: ``{"messages": [2..100 snowflakes]}``.

    The count rule is answered as form validation, 400/50035 with
    ``errors.messages._errors = [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 2
    and 100 in length."}]``: the spec (generated from Discord's validators) declares
    ``minItems 2, maxItems 100`` on the body, so the form check rejects the request before
    the handler could answer with the legacy code 50016 listed in the docs (UNCONFIRMED).
    A repeated id is ``messages.N`` SET_TYPE_ALREADY_CONTAINS_VALUE "The set already contains
    this value" [OBS "In messages.6: The set already contains this value"].

    With ``now_ms``, ids older than 14 days are then 400/50034 (see :func:`check_bulk_delete_age`).
    """
    data = _body_object(body)
    errors = FormErrors()
    raw = _given(data, "messages")
    ids: list[int] = []
    if raw is _MISSING:
        _required(errors, ("messages",))
    else:
        values = _array(raw, ("messages",), errors, min_len=BULK_DELETE_MIN, max_len=BULK_DELETE_MAX)
        if values is not None:
            seen: set[int] = set()
            for index, item in _items(values, ("messages",), errors, "SnowflakeType"):
                number = parse_snowflake(item, ("messages", index), errors)
                if number is None:
                    continue
                if number in seen:
                    errors.add(
                        ("messages", index),
                        "SET_TYPE_ALREADY_CONTAINS_VALUE",
                        "The set already contains this value",
                    )
                    continue
                seen.add(number)
                ids.append(number)
    errors.raise_if_any()
    if now_ms is not None:
        check_bulk_delete_age(ids, now_ms)
    return ids


def check_bulk_delete_age(ids: list[int], now_ms: int) -> None:
    """400/50034 "You can only bulk delete messages that are under 14 days old." [DOC MSG; OBS].

    The oldest accepted id is ``((now_ms - 14 days) - epoch) << 22`` (issue #208).
    """
    oldest = snowflake_at(now_ms - BULK_DELETE_MAX_AGE_MS)
    if any(message_id < oldest for message_id in ids):
        raise bad_request(50034, "You can only bulk delete messages that are under 14 days old.")


# ------------------------------------------------------------------------------------------ channels


@dataclass
class Overwrite:
    """A permission overwrite: ``type`` 0 = role, 1 = member; ``allow``/``deny`` bitfields."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


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
    return "Value must be one of {" + ", ".join(str(t) for t in sorted(CHANNEL_TYPES)) + "}."


def _channel_type(value: object, errors: FormErrors) -> int | None:
    number = _integer(value, ("type",), errors)
    if number is None:
        return None
    if number not in CHANNEL_TYPES:
        errors.add(("type",), "BASE_TYPE_CHOICES", _channel_type_choices())
        return None
    return number


def _channel_name(value: object, errors: FormErrors) -> str | None:
    """``name``: 1-100 characters, BASE_TYPE_BAD_LENGTH "Must be between 1 and 100 in length." [OBS]."""
    return _string(value, ("name",), errors, min_len=1, max_len=MAX_CHANNEL_NAME)


def _topic(value: object, errors: FormErrors, channel_type: int | None) -> str | None:
    """``topic``: 0-1024 characters, 0-4096 for forum/media channels [DOC CH]."""
    limit = MAX_FORUM_TOPIC if channel_type in FORUM_TYPES else MAX_TOPIC
    return _string(value, ("topic",), errors, max_len=limit)


def _overwrite(value: object, path: Path, errors: FormErrors) -> Overwrite | None:
    """One overwrite: ``id`` snowflake and ``type`` 0|1 required; ``allow``/``deny`` default 0."""
    data = _model(value, path, errors)
    if data is None:
        return None
    ok = True
    raw_id = _given(data, "id")
    overwrite_id: int | None = None
    if raw_id is _MISSING:
        _required(errors, (*path, "id"))
        ok = False
    else:
        overwrite_id = parse_snowflake(raw_id, (*path, "id"), errors)
        ok = overwrite_id is not None
    raw_type = _given(data, "type")
    kind: int | None = None
    if raw_type is _MISSING:
        _required(errors, (*path, "type"))
        ok = False
    else:
        kind = _choice(raw_type, (*path, "type"), errors, OVERWRITE_TYPES)
        ok = ok and kind is not None
    bits = {"allow": 0, "deny": 0}
    for key in bits:
        raw = _given(data, key)
        if raw is not _MISSING:
            number = _permissions(raw, (*path, key), errors)
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
    values = _array(value, path, errors, max_len=MAX_OVERWRITES)
    if values is None:
        return None
    result: list[Overwrite] = []
    for index, item in _items(values, path, errors, "ModelType"):
        overwrite = _overwrite(item, (*path, index), errors)
        if overwrite is not None:
            result.append(overwrite)
    return result if len(result) == len(values) else None


def _user_limit(value: object, errors: FormErrors, channel_type: int | None) -> int | None:
    """``user_limit``: 0-99 for voice, 0-10000 for stage channels [DOC CH]."""
    maximum = 10000 if channel_type == 13 else 99
    return _integer(value, ("user_limit",), errors, minimum=0, maximum=maximum)


def _channel_fields(data: dict[str, Any], errors: FormErrors, kind: int | None) -> dict[str, object]:
    """Parse the optional fields shared by channel create and edit.

    Keys present in the body map to their parsed value; ``None`` means "given as null" (or
    invalid, in which case an error was recorded).
    """
    parsers: dict[str, Callable[[object], object]] = {
        "topic": lambda v: _topic(v, errors, kind),
        "position": lambda v: _integer(v, ("position",), errors, minimum=0, maximum=MAX_INT32),
        "parent_id": lambda v: parse_snowflake(v, ("parent_id",), errors),
        "nsfw": lambda v: _boolean(v, ("nsfw",), errors),
        "rate_limit_per_user": lambda v: _integer(
            v, ("rate_limit_per_user",), errors, minimum=0, maximum=MAX_SLOWMODE
        ),
        "permission_overwrites": lambda v: _overwrites(v, errors),
        "bitrate": lambda v: _integer(v, ("bitrate",), errors, minimum=8000, maximum=MAX_INT32),
        "user_limit": lambda v: _user_limit(v, errors, kind),
        "rtc_region": lambda v: _string(v, ("rtc_region",), errors),
        "video_quality_mode": lambda v: _choice(v, ("video_quality_mode",), errors, VIDEO_QUALITY_MODES),
        "default_auto_archive_duration": lambda v: _choice(
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
    data = _body_object(body)
    errors = FormErrors()
    kind = 0
    raw_type = _given(data, "type")
    if raw_type is not _MISSING:
        parsed_type = _channel_type(raw_type, errors)
        kind = parsed_type if parsed_type is not None else 0
    name: str | None = None
    raw_name = _given(data, "name")
    if raw_name is _MISSING:
        _required(errors, ("name",))
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
    data = _body_object(body)
    errors = FormErrors()
    result = ChannelEdit()
    raw_type = _given(data, "type")
    if raw_type is not _MISSING:
        result.type = _channel_type(raw_type, errors)
    kind = result.type if result.type is not None else channel_type
    raw_name = _given(data, "name")
    if raw_name is not _MISSING:
        result.name = _channel_name(raw_name, errors)
    raw_flags = _given(data, "flags")
    if raw_flags is not _MISSING:
        result.flags = _flags(raw_flags, ("flags",), errors)
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
    data = _body_object(body)
    errors = FormErrors()
    kind: int | None = None
    raw_type = _given(data, "type")
    if raw_type is _MISSING:
        _required(errors, ("type",))
    else:
        kind = _choice(raw_type, ("type",), errors, OVERWRITE_TYPES)
    bits = {"allow": 0, "deny": 0}
    for key in bits:
        raw = _given(data, key)
        if raw is not _MISSING:
            bits[key] = _permissions(raw, (key,), errors) or 0
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
    data = _body_object(body)
    errors = FormErrors()
    result = InviteCreate()
    value = _given(data, "max_age")
    if value is not _MISSING:
        result.max_age = _integer(value, ("max_age",), errors, minimum=0, maximum=MAX_INVITE_AGE) or 0
    value = _given(data, "max_uses")
    if value is not _MISSING:
        result.max_uses = _integer(value, ("max_uses",), errors, minimum=0, maximum=MAX_INVITE_USES) or 0
    for key in ("temporary", "unique"):
        value = _given(data, key)
        if value is not _MISSING:
            setattr(result, key, _boolean(value, (key,), errors) is True)
    value = _given(data, "target_type")
    if value is not _MISSING:
        result.target_type = _choice(value, ("target_type",), errors, INVITE_TARGET_TYPES)
    for key in ("target_user_id", "target_application_id"):
        value = _given(data, key)
        if value is not _MISSING:
            setattr(result, key, parse_snowflake(value, (key,), errors))
    errors.raise_if_any()
    return result


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
    name = _string(value, path, errors, min_len=1, max_len=MAX_COMMAND_NAME)
    if name is None:
        return None
    if chat_input and not _command_name_ok(name):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        return None
    return name


def _description(value: object, path: Path, errors: FormErrors) -> str | None:
    return _string(value, path, errors, min_len=1, max_len=MAX_COMMAND_DESCRIPTION)


def _localizations(
    data: dict[str, Any], key: str, path: Path, errors: FormErrors, max_len: int
) -> dict[str, str] | None:
    raw = _given(data, key)
    if raw is _MISSING:
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
        checked = _string(text, where, errors, min_len=1, max_len=max_len)
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
    values = _array(value, path, errors, max_len=MAX_COMMAND_OPTIONS)
    if values is None:
        return None
    result: list[dict[str, Any]] = []
    for index, item in _items(values, path, errors, "ModelType"):
        option_path = (*path, index)
        data = _model(item, option_path, errors)
        if data is None:
            continue
        option: dict[str, Any] = dict(data)
        raw_type = _given(data, "type")
        if raw_type is _MISSING:
            _required(errors, (*option_path, "type"))
        else:
            kind = _choice(raw_type, (*option_path, "type"), errors, OPTION_TYPES)
            if kind is not None:
                option["type"] = kind
        raw_name = _given(data, "name")
        if raw_name is _MISSING:
            _required(errors, (*option_path, "name"))
        else:
            _command_name(raw_name, (*option_path, "name"), errors, chat_input=True)
        raw_description = _given(data, "description")
        if raw_description is _MISSING:
            _required(errors, (*option_path, "description"))
        else:
            _description(raw_description, (*option_path, "description"), errors)
        raw_required = _given(data, "required")
        if raw_required is not _MISSING:
            _boolean(raw_required, (*option_path, "required"), errors)
        raw_choices = _given(data, "choices")
        if raw_choices is not _MISSING:
            choices = _array(raw_choices, (*option_path, "choices"), errors, max_len=MAX_OPTION_CHOICES)
            for choice_index, choice in _items(choices or [], (*option_path, "choices"), errors, "ModelType"):
                choice_path = (*option_path, "choices", choice_index)
                choice_data = _model(choice, choice_path, errors)
                if choice_data is None:
                    continue
                if _given(choice_data, "name") is _MISSING:
                    _required(errors, (*choice_path, "name"))
                else:
                    _description(choice_data["name"], (*choice_path, "name"), errors)
                if _given(choice_data, "value") is _MISSING:
                    _required(errors, (*choice_path, "value"))
        raw_options = _given(data, "options")
        if raw_options is not _MISSING:
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
        raise _form_error((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    errors = FormErrors()
    if len(body) > MAX_COMMANDS_PER_REQUEST:
        raise _form_error(
            (), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_COMMANDS_PER_REQUEST} or fewer in length."
        )
    commands: list[dict[str, Any]] = []
    for index, item in _items(body, (), errors, "ModelType"):
        data = _model(item, (index,), errors)
        if data is None:
            continue
        command: dict[str, Any] = dict(data)
        kind = 1
        raw_type = _given(data, "type")
        if raw_type is not _MISSING:
            kind = _choice(raw_type, (index, "type"), errors, COMMAND_TYPES) or 1
        command["type"] = kind
        chat_input = kind == 1
        raw_name = _given(data, "name")
        if raw_name is _MISSING:
            _required(errors, (index, "name"))
        else:
            name = _command_name(raw_name, (index, "name"), errors, chat_input=chat_input)
            if name is not None:
                command["name"] = name
        raw_description = _given(data, "description")
        if chat_input:
            if raw_description is _MISSING:
                _required(errors, (index, "description"))
            else:
                _description(raw_description, (index, "description"), errors)
        else:
            if raw_description is not _MISSING:
                _string(raw_description, (index, "description"), errors, max_len=MAX_COMMAND_DESCRIPTION)
            command["description"] = ""
        for key, limit in (("name_localizations", MAX_COMMAND_NAME), ("description_localizations", 100)):
            localized = _localizations(data, key, (index,), errors, limit)
            if localized is not None:
                command[key] = localized
        raw_options = _given(data, "options")
        if raw_options is not _MISSING:
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
        raw_permissions = _given(data, "default_member_permissions")
        if raw_permissions is not _MISSING:
            permissions = _permissions(raw_permissions, (index, "default_member_permissions"), errors)
            if permissions is not None:
                command["default_member_permissions"] = str(permissions)
        for key in ("dm_permission", "nsfw"):
            raw_flag = _given(data, key)
            if raw_flag is not _MISSING:
                _boolean(raw_flag, (index, key), errors)
        commands.append(command)
    errors.raise_if_any()

    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for command in commands:
        ident = (int(command["type"]), str(command["name"]))
        if ident in seen:
            raise _form_error(
                (), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add(ident)
        counts[ident[0]] = counts.get(ident[0], 0) + 1
    for kind, count in counts.items():
        limit = MAX_COMMANDS_PER_TYPE.get(kind, MAX_COMMANDS_PER_REQUEST)
        if count > limit:
            raise bad_request(30032, f"Maximum number of application commands reached ({limit})")
    return commands


# --------------------------------------------------------------------------------------- query strings


def _query_error(name: str, code: str, message: str) -> HTTPError:
    return _form_error((name,), code, message)


def parse_query_snowflake(value: str | None, name: str) -> int | None:
    """A snowflake query parameter (``before``/``after``/``around``); absent → ``None``.

    Bad → 400/50035 ``{name: {"_errors": [{"code": "NUMBER_TYPE_COERCE",
    "message": 'Value "x" is not snowflake.'}]}}`` [OBS].
    """
    if value is None:
        return None
    number = coerce_snowflake(value)
    if number is None:
        raise _query_error(name, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not snowflake.')
    return number


def parse_query_int(value: str | None, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter such as ``limit`` (1-100, default 50 for messages) [DOC MSG].

    Not an integer → NUMBER_TYPE_COERCE 'Value "x" is not int.'; out of range → NUMBER_TYPE_MIN
    "int value should be greater than or equal to 1." / NUMBER_TYPE_MAX "int value should be
    less than or equal to 100." (400/50035, keyed by ``name``).
    """
    if value is None:
        return default
    number = _coerce_int(value) if isinstance(value, str) else None
    if number is None:
        raise _query_error(name, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not int.')
    if number < minimum:
        raise _query_error(
            name, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {minimum}."
        )
    if number > maximum:
        raise _query_error(name, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {maximum}.")
    return number


_TRUE_QUERY: Final = frozenset({"true", "True", "1"})
_FALSE_QUERY: Final = frozenset({"false", "False", "0"})


def parse_query_bool(value: str | None, name: str, *, default: bool) -> bool:
    """A boolean query parameter: ``True``/``true``/``1`` and ``False``/``false``/``0`` [DOC REF].

    Anything else → 400/50035 BOOLEAN_TYPE_CONVERT "Must be either true or false." [OBS].
    """
    if value is None:
        return default
    if value in _TRUE_QUERY:
        return True
    if value in _FALSE_QUERY:
        return False
    raise _query_error(name, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")


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


# ------------------------------------------------------------------------------------ interaction callbacks


def body_object(body: object) -> dict[str, Any]:
    """The request body as a JSON object (``null`` → ``{}``); anything else is 400/50035."""
    return _body_object(body)


def coerce_flags(value: object) -> int:
    """A ``flags`` value if it is a non-negative integer, else 0 (for a deferred response's
    ``data.flags``, where only EPHEMERAL matters)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT64:
        return value
    return 0


def parse_choices(data: dict[str, Any]) -> list[dict[str, Any]]:
    """An autocomplete result's ``choices``: ≤ 25 of ``{name 1-100, value}`` where a string value
    is ≤ 100 (https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-choice-structure)."""
    errors = FormErrors()
    values = _array(data.get("choices", []), ("data", "choices"), errors, max_len=MAX_OPTION_CHOICES)
    choices: list[dict[str, Any]] = []
    for index, item in _items(values or [], ("data", "choices"), errors, "object"):
        path: Path = ("data", "choices", index)
        choice = _model(item, path, errors)
        if choice is None:
            continue
        name = _string(choice.get("name"), (*path, "name"), errors, min_len=1, max_len=100)
        value = choice.get("value")
        if isinstance(value, str):
            _check_length(errors, (*path, "value"), len(value), None, 100)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors.add((*path, "value"), "BASE_TYPE_REQUIRED", "This field is required")
        if name is not None:
            choices.append({"name": name, "value": value})
    errors.raise_if_any()
    return choices


def parse_modal(data: dict[str, Any]) -> dict[str, Any]:
    """A modal: ``custom_id`` 1-100, ``title`` 1-45, 1-5 ``components``
    (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-modal)."""
    errors = FormErrors()
    custom_id = _string(data.get("custom_id"), ("data", "custom_id"), errors, min_len=1, max_len=100)
    title = _string(data.get("title"), ("data", "title"), errors, min_len=1, max_len=45)
    components = _array(data.get("components"), ("data", "components"), errors, min_len=1, max_len=5)
    for index, item in _items(components or [], ("data", "components"), errors, "object"):
        _model(item, ("data", "components", index), errors)
    errors.raise_if_any()
    return {"custom_id": custom_id, "title": title, "components": list(components or [])}
