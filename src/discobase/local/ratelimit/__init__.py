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

from discobase.local.ratelimit.limiter import Decision, RateLimiter
from discobase.local.ratelimit.rules import (
    DISCORD_ROUTES,
    GLOBAL_BUCKET,
    RATE_LIMITED_MESSAGE,
    SHARED_CHANNEL_WRITE,
    SHARED_RATE_LIMITED_MESSAGE,
    VIA_HEADER,
    BucketRule,
    Profile,
    RateLimitProfile,
    RouteRule,
    bucket_hash,
    ceil_ms,
    major_parameter,
    message_age_metadata,
)

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
