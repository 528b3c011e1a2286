"""Discord's rate limits as data: bucket rules, the routes they cover, and profiles of them."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from discobase._discord.limits import BULK_DELETE_MAX_AGE_MS

__all__ = [
    "DISCORD_ROUTES",
    "GLOBAL_BUCKET",
    "RATE_LIMITED_MESSAGE",
    "SHARED_CHANNEL_WRITE",
    "SHARED_RATE_LIMITED_MESSAGE",
    "VIA_HEADER",
    "BucketRule",
    "Profile",
    "RateLimitProfile",
    "Resolved",
    "RouteRule",
    "bucket_hash",
    "ceil_ms",
    "major_parameter",
    "message_age_metadata",
]

Profile = Literal["discord", "off"]
Scope = Literal["user", "shared"]

#: ``Via`` value of Discord's front end; discord.py requires a ``Via`` header on 429s.
VIA_HEADER = "1.1 google"
#: 429 message for the per-user and global limits [DOC RL].
RATE_LIMITED_MESSAGE = "You are being rate limited."
#: 429 message for a shared (per-resource) limit [DOC RL examples].
SHARED_RATE_LIMITED_MESSAGE = "The resource is being rate limited."

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _normalise_template(template: str) -> str:
    """Route template with every ``{placeholder}`` reduced to ``{}``.

    Lookups therefore do not depend on placeholder names: ``/channels/{id}``
    and ``/channels/{channel_id}`` are the same route.
    """
    return _PLACEHOLDER.sub("{}", template)


def bucket_hash(name: str) -> str:
    """Opaque, stable 32-hex-digit bucket hash for a bucket rule *name*.

    Like Discord's ``X-RateLimit-Bucket`` it identifies the limit, not the
    resource: it never includes the major id, and it is the same across runs.
    """
    return hashlib.blake2b(name.encode(), digest_size=16, person=b"discobase-rl").hexdigest()


def ceil_ms(seconds: float) -> float:
    """``seconds`` rounded up to whole milliseconds (never negative)."""
    return max(math.ceil(round(seconds * 1000, 6)) / 1000, 0.0)


def message_age_metadata(age: float) -> str:
    """Delete-message sub-limit key for a message ``age`` seconds old.

    ``"young"`` below 10 s, ``"ancient"`` from 14 days on, ``"old"`` in between
    (discord.py's own split, ``http.py`` ``delete_message``).
    """
    if age < 10:
        return "young"
    if age * 1000 >= BULK_DELETE_MAX_AGE_MS:
        return "ancient"
    return "old"


def major_parameter(params: Mapping[str, str]) -> str | None:
    """The top-level ("major") id among a route's match parameters, if any.

    Discord computes limits per ``channel_id``, ``guild_id`` or ``webhook_id``
    (``+ webhook_token``) [DOC RL].
    """
    for key in ("channel_id", "guild_id"):
        if key in params:
            return params[key]
    if "webhook_id" in params:
        token = params.get("webhook_token")
        return params["webhook_id"] if token is None else f"{params['webhook_id']}+{token}"
    return None


@dataclass(frozen=True)
class BucketRule:
    """One rate limit: ``limit`` requests per ``per`` seconds.

    ``name`` identifies the bucket: routes whose rules share a name share a
    bucket, and ``X-RateLimit-Bucket`` is derived from it. ``scope="shared"``
    makes the bucket common to all actors (Discord's per-resource limits);
    ``code`` is the optional JSON error code of its 429 body.
    """

    name: str
    limit: int
    per: float
    scope: Scope = "user"
    code: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("bucket name must not be empty")
        if self.limit < 1:
            raise ValueError(f"bucket {self.name!r}: limit must be >= 1, got {self.limit}")
        if not (self.per > 0 and math.isfinite(self.per)):
            raise ValueError(
                f"bucket {self.name!r}: per must be a positive number of seconds, got {self.per}"
            )


@dataclass(frozen=True)
class RouteRule:
    """Maps ``method`` + route ``template`` (+ optional ``metadata``) to a bucket.

    With ``sublimit=False`` the rule *is* the route's bucket (a rule with
    ``metadata`` replaces the metadata-less one when the request carries that
    metadata). With ``sublimit=True`` the bucket applies *in addition* to the
    route's bucket (only when the metadata matches, or always when the rule's
    ``metadata`` is ``None``) and is not shown in the headers.
    """

    method: str
    template: str
    bucket: BucketRule
    metadata: str | None = None
    sublimit: bool = False


# ---------------------------------------------------------------------------------------------
# The numbers: community observations of Discord's per-route limits (NOT documented by Discord
# and liable to change). Tags: [HATA] = the hand-maintained table of the hata library
# (github.com/HuyaneMatsu/hata); #NNNN = an issue of github.com/discord/discord-api-docs.
# Major id is channel_id for every /channels/{channel_id}/... route.
# ---------------------------------------------------------------------------------------------

#: Message create and edit share one bucket: 5 per 5 s per channel
#: ([HATA] 5/4 s; real 429 headers: limit 5, reset-after 5.588 (#5646); shared bucket: #981).
_MESSAGE_WRITE = BucketRule("message_write", 5, 5.0)
#: GET history: 5 per 5 s per channel [HATA]. (#8161, 2026: headers may show 999-1000 until a 429.)
_MESSAGE_HISTORY = BucketRule("message_history", 5, 5.0)
#: GET one message: 5 per 5 s per channel [HATA].
_MESSAGE_GET = BucketRule("message_get", 5, 5.0)
#: DELETE message by age, 2026 report (#8330): < 10 s old 5/1 s (a 404 also uses this one);
#: > 10 s old 3 per 0.333 s; > 14 days old 30 per 4 s, in its own bucket.
_DELETE_YOUNG = BucketRule("message_delete_young", 5, 1.0)
_DELETE_OLD = BucketRule("message_delete_old", 3, 0.333)
_DELETE_ANCIENT = BucketRule("message_delete_ancient", 30, 4.0)
#: Bulk delete: 1 per 3 s per channel [HATA].
_BULK_DELETE = BucketRule("message_bulk_delete", 1, 3.0)
#: All reaction add/remove routes share one group: 1 per 0.25 s per channel [HATA]; JDA#222.
_REACTIONS = BucketRule("reactions", 1, 0.25)
#: Pin / unpin: 5 per 4 s per channel [HATA] (old /pins routes; the 2025 routes assumed alike).
_PINS = BucketRule("pins", 5, 4.0)
#: PATCH channel, general: 5 per 15 s [HATA]; also what the headers show in #2190/#2761
#: (issue #2190 mentions 10/15 s; we follow hata and the observed headers).
_CHANNEL_EDIT = BucketRule("channel_edit", 5, 15.0)
#: PATCH channel changing name or topic: 2 per 10 minutes per channel, a hidden sub-limit
#: (#1900, #2190, #2761; discord.py#9073 "Channel name and topic edits have a 2/10 minutes").
_CHANNEL_NAME_TOPIC = BucketRule("channel_name_topic", 2, 600.0)
#: POST guild channels: UNCONFIRMED per-request limit ([HATA]: "optimistic/unknown").
#: 10 per 10 s per guild is our GUESS. (A reported 500/day/guild cap is not modelled.)
_GUILD_CHANNEL_CREATE = BucketRule("guild_channel_create", 10, 10.0)
#: GET /gateway/bot: 2 per 5 s, per bot (no major) [HATA].
_GATEWAY_BOT = BucketRule("gateway_bot", 2, 5.0)

#: Optional shared, channel-wide write limit across all senders; its 429 has scope ``shared``
#: and code 20028 ([DOC OP 20028]; #5312). The numbers are UNCONFIRMED: 10 per 5 s is a GUESS.
#: Off by default; enable with ``RateLimitProfile.discord(shared_channel_writes=True)``.
SHARED_CHANNEL_WRITE = BucketRule("channel_write_shared", 10, 5.0, scope="shared", code=20028)

#: Everything else: one bucket per route of 50 per 1 s, i.e. effectively only the global limit.
_DEFAULT = BucketRule("default", 50, 1.0)

#: Global limit: 50 requests per second per bot (per IP without a token) [DOC RL].
GLOBAL_BUCKET = BucketRule("global", 50, 1.0)

_MSG = "/channels/{channel_id}/messages"
_ONE_MSG = "/channels/{channel_id}/messages/{message_id}"
_REACT = "/channels/{channel_id}/messages/{message_id}/reactions"

#: Route table of profile ``"discord"`` (templates as discord.py 2.7.1 writes them).
DISCORD_ROUTES: tuple[RouteRule, ...] = (
    RouteRule("POST", _MSG, _MESSAGE_WRITE),
    RouteRule("PATCH", _ONE_MSG, _MESSAGE_WRITE),
    RouteRule("GET", _MSG, _MESSAGE_HISTORY),
    RouteRule("GET", _ONE_MSG, _MESSAGE_GET),
    # No metadata: treated like an "old" message (the common case for a storage bot).
    RouteRule("DELETE", _ONE_MSG, _DELETE_OLD),
    RouteRule("DELETE", _ONE_MSG, _DELETE_YOUNG, metadata="young"),
    RouteRule("DELETE", _ONE_MSG, _DELETE_OLD, metadata="old"),
    RouteRule("DELETE", _ONE_MSG, _DELETE_ANCIENT, metadata="ancient"),
    RouteRule("POST", "/channels/{channel_id}/messages/bulk-delete", _BULK_DELETE),
    RouteRule("PUT", _REACT + "/{emoji}/@me", _REACTIONS),
    RouteRule("DELETE", _REACT + "/{emoji}/@me", _REACTIONS),
    RouteRule("DELETE", _REACT + "/{emoji}/{member_id}", _REACTIONS),
    RouteRule("DELETE", _REACT + "/{emoji}", _REACTIONS),
    RouteRule("DELETE", _REACT, _REACTIONS),
    RouteRule("PUT", "/channels/{channel_id}/pins/{message_id}", _PINS),
    RouteRule("DELETE", "/channels/{channel_id}/pins/{message_id}", _PINS),
    RouteRule("PUT", "/channels/{channel_id}/messages/pins/{message_id}", _PINS),
    RouteRule("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", _PINS),
    RouteRule("PATCH", "/channels/{channel_id}", _CHANNEL_EDIT),
    RouteRule("PATCH", "/channels/{channel_id}", _CHANNEL_NAME_TOPIC, metadata="name_topic", sublimit=True),
    RouteRule("POST", "/guilds/{guild_id}/channels", _GUILD_CHANNEL_CREATE),
    RouteRule("GET", "/gateway/bot", _GATEWAY_BOT),
)

#: The buckets a request falls in: its route (or variant) rule and its sub-limit rules.
Resolved = tuple[BucketRule | None, tuple[BucketRule, ...]]


@dataclass(frozen=True)
class RateLimitProfile:
    """All the numbers of a rate-limit model; immutable, build variants with :meth:`replace`.

    ``routes`` is the rule table, ``default`` the per-route bucket of routes
    not in it (``None``: only the global limit applies to them and their
    responses carry no rate-limit headers). ``invalid_*`` and ``ban_duration``
    drive the invalid-request ban. ``enabled=False`` is profile ``"off"``.
    """

    enabled: bool = True
    global_limit: int = GLOBAL_BUCKET.limit
    global_per: float = GLOBAL_BUCKET.per
    routes: tuple[RouteRule, ...] = DISCORD_ROUTES
    default: BucketRule | None = _DEFAULT
    #: Routes exempt from the global limit: interaction callbacks [DOC RL].
    global_exempt_prefixes: tuple[str, ...] = ("/interactions/",)
    #: 10,000 invalid requests (401, 403, 429 except scope "shared") per 10 minutes [DOC RL].
    invalid_limit: int = 10_000
    invalid_window: float = 600.0
    #: Length of the temporary ban. UNCONFIRMED: Discord does not document it (reports say ~1 h).
    ban_duration: float = 3600.0

    def __post_init__(self) -> None:
        if self.global_limit < 1 or not self.global_per > 0:
            raise ValueError("global limit must be >= 1 request per a positive number of seconds")
        if self.invalid_limit < 1 or not self.invalid_window > 0 or self.ban_duration < 0:
            raise ValueError("invalid_limit, invalid_window and ban_duration must be positive")

    @classmethod
    def discord(cls, *, shared_channel_writes: bool = False) -> RateLimitProfile:
        """Discord's observed numbers (see :data:`DISCORD_ROUTES`).

        ``shared_channel_writes`` adds :data:`SHARED_CHANNEL_WRITE`, the
        channel-wide limit shared by all senders of message creates.
        """
        routes = DISCORD_ROUTES
        if shared_channel_writes:
            routes = (*routes, RouteRule("POST", _MSG, SHARED_CHANNEL_WRITE, sublimit=True))
        return cls(routes=routes)

    @classmethod
    def off(cls) -> RateLimitProfile:
        """No limits, no headers, no bans."""
        return cls(enabled=False, routes=(), default=None)

    def replace(self, **changes: Any) -> RateLimitProfile:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def with_bucket(self, name: str, *, limit: int, per: float) -> RateLimitProfile:
        """A copy where every rule of bucket ``name`` allows ``limit`` per ``per`` seconds.

        ``name="default"`` changes the default per-route bucket; ``"global"``
        the global limit. Raises ``KeyError`` for an unknown name.
        """
        if name == GLOBAL_BUCKET.name:
            return replace(self, global_limit=limit, global_per=per)
        if self.default is not None and name == self.default.name:
            return replace(self, default=replace(self.default, limit=limit, per=per))
        found = False
        routes: list[RouteRule] = []
        for rule in self.routes:
            if rule.bucket.name == name:
                found = True
                rule = replace(rule, bucket=replace(rule.bucket, limit=limit, per=per))
            routes.append(rule)
        if not found:
            raise KeyError(f"no bucket named {name!r} in this profile")
        return replace(self, routes=tuple(routes))

    def resolve(self, method: str, template: str, metadata: str | None = None) -> Resolved:
        """The route bucket and the hidden sub-limits for one request shape."""
        method = method.upper()
        key = _normalise_template(template)
        base: BucketRule | None = None
        variant: BucketRule | None = None
        subs: list[BucketRule] = []
        for rule in self.routes:
            if rule.method.upper() != method or _normalise_template(rule.template) != key:
                continue
            if rule.sublimit:
                if rule.metadata is None or rule.metadata == metadata:
                    subs.append(rule.bucket)
            elif rule.metadata is None:
                if base is None:
                    base = rule.bucket
            elif rule.metadata == metadata and variant is None:
                variant = rule.bucket
        bucket = variant or base
        if bucket is None and self.default is not None:
            bucket = replace(self.default, name=f"{self.default.name}:{method} {key}")
        return bucket, tuple(subs)

    def global_exempt(self, template: str) -> bool:
        """Whether ``template`` is not counted against the global limit."""
        return template.startswith(self.global_exempt_prefixes)
