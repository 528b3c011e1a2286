"""Signed, expiring attachment URLs, shaped like the ones of Discord's CDN.

Discord signs every attachment URL it hands out with three query parameters
(https://docs.discord.com/developers/reference#signed-attachment-cdn-urls):
``ex``, the expiry as a hexadecimal Unix timestamp; ``is``, when the URL was
issued, in the same form; and ``hm``, a signature over the two and the file.
A URL whose signature does not match or whose expiry has passed is refused
with 404 and the text "This content is no longer available."; fetching the
message again through the API gives a fresh URL. Discord's own URLs last
about a day.

The local server does the same. ``hm`` is an HMAC-SHA256 (hex) under a
32-byte key kept in the server's data file, over the channel id, the
attachment id, the file name and both timestamps; so a URL names exactly one
file, cannot be moved to another channel, attachment or file name, and cannot
have its expiry pushed back. The key survives restarts on the same file, so a
URL stays good for its whole lifetime like Discord's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import quote

from aiohttp import web

from discobase._discord.snowflakes import coerce_snowflake, is_object_id

__all__ = ["DEFAULT_URL_LIFETIME", "GONE_MESSAGE", "AttachmentSigner", "serve_attachment"]

#: How long an attachment URL stays valid, in seconds (Discord's last about 24 hours).
DEFAULT_URL_LIFETIME: Final = 24 * 60 * 60.0
#: The text Discord's CDN answers an expired or badly signed attachment URL with (status 404).
GONE_MESSAGE: Final = "This content is no longer available."

_HEX_TIME: Final = re.compile(r"[0-9a-f]{1,16}")
_HEX_SIGNATURE: Final = re.compile(r"[0-9a-f]{64}")


class AttachmentSigner:
    """Signs and checks attachment URLs with ``key``.

    ``lifetime`` is how many seconds a signed URL stays valid (0 makes every URL
    expire at once, for tests); ``clock`` gives the current Unix time.
    """

    def __init__(
        self, key: bytes, *, lifetime: float = DEFAULT_URL_LIFETIME, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 16:
            raise ValueError("the attachment URL key must be at least 16 bytes")
        if not lifetime >= 0:  # also refuses NaN
            raise ValueError(f"the attachment URL lifetime must be >= 0 seconds, not {lifetime!r}")
        self._key = key
        self.lifetime = lifetime
        self._clock = clock

    def _signature(
        self, channel_id: int, attachment_id: int, filename: str, expires: str, issued: str
    ) -> str:
        message = f"{channel_id}/{attachment_id}/{filename}\n{expires}\n{issued}"
        return hmac.new(self._key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def path(self, channel_id: int, attachment_id: int, filename: str) -> str:
        """``/attachments/{channel_id}/{attachment_id}/{filename}``, the name percent-encoded.

        The encoding includes ``/``.
        """
        return f"/attachments/{channel_id}/{attachment_id}/{quote(filename, safe='', errors='surrogatepass')}"

    def query(self, channel_id: int, attachment_id: int, filename: str) -> str:
        """``ex=…&is=…&hm=…&``: the signed query string of a URL issued now."""
        now = self._clock()
        issued = f"{int(now):08x}"
        expires = f"{int(now + self.lifetime):08x}"
        signature = self._signature(channel_id, attachment_id, filename, expires, issued)
        return f"ex={expires}&is={issued}&hm={signature}&"

    def url(self, base_url: str, channel_id: int, attachment_id: int, filename: str) -> str:
        """The full signed URL of an attachment on the server at ``base_url``."""
        path = self.path(channel_id, attachment_id, filename)
        return f"{base_url}{path}?{self.query(channel_id, attachment_id, filename)}"

    def verify(self, channel_id: int, attachment_id: int, filename: str, query: Mapping[str, str]) -> bool:
        """Whether ``query`` holds a valid, unexpired signature for this attachment and file name."""
        expires = query.get("ex", "")
        issued = query.get("is", "")
        signature = query.get("hm", "")
        if not (
            _HEX_TIME.fullmatch(expires)
            and _HEX_TIME.fullmatch(issued)
            and _HEX_SIGNATURE.fullmatch(signature)
        ):
            return False
        expected = self._signature(channel_id, attachment_id, filename, expires, issued)
        if not hmac.compare_digest(expected, signature):
            return False
        return int(issued, 16) <= int(expires, 16) and self._clock() < int(expires, 16)


def serve_attachment(
    request: web.Request, signer: AttachmentSigner, read: Callable[[int, int], bytes | None]
) -> web.Response:
    """The CDN route's answer: an attachment's bytes (``read`` by channel and attachment id).

    Only for a URL ``signer`` signed that has not expired and names the attachment's file;
    anything else is 404 "This content is no longer available." (as Discord's CDN answers),
    decided before ``read`` is called.
    """
    channel_id = coerce_snowflake(request.match_info["channel_id"])
    attachment_id = coerce_snowflake(request.match_info["attachment_id"])
    if (
        channel_id is None
        or attachment_id is None
        or not is_object_id(channel_id)
        or not is_object_id(attachment_id)
        or not signer.verify(channel_id, attachment_id, request.match_info["filename"], request.query)
    ):
        return web.Response(status=404, text=GONE_MESSAGE)
    data = read(channel_id, attachment_id)
    if data is None:
        return web.Response(status=404, text=GONE_MESSAGE)
    return web.Response(body=data, content_type="application/octet-stream")
