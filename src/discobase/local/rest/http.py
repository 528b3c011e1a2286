"""The HTTP plumbing every REST handler shares.

JSON answers, reading JSON and multipart bodies with Discord's limits, path
snowflakes and the authenticated bot of a request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from discobase.local import jsonbody
from discobase.local.errors import FormErrors, HTTPError, bad_request
from discobase.local.store import BotAccount, Grant
from discobase.local.validation import parse_snowflake

__all__ = [
    "API_PREFIXES",
    "BOT_KEY",
    "GRANT_KEY",
    "Handler",
    "RequestLimits",
    "Upload",
    "bot",
    "decode_body",
    "invalid_json",
    "json_response",
    "no_content",
    "now_iso",
    "path_id",
    "read_json",
    "read_message_body",
]

#: The API versions served; discord.py 2.7 uses v10.
API_PREFIXES = ("/api/v10", "/api/v9")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The authenticated bot of a request, set by the server's middleware.
BOT_KEY = web.RequestKey("discobase_bot", BotAccount)
#: The OAuth2 grant of a request authenticated with ``Bearer <token>`` (its user is in BOT_KEY).
GRANT_KEY = web.RequestKey("discobase_grant", Grant)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Body-size limits: ``upload_limit`` for one file, ``request_limit`` for a whole request."""

    upload_limit: int
    request_limit: int


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with ``Content-Type: application/json`` exactly (discord.py compares the string)."""
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def invalid_json() -> HTTPError:
    """Malformed JSON (a JSON body or ``payload_json``): 400/50109 [DOC OP "JSON Error Codes"]."""
    return HTTPError(400, 50109, "The request body contains invalid JSON.")


def decode_body(raw: bytes) -> Any:
    """A JSON request body (or ``payload_json``), decoded.

    Undecodable or nested deeper than :data:`~discobase.local.jsonbody.MAX_JSON_DEPTH` →
    400/50109 (see :mod:`~discobase.local.jsonbody`).
    """
    try:
        return jsonbody.decode(raw)
    except jsonbody.UndecodableJSON:
        raise invalid_json() from None


def no_content() -> web.Response:
    return web.Response(status=204)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(slots=True)
class Upload:
    """One ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    content_type: str | None
    data: bytes


def bot(request: web.Request) -> BotAccount:
    """The bot the request is authenticated as."""
    return request[BOT_KEY]


def path_id(request: web.Request, name: str) -> int:
    """A snowflake from the path; not a snowflake → 400/50035 as Discord."""
    raw = request.match_info[name]
    errors = FormErrors()
    value = parse_snowflake(raw, (name,), errors)
    errors.raise_if_any()
    if value is None:  # pragma: no cover - parse_snowflake reports an error instead
        raise bad_request(50035, "Invalid Form Body")
    return value


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The JSON body of a request.

    A wrong content type is 400/50035; malformed or too deeply nested JSON is 400/50109
    (:func:`decode_body`).
    """
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        return None
    ctype = request.content_type
    if ctype not in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data", ""):
        raise HTTPError(
            400,
            50035,
            "Invalid Form Body",
            {
                "_errors": [
                    {
                        "code": "CONTENT_TYPE_INVALID",
                        "message": 'Expected "Content-Type" header to be one of {"application/json", '
                        '"application/x-www-form-urlencoded", "multipart/form-data"}.',
                    }
                ]
            },
        )
    return decode_body(raw)


async def read_message_body(request: web.Request, limits: RequestLimits) -> tuple[Any, list[Upload]]:
    """JSON or multipart (``payload_json`` + ``files[n]``) message body, with size limits."""
    if request.content_type != "multipart/form-data":
        return await read_json(request), []
    try:
        return await _read_multipart(request, limits)
    except (ValueError, HttpProcessingError):
        # aiohttp's reader: no boundary, no starting boundary, truncated parts, bad part headers.
        # Discord's exact answer is UNCONFIRMED; a 400/50035 whole-request form error like its
        # other unreadable bodies (not a 500).
        raise HTTPError(
            400,
            50035,
            "Invalid Form Body",
            {"_errors": [{"code": "MULTIPART_INVALID", "message": "The multipart body is malformed."}]},
        ) from None


async def _read_multipart(request: web.Request, limits: RequestLimits) -> tuple[Any, list[Upload]]:
    limit = limits.upload_limit
    total = 0
    body: Any = None
    uploads: list[Upload] = []
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        data = bytearray()
        while chunk := await part.read_chunk(1 << 16):
            data.extend(chunk)
            total += len(chunk)
            if len(data) > limit or total > limits.request_limit:
                raise HTTPError(413, 40005, "Request entity too large")
        if name == "payload_json":
            body = decode_body(bytes(data))
        elif name.startswith("files[") and name.endswith("]") and name[6:-1].isdigit():
            uploads.append(
                Upload(
                    index=int(name[6:-1]),
                    filename=part.filename or f"file{name[6:-1]}",
                    content_type=part.headers.get("Content-Type"),
                    data=bytes(data),
                )
            )
        elif name in ("file", "files") or name.startswith("file"):
            uploads.append(
                Upload(len(uploads), part.filename or "file", part.headers.get("Content-Type"), bytes(data))
            )
    if body is None:
        body = {}
    return body, uploads
