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
    _MISSING,
    Path,
    _array,
    _boolean,
    _given,
    _integer,
    _items,
    _model,
    _required,
    _string,
    _timestamp,
    _url,
)

__all__ = []

# ------------------------------------------------------------------------------------------- embeds


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
