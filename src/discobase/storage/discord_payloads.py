"""discord.py's payloads as the transport's records: messages, channels and file uploads."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import discord
from discord.http import MultipartParameters

from discobase.storage.transport import ChannelInfo, FileData, RawAttachment, RawMessage

__all__ = ["channel_from_payload", "message_from_discord", "message_from_payload", "upload_params"]


def message_from_payload(data: Mapping[str, Any]) -> RawMessage:
    """A :class:`RawMessage` from a REST or gateway message dict."""
    return RawMessage(
        id=int(data["id"]),
        channel_id=int(data["channel_id"]),
        author_id=int(data["author"]["id"]),
        content=data.get("content") or "",
        attachments=tuple(
            RawAttachment(id=int(a["id"]), filename=a["filename"], size=int(a["size"]), url=a["url"])
            for a in data.get("attachments") or ()
        ),
        edited=data.get("edited_timestamp") is not None,
    )


def message_from_discord(message: discord.Message) -> RawMessage:
    """A :class:`RawMessage` from a ``discord.Message`` (what ``on_message`` gets)."""
    return RawMessage(
        id=message.id,
        channel_id=message.channel.id,
        author_id=message.author.id,
        content=message.content,
        attachments=tuple(RawAttachment(a.id, a.filename, a.size, a.url) for a in message.attachments),
        edited=message.edited_at is not None,
    )


def channel_from_payload(data: Mapping[str, Any], *, visible: bool = True) -> ChannelInfo:
    """A :class:`ChannelInfo` from a channel dict."""
    parent = data.get("parent_id")
    last = data.get("last_message_id")
    return ChannelInfo(
        id=int(data["id"]),
        name=str(data.get("name") or ""),
        type=int(data["type"]),
        parent_id=int(parent) if parent is not None else None,
        topic=data.get("topic"),
        position=int(data.get("position") or 0),
        last_message_id=int(last) if last is not None else None,
        visible=visible,
    )


def _file(file: FileData) -> discord.File:
    """One upload as a ``discord.File``."""
    return discord.File(io.BytesIO(file.data), filename=file.filename)


def upload_params(payload: dict[str, Any], files: Sequence[FileData]) -> MultipartParameters:
    """discord.py's request parameters: JSON, or ``payload_json`` plus ``files[n]``."""
    if not files:
        return MultipartParameters(payload=payload, multipart=None, files=None)
    uploads = [_file(f) for f in files]
    multipart: list[dict[str, Any]] = [{"name": "payload_json", "value": json.dumps(payload)}]
    for index, upload in enumerate(uploads):
        multipart.append(
            {
                "name": f"files[{index}]",
                "value": upload.fp,
                "filename": upload.filename,
                "content_type": "application/octet-stream",
            }
        )
    return MultipartParameters(payload=None, multipart=multipart, files=uploads)
