"""Gateway frames: the transport encoders and the JSON payloads the hub sends and reads."""

from __future__ import annotations

import json
import zlib
from typing import Any, Protocol

import zstandard

from discobase._discord.gateway import LARGE_THRESHOLD, MAX_LARGE_THRESHOLD
from discobase._discord.snowflakes import coerce_snowflake

__all__ = [
    "FrameEncoder",
    "PlainEncoder",
    "ZlibStreamEncoder",
    "ZstdStreamEncoder",
    "author_id",
    "blank_content",
    "control",
    "dispatch_text",
    "dumps",
    "large_threshold",
    "make_encoder",
    "mentions_user",
    "snowflake_list",
]


class FrameEncoder(Protocol):
    """Turns one JSON gateway message into one websocket frame."""

    compression: str | None

    def encode(self, text: str) -> str | bytes:
        """A ``str`` becomes a TEXT frame, ``bytes`` a BINARY frame."""
        ...


class PlainEncoder:
    """No transport compression: every message is a TEXT frame of JSON."""

    compression: str | None = None

    def encode(self, text: str) -> str | bytes:
        """Return the JSON text unchanged."""
        return text


class ZlibStreamEncoder:
    """``compress=zlib-stream``: one zlib stream per connection.

    Each message is ``compress(json) + flush(Z_SYNC_FLUSH)``, so every frame
    ends with ``00 00 ff ff`` and discord.py's ``_ZlibDecompressionContext``
    inflates it with its single per-connection ``decompressobj``.
    """

    compression: str | None = "zlib-stream"

    def __init__(self) -> None:
        self._compressor = zlib.compressobj()

    def encode(self, text: str) -> str | bytes:
        """Compress one message and sync-flush it."""
        return self._compressor.compress(text.encode("utf-8")) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamEncoder:
    """``compress=zstd-stream``: one zstd stream per connection.

    Each message is compressed and flushed with ``COMPRESSOBJ_FLUSH_BLOCK``:
    the frame is never ended, but every websocket frame decodes to exactly one
    complete message with discord.py's single streaming decompressor.
    """

    compression: str | None = "zstd-stream"

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor().compressobj()

    def encode(self, text: str) -> str | bytes:
        """Compress one message and flush the current block."""
        return self._compressor.compress(text.encode("utf-8")) + self._compressor.flush(
            zstandard.COMPRESSOBJ_FLUSH_BLOCK
        )


def make_encoder(compress: str | None) -> FrameEncoder:
    """The encoder for a ``compress`` query value (unknown values fall back to plain text)."""
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    if compress == "zstd-stream":
        return ZstdStreamEncoder()
    return PlainEncoder()


def dumps(data: Any) -> str:
    """``data`` as compact JSON (non-ASCII kept as is)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def control(op: int, d: Any) -> str:
    """A non-dispatch payload (``s`` and ``t`` are null)."""
    return dumps({"op": op, "d": d, "s": None, "t": None})


def dispatch_text(event: str, seq: int, d_json: str) -> str:
    """An op 0 payload built around an already serialised ``d``."""
    return '{"op":0,"t":' + dumps(event) + ',"s":' + str(seq) + ',"d":' + d_json + "}"


def snowflake_list(value: Any) -> list[int] | None:
    """A snowflake or list of snowflakes as a list, or ``None`` if malformed."""
    items = value if isinstance(value, list) else [value]
    result = [coerce_snowflake(item) for item in items]
    if any(item is None for item in result):
        return None
    return [item for item in result if item is not None]


def author_id(data: dict[str, Any]) -> int | None:
    """The author's id of a message payload, or ``None``."""
    author = data.get("author")
    return coerce_snowflake(author.get("id")) if isinstance(author, dict) else None


def mentions_user(data: dict[str, Any], user_id: int) -> bool:
    """Whether a message payload mentions ``user_id``."""
    mentions = data.get("mentions")
    if not isinstance(mentions, list):
        return False
    return any(isinstance(m, dict) and coerce_snowflake(m.get("id")) == user_id for m in mentions)


def blank_content(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a message payload as seen without the MESSAGE_CONTENT intent."""
    blanked = dict(data)
    blanked.update(content="", embeds=[], attachments=[], components=[])
    blanked.pop("poll", None)
    return blanked


def large_threshold(value: Any) -> int:
    """IDENTIFY's ``large_threshold`` clamped into 50 to 250 (default 50).

    See https://discord.com/developers/docs/events/gateway-events#identify.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return LARGE_THRESHOLD
    return min(max(value, LARGE_THRESHOLD), MAX_LARGE_THRESHOLD)
