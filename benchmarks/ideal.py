"""The ideal: the least time Discord's limits allow for a workload, with the best packing.

Model
=====

A workload is a list of :class:`Step` s. The requests of a step are issued
together; a step starts when the previous one has been answered (a ``crud``
run in the ``sequential`` style has one step per operation, in the
``concurrent`` style one per phase). For each step the ideal client sends the
fewest requests any client could:

- **writes** are packed as tightly as Discord allows: one message holds up to
  :data:`MESSAGE_CAPACITY` bytes (25 MiB per request, as up to 10 attachments),
  so a step's inserts into one table cost ``ceil(bytes / capacity)`` message
  creates; updates and deletes of records packed together are one edit of
  their message (``PATCH``, the same 5 per 5 s bucket as a create); a record
  alone in its message (the ``sequential`` style) is updated with one edit
  and deleted with one ``DELETE`` of its message, whose bucket depends on the
  message's age (3 per 0.333 s after 10 s, 5 per 1 s before);
- **reads** of records the client wrote are free (it remembers them);
- **close** costs nothing; a **cold reopen** is three or four round trips: the bot's
  guilds, the guild's channels, then the history pages of every table channel
  (one page per 100 live messages, the channels in parallel), then a download
  of each attachment holding packed records — records that do not fit in a
  message's 2,000 characters even compressed (zlib, base64) — which goes to
  the CDN: a round trip, no rate limit;
- each table has one channel (like discobase with ``data_channels=1``, its
  default); connecting (login, gateway, creating the tables) is set-up and not
  part of the workload.

The requests are then scheduled as early as the rate limiter allows — the
server's own :class:`~discobase.local.ratelimit.RateLimiter` (the numbers of
``DISCORD_ROUTES``, taken from Discord's published rate limits:
message create/edit 5 per 5 s per channel, history 5 per 5 s, the 50 per
second global limit, ...) driven by a simulated clock, burst windows
included. That gives :attr:`Ideal.limit_seconds`, the wait Discord's limits
force. Every step that sends requests also costs one round trip, measured on
the benchmark's server (:attr:`Ideal.rtt`): :attr:`Ideal.seconds` is the
least time with both. Without the round trips the ideal of a workload that
fits in Discord's bursts would be zero, and no ratio could be taken.
"""

from __future__ import annotations

import heapq
import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.workloads import CrudPlan, Sizes, bulk_records, crud_plan, log_records, record_bytes
from discobase.local.ratelimit import Profile, RateLimiter, message_age_metadata

__all__ = [
    "MESSAGE_CAPACITY",
    "Ideal",
    "Req",
    "Step",
    "bulk_steps",
    "crud_steps",
    "ideal_for",
    "logs_steps",
    "simulate",
    "workload_steps",
]

#: Bytes one message can carry (Discord's 25 MiB request limit; 10 attachments of 10 MiB each).
MESSAGE_CAPACITY = 25 * 1024 * 1024
#: Bytes of framing per packed operation (kind, record id, separators), a generous estimate.
OP_OVERHEAD = 24
#: Messages per history page.
HISTORY_PAGE = 100
#: Characters of a message's content; a larger packed payload goes into an attachment.
CONTENT_LIMIT = 2000
#: Characters of a header line in front of inline packed records.
INLINE_HEADER = 40

_MESSAGES = "/channels/{channel_id}/messages"
_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
#: Attachment downloads (Discord's CDN, no rate limit).
_CDN = "/attachments/{channel_id}/{attachment_id}/{filename}"


@dataclass(frozen=True)
class Req:
    """One request of the ideal client.

    ``tag`` names what the request creates (its grant time is remembered);
    ``age_of`` is the tag of the message a ``DELETE`` removes, whose age picks
    the delete sub-limit.
    """

    method: str
    route: str
    major: str | None = None
    tag: str | None = None
    age_of: str | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"


@dataclass
class Step:
    """Requests issued together; the next step starts when they are all answered."""

    phase: str
    requests: list[Req] = field(default_factory=list)


@dataclass
class Ideal:
    """The ideal of one workload (see the module docstring)."""

    requests: int
    per_route: dict[str, int]
    #: Seconds of waiting the rate limits force (zero-latency requests).
    limit_seconds: float
    #: Steps that send requests, i.e. round trips one after another.
    rounds: int
    #: Round-trip time assumed per step (measured on the benchmark's server).
    rtt: float
    #: Least time with the limits and the round trips.
    seconds: float
    per_phase: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "per_route": self.per_route,
            "limit_seconds": self.limit_seconds,
            "rounds": self.rounds,
            "rtt": self.rtt,
            "seconds": self.seconds,
            "per_phase": self.per_phase,
        }


def simulate(
    steps: Iterable[Step], *, rate_limits: Profile = "discord", rtt: float = 0.0
) -> tuple[float, dict[str, float], int]:
    """Schedule ``steps`` as early as the limits allow; returns (seconds, seconds per phase, rounds)."""
    now = 0.0
    limiter = RateLimiter(rate_limits, clock=lambda: now, wall=lambda: 1.7e9 + now, headers=False)
    granted: dict[str, float] = {}
    per_phase: dict[str, float] = {}
    rounds = 0
    end = 0.0
    for step in steps:
        if not step.requests:
            continue
        start = end
        queue: list[tuple[float, int, Req]] = [(start, n, r) for n, r in enumerate(step.requests)]
        heapq.heapify(queue)
        last = start
        while queue:
            at, n, req = heapq.heappop(queue)
            now = at
            if req.route == _CDN:
                last = max(last, at)  # the CDN has no rate limit
                continue
            metadata = None
            if req.method == "DELETE" and req.age_of is not None:
                metadata = message_age_metadata(at - granted.get(req.age_of, at))
            decision = limiter.check(
                actor="ideal", method=req.method, route=req.route, major=req.major, metadata=metadata
            )
            if not decision.allowed:
                heapq.heappush(queue, (at + max(decision.retry_after or 0.0, 1e-6), n, req))
                continue
            if req.tag is not None:
                granted[req.tag] = at
            last = max(last, at)
        end = last + rtt
        rounds += 1
        per_phase[step.phase] = per_phase.get(step.phase, 0.0) + end - start
    return end, per_phase, rounds


def ideal_for(steps: list[Step], *, rate_limits: Profile = "discord", rtt: float = 0.0) -> Ideal:
    """Count and schedule ``steps``: the :class:`Ideal` of a workload."""
    per_route = Counter(req.key for step in steps for req in step.requests)
    limit_seconds, _, _ = simulate(steps, rate_limits=rate_limits, rtt=0.0)
    seconds, per_phase, rounds = simulate(steps, rate_limits=rate_limits, rtt=rtt)
    return Ideal(
        requests=sum(per_route.values()),
        per_route=dict(sorted(per_route.items())),
        limit_seconds=limit_seconds,
        rounds=rounds,
        rtt=rtt,
        seconds=seconds,
        per_phase=per_phase,
    )


def _packed_writes(method: str, major: str, payload: int) -> list[Req]:
    return [Req(method, _MESSAGES if method == "POST" else _MESSAGE, major)] * max(
        1, math.ceil(payload / MESSAGE_CAPACITY)
    )


def _reopen(live_messages: dict[str, int], downloads: list[str] | None = None) -> list[Step]:
    """Guilds, channels, the history pages of every table channel, then the attachments."""
    steps = [
        Step("reopen", [Req("GET", "/users/@me/guilds")]),
        Step("reopen", [Req("GET", "/guilds/{guild_id}/channels", "guild")]),
    ]
    pages = {table: max(1, math.ceil(count / HISTORY_PAGE)) for table, count in live_messages.items()}
    for page in range(max(pages.values(), default=0)):
        steps.append(Step("reopen", [Req("GET", _MESSAGES, t) for t, n in pages.items() if n > page]))
    if downloads:
        steps.append(Step("reopen", [Req("GET", _CDN, table) for table in downloads]))
    return steps


def crud_steps(plan: CrudPlan, style: str) -> list[Step]:
    """The ideal client's steps for ``crud`` in ``style`` (``sequential``/``concurrent``)."""
    steps: list[Step] = []
    if style == "sequential":
        for table, index in plan.inserts:
            steps.append(Step("insert", [Req("POST", _MESSAGES, table, tag=f"{table}:{index}")]))
        for table, _index, _ in plan.updates:
            steps.append(Step("update", [Req("PATCH", _MESSAGE, table)]))
        for table, index in plan.deletes:
            steps.append(Step("delete", [Req("DELETE", _MESSAGE, table, age_of=f"{table}:{index}")]))
        # One message per live record: updates were edits in place, deletes removed messages.
        steps += _reopen(dict(plan.survivors))
        return steps
    if style != "concurrent":
        raise ValueError(f"unknown crud style {style!r}")
    payload: Counter[str] = Counter()
    for table, index in plan.inserts:
        payload[table] += record_bytes(plan.record(table, index)) + OP_OVERHEAD
    steps.append(
        Step("insert", [r for t, b in sorted(payload.items()) for r in _packed_writes("POST", t, b)])
    )
    for phase, ops in (("update", [(t, i) for t, i, _ in plan.updates]), ("delete", plan.deletes)):
        tables = sorted({table for table, _ in ops})
        # Every record of a table sits in the one insert message: one edit rewrites it.
        steps.append(Step(phase, [r for t in tables for r in _packed_writes("PATCH", t, payload[t])]))
    # A table's packed records that do not fit in a message's content, even compressed,
    # are read back from an attachment.
    live: dict[str, list[dict[str, Any]]] = {}
    for table, index in plan.inserts:
        if (table, index) not in set(plan.deletes):
            live.setdefault(table, []).append(plan.record(table, index))
    downloads = [t for t, records in sorted(live.items()) if not fits_inline(records)]
    steps += _reopen({table: 1 for table in payload}, downloads)
    return steps


def fits_inline(records: list[dict[str, Any]]) -> bool:
    """Whether ``records``, packed and compressed (zlib, base64 text), fit in a message's content."""
    packed = "\n".join(json.dumps(r, separators=(",", ":")) for r in records).encode()
    return math.ceil(len(zlib.compress(packed, 9)) / 3) * 4 + INLINE_HEADER <= CONTENT_LIMIT


def _packed_inserts(phase: str, table: str, records: list[dict[str, Any]]) -> list[Step]:
    """One step that writes every record into ``table``'s channel, packed."""
    payload = sum(record_bytes(r) + OP_OVERHEAD for r in records)
    return [Step(phase, _packed_writes("POST", table, payload))]


def bulk_steps(records: list[dict[str, Any]], style: str) -> list[Step]:
    """The ideal client's steps for ``bulk`` (``concurrent``: one packed step)."""
    if style == "sequential":
        return [Step("insert", [Req("POST", _MESSAGES, "user")]) for _ in records]
    return _packed_inserts("insert", "user", records)


def logs_steps(records: list[dict[str, Any]]) -> list[Step]:
    """The ideal client's steps for ``logs``: every record packed into the ``_logs`` channel."""
    return _packed_inserts("log", "_logs", records)


def workload_steps(workload: str, style: str, sizes: Sizes, seed: int) -> list[Step] | None:
    """The ideal steps of a workload, or None when it has no ideal yet."""
    if workload == "crud":
        return crud_steps(crud_plan(sizes, seed), style)
    if workload == "bulk":
        return bulk_steps(bulk_records(sizes.bulk, seed), style)
    if workload == "logs":
        return logs_steps(log_records(sizes.logs, seed))
    return None
