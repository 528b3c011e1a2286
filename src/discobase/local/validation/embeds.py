"""Embeds of a message body (https://docs.discord.com/developers/resources/message#embed-object)."""

from __future__ import annotations

from typing import Any

from discobase._discord.limits import (
    MAX_AUTHOR_NAME,
    MAX_COLOR,
    MAX_EMBED_DESCRIPTION,
    MAX_EMBED_FIELDS,
    MAX_EMBED_TITLE,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_FOOTER_TEXT,
    MAX_INT32,
)
from discobase.local.errors import FormErrors
from discobase.local.validation.fields import (
    MISSING,
    Path,
    array_items,
    given_value,
    parse_array,
    parse_boolean,
    parse_integer,
    parse_object,
    parse_string,
    parse_timestamp,
    parse_url,
    report_required,
)

__all__ = ["parse_embeds"]

# ------------------------------------------------------------------------------------------- embeds


def _embed_text(
    data: dict[str, Any], key: str, path: Path, errors: FormErrors, max_len: int, out: dict[str, Any]
) -> int:
    """Copy an optional embed text field into ``out``; return its counted (trimmed) length.

    Discord trims leading/trailing whitespace and does not count it [DOC MSG "Embed Limits"];
    the stored value is trimmed too and dropped when nothing is left.
    """
    value = given_value(data, key)
    if value is MISSING:
        return 0
    text = parse_string(value, (*path, key), errors, max_len=max_len)
    if text is None:
        return 0
    text = text.strip()
    if text:
        out[key] = text
    return len(text)


def _embed_media(data: dict[str, Any], key: str, path: Path, errors: FormErrors, out: dict[str, Any]) -> None:
    """``image``/``thumbnail``/``video``: an object whose ``url`` may be ``attachment://name``."""
    value = given_value(data, key)
    if value is MISSING:
        return
    media = parse_object(value, (*path, key), errors)
    if media is None:
        return
    result: dict[str, Any] = {}
    url = given_value(media, "url")
    if url is not MISSING:
        checked = parse_url(url, (*path, key, "url"), errors, attachment_ok=True)
        if checked is not None:
            result["url"] = checked
    for dim in ("width", "height"):
        size = given_value(media, dim)
        if size is not MISSING:
            number = parse_integer(size, (*path, key, dim), errors, minimum=0, maximum=MAX_INT32)
            if number is not None:
                result[dim] = number
    description = given_value(media, "description")
    if description is not MISSING:
        text = parse_string(description, (*path, key, "description"), errors, max_len=MAX_EMBED_DESCRIPTION)
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
    data = parse_object(value, path, errors)
    if data is None:
        return None
    start = errors.count
    out: dict[str, Any] = {"type": "rich"}
    kind = given_value(data, "type")
    if kind is not MISSING:
        parse_string(kind, (*path, "type"), errors)  # bots always send "rich"; other types are ignored
    total = _embed_text(data, "title", path, errors, MAX_EMBED_TITLE, out)
    total += _embed_text(data, "description", path, errors, MAX_EMBED_DESCRIPTION, out)
    url = given_value(data, "url")
    if url is not MISSING:
        checked = parse_url(url, (*path, "url"), errors, attachment_ok=False)
        if checked is not None:
            out["url"] = checked
    timestamp = given_value(data, "timestamp")
    if timestamp is not MISSING:
        moment = parse_timestamp(timestamp, (*path, "timestamp"), errors)
        if moment is not None:
            out["timestamp"] = moment
    color = given_value(data, "color")
    if color is not MISSING:
        number = parse_integer(color, (*path, "color"), errors, minimum=0, maximum=MAX_COLOR)
        if number is not None:
            out["color"] = number

    footer = given_value(data, "footer")
    if footer is not MISSING:
        footer_data = parse_object(footer, (*path, "footer"), errors)
        if footer_data is not None:
            footer_out: dict[str, Any] = {}
            total += _embed_text(footer_data, "text", (*path, "footer"), errors, MAX_FOOTER_TEXT, footer_out)
            icon = given_value(footer_data, "icon_url")
            if icon is not MISSING:
                checked = parse_url(icon, (*path, "footer", "icon_url"), errors, attachment_ok=True)
                if checked is not None:
                    footer_out["icon_url"] = checked
            if footer_out:
                out["footer"] = footer_out

    author = given_value(data, "author")
    if author is not MISSING:
        author_data = parse_object(author, (*path, "author"), errors)
        if author_data is not None:
            author_out: dict[str, Any] = {}
            total += _embed_text(author_data, "name", (*path, "author"), errors, MAX_AUTHOR_NAME, author_out)
            for key, media_ok in (("url", False), ("icon_url", True)):
                link = given_value(author_data, key)
                if link is not MISSING:
                    checked = parse_url(link, (*path, "author", key), errors, attachment_ok=media_ok)
                    if checked is not None:
                        author_out[key] = checked
            if author_out:
                out["author"] = author_out

    provider = given_value(data, "provider")
    if provider is not MISSING:
        provider_data = parse_object(provider, (*path, "provider"), errors)
        if provider_data is not None:
            provider_out: dict[str, Any] = {}
            _embed_text(provider_data, "name", (*path, "provider"), errors, MAX_AUTHOR_NAME, provider_out)
            link = given_value(provider_data, "url")
            if link is not MISSING:
                checked = parse_url(link, (*path, "provider", "url"), errors, attachment_ok=False)
                if checked is not None:
                    provider_out["url"] = checked
            if provider_out:
                out["provider"] = provider_out

    for media in ("image", "thumbnail", "video"):
        _embed_media(data, media, path, errors, out)

    fields = given_value(data, "fields")
    if fields is not MISSING:
        values = parse_array(fields, (*path, "fields"), errors, max_len=MAX_EMBED_FIELDS)
        if values is not None:
            fields_out: list[dict[str, Any]] = []
            for index, item in array_items(values, (*path, "fields"), errors, "ModelType"):
                parsed = _embed_field(item, (*path, "fields", index), errors)
                if parsed is not None:
                    entry, size = parsed
                    fields_out.append(entry)
                    total += size
            if fields_out:
                out["fields"] = fields_out

    shown = ("title", "description", "fields", "author", "footer", "image", "thumbnail", "video")
    if not any(key in out for key in shown) and errors.count == start:
        report_required(errors, (*path, "description"))
    return out, total


def _embed_field(value: object, path: Path, errors: FormErrors) -> tuple[dict[str, Any], int] | None:
    """An embed field: ``name`` ≤ 256 and ``value`` ≤ 1024, required and not blank [DOC MSG; OBS]."""
    data = parse_object(value, path, errors)
    if data is None:
        return None
    result: dict[str, Any] = {}
    size = 0
    for key, limit in (("name", MAX_FIELD_NAME), ("value", MAX_FIELD_VALUE)):
        raw = given_value(data, key)
        if raw is MISSING:
            report_required(errors, (*path, key))
            continue
        text = parse_string(raw, (*path, key), errors, max_len=limit)
        if text is None:
            continue
        text = text.strip()
        if not text:  # whitespace-only is "This field is required" (why bots use "\u200b")
            report_required(errors, (*path, key))
            continue
        result[key] = text
        size += len(text)
    inline = given_value(data, "inline")
    result["inline"] = False
    if inline is not MISSING:
        flag = parse_boolean(inline, (*path, "inline"), errors)
        if flag is not None:
            result["inline"] = flag
    if "name" not in result or "value" not in result:
        return None
    return result, size


def parse_embeds(value: object, errors: FormErrors) -> list[dict[str, Any]] | None:
    """``embeds``: ≤ 10 embeds, together ≤ 6000 counted characters.

    Over 6000 → ``errors.embeds._errors = [{"code": "MAX_EMBED_SIZE_EXCEEDED",
    "message": "Embed size exceeds maximum size of 6000"}]`` ("In embeds: Embed size exceeds
    maximum size of 6000" [OBS]; the leaf code is UNCONFIRMED).
    """
    values = parse_array(value, ("embeds",), errors, max_len=MAX_EMBEDS)
    if values is None:
        return None
    result: list[dict[str, Any]] = []
    total = 0
    failed = False
    for index, item in array_items(values, ("embeds",), errors, "ModelType"):
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
