"""Discord-style rate limiting for the local server (pure logic, no aiohttp).

The server asks :meth:`RateLimiter.check` before it handles a request and turns
the returned :class:`Decision` into a response: on success it adds
``Decision.headers`` to the normal response, otherwise it answers with
``Decision.status`` (429), ``Decision.headers`` and the JSON ``Decision.body``.
Afterwards it reports the final status with :meth:`RateLimiter.record_response`
so that invalid requests (401, 403, 429) can be counted towards the
"Cloudflare ban" (https://docs.discord.com/developers/topics/rate-limits).

Model
-----
* **Global limit**: 50 requests per second per actor (bot user id, or client
  IP when there is no ``Authorization`` header). Interaction callback routes
  (``/interactions/...``) are exempt, as documented.
* **Route buckets**: every ``(method, route template)`` maps to a
  :class:`BucketRule`; routes sharing a rule *name* share one bucket (message
  create and edit do). A bucket is keyed by ``(actor, rule name, major)`` where
  *major* is the top-level id (channel, guild or webhook id). Rules with
  ``scope="shared"`` are keyed without the actor: every sender shares them.
* **Metadata**: a request may carry a sub-limit key. A *variant* rule replaces
  the route bucket (``DELETE`` message by age: ``young``/``old``/``ancient``,
  each with its own bucket hash, as Discord reports). A *sub-limit* rule is
  applied in addition to the route bucket and is invisible in the headers
  (``PATCH /channels/{id}`` changing name or topic: 2 per 10 minutes, while
  the headers keep showing the general 5/15 s bucket; a 429 from it has
  ``Remaining > 0``, which discord.py recognises as a sub-rate-limit).
* **Windows** are fixed and start at first use, like Discord: a bucket allows
  ``limit`` requests, then refuses until ``per`` seconds after the first one.
  Consequently up to ``2 * limit`` requests can pass within *any* interval of
  length ``per`` that straddles two windows (as on Discord).
* A refused request consumes nothing.

Headers follow the documented format: ``X-RateLimit-Limit``, ``-Remaining``,
``-Reset`` (epoch seconds, 3 decimals), ``-Reset-After`` (seconds, 3 decimals;
both rounded *up* so a client that waits exactly that long is never early),
``-Bucket`` (an opaque hex hash of the rule name: stable across runs, never
containing the major id). 429s add ``Retry-After`` (whole seconds, rounded
up), ``X-RateLimit-Scope``, ``X-RateLimit-Global`` (global only) and
``Via: 1.1 google`` (discord.py treats a 429 without ``Via`` as a Cloudflare
ban and raises instead of retrying).

Profile ``"off"`` allows everything, sends **no** rate-limit headers (so
discord.py never throttles itself) and never bans.

The limiter is not thread-safe; the aiohttp server calls it from its event
loop only.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from loguru import logger

from discobase._discord.limits import BULK_DELETE_MAX_AGE_MS

__all__ = [
    "DISCORD_ROUTES",
    "GLOBAL_BUCKET",
    "RATE_LIMITED_MESSAGE",
    "SHARED_CHANNEL_WRITE",
    "SHARED_RATE_LIMITED_MESSAGE",
    "VIA_HEADER",
    "BucketRule",
    "Decision",
    "Profile",
    "RateLimitProfile",
    "RateLimiter",
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

_Resolved = tuple[BucketRule | None, tuple[BucketRule, ...]]


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

    def resolve(self, method: str, template: str, metadata: str | None = None) -> _Resolved:
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


@dataclass
class Decision:
    """What the server should do with one request.

    ``allowed`` requests proceed and get ``headers`` added to their response.
    Refused ones are answered with ``status`` (429), ``headers`` and the JSON
    ``body``. ``scope`` (``user``/``global``/``shared``) and ``retry_after``
    are set on 429s; ``bucket`` is the bucket hash when there is one.
    """

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    body: dict[str, Any] | None = None
    scope: str | None = None
    retry_after: float | None = None
    bucket: str | None = None


_SLACK = 1e-6


class _Window:
    """A fixed window of ``rule.limit`` requests that starts at first use."""

    __slots__ = ("per", "start", "used")

    def __init__(self, per: float) -> None:
        self.per = per
        self.start: float | None = None
        self.used = 0

    def refresh(self, now: float) -> None:
        if self.expired(now):
            self.start = None
            self.used = 0

    def reset_after(self, now: float) -> float:
        return self.per if self.start is None else max(self.start + self.per - now, 0.0)

    def expired(self, now: float) -> bool:
        # The slack absorbs float rounding, so ``now + retry_after`` is never a hair early.
        return self.start is None or now >= self.start + self.per - _SLACK

    def consume(self, now: float) -> None:
        if self.start is None:
            self.start = now
        self.used += 1


_PRUNE_EVERY = 4096


class RateLimiter:
    """Discord-style global + per-route rate limiter and invalid-request counter.

    ``profile`` is ``"discord"``, ``"off"`` or a :class:`RateLimitProfile`.
    ``clock`` (monotonic seconds) drives the windows, ``wall`` (epoch seconds)
    only the ``X-RateLimit-Reset`` header; inject fakes in tests. With
    ``headers=False`` successful responses carry no rate-limit headers, so a
    client cannot throttle itself and meets real 429s (which always carry them).
    """

    def __init__(
        self,
        profile: Profile | RateLimitProfile = "discord",
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        headers: bool = True,
    ) -> None:
        self.clock = clock
        self.wall = wall
        #: Whether successful responses carry ``X-RateLimit-*`` headers (mutable at run time).
        self.headers = headers
        self.profile = self._coerce(profile)
        self._globals: dict[str, _Window] = {}
        self._buckets: dict[tuple[str, str, str | None], _Window] = {}
        self._invalid: dict[str, deque[float]] = {}
        self._bans: dict[str, float] = {}
        self._resolved: dict[tuple[str, str, str | None], _Resolved] = {}
        self._checks = 0

    @staticmethod
    def _coerce(profile: Profile | RateLimitProfile) -> RateLimitProfile:
        if isinstance(profile, RateLimitProfile):
            return profile
        if profile == "discord":
            return RateLimitProfile.discord()
        if profile == "off":
            return RateLimitProfile.off()
        raise ValueError(f"unknown rate-limit profile {profile!r}; expected 'discord' or 'off'")

    def set_profile(self, profile: Profile | RateLimitProfile) -> None:
        """Switch to another profile and forget all state."""
        self.profile = self._coerce(profile)
        self.reset()

    def reset(self) -> None:
        """Forget all buckets, invalid-request counts and bans."""
        self._globals.clear()
        self._buckets.clear()
        self._invalid.clear()
        self._bans.clear()
        self._resolved.clear()

    # -- request checks ---------------------------------------------------------------------------

    def check(
        self, *, actor: str, method: str, route: str, major: str | None, metadata: str | None = None
    ) -> Decision:
        """Decide on one request and, if it is allowed, consume its tokens.

        ``actor`` is the bot user id (client IP without a token), ``route`` the
        route template (placeholder names do not matter), ``major`` the value
        of the top-level id or ``None``, ``metadata`` a sub-limit key
        (``"name_topic"``, ``"young"``/``"old"``/``"ancient"``). A banned actor
        gets :meth:`ban_decision`.
        """
        profile = self.profile
        if not profile.enabled:
            return Decision(allowed=True)
        ban = self.ban_decision(actor)
        if ban is not None:
            return ban
        now = self.clock()
        self._checks += 1
        if self._checks % _PRUNE_EVERY == 0:
            self._prune(now)

        method = method.upper()
        cache_key = (method, route, metadata)
        resolved = self._resolved.get(cache_key)
        if resolved is None:
            resolved = self._resolved[cache_key] = profile.resolve(method, route, metadata)
        rule, subs = resolved

        glob: _Window | None = None
        if not profile.global_exempt(route):
            glob = self._globals.get(actor)
            if glob is None:
                glob = self._globals[actor] = _Window(profile.global_per)
            glob.refresh(now)
            if glob.used >= profile.global_limit:
                return self._global_429(glob.reset_after(now))

        window = self._window(actor, rule, major, now) if rule is not None else None
        if rule is not None and window is not None and window.used >= rule.limit:
            return self._route_429(rule, window, now, rule, window)

        sub_windows = [(sub, self._window(actor, sub, major, now)) for sub in subs]
        for sub, sub_window in sub_windows:
            if sub_window.used >= sub.limit:
                return self._route_429(rule, window, now, sub, sub_window)

        if glob is not None:
            glob.consume(now)
        if window is not None:
            window.consume(now)
        for _, sub_window in sub_windows:
            sub_window.consume(now)

        if rule is None or window is None:
            return Decision(allowed=True)
        digest = bucket_hash(rule.name)
        headers = self._bucket_headers(rule, window, now, digest) if self.headers else {}
        return Decision(allowed=True, headers=headers, bucket=digest)

    def _window(self, actor: str, rule: BucketRule, major: str | None, now: float) -> _Window:
        key = ("" if rule.scope == "shared" else actor, rule.name, major)
        window = self._buckets.get(key)
        if window is None:
            window = self._buckets[key] = _Window(rule.per)
        window.refresh(now)
        return window

    def _bucket_headers(self, rule: BucketRule, window: _Window, now: float, digest: str) -> dict[str, str]:
        reset_after = ceil_ms(window.reset_after(now))
        return {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Remaining": str(max(rule.limit - window.used, 0)),
            "X-RateLimit-Reset": f"{ceil_ms(self.wall() + reset_after):.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": digest,
        }

    def _global_429(self, reset_after: float) -> Decision:
        retry_after = ceil_ms(reset_after)
        logger.debug("global rate limit hit, retry after {}", retry_after)
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Global": "true",
            "X-RateLimit-Scope": "global",
            "Via": VIA_HEADER,
        }
        body: dict[str, Any] = {"message": RATE_LIMITED_MESSAGE, "retry_after": retry_after, "global": True}
        return Decision(
            allowed=False, headers=headers, status=429, body=body, scope="global", retry_after=retry_after
        )

    def _route_429(
        self,
        rule: BucketRule | None,
        window: _Window | None,
        now: float,
        hit: BucketRule,
        hit_window: _Window,
    ) -> Decision:
        """429 for bucket ``hit``; the headers describe the visible route bucket ``rule``."""
        retry_after = ceil_ms(hit_window.reset_after(now))
        digest: str | None = None
        headers: dict[str, str] = {}
        if rule is not None and window is not None:
            digest = bucket_hash(rule.name)
            headers.update(self._bucket_headers(rule, window, now, digest))
        headers["Retry-After"] = str(math.ceil(retry_after))
        headers["X-RateLimit-Scope"] = hit.scope
        headers["Via"] = VIA_HEADER
        message = SHARED_RATE_LIMITED_MESSAGE if hit.scope == "shared" else RATE_LIMITED_MESSAGE
        body: dict[str, Any] = {"message": message, "retry_after": retry_after, "global": False}
        if hit.code is not None:
            body["code"] = hit.code
        logger.debug("rate limit {} hit, retry after {}", hit.name, retry_after)
        return Decision(
            allowed=False,
            headers=headers,
            status=429,
            body=body,
            scope=hit.scope,
            retry_after=retry_after,
            bucket=digest,
        )

    def _prune(self, now: float) -> None:
        """Drop windows that have expired (they would restart from scratch anyway)."""
        for actor in [a for a, w in self._globals.items() if w.expired(now)]:
            del self._globals[actor]
        for key in [k for k, w in self._buckets.items() if w.expired(now)]:
            del self._buckets[key]
        for actor in [a for a, until in self._bans.items() if until <= now]:
            del self._bans[actor]
        for actor in list(self._invalid):
            self._trim(actor, now)

    # -- invalid requests and bans ----------------------------------------------------------------

    def _trim(self, actor: str, now: float) -> deque[float]:
        times = self._invalid.get(actor)
        if times is None:
            return deque()
        horizon = now - self.profile.invalid_window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._invalid[actor]
        return times

    def record_response(self, *, actor: str, status: int, scope: str | None = None) -> bool:
        """Count the final status of a request; return whether ``actor`` is (now) banned.

        401, 403 and 429 are invalid, except 429s with scope ``shared``. Over
        ``invalid_limit`` invalid requests within ``invalid_window`` seconds
        bans the actor for ``ban_duration`` seconds. Nothing is counted while
        the actor is banned or when the profile is off.
        """
        profile = self.profile
        if not profile.enabled:
            return False
        if self.banned(actor) > 0:
            return True
        if status not in (401, 403, 429) or (status == 429 and scope == "shared"):
            return False
        now = self.clock()
        times = self._trim(actor, now)
        if not times:
            times = self._invalid[actor] = deque()
        times.append(now)
        if len(times) > profile.invalid_limit:
            logger.warning(
                "{} made {} invalid requests within {} s: banned for {} s",
                actor,
                len(times),
                profile.invalid_window,
                profile.ban_duration,
            )
            self._bans[actor] = now + profile.ban_duration
            del self._invalid[actor]
            return True
        return False

    def invalid_count(self, actor: str) -> int:
        """Invalid requests of ``actor`` within the current sliding window."""
        if actor not in self._invalid:
            return 0
        return len(self._trim(actor, self.clock()))

    def banned(self, actor: str) -> float:
        """Seconds of ban left for ``actor`` (0.0 when not banned)."""
        until = self._bans.get(actor)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._bans[actor]
            return 0.0
        return left

    def ban_decision(self, actor: str) -> Decision | None:
        """The answer to a banned actor, or ``None`` when ``actor`` is not banned.

        Real Discord answers a banned IP from Cloudflare with an HTML "Error
        1015" page (status 429, no ``Via: 1.1 google``). We keep a JSON body
        ``{"message", "retry_after", "global": true}`` instead, so that the
        server's JSON-only error path (``Content-Type: application/json``),
        logs and tests can read how long the ban lasts. We do, however, leave
        out the ``Via`` header on purpose: discord.py uses its absence to tell
        a Cloudflare ban from a rate limit, so it raises ``HTTPException(429)``
        at once, exactly as against real Discord, instead of sleeping for the
        whole ban as a global rate limit.
        """
        left = self.banned(actor)
        if left <= 0:
            return None
        retry_after = ceil_ms(left)
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Global": "true",
            "X-RateLimit-Scope": "global",
        }
        body: dict[str, Any] = {"message": RATE_LIMITED_MESSAGE, "retry_after": retry_after, "global": True}
        return Decision(
            allowed=False, headers=headers, status=429, body=body, scope="global", retry_after=retry_after
        )
