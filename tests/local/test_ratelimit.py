"""Tests for :mod:`discobase.local.ratelimit` (fake clocks, no sleeping)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discobase.local.ratelimit import (
    BucketRule,
    Decision,
    RateLimiter,
    RateLimitProfile,
    RouteRule,
    bucket_hash,
    ceil_ms,
    major_parameter,
    message_age_metadata,
)

WALL0 = 1_700_000_000.0
MSGS = "/channels/{channel_id}/messages"
ONE_MSG = "/channels/{channel_id}/messages/{message_id}"
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-RateLimit-Bucket",
)


class FakeClock:
    """Monotonic clock plus a wall clock that moves with it."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.start = start

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL0 + (self.now - self.start)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter("discord", clock=clock, wall=clock.wall)


def send(rl: RateLimiter, channel: str = "1", actor: str = "bot", method: str = "POST") -> Decision:
    return rl.check(actor=actor, method=method, route=MSGS, major=channel)


def edit(rl: RateLimiter, channel: str = "1", actor: str = "bot") -> Decision:
    return rl.check(actor=actor, method="PATCH", route=ONE_MSG, major=channel)


# -- per-route buckets ----------------------------------------------------------------------------


def test_message_bucket_five_per_five_seconds(limiter: RateLimiter, clock: FakeClock) -> None:
    remaining = []
    for _ in range(5):
        decision = send(limiter)
        assert decision.allowed
        assert decision.status == 200
        assert decision.body is None
        remaining.append(decision.headers["X-RateLimit-Remaining"])
        clock.advance(0.5)
    assert remaining == ["4", "3", "2", "1", "0"]

    # Sixth request at t=2.5 s: 429, window resets 5 s after the first request.
    denied = send(limiter)
    assert not denied.allowed
    assert denied.status == 429
    assert denied.scope == "user"
    assert denied.body == {"message": "You are being rate limited.", "retry_after": 2.5, "global": False}
    h = denied.headers
    assert h["X-RateLimit-Limit"] == "5"
    assert h["X-RateLimit-Remaining"] == "0"
    assert h["X-RateLimit-Reset-After"] == "2.500"
    assert h["X-RateLimit-Reset"] == f"{WALL0 + 5.0:.3f}"
    assert h["X-RateLimit-Bucket"] == bucket_hash("message_write")
    assert h["X-RateLimit-Scope"] == "user"
    assert h["Retry-After"] == "3"
    assert h["Via"] == "1.1 google"
    assert "X-RateLimit-Global" not in h

    # A refused request consumes nothing; still refused until the window ends.
    clock.advance(2.499)
    assert not send(limiter).allowed
    clock.advance(0.001)
    again = send(limiter)
    assert again.allowed
    assert again.headers["X-RateLimit-Remaining"] == "4"
    assert again.headers["X-RateLimit-Reset-After"] == "5.000"


def test_other_channel_and_other_bot_unaffected(limiter: RateLimiter) -> None:
    for _ in range(5):
        assert send(limiter, channel="1").allowed
    assert not send(limiter, channel="1").allowed
    assert send(limiter, channel="2").allowed
    assert send(limiter, channel="1", actor="other-bot").allowed


def test_create_and_edit_share_a_bucket(limiter: RateLimiter) -> None:
    for _ in range(3):
        assert send(limiter).allowed
    first_edit = edit(limiter)
    assert first_edit.headers["X-RateLimit-Remaining"] == "1"
    assert first_edit.bucket == send(limiter).bucket
    assert not edit(limiter).allowed
    assert not send(limiter).allowed


def test_reset_after_counts_down_from_first_use(limiter: RateLimiter, clock: FakeClock) -> None:
    assert send(limiter).headers["X-RateLimit-Reset-After"] == "5.000"
    clock.advance(1.25)
    headers = send(limiter).headers
    assert headers["X-RateLimit-Reset-After"] == "3.750"
    assert float(headers["X-RateLimit-Reset"]) == pytest.approx(WALL0 + 5.0)


def test_bucket_hash_stable_and_id_independent(clock: FakeClock) -> None:
    a = RateLimiter(clock=clock, wall=clock.wall)
    b = RateLimiter(clock=clock, wall=clock.wall)
    h1 = send(a, channel="111").headers["X-RateLimit-Bucket"]
    h2 = send(a, channel="222").headers["X-RateLimit-Bucket"]
    h3 = send(b, channel="333", actor="x").headers["X-RateLimit-Bucket"]
    assert h1 == h2 == h3 == bucket_hash("message_write")
    assert re.fullmatch(r"[0-9a-f]{32}", h1)
    assert "111" not in h1
    # Known value: the hash must not change between runs or Python processes (it is a keyed
    # BLAKE2b of the rule name, not Python's randomised hash()).
    assert bucket_hash("message_write") == "b9f2c88476fac51bb3258ea697b38712"
    assert bucket_hash("message_write") != bucket_hash("message_history")
    get = a.check(actor="bot", method="GET", route=MSGS, major="111")
    assert get.headers["X-RateLimit-Bucket"] != h1


def test_placeholder_names_do_not_matter(limiter: RateLimiter) -> None:
    for _ in range(5):
        assert limiter.check(actor="bot", method="post", route="/channels/{id}/messages", major="1").allowed
    assert not send(limiter).allowed


def test_history_and_single_get_are_separate(limiter: RateLimiter) -> None:
    for _ in range(5):
        assert limiter.check(actor="bot", method="GET", route=MSGS, major="1").allowed
    assert not limiter.check(actor="bot", method="GET", route=MSGS, major="1").allowed
    assert limiter.check(actor="bot", method="GET", route=ONE_MSG, major="1").allowed
    assert send(limiter).allowed


def test_default_bucket_for_unlisted_routes(limiter: RateLimiter) -> None:
    decision = limiter.check(actor="bot", method="GET", route="/users/@me", major=None)
    assert decision.allowed
    assert decision.headers["X-RateLimit-Limit"] == "50"
    other = limiter.check(actor="bot", method="GET", route="/oauth2/applications/@me", major=None)
    assert other.headers["X-RateLimit-Bucket"] != decision.headers["X-RateLimit-Bucket"]


def test_gateway_bot_two_per_five_seconds(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert limiter.check(actor="bot", method="GET", route="/gateway/bot", major=None).allowed
    denied = limiter.check(actor="bot", method="GET", route="/gateway/bot", major=None)
    assert denied.status == 429
    assert denied.retry_after == 5.0


# -- sub-limits -----------------------------------------------------------------------------------


def test_delete_age_sub_buckets(limiter: RateLimiter, clock: FakeClock) -> None:
    def delete(meta: str | None) -> Decision:
        return limiter.check(actor="bot", method="DELETE", route=ONE_MSG, major="1", metadata=meta)

    young = [delete("young") for _ in range(6)]
    assert [d.allowed for d in young] == [True] * 5 + [False]
    assert young[0].headers["X-RateLimit-Limit"] == "5"
    assert young[-1].retry_after == 1.0

    old = [delete("old") for _ in range(4)]
    assert [d.allowed for d in old] == [True] * 3 + [False]
    assert old[0].headers["X-RateLimit-Limit"] == "3"
    assert old[-1].retry_after == 0.333
    assert delete(None).status == 429  # no metadata: treated as "old"

    ancient = [delete("ancient") for _ in range(31)]
    assert [d.allowed for d in ancient] == [True] * 30 + [False]
    assert ancient[0].headers["X-RateLimit-Limit"] == "30"

    hashes = {young[0].bucket, old[0].bucket, ancient[0].bucket}
    assert len(hashes) == 3

    clock.advance(0.333)
    assert delete("old").allowed
    assert not delete("young").allowed
    clock.advance(0.667)
    assert delete("young").allowed


def test_message_age_metadata() -> None:
    assert message_age_metadata(0) == "young"
    assert message_age_metadata(9.99) == "young"
    assert message_age_metadata(10) == "old"
    assert message_age_metadata(14 * 86400 - 1) == "old"
    assert message_age_metadata(14 * 86400) == "ancient"


def test_channel_name_topic_sub_limit(limiter: RateLimiter, clock: FakeClock) -> None:
    def patch(meta: str | None = None) -> Decision:
        return limiter.check(
            actor="bot", method="PATCH", route="/channels/{channel_id}", major="9", metadata=meta
        )

    first = patch("name_topic")
    assert first.allowed
    assert first.headers["X-RateLimit-Limit"] == "5"  # headers show the general 5/15 s bucket
    assert patch("name_topic").allowed
    clock.advance(1)
    denied = patch("name_topic")
    assert denied.status == 429
    assert denied.scope == "user"
    assert denied.headers["X-RateLimit-Remaining"] == "3"  # Remaining > 0: a sub-rate-limit
    assert denied.retry_after == 599.0
    assert denied.headers["Retry-After"] == "599"
    assert denied.body is not None
    assert denied.body["retry_after"] == 599.0
    # Other edits still go through the general bucket.
    assert patch().allowed
    assert patch().allowed
    assert patch().allowed
    assert not patch().allowed
    clock.advance(14)
    assert patch().allowed
    assert not patch("name_topic").allowed
    clock.advance(600 - 15)
    assert patch("name_topic").allowed


def test_shared_channel_write_limit(clock: FakeClock) -> None:
    rl = RateLimiter(RateLimitProfile.discord(shared_channel_writes=True), clock=clock, wall=clock.wall)
    for i in range(10):
        assert send(rl, actor=f"bot{i % 5}").allowed
    denied = send(rl, actor="bot9")
    assert denied.status == 429
    assert denied.scope == "shared"
    assert denied.headers["X-RateLimit-Scope"] == "shared"
    assert denied.headers["X-RateLimit-Remaining"] == "5"  # bot9's own bucket is untouched
    assert denied.body == {
        "message": "The resource is being rate limited.",
        "retry_after": 5.0,
        "global": False,
        "code": 20028,
    }
    assert not rl.record_response(actor="bot9", status=429, scope="shared")
    assert rl.invalid_count("bot9") == 0


# -- global limit ---------------------------------------------------------------------------------


def test_global_limit_per_actor(limiter: RateLimiter, clock: FakeClock) -> None:
    for i in range(50):
        assert limiter.check(actor="bot", method="GET", route=ONE_MSG, major=str(i)).allowed
    clock.advance(0.25)
    denied = limiter.check(actor="bot", method="GET", route=ONE_MSG, major="999")
    assert denied.status == 429
    assert denied.scope == "global"
    assert denied.body == {"message": "You are being rate limited.", "retry_after": 0.75, "global": True}
    assert denied.headers == {
        "Retry-After": "1",
        "X-RateLimit-Global": "true",
        "X-RateLimit-Scope": "global",
        "Via": "1.1 google",
    }
    # Another actor has its own global bucket.
    assert limiter.check(actor="other", method="GET", route=ONE_MSG, major="999").allowed
    # The refused request consumed no route token.
    clock.advance(0.75)
    after = limiter.check(actor="bot", method="GET", route=ONE_MSG, major="999")
    assert after.allowed
    assert after.headers["X-RateLimit-Remaining"] == "4"


def test_interaction_callbacks_exempt_from_global(limiter: RateLimiter) -> None:
    for i in range(50):
        assert limiter.check(actor="bot", method="GET", route=ONE_MSG, major=str(i)).allowed
    route = "/interactions/{interaction_id}/{interaction_token}/callback"
    assert limiter.check(actor="bot", method="POST", route=route, major="1").allowed
    assert not limiter.check(actor="bot", method="GET", route=ONE_MSG, major="x").allowed


def test_route_429_does_not_consume_global(clock: FakeClock) -> None:
    rl = RateLimiter(RateLimitProfile.discord().with_bucket("global", limit=6, per=1.0), clock=clock)
    for _ in range(5):
        assert send(rl).allowed
    for _ in range(10):
        assert send(rl).scope == "user"
    assert send(rl, channel="2").allowed
    assert send(rl, channel="3").scope == "global"


# -- modes and profiles ---------------------------------------------------------------------------


def test_headers_false_hides_success_headers_only(clock: FakeClock) -> None:
    rl = RateLimiter(clock=clock, wall=clock.wall, headers=False)
    for _ in range(5):
        ok = send(rl)
        assert ok.allowed
        assert ok.headers == {}
    denied = send(rl)
    assert denied.status == 429
    for name in (*RATE_HEADERS, "Retry-After", "X-RateLimit-Scope", "Via"):
        assert name in denied.headers
    rl.headers = True
    assert "X-RateLimit-Remaining" in send(rl, channel="2").headers


def test_off_profile_allows_everything_without_headers(clock: FakeClock) -> None:
    rl = RateLimiter("off", clock=clock)
    for _ in range(1000):
        decision = send(rl)
        assert decision.allowed
        assert decision.headers == {}
    assert not rl.record_response(actor="bot", status=401)
    assert rl.invalid_count("bot") == 0
    assert rl.ban_decision("bot") is None


def test_unknown_profile_rejected() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit profile"):
        RateLimiter("fast")  # type: ignore[arg-type]


def test_with_bucket_and_custom_profile(clock: FakeClock) -> None:
    profile = RateLimitProfile.discord().with_bucket("message_write", limit=2, per=1.0)
    rl = RateLimiter(profile, clock=clock)
    assert send(rl).allowed
    assert send(rl).allowed
    assert not send(rl).allowed
    with pytest.raises(KeyError):
        profile.with_bucket("nope", limit=1, per=1.0)
    custom = RateLimitProfile(routes=(RouteRule("GET", "/x/{id}", BucketRule("x", 1, 2.0)),), default=None)
    rl2 = RateLimiter(custom, clock=clock)
    assert rl2.check(actor="a", method="GET", route="/x/{id}", major="1").allowed
    assert not rl2.check(actor="a", method="GET", route="/x/{id}", major="1").allowed
    unlisted = rl2.check(actor="a", method="GET", route="/y", major=None)
    assert unlisted.allowed
    assert unlisted.headers == {}


def test_bucket_rule_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        BucketRule("a", 0, 1.0)
    with pytest.raises(ValueError, match="per"):
        BucketRule("a", 1, 0.0)


def test_reset_and_set_profile(limiter: RateLimiter) -> None:
    for _ in range(5):
        send(limiter)
    assert not send(limiter).allowed
    limiter.reset()
    assert send(limiter).allowed
    limiter.set_profile("off")
    assert send(limiter).headers == {}


def test_major_parameter() -> None:
    assert major_parameter({"channel_id": "1", "message_id": "2"}) == "1"
    assert major_parameter({"guild_id": "3"}) == "3"
    assert major_parameter({"webhook_id": "4", "webhook_token": "t"}) == "4+t"
    assert major_parameter({"webhook_id": "4"}) == "4"
    assert major_parameter({"user_id": "5"}) is None


def test_ceil_ms() -> None:
    assert ceil_ms(4.9) == 4.9
    assert ceil_ms(0.0001) == 0.001
    assert ceil_ms(-1.0) == 0.0
    assert ceil_ms(2.5) == 2.5


# -- invalid requests and bans --------------------------------------------------------------------


def small_ban_profile() -> RateLimitProfile:
    return RateLimitProfile.discord().replace(invalid_limit=10, invalid_window=600.0, ban_duration=3600.0)


def test_invalid_request_counting(clock: FakeClock) -> None:
    rl = RateLimiter(small_ban_profile(), clock=clock)
    for status in (200, 204, 400, 404, 500):
        assert not rl.record_response(actor="bot", status=status)
    assert rl.invalid_count("bot") == 0
    assert not rl.record_response(actor="bot", status=401)
    assert not rl.record_response(actor="bot", status=403)
    assert not rl.record_response(actor="bot", status=429, scope="user")
    assert not rl.record_response(actor="bot", status=429, scope="shared")
    assert rl.invalid_count("bot") == 3
    assert rl.invalid_count("someone-else") == 0
    # Sliding window: entries older than 10 minutes drop out.
    clock.advance(300)
    rl.record_response(actor="bot", status=401)
    clock.advance(300)
    assert rl.invalid_count("bot") == 1
    clock.advance(300)
    assert rl.invalid_count("bot") == 0


def test_ban_after_too_many_invalid_requests(clock: FakeClock) -> None:
    rl = RateLimiter(small_ban_profile(), clock=clock)
    for _ in range(10):
        assert not rl.record_response(actor="bot", status=401)
        clock.advance(1)
    assert rl.banned("bot") == 0.0
    assert rl.record_response(actor="bot", status=403)  # the 11th within 10 minutes
    assert rl.banned("bot") == 3600.0
    assert rl.record_response(actor="bot", status=200)  # still banned

    ban = rl.ban_decision("bot")
    assert ban is not None
    assert ban.status == 429
    assert ban.scope == "global"
    assert ban.body == {"message": "You are being rate limited.", "retry_after": 3600.0, "global": True}
    assert ban.headers["X-RateLimit-Global"] == "true"
    assert ban.headers["Retry-After"] == "3600"
    assert "Via" not in ban.headers  # a Cloudflare ban, not a Discord rate limit
    assert rl.check(actor="bot", method="GET", route=ONE_MSG, major="1").body == ban.body
    assert rl.ban_decision("other") is None
    assert rl.check(actor="other", method="GET", route=ONE_MSG, major="1").allowed

    clock.advance(1800)
    assert rl.banned("bot") == 1800.0
    clock.advance(1800)
    assert rl.banned("bot") == 0.0
    assert rl.ban_decision("bot") is None
    assert rl.invalid_count("bot") == 0
    assert rl.check(actor="bot", method="GET", route=ONE_MSG, major="1").allowed


def test_default_invalid_limit_is_ten_thousand(clock: FakeClock) -> None:
    rl = RateLimiter(clock=clock)
    for _ in range(10_000):
        assert not rl.record_response(actor="1.2.3.4", status=401)
    assert rl.record_response(actor="1.2.3.4", status=401)


def test_prune_keeps_behaviour(clock: FakeClock) -> None:
    rl = RateLimiter(clock=clock)
    for i in range(5000):
        clock.advance(0.1)
        assert rl.check(actor="bot", method="GET", route=ONE_MSG, major=str(i)).allowed
    for _ in range(4):
        assert send(rl, channel="x").allowed
    clock.advance(0.1)
    for i in range(5000):
        rl.check(actor="a", method="GET", route="/users/@me", major=str(i))
    assert send(rl, channel="x").allowed
    assert not send(rl, channel="x").allowed


# -- property -------------------------------------------------------------------------------------


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    limit=st.integers(min_value=1, max_value=6),
    per_ms=st.integers(min_value=50, max_value=5000),
    gaps_ms=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=60),
)
def test_window_never_exceeds_limit(limit: int, per_ms: int, gaps_ms: list[int]) -> None:
    """Whatever the request times, each fixed window admits at most ``limit`` requests.

    Checked against an independent model of Discord's fixed windows, plus the
    bound that holds for *any* interval of length ``per``: at most ``2 * limit``
    (one window's tail and the next one's head), and that waiting ``retry_after``
    after a 429 is always enough.
    """
    per = per_ms / 1000
    clock = FakeClock(start=0.0)
    profile = RateLimitProfile(routes=(RouteRule("GET", "/r", BucketRule("r", limit, per)),))
    rl = RateLimiter(profile, clock=clock, wall=clock.wall)

    allowed_times: list[float] = []
    window_start: float | None = None
    in_window = 0
    t_ms = 0
    for gap in gaps_ms:
        t_ms += gap
        clock.now = t_ms / 1000
        decision = rl.check(actor="a", method="GET", route="/r", major="m")

        # Independent model (integer milliseconds, so no float doubt).
        if window_start is None or t_ms >= window_start + per_ms:
            window_start, in_window = None, 0
        expected = in_window < limit
        assert decision.allowed is expected
        if expected:
            if window_start is None:
                window_start = t_ms
            in_window += 1
            allowed_times.append(clock.now)
            assert int(decision.headers["X-RateLimit-Remaining"]) == limit - in_window
        else:
            assert decision.status == 429
            assert decision.retry_after is not None
            assert window_start is not None
            assert decision.retry_after == pytest.approx((window_start + per_ms - t_ms) / 1000, abs=0.0011)
            assert decision.headers["Retry-After"] == str(math.ceil(decision.retry_after))
        assert in_window <= limit

    # Any interval [t, t + per) holds at most 2 * limit allowed requests.
    for i, start in enumerate(allowed_times):
        inside = sum(1 for t in allowed_times[i:] if t < start + per - 1e-9)
        assert inside <= 2 * limit


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=5),
    per=st.floats(min_value=0.05, max_value=20.0, allow_nan=False, allow_infinity=False),
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), min_size=1, max_size=40),
)
def test_retry_after_is_always_enough(limit: int, per: float, gaps: list[float]) -> None:
    """After a 429, a request exactly ``retry_after`` later (float clock) is allowed."""
    clock = FakeClock(start=1000.0)
    profile = RateLimitProfile(routes=(RouteRule("GET", "/r", BucketRule("r", limit, per)),))
    rl = RateLimiter(profile, clock=clock, wall=clock.wall)
    for gap in gaps:
        clock.advance(gap)
        decision = rl.check(actor="a", method="GET", route="/r", major=None)
        if not decision.allowed:
            assert decision.retry_after is not None
            assert 0 < decision.retry_after <= ceil_ms(per)
            clock.advance(decision.retry_after)
            assert rl.check(actor="a", method="GET", route="/r", major=None).allowed
