"""The workloads: their sizes and their seeded data, shared by every client.

Standard library only: the discobase 1.0.0 client imports this module from its
own virtual environment. Both clients build the same records and run the same
operations in the same order from the same :class:`CrudPlan`, so their request
counts can be compared operation for operation.

Workloads
=========

``crud``
    Two tables, ``user`` (name, email, age) and ``post`` (author, title,
    body). ``inserts`` records (users and posts alternately), ``finds``
    equality finds (``user`` by email, ``post`` by author, alternately),
    ``updates`` updates (the first users' age, the first posts' title),
    ``deletes`` deletes (the last users and posts, never an updated one), then
    a close, a cold reopen (a new ``Database`` object, as a new process would)
    and ``reopen_finds`` finds of the surviving records. Two styles:

    - ``sequential``: every operation is awaited before the next one starts
      (how 1.0.0's documentation uses its API);
    - ``concurrent``: the operations of a phase are issued together and
      awaited together (a service handling a burst of requests).

``bulk``
    ``bulk`` inserts into ``user`` issued concurrently.

``logs``
    ``logs`` loguru ``INFO`` records (see :func:`log_lines`) into the
    ``_logs`` system table, timed until every one is stored (discobase only:
    1.0.0 has no log table).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

__all__ = [
    "AVAILABLE",
    "CRUD_STYLES",
    "LOG_TEMPLATE",
    "WORKLOADS",
    "CrudPlan",
    "FindOp",
    "Sizes",
    "Style",
    "bulk_records",
    "crud_plan",
    "log_lines",
    "log_records",
    "record_bytes",
]

#: ``stream`` is ``logs``': calls that return at once, stored in the background.
Style = Literal["sequential", "concurrent", "stream"]
Table = Literal["user", "post"]

#: Every workload the runner knows, in the order it runs them.
WORKLOADS: tuple[str, ...] = ("crud", "bulk", "logs")
#: ``crud`` styles (see the module docstring).
CRUD_STYLES: tuple[Style, ...] = ("sequential", "concurrent")
#: Workloads that can run, or why not (a new workload is listed here with its
#: reason until its ``run_<name>`` exists in :mod:`benchmarks.client_ours`).
AVAILABLE: dict[str, str | None] = {
    "crud": None,
    "bulk": None,
    "logs": None,
}

_WORDS = [
    "discord",
    "channel",
    "message",
    "record",
    "table",
    "index",
    "query",
    "snapshot",
    "batch",
    "commit",
    "rate",
    "limit",
    "bucket",
    "window",
    "packet",
    "gateway",
    "cursor",
    "schema",
    "field",
    "value",
    "model",
    "async",
    "await",
    "server",
    "client",
    "token",
    "guild",
    "shard",
    "latency",
    "throughput",
    "request",
    "response",
    "payload",
    "archive",
    "ledger",
    "journal",
    "replica",
]


@dataclass(frozen=True)
class Sizes:
    """Sizes of the workloads (the issue's defaults).

    ``inserts`` .. ``reopen_finds`` are ``crud``'s; ``bulk`` and ``logs`` are
    the record counts of those workloads.
    """

    inserts: int = 200
    finds: int = 200
    updates: int = 100
    deletes: int = 100
    reopen_finds: int = 50
    bulk: int = 10_000
    logs: int = 10_000

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) < 0:
                raise ValueError(f"size {item.name} must not be negative")
        if self.inserts < 2:
            raise ValueError("crud needs at least 2 inserts (one user, one post)")
        if self.updates + self.deletes > self.inserts:
            raise ValueError(
                f"crud updates + deletes ({self.updates} + {self.deletes}) must not exceed inserts "
                f"({self.inserts}): a deleted record is never an updated one"
            )

    def scaled(self, factor: float) -> Sizes:
        """Every size times ``factor`` (rounded; ``inserts`` at least 2, the rest at least 1
        when they were not 0), keeping ``updates + deletes <= inserts``."""
        if factor <= 0:
            raise ValueError("a scale factor must be positive")

        def scale(value: int, floor: int = 1) -> int:
            return 0 if value == 0 else max(floor, round(value * factor))

        inserts = scale(self.inserts, 2)
        updates = min(scale(self.updates), inserts // 2 if self.deletes else inserts)
        deletes = min(scale(self.deletes), inserts - updates)
        return Sizes(
            inserts=inserts,
            finds=scale(self.finds),
            updates=updates,
            deletes=deletes,
            reopen_finds=scale(self.reopen_finds),
            bulk=scale(self.bulk),
            logs=scale(self.logs),
        )

    @classmethod
    def parse(cls, text: str, base: Sizes | None = None) -> Sizes:
        """``"inserts=20,finds=20,bulk=1000"`` applied to ``base`` (the defaults)."""
        base = base or cls()
        known = {item.name for item in fields(cls)}
        changes: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise ValueError(f"bad size {part!r}: expected NAME=INT with NAME one of {sorted(known)}")
            try:
                changes[name] = int(value.replace("_", ""))
            except ValueError:
                raise ValueError(f"bad size {part!r}: {value!r} is not an integer") from None
        return replace(base, **changes)

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sizes:
        return cls(**{k: int(v) for k, v in data.items()})

    def crud_ops(self) -> int:
        """Operations of one ``crud`` run (close and reopen are not counted)."""
        return self.inserts + self.finds + self.updates + self.deletes + self.reopen_finds


@dataclass(frozen=True)
class FindOp:
    """An equality find and how many records it must return."""

    table: Table
    field: str
    value: str
    expected: int


@dataclass
class CrudPlan:
    """Everything ``crud`` does, in order (indexes refer to ``users`` / ``posts``)."""

    users: list[dict[str, Any]]
    posts: list[dict[str, Any]]
    inserts: list[tuple[Table, int]]
    finds: list[FindOp]
    #: (table, index, the record's new values)
    updates: list[tuple[Table, int, dict[str, Any]]]
    deletes: list[tuple[Table, int]]
    reopen_finds: list[FindOp]
    survivors: dict[str, int] = field(default_factory=dict)

    def record(self, table: Table, index: int) -> dict[str, Any]:
        return (self.users if table == "user" else self.posts)[index]


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))


def _user(index: int, rng: random.Random, prefix: str = "user") -> dict[str, Any]:
    name = f"{prefix}{index:06d}"
    return {"name": name, "email": f"{name}@example.org", "age": rng.randrange(18, 90)}


def _interleave(first: list[Any], second: list[Any]) -> list[Any]:
    out: list[Any] = []
    for index in range(max(len(first), len(second))):
        if index < len(first):
            out.append(first[index])
        if index < len(second):
            out.append(second[index])
    return out


def _finds(
    rng: random.Random, count: int, users: list[int], posts: list[int], plan_posts: list[dict[str, Any]]
) -> list[FindOp]:
    """``count`` finds alternating user-by-email and post-by-author over the given records."""
    authors = [plan_posts[i]["author"] for i in posts]
    found: list[FindOp] = []
    for number in range(count):
        if (number % 2 == 0 or not posts) and users:
            index = rng.choice(users)
            found.append(FindOp("user", "email", f"user{index:06d}@example.org", 1))
        else:
            author = rng.choice(authors)
            found.append(FindOp("post", "author", author, authors.count(author)))
    return found


def crud_plan(sizes: Sizes, seed: int) -> CrudPlan:
    """The ``crud`` workload for ``sizes``, the same for every ``seed`` on every machine."""
    rng = random.Random(seed)
    n_users = math.ceil(sizes.inserts / 2)
    n_posts = sizes.inserts // 2
    users = [_user(i, rng) for i in range(n_users)]
    posts = [
        {
            "author": users[rng.randrange(n_users)]["name"],
            "title": _sentence(rng, 3, 8),
            "body": _sentence(rng, 20, 60),
        }
        for _ in range(n_posts)
    ]
    inserts: list[tuple[Table, int]] = _interleave(
        [("user", i) for i in range(n_users)], [("post", i) for i in range(n_posts)]
    )
    finds = _finds(rng, sizes.finds, list(range(n_users)), list(range(n_posts)), posts)

    user_updates = min(math.ceil(sizes.updates / 2), n_users)
    post_updates = sizes.updates - user_updates
    if post_updates > n_posts:
        user_updates, post_updates = sizes.updates - n_posts, n_posts
    user_deletes = min(math.ceil(sizes.deletes / 2), n_users - user_updates)
    post_deletes = sizes.deletes - user_deletes
    if post_deletes > n_posts - post_updates:
        post_deletes = n_posts - post_updates
        user_deletes = sizes.deletes - post_deletes
    updates: list[tuple[Table, int, dict[str, Any]]] = _interleave(
        [("user", i, {**users[i], "age": users[i]["age"] + 1}) for i in range(user_updates)],
        [("post", i, {**posts[i], "title": posts[i]["title"] + " (edited)"}) for i in range(post_updates)],
    )
    deleted_users = list(range(n_users - user_deletes, n_users))
    deleted_posts = list(range(n_posts - post_deletes, n_posts))
    deletes: list[tuple[Table, int]] = _interleave(
        [("user", i) for i in deleted_users], [("post", i) for i in deleted_posts]
    )
    live_users = [i for i in range(n_users) if i not in set(deleted_users)]
    live_posts = [i for i in range(n_posts) if i not in set(deleted_posts)]
    reopen_finds = _finds(rng, sizes.reopen_finds, live_users, live_posts, posts)
    return CrudPlan(
        users=users,
        posts=posts,
        inserts=inserts,
        finds=finds,
        updates=updates,
        deletes=deletes,
        reopen_finds=reopen_finds,
        survivors={"user": len(live_users), "post": len(live_posts)},
    )


def bulk_records(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` ``user`` records for ``bulk``."""
    rng = random.Random(seed)
    return [_user(i, rng, prefix="bulk") for i in range(count)]


def record_bytes(record: dict[str, Any]) -> int:
    """Bytes of a record's compact JSON (what any library must store, at least)."""
    return len(json.dumps(record, separators=(",", ":")).encode())


#: The message template of the ``logs`` workload (loguru's lazy ``{}`` formatting).
LOG_TEMPLATE = "request {} served in {} ms"


def log_lines(count: int, seed: int) -> list[tuple[int, int]]:
    """The arguments of ``count`` ``logger.info(LOG_TEMPLATE, *args)`` calls."""
    rng = random.Random(seed)
    return [(index, rng.randrange(1, 500)) for index in range(count)]


def log_records(count: int, seed: int) -> list[dict[str, Any]]:
    """The stored form of the ``logs`` records (what any library must write, at least):
    the fields of a ``_logs`` record with representative values."""
    return [
        {
            "time": f"2026-11-23T10:00:{index % 60:02d}.{index % 1_000_000:06d}Z",
            "level": "INFO",
            "level_no": 20,
            "message": LOG_TEMPLATE.format(index, millis),
            "logger": "benchmarks.client_ours",
            "module": "client_ours",
            "function": "run_logs",
            "file": "client_ours.py",
            "line": 200,
            "process": 4242,
            "exception": None,
            "extra": {},
            "seq": index,
        }
        for index, millis in log_lines(count, seed)
    ]
