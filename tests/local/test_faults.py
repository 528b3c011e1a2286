"""Tests for :mod:`discobase.local.faults`."""

from __future__ import annotations

from typing import Any

import pytest

from discobase.local.faults import Fault, FaultInjector, fault_response

POST_MSG = ("POST", "/channels/{channel_id}/messages", "/channels/123/messages")


def fire_sequence(seed: int, probability: float, n: int = 200) -> list[bool]:
    inj = FaultInjector(seed=seed)
    inj.add(Fault("status", probability=probability))
    return [inj.http_fault(*POST_MSG) is not None for _ in range(n)]


def test_seeded_determinism() -> None:
    a = fire_sequence(42, 0.3)
    b = fire_sequence(42, 0.3)
    c = fire_sequence(43, 0.3)
    assert a == b
    assert a != c
    assert 30 < sum(a) < 90  # roughly 30 %


def test_reseed_restarts_sequence() -> None:
    inj = FaultInjector(seed=7)
    fault = inj.add(Fault("status", probability=0.5))
    first = [inj.http_fault(*POST_MSG) is not None for _ in range(50)]
    inj.seed(7)
    fault.fired = 0
    second = [inj.http_fault(*POST_MSG) is not None for _ in range(50)]
    assert first == second


def test_certain_faults_do_not_shift_random_sequence() -> None:
    plain = FaultInjector(seed=5)
    plain.add(Fault("status", route="GET *", probability=0.5))
    mixed = FaultInjector(seed=5)
    mixed.add(Fault("latency", latency=0.1, probability=1.0))
    mixed.add(Fault("status", route="GET *", probability=0.5))
    mixed.add(Fault("drop", probability=0.0))
    a = [plain.http_fault("GET", "/x", "/x") is not None for _ in range(40)]
    b = [any(f.kind == "status" for f in mixed.http_faults("GET", "/x", "/x")) for _ in range(40)]
    assert a == b


def test_probability_zero_and_one() -> None:
    assert not any(fire_sequence(1, 0.0))
    assert all(fire_sequence(1, 1.0))


def test_count_retirement() -> None:
    inj = FaultInjector()
    fault = inj.add(Fault("status", status=503, count=2))
    assert fault.id == 1
    assert inj.http_fault(*POST_MSG) is fault
    assert fault.fired == 1
    assert inj.faults == [fault]
    assert inj.http_fault(*POST_MSG) is fault
    assert fault.fired == 2
    assert not fault.active
    assert inj.faults == []
    assert inj.http_fault(*POST_MSG) is None


def test_ids_add_remove_clear() -> None:
    inj = FaultInjector()
    a = inj.add(Fault("status"))
    b = inj.add(Fault("drop"))
    c = inj.add(Fault("gateway_reconnect"))
    assert [f.id for f in inj.faults] == [1, 2, 3]
    inj.remove(b.id)
    inj.remove(a)
    assert inj.faults == [c]
    with pytest.raises(KeyError):
        inj.remove(99)
    with pytest.raises(ValueError, match="already active"):
        inj.add(c)
    inj.faults.clear()  # a copy
    assert len(inj.faults) == 1
    inj.clear()
    assert inj.faults == []
    assert inj.add(Fault("status")).id == 4


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", True),
        ("POST /channels/*/messages", True),
        ("POST /channels/{channel_id}/messages", True),
        ("POST /channels/123/messages", True),
        ("post /channels/123/messages", True),
        ("* /channels/123/*", True),
        ("/channels/*", True),
        ("POST /channels/456/messages", False),
        ("GET /channels/*/messages", False),
        ("POST /channels/*/messages/*", False),
        ("PATCH *", False),
    ],
)
def test_http_pattern_matching(pattern: str, expected: bool) -> None:
    inj = FaultInjector()
    inj.add(Fault("status", route=pattern))
    assert (inj.http_fault(*POST_MSG) is not None) is expected


def test_path_prefix_and_query_stripped() -> None:
    inj = FaultInjector()
    inj.add(Fault("status", route="GET /channels/9/messages"))
    assert inj.http_fault("GET", "/channels/{channel_id}/messages", "/api/v10/channels/9/messages?limit=5")


def test_http_ignores_gateway_faults_and_vice_versa() -> None:
    inj = FaultInjector()
    inj.add(Fault("gateway_close", route="*"))
    assert inj.http_fault(*POST_MSG) is None
    assert inj.http_faults(*POST_MSG) == []
    inj.clear()
    inj.add(Fault("status", route="*"))
    assert inj.gateway_fault("MESSAGE_CREATE") is None


def test_http_faults_latency_plus_one_terminal() -> None:
    inj = FaultInjector()
    slow1 = inj.add(Fault("latency", latency=0.5))
    status = inj.add(Fault("status", status=502))
    later = inj.add(Fault("ratelimit", count=1))
    slow2 = inj.add(Fault("latency", latency=0.25, route="POST *"))
    fired = inj.http_faults(*POST_MSG)
    assert fired == [slow1, slow2, status]
    assert sum(f.latency for f in fired if f.kind == "latency") == 0.75
    assert later.fired == 0  # not rolled once a terminal fault fired
    # http_fault stops at the first fire, latency included.
    assert inj.http_fault(*POST_MSG) is slow1


def test_gateway_faults() -> None:
    inj = FaultInjector()
    inj.add(Fault("gateway_close", route="MESSAGE_CREATE", close_code=4009, count=1))
    inj.add(Fault("gateway_invalid_session", route="message_*", resumable=False, count=1))
    inj.add(Fault("gateway_reconnect", route="GUILD_*", count=1))
    inj.add(Fault("gateway_drop", route="*", count=1))
    assert inj.gateway_fault("CHANNEL_CREATE") == ("drop", 0)
    assert inj.gateway_fault("MESSAGE_CREATE") == ("close", 4009)
    assert inj.gateway_fault("MESSAGE_UPDATE") == ("invalid_session", False)
    assert inj.gateway_fault("GUILD_CREATE") == ("reconnect", 0)
    assert inj.gateway_fault("GUILD_CREATE") is None
    assert inj.faults == []


def test_gateway_fault_probability_deterministic() -> None:
    def run() -> list[Any]:
        inj = FaultInjector(seed=3)
        inj.add(Fault("gateway_reconnect", probability=0.25))
        return [inj.gateway_fault("MESSAGE_CREATE") for _ in range(100)]

    first = run()
    assert first == run()
    assert 5 < sum(1 for x in first if x is not None) < 50


# -- specs ----------------------------------------------------------------------------------------


def test_from_spec_and_to_dict_round_trip() -> None:
    spec = {"kind": "ratelimit", "route": "POST /channels/*/messages", "global": True, "retry_after": 2}
    fault = Fault.from_spec(spec)
    assert fault.global_ is True
    assert fault.retry_after == 2.0
    inj = FaultInjector()
    inj.add(fault)
    data = fault.to_dict()
    assert data["id"] == 1
    assert data["global"] is True
    assert data["fired"] == 0
    again = Fault.from_spec(data)
    assert again.to_dict() | {"id": 1} == data
    assert inj.add_spec({"kind": "latency", "latency": 0.2}).id == 2
    assert Fault.from_spec({"kind": "ratelimit", "global_": True}).global_


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({}, "needs a 'kind'"),
        ({"kind": "status", "probability": 1.5}, "probability"),
        ({"kind": "status", "probability": -0.1}, "probability"),
        ({"kind": "status", "probability": "0.5"}, "probability"),
        ({"kind": "status", "count": 0}, "count"),
        ({"kind": "status", "count": 1.5}, "count"),
        ({"kind": "status", "status": 99}, "status"),
        ({"kind": "latency", "latency": -1}, "latency"),
        ({"kind": "latency", "latency": float("inf")}, "latency"),
        ({"kind": "ratelimit", "retry_after": "soon"}, "retry_after"),
        ({"kind": "gateway_close", "close_code": 99}, "close_code"),
        ({"kind": "ratelimit", "global": "yes"}, "global"),
        ({"kind": "status", "route": ""}, "route"),
        ({"kind": "status", "colour": "red"}, "unknown fault field"),
        ({"kind": "status", "global": True, "global_": True}, "either"),
    ],
)
def test_from_spec_validation(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.from_spec(spec)


def test_from_spec_rejects_non_dict() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        Fault.from_spec(["status"])  # type: ignore[arg-type]


# -- responses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "500: Internal Server Error"),
        (502, "502: Bad Gateway"),
        (503, "503: Service Unavailable"),
        (504, "504: Gateway Timeout"),
        (599, "599: Unknown Error"),
    ],
)
def test_status_fault_response(status: int, message: str) -> None:
    code, headers, body = fault_response(Fault("status", status=status))
    assert code == status
    assert headers == {}
    assert body == {"message": message, "code": 0}


def test_ratelimit_fault_response_user() -> None:
    code, headers, body = fault_response(Fault("ratelimit", retry_after=2.5), now=1000.0, bucket="abc")
    assert code == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 2.5, "global": False}
    assert headers == {
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1002.500",
        "X-RateLimit-Reset-After": "2.500",
        "X-RateLimit-Bucket": "abc",
        "X-RateLimit-Scope": "user",
        "Retry-After": "3",
        "Via": "1.1 google",
    }
    _, no_bucket, _ = fault_response(Fault("ratelimit"), now=0.0)
    assert "X-RateLimit-Bucket" not in no_bucket


def test_ratelimit_fault_response_global() -> None:
    code, headers, body = fault_response(Fault("ratelimit", global_=True, retry_after=0.1234))
    assert code == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 0.124, "global": True}
    assert headers == {
        "X-RateLimit-Global": "true",
        "X-RateLimit-Scope": "global",
        "Retry-After": "1",
        "Via": "1.1 google",
    }


def test_status_429_is_a_ratelimit_and_other_kinds_have_no_response() -> None:
    code, headers, _ = fault_response(Fault("status", status=429), now=0.0)
    assert code == 429
    assert headers["Via"] == "1.1 google"
    for kind in ("latency", "drop", "gateway_close"):
        with pytest.raises(ValueError, match="no HTTP response"):
            fault_response(Fault(kind))
