"""Deterministic fault injection for the local server (pure logic, no aiohttp).

A :class:`FaultInjector` holds a list of :class:`Fault` rules. The HTTP layer
asks :meth:`FaultInjector.http_faults` for each request and the gateway asks
:meth:`FaultInjector.gateway_fault` for each dispatched event. Whether a
matching fault fires is rolled with a seeded :class:`random.Random`, so the
same seed and the same sequence of calls give the same sequence of fires.

HTTP kinds
----------
``status``
    Answer with ``status`` (an HTTP error status, 400-599; default 500) and Discord's generic body, e.g.
    ``{"message": "500: Internal Server Error", "code": 0}`` (see
    :func:`fault_response`). discord.py retries 500, 502, 504 and 524.
``ratelimit``
    Answer with a 429 shaped like Discord's (``Via`` header included, so
    discord.py sleeps ``retry_after`` and retries); ``global_`` makes it global.
``latency``
    Delay the request by ``latency`` seconds; it then proceeds normally.
``drop``
    Close the connection without answering (the handler aborts the transport).

Gateway kinds (matched against the event name, e.g. ``MESSAGE_CREATE``)
-------------------------------------------------------------------------
``gateway_close`` (close the socket with ``close_code``),
``gateway_invalid_session`` (op 9 with ``d = resumable``),
``gateway_reconnect`` (op 7), ``gateway_drop`` (drop the TCP connection, no
close frame). The event itself is not delivered on that connection; a resumed
session replays it.

Route patterns are :func:`fnmatch.fnmatchcase` patterns. For HTTP they are
matched against ``"METHOD /template"`` *and* ``"METHOD /concrete/path"``
(path without query string, relative to ``/api/v10``), e.g.
``"POST /channels/*/messages"``, ``"POST /channels/{channel_id}/messages"`` or
``"* /channels/123/*"``. A pattern that starts with ``/`` ignores the method.
``"*"`` matches everything. The method part is case-insensitive.
"""

from __future__ import annotations

import http
import math
import random
import re
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, get_args

from loguru import logger

from discobase.local.ratelimit import RATE_LIMITED_MESSAGE, VIA_HEADER, ceil_ms

__all__ = [
    "GATEWAY_KINDS",
    "HTTP_KINDS",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "GatewayAction",
    "fault_response",
]

FaultKind = Literal[
    "status",
    "ratelimit",
    "latency",
    "drop",
    "gateway_close",
    "gateway_invalid_session",
    "gateway_reconnect",
    "gateway_drop",
]
#: What the gateway should do: ``("close", code)``, ``("invalid_session", resumable)``,
#: ``("reconnect", 0)`` or ``("drop", 0)``.
GatewayAction = tuple[str, int | bool]

_ALL_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
HTTP_KINDS: frozenset[str] = frozenset({"status", "ratelimit", "latency", "drop"})
GATEWAY_KINDS: frozenset[str] = _ALL_KINDS - HTTP_KINDS
#: HTTP kinds that end the request (at most one fires per request).
_TERMINAL_KINDS: frozenset[str] = frozenset({"status", "ratelimit", "drop"})

#: Longest ``latency`` or ``retry_after`` of a fault: one day (longer is surely a mistake,
#: and ``retry_after`` must stay small enough to compute the rate limit headers).
MAX_FAULT_SECONDS = 86_400.0

_API_PREFIX = re.compile(r"^/api/v\d+(?=/)")
_METHOD_PREFIX = re.compile(r"^([A-Za-z*?\[\]!]+)\s+(\S.*)$")

#: Spec keys accepted by :meth:`Fault.from_spec` (``id``/``fired`` are read-only and ignored).
_SPEC_KEYS = frozenset(
    {
        "kind",
        "route",
        "probability",
        "count",
        "status",
        "latency",
        "global",
        "global_",
        "retry_after",
        "close_code",
        "resumable",
        "id",
        "fired",
    }
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(eq=False)
class Fault:
    """One fault rule; see the module docstring for the kinds and patterns.

    ``probability`` is the chance that a matching request or event triggers
    it; ``count`` retires it after that many fires (``None``: never). ``id``
    is assigned by :meth:`FaultInjector.add`; ``fired`` counts fires.
    Invalid values raise ``ValueError``.
    """

    kind: FaultKind
    route: str = "*"
    probability: float = 1.0
    count: int | None = None
    status: int = 500
    latency: float = 0.0
    global_: bool = False
    retry_after: float = 1.0
    close_code: int = 4000
    resumable: bool = True
    id: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in _ALL_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(_ALL_KINDS)}")
        if not isinstance(self.route, str) or not self.route.strip():
            raise ValueError("fault route must be a non-empty pattern string (use '*' for everything)")
        route = self.route.strip()
        match = _METHOD_PREFIX.match(route)
        if match and self.kind in HTTP_KINDS:
            route = f"{match.group(1).upper()} {match.group(2).strip()}"
        self.route = route
        if not _is_number(self.probability) or not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be a number between 0 and 1, got {self.probability!r}")
        if self.count is not None and (
            not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1
        ):
            raise ValueError(f"fault count must be a positive integer or null, got {self.count!r}")
        # An error status: a 1xx answer leaves the client waiting for the final response, and
        # 2xx/3xx with Discord's error body would be nonsense.
        if not isinstance(self.status, int) or isinstance(self.status, bool) or not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be an HTTP error status (400-599), got {self.status!r}")
        for name in ("latency", "retry_after"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or not 0 <= value <= MAX_FAULT_SECONDS:
                raise ValueError(
                    f"fault {name} must be a number of seconds from 0 to {MAX_FAULT_SECONDS:g}, got {value!r}"
                )
        if (
            not isinstance(self.close_code, int)
            or isinstance(self.close_code, bool)
            or not 1000 <= self.close_code <= 4999
        ):
            raise ValueError(
                f"fault close_code must be a WebSocket close code (1000-4999), got {self.close_code!r}"
            )
        for name in ("global_", "resumable"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"fault {name.rstrip('_')} must be a boolean, got {getattr(self, name)!r}")

    @property
    def active(self) -> bool:
        """Whether the fault can still fire (its ``count`` is not used up)."""
        return self.count is None or self.fired < self.count

    @property
    def is_http(self) -> bool:
        """Whether this is an HTTP fault (otherwise a gateway fault)."""
        return self.kind in HTTP_KINDS

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Fault:
        """Build a fault from a JSON-like dict (admin endpoint, CLI).

        Keys are the field names; ``global`` is accepted for ``global_``;
        ``id`` and ``fired`` (as produced by :meth:`to_dict`) are ignored.
        Raises ``ValueError`` with a readable message on bad input.
        """
        if not isinstance(spec, dict):
            raise ValueError(f"fault spec must be a JSON object, got {type(spec).__name__}")
        unknown = sorted(set(spec) - _SPEC_KEYS)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(map(str, unknown))}")
        if "kind" not in spec:
            raise ValueError(f"fault spec needs a 'kind', one of {sorted(_ALL_KINDS)}")
        if "global" in spec and "global_" in spec:
            raise ValueError("give either 'global' or 'global_', not both")
        kwargs = {k: v for k, v in spec.items() if k not in ("id", "fired", "global", "global_")}
        if "global" in spec or "global_" in spec:
            kwargs["global_"] = spec.get("global", spec.get("global_"))
        for name in ("probability", "latency", "retry_after"):
            if name in kwargs and _is_number(kwargs[name]):
                try:
                    kwargs[name] = float(kwargs[name])
                except OverflowError:
                    raise ValueError(f"fault {name} is out of range: {kwargs[name]!r}") from None
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation; :meth:`from_spec` accepts it back."""
        return {
            "id": self.id,
            "kind": self.kind,
            "route": self.route,
            "probability": self.probability,
            "count": self.count,
            "fired": self.fired,
            "status": self.status,
            "latency": self.latency,
            "global": self.global_,
            "retry_after": self.retry_after,
            "close_code": self.close_code,
            "resumable": self.resumable,
        }


def _strip_path(path: str) -> str:
    path = path.split("?", 1)[0]
    return _API_PREFIX.sub("", path)


class FaultInjector:
    """The active faults, with a seeded RNG for the probability rolls.

    ``seed=None`` seeds from the OS (not reproducible). A roll is only drawn
    for a matching fault whose probability is strictly between 0 and 1, so
    adding certain (``1.0``) or disabled (``0.0``) faults does not shift the
    random sequence of the others. Faults are evaluated in insertion order.
    """

    def __init__(self, seed: int | None = 0) -> None:
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._next_id = 1

    @property
    def faults(self) -> list[Fault]:
        """The active faults (a copy of the list; the faults themselves are live)."""
        return list(self._faults)

    def seed(self, seed: int | None) -> None:
        """Restart the random sequence from ``seed``."""
        self._rng.seed(seed)

    def add(self, fault: Fault) -> Fault:
        """Activate ``fault``, assigning it a fresh ``id``; returns it."""
        if any(f is fault for f in self._faults):
            raise ValueError(f"fault {fault.id} is already active")
        fault.id = self._next_id
        self._next_id += 1
        self._faults.append(fault)
        logger.debug("fault {} added: {}", fault.id, fault.to_dict())
        return fault

    def add_spec(self, spec: dict[str, Any]) -> Fault:
        """``add(Fault.from_spec(spec))``."""
        return self.add(Fault.from_spec(spec))

    def remove(self, fault_or_id: Fault | int) -> None:
        """Deactivate a fault given by object or id; ``KeyError`` if it is not active."""
        for index, fault in enumerate(self._faults):
            if fault is fault_or_id or (isinstance(fault_or_id, int) and fault.id == fault_or_id):
                del self._faults[index]
                return
        ident = fault_or_id.id if isinstance(fault_or_id, Fault) else fault_or_id
        raise KeyError(f"no active fault with id {ident}")

    def clear(self) -> None:
        """Deactivate every fault."""
        self._faults.clear()

    def _fires(self, fault: Fault) -> bool:
        """Roll for ``fault``; on a fire count it and retire it when used up."""
        if fault.probability <= 0.0:
            return False
        if fault.probability < 1.0 and self._rng.random() >= fault.probability:
            return False
        fault.fired += 1
        if not fault.active:
            self._faults = [f for f in self._faults if f is not fault]
            logger.debug("fault {} retired after {} fires", fault.id, fault.fired)
        return True

    @staticmethod
    def _http_match(fault: Fault, method: str, template: str, path: str) -> bool:
        pattern = fault.route
        if pattern.startswith("/"):
            return fnmatchcase(template, pattern) or fnmatchcase(path, pattern)
        return fnmatchcase(f"{method} {template}", pattern) or fnmatchcase(f"{method} {path}", pattern)

    def _http_candidates(self, method: str, template: str, path: str) -> list[Fault]:
        method = method.upper()
        template = _strip_path(template)
        path = _strip_path(path)
        return [
            f
            for f in self._faults
            if f.kind in HTTP_KINDS and f.active and self._http_match(f, method, template, path)
        ]

    def http_faults(self, method: str, template: str, path: str) -> list[Fault]:
        """All HTTP faults that fire for this request: latencies first, then at most one terminal fault.

        Every matching ``latency`` fault is rolled (their delays add up). The
        terminal kinds (``status``, ``ratelimit``, ``drop``) are rolled in order
        until one fires; later ones are neither rolled nor counted. The server
        sleeps for the latencies, then applies the terminal fault if any.
        """
        latencies: list[Fault] = []
        terminal: Fault | None = None
        for fault in self._http_candidates(method, template, path):
            if fault.kind == "latency":
                if self._fires(fault):
                    latencies.append(fault)
            elif terminal is None and self._fires(fault):
                terminal = fault
        fired = latencies if terminal is None else [*latencies, terminal]
        if fired:
            logger.debug("faults {} fire on {} {}", [f.id for f in fired], method, path)
        return fired

    def http_fault(self, method: str, template: str, path: str) -> Fault | None:
        """The first HTTP fault (any kind, latency included) that fires, or ``None``.

        Rolling stops at the first fire; use :meth:`http_faults` to combine a
        latency with a terminal fault.
        """
        for fault in self._http_candidates(method, template, path):
            if self._fires(fault):
                logger.debug("fault {} fires on {} {}", fault.id, method, path)
                return fault
        return None

    def gateway_fault(self, event: str) -> GatewayAction | None:
        """What to do instead of sending gateway event ``event``, or ``None``.

        The first matching gateway fault that fires gives ``("close",
        close_code)``, ``("invalid_session", resumable)``, ``("reconnect", 0)``
        or ``("drop", 0)``. Event names match case-insensitively.
        """
        name = event.upper()
        for fault in list(self._faults):
            if fault.kind not in GATEWAY_KINDS or not fault.active:
                continue
            if not fnmatchcase(name, fault.route.upper()):
                continue
            if not self._fires(fault):
                continue
            logger.debug("gateway fault {} fires on {}", fault.id, event)
            if fault.kind == "gateway_close":
                return ("close", fault.close_code)
            if fault.kind == "gateway_invalid_session":
                return ("invalid_session", fault.resumable)
            if fault.kind == "gateway_reconnect":
                return ("reconnect", 0)
            return ("drop", 0)
        return None


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Error"


def fault_response(
    fault: Fault, *, now: float | None = None, bucket: str | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and JSON body of a ``status`` or ``ratelimit`` fault.

    ``status`` faults give Discord's generic body ``{"message": "<code>:
    <reason>", "code": 0}``; a ``status`` fault with status 429 is answered
    like a ``ratelimit`` fault. ``ratelimit`` faults give a 429 with ``Via``,
    ``Retry-After`` and ``X-RateLimit-Scope`` (``global`` plus
    ``X-RateLimit-Global: true`` when global, else ``user`` plus
    ``X-RateLimit-Limit/Remaining/Reset/Reset-After``) and the body
    ``{"message", "retry_after", "global"}``. ``now`` is the wall-clock epoch
    for ``X-RateLimit-Reset`` (default ``time.time()``). ``bucket`` is sent as
    ``X-RateLimit-Bucket`` when given: pass the route's real bucket hash, since
    a different one makes discord.py re-key the route; without it the header
    is left out. Other kinds raise ``ValueError``.
    """
    if fault.kind == "status" and fault.status != 429:
        status = fault.status
        return status, {}, {"message": f"{status}: {_reason(status)}", "code": 0}
    if fault.kind not in ("status", "ratelimit"):
        raise ValueError(f"a {fault.kind!r} fault has no HTTP response")
    retry_after = ceil_ms(fault.retry_after)
    headers: dict[str, str] = {}
    if fault.global_:
        headers["X-RateLimit-Global"] = "true"
        headers["X-RateLimit-Scope"] = "global"
    else:
        wall = time.time() if now is None else now
        headers.update(
            {
                "X-RateLimit-Limit": "1",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{ceil_ms(wall + retry_after):.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            }
        )
        if bucket is not None:
            headers["X-RateLimit-Bucket"] = bucket
        headers["X-RateLimit-Scope"] = "user"
    headers["Retry-After"] = str(math.ceil(retry_after))
    headers["Via"] = VIA_HEADER
    body: dict[str, Any] = {
        "message": RATE_LIMITED_MESSAGE,
        "retry_after": retry_after,
        "global": fault.global_,
    }
    return 429, headers, body
