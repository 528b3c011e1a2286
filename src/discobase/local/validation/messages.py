"""Message bodies: create, edit and bulk delete.

See https://docs.discord.com/developers/resources/message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from discobase._discord.limits import (
    BULK_DELETE_MAX,
    BULK_DELETE_MAX_AGE_MS,
    BULK_DELETE_MIN,
    CONTENT_LIMIT,
    FILES_PER_MESSAGE,
    MAX_ATTACHMENT_TEXT,
    MAX_COMPONENTS,
    MAX_INT32,
    MAX_INT64,
    MAX_MENTION_IDS,
    MAX_NONCE_LENGTH,
    MAX_STICKERS,
    MAX_WAVEFORM,
    MESSAGE_REFERENCE_TYPES,
)
from discobase._discord.messages import ALLOWED_MENTION_TYPES
from discobase._discord.snowflakes import snowflake_at
from discobase.local.errors import FormErrors, bad_request
from discobase.local.validation.embeds import parse_embeds
from discobase.local.validation.fields import (
    MISSING,
    Path,
    array_items,
    body_object,
    choices_message,
    given_value,
    parse_array,
    parse_boolean,
    parse_choice,
    parse_flags,
    parse_integer,
    parse_number,
    parse_object,
    parse_required_snowflake,
    parse_snowflake,
    parse_string,
    report_required,
)

__all__ = [
    "AttachmentSpec",
    "MessageCreate",
    "MessageEdit",
    "check_bulk_delete_age",
    "parse_bulk_delete",
    "parse_message_create",
    "parse_message_edit",
]

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
    return parse_string(value, ("content",), errors, max_len=CONTENT_LIMIT)


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
    values = parse_array(value, path, errors, max_len=max_len)
    if values is None:
        return None
    result: list[int] = []
    ok = True
    for index, item in array_items(values, path, errors, type_name):
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
    values = parse_array(value, ("components",), errors, max_len=MAX_COMPONENTS)
    if values is None:
        return None
    start = errors.count
    for index, item in array_items(values, ("components",), errors, "ModelType"):
        data = parse_object(item, ("components", index), errors)
        if data is None:
            continue
        kind = given_value(data, "type")
        if kind is MISSING:
            report_required(errors, ("components", index, "type"))
        else:
            parse_integer(kind, ("components", index, "type"), errors, minimum=1, maximum=MAX_INT32)
    return list(values) if errors.count == start else None


def _allowed_mentions(value: object, errors: FormErrors) -> dict[str, Any] | None:
    """``allowed_mentions`` (MessageAllowedMentionsRequest), normalised.

    ``parse`` ⊆ ('users', 'roles', 'everyone') (a set: SET_TYPE_CONVERT "Only iterables may be
    used in a SetType" [OBS message; code UNCONFIRMED]); ``users``/``roles`` ≤ 100 snowflakes;
    ``replied_user`` bool; ``parse: ["users"]`` together with ``users: [...]`` is
    MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE (likewise roles).
    """
    path: Path = ("allowed_mentions",)
    data = parse_object(value, path, errors)
    if data is None:
        return None
    result: dict[str, Any] = {}
    ok = True
    parse = given_value(data, "parse")
    if parse is not MISSING:
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
                        (*path, "parse", index), "BASE_TYPE_CHOICES", choices_message(ALLOWED_MENTION_TYPES)
                    )
                    ok = False
                elif item not in kinds:
                    kinds.append(item)
            result["parse"] = kinds
    for key in ("users", "roles"):
        ids = given_value(data, key)
        if ids is MISSING:
            continue
        values = parse_array(ids, (*path, key), errors, max_len=MAX_MENTION_IDS)
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
    replied = given_value(data, "replied_user")
    if replied is not MISSING:
        flag = parse_boolean(replied, (*path, "replied_user"), errors)
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
    data = parse_object(value, path, errors)
    if data is None:
        return None
    result: dict[str, Any] = {"type": 0}
    ok = True
    kind = given_value(data, "type")
    if kind is not MISSING:
        choice = parse_choice(kind, (*path, "type"), errors, MESSAGE_REFERENCE_TYPES)
        if choice is None:
            ok = False
        else:
            result["type"] = choice
    message_id = given_value(data, "message_id")
    if message_id is MISSING:
        report_required(errors, (*path, "message_id"))
        ok = False
    else:
        number = parse_snowflake(message_id, (*path, "message_id"), errors)
        if number is None:
            ok = False
        else:
            result["message_id"] = str(number)
    for key in ("channel_id", "guild_id"):
        raw = given_value(data, key)
        if raw is not MISSING:
            number = parse_snowflake(raw, (*path, key), errors)
            if number is None:
                ok = False
            else:
                result[key] = str(number)
    fail = True
    raw_fail = given_value(data, "fail_if_not_exists")
    if raw_fail is not MISSING:
        flag = parse_boolean(raw_fail, (*path, "fail_if_not_exists"), errors)
        if flag is None:
            ok = False
        else:
            fail = flag
    return (result, fail) if ok else None


def _attachment(value: object, path: Path, errors: FormErrors) -> AttachmentSpec | None:
    """One MessageAttachmentRequest: ``id`` (snowflake) required; filename 1-1024, description ≤ 1024."""
    data = parse_object(value, path, errors)
    if data is None:
        return None
    ok = True
    given: set[str] = set()
    attachment_id = parse_required_snowflake(data, "id", path, errors)
    ok = attachment_id is not None
    texts: dict[str, str] = {}
    for key, min_len, max_len in (
        ("filename", 1, MAX_ATTACHMENT_TEXT),
        ("description", None, MAX_ATTACHMENT_TEXT),
        ("title", None, MAX_ATTACHMENT_TEXT),
        ("waveform", None, MAX_WAVEFORM),
    ):
        raw = given_value(data, key)
        if raw is MISSING:
            continue
        text = parse_string(raw, (*path, key), errors, min_len=min_len, max_len=max_len)
        if text is None:
            ok = False
        else:
            texts[key] = text
            given.add(key)
    spoiler: bool | None = None
    raw_spoiler = given_value(data, "is_spoiler")
    if raw_spoiler is not MISSING:
        spoiler = parse_boolean(raw_spoiler, (*path, "is_spoiler"), errors)
        ok = ok and spoiler is not None
        given.add("is_spoiler")
    duration: float | None = None
    raw_duration = given_value(data, "duration_secs")
    if raw_duration is not MISSING:
        duration = parse_number(raw_duration, (*path, "duration_secs"), errors, minimum=0, maximum=MAX_INT32)
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
    values = parse_array(value, ("attachments",), errors, max_len=FILES_PER_MESSAGE)
    if values is None:
        return None
    result: list[AttachmentSpec] = []
    for index, item in array_items(values, ("attachments",), errors, "ModelType"):
        spec = _attachment(item, ("attachments", index), errors)
        if spec is not None:
            result.append(spec)
    return result if len(result) == len(values) else None


def _check_uploads(uploads: int) -> None:
    """More than 10 ``files[n]`` parts → 400/30015 "Maximum number of attachments in message reached (10)"."""
    if uploads > FILES_PER_MESSAGE:
        raise bad_request(30015, f"Maximum number of attachments in message reached ({FILES_PER_MESSAGE})")


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
    data = body_object(body)
    errors = FormErrors()
    result = MessageCreate()

    value = given_value(data, "content")
    if value is not MISSING:
        result.content = _content(value, errors)
        result.fields_set.add("content")
    value = given_value(data, "embeds")
    if value is not MISSING:
        result.embeds = parse_embeds(value, errors) or []
        result.fields_set.add("embeds")
    value = given_value(data, "attachments")
    if value is not MISSING:
        result.attachments = _attachments(value, errors)
        result.fields_set.add("attachments")
    value = given_value(data, "nonce")
    if value is not MISSING:
        result.nonce = _nonce(value, errors)
        result.fields_set.add("nonce")
    for key in ("enforce_nonce", "tts"):
        value = given_value(data, key)
        if value is not MISSING:
            flag = parse_boolean(value, (key,), errors)
            setattr(result, key, bool(flag))
            result.fields_set.add(key)
    value = given_value(data, "flags")
    if value is not MISSING:
        result.flags = parse_flags(value, ("flags",), errors) or 0
        result.fields_set.add("flags")
    value = given_value(data, "components")
    if value is not MISSING:
        result.components = _components(value, errors) or []
        result.fields_set.add("components")
    value = given_value(data, "sticker_ids")
    if value is not MISSING:
        result.sticker_ids = _sticker_ids(value, errors) or []
        result.fields_set.add("sticker_ids")
    value = given_value(data, "allowed_mentions")
    if value is not MISSING:
        result.allowed_mentions = _allowed_mentions(value, errors)
        result.fields_set.add("allowed_mentions")
    value = given_value(data, "message_reference")
    if value is not MISSING:
        reference = _message_reference(value, errors)
        if reference is not None:
            result.message_reference, result.fail_if_not_exists = reference
        result.fields_set.add("message_reference")
    value = given_value(data, "poll")
    if value is not MISSING:
        result.poll = parse_object(value, ("poll",), errors)
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
        or given_value(data, "shared_client_theme") is not MISSING
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
    data = body_object(body)
    errors = FormErrors()
    result = MessageEdit()
    if "content" in data:
        value = data["content"]
        result.content = None if value is None else _content(value, errors)
        result.fields_set.add("content")
    if "embeds" in data:
        value = data["embeds"]
        result.embeds = [] if value is None else parse_embeds(value, errors)
        result.fields_set.add("embeds")
    if "components" in data:
        value = data["components"]
        result.components = [] if value is None else _components(value, errors)
        result.fields_set.add("components")
    if "attachments" in data:
        value = data["attachments"]
        result.attachments = [] if value is None else _attachments(value, errors)
        result.fields_set.add("attachments")
    value = given_value(data, "flags")
    if value is not MISSING:
        result.flags = parse_flags(value, ("flags",), errors)
        result.fields_set.add("flags")
    value = given_value(data, "allowed_mentions")
    if value is not MISSING:
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
    data = body_object(body)
    errors = FormErrors()
    raw = given_value(data, "messages")
    ids: list[int] = []
    if raw is MISSING:
        report_required(errors, ("messages",))
    else:
        values = parse_array(raw, ("messages",), errors, min_len=BULK_DELETE_MIN, max_len=BULK_DELETE_MAX)
        if values is not None:
            seen: set[int] = set()
            for index, item in array_items(values, ("messages",), errors, "SnowflakeType"):
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
