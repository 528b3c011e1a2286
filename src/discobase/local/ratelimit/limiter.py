"""The rate limiter: fixed windows per bucket, the global limit and the invalid-request ban."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from discobase.local.ratelimit.rules import (
    RATE_LIMITED_MESSAGE,
    SHARED_RATE_LIMITED_MESSAGE,
    VIA_HEADER,
    BucketRule,
    Profile,
    RateLimitProfile,
    Resolved,
    bucket_hash,
    ceil_ms,
)

__all__ = ["Decision", "RateLimiter"]


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
        self._resolved: dict[tuple[str, str, str | None], Resolved] = {}
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
