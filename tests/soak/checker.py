"""The checker: the reference built from the writers' journals against what a reader sees.

Each logical record (a ``key`` made once by one writer) has a sequence of
operations in its writer's journal, each acknowledged, rejected or
ambiguous. Walking it gives the set of states the record may be in at the end
(absent, or one of some values): an acknowledged write fixes the state, an
ambiguous one adds a possibility, a rejected one changes nothing. Then, for
what a fresh reader sees:

``lost``         an acknowledged insert or update is not there (or an older value is);
``duplicated``   a key is stored as more than one record;
``resurrected``  a record whose delete was acknowledged is back;
``phantom``      a record nobody wrote, or whose insert was refused;
``unique``       two live records share a unique value;
``unique_acked`` two writes of one unique value were both acknowledged while
                 the first still held it (by the journals' clocks);
``missing``      a writer reopening did not find a record it knew was live;
``diverged``     a live writer's view did not become the reader's in time;
``stored_twice`` a data message stored twice (a retried write without ``enforce_nonce``);
``corrupt``      messages the reader could not decode;
``secret``       the bot's token found in a file of the run (logs, journals, views, data);
``harness``      something the harness could not do (a writer that never opened, ...).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.soak.models import ACCOUNTS

__all__ = ["CATEGORIES", "DATA_LOSS", "Reference", "Report", "build_reference", "compare_views"]

CATEGORIES = (
    "lost",
    "duplicated",
    "resurrected",
    "phantom",
    "unique",
    "unique_acked",
    "missing",
    "diverged",
    "stored_twice",
    "corrupt",
    "secret",
    "harness",
)
#: The categories that must be 0 for the data-safety bar: all but what the
#: reader could not decode and what the harness itself could not do.
DATA_LOSS = tuple(c for c in CATEGORIES if c not in ("corrupt", "harness"))

ABSENT = "<absent>"


def canonical(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


@dataclass
class Step:
    """One operation on one logical record."""

    kind: str  # insert, update, delete
    values: dict[str, Any]
    status: str  # ack, reject, ambiguous
    intent: int  # monotonic ns
    done: int | None  # monotonic ns of the outcome, if any
    op: str
    error: str | None = None


@dataclass
class Record:
    table: str
    key: str
    writer: str
    steps: list[Step] = field(default_factory=list)

    def allowed(self) -> set[str]:
        """The states (canonical values, or ABSENT) the record may be in at the end."""
        states = {ABSENT}
        for step in self.steps:
            state = ABSENT if step.kind == "delete" else canonical(step.values)
            if step.status == "ack":
                states = {state}
            elif step.status == "ambiguous":
                states = states | {state}
        return states

    def deleted(self) -> bool:
        return any(s.kind == "delete" and s.status == "ack" for s in self.steps)

    def last_ack(self) -> Step | None:
        return next((s for s in reversed(self.steps) if s.status == "ack"), None)


@dataclass
class Reference:
    records: dict[str, Record] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    harness: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def build_reference(journals: dict[str, list[dict[str, Any]]]) -> Reference:
    """The reference model from every writer's journal (``{writer id: events}``)."""
    reference = Reference()
    for wid, events in sorted(journals.items()):
        outcome: dict[str, dict[str, Any]] = {}
        for event in events:
            if event["ev"] in ("ack", "reject", "fail", "many"):
                outcome[event["op"]] = event
            elif event["ev"] == "missing":
                reference.missing.append(
                    f"{wid} reopened without {event['table']}/{event['key']} (found {event['found']})"
                )
            elif event["ev"] == "writer_error":
                reference.harness.append(f"{wid}: writer error {event['error']}")
        reference.counts["incarnations"] += sum(1 for e in events if e["ev"] == "start")
        for event in events:
            if event["ev"] != "intent":
                continue
            result = outcome.get(event["op"])
            if event["kind"] == "insert_many":
                rids = dict(result["results"]) if result is not None else {}
                for item in event["items"]:
                    status = "ack" if rids.get(item["key"]) is not None else "ambiguous"
                    step = Step(
                        "insert",
                        item["values"],
                        status,
                        event["t"],
                        result["t"] if result else None,
                        event["op"],
                        result.get("error") if result else None,
                    )
                    record = reference.records.setdefault(
                        item["key"], Record(event["table"], item["key"], wid)
                    )
                    record.steps.append(step)
                    reference.counts[status] += 1
                continue
            if result is None or result["ev"] == "fail":
                status = "ambiguous"
            elif result["ev"] == "reject":
                status = "reject"
            else:
                status = "ack"
            step = Step(
                event["kind"],
                event["values"],
                status,
                event["t"],
                result["t"] if result else None,
                event["op"],
                result.get("error") if result else None,
            )
            record = reference.records.setdefault(event["key"], Record(event["table"], event["key"], wid))
            record.steps.append(step)
            reference.counts[status] += 1
    return reference


@dataclass
class Report:
    """Counts and violations of one check (or the sum of several)."""

    name: str = ""
    acked: int = 0
    ambiguous: int = 0
    rejected: int = 0
    records: int = 0
    trials: int = 0
    writer_kills: int = 0
    server_kills: int = 0
    restarts: int = 0
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _subjects: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def __repr__(self) -> str:
        return f"<Report {self.summary(limit=0).splitlines()[0]}>"

    def add(self, category: str, detail: str, subject: str | None = None) -> None:
        """Note a violation; one per ``subject`` (e.g. a record seen by both readers) and category."""
        if subject is not None:
            if (category, subject) in self._subjects:
                return
            self._subjects.add((category, subject))
        if detail not in self.violations[category]:
            self.violations[category].append(detail)

    def count(self, category: str) -> int:
        return len(self.violations.get(category, []))

    @property
    def safe(self) -> bool:
        return all(self.count(c) == 0 for c in DATA_LOSS)

    def to_json(self) -> dict[str, Any]:
        counts = {
            name: getattr(self, name)
            for name in (
                "acked",
                "ambiguous",
                "rejected",
                "records",
                "trials",
                "writer_kills",
                "server_kills",
                "restarts",
            )
        }
        return {"name": self.name, **counts, "violations": dict(self.violations), "summary": self.summary(50)}

    def merge(self, other: Report) -> None:
        for name in (
            "acked",
            "ambiguous",
            "rejected",
            "records",
            "trials",
            "writer_kills",
            "server_kills",
            "restarts",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for category, details in other.violations.items():
            for detail in details:
                self.violations[category].append(f"[{other.name}] {detail}")

    def summary(self, limit: int = 8) -> str:
        lines = [
            f"soak {self.name}: trials={self.trials} writer_kills={self.writer_kills} "
            f"server_kills={self.server_kills} restarts={self.restarts} records={self.records} "
            f"acked_ops={self.acked} ambiguous_ops={self.ambiguous} rejected_ops={self.rejected}",
            "  " + " ".join(f"{c}={self.count(c)}" for c in CATEGORIES),
        ]
        for category in CATEGORIES:
            for detail in self.violations.get(category, [])[:limit]:
                lines.append(f"  {category}: {detail}")
            extra = self.count(category) - limit
            if extra > 0:
                lines.append(f"  {category}: ... and {extra} more")
        return "\n".join(lines)


def _describe(step: Step | None) -> str:
    if step is None:
        return "no acknowledged op"
    values = {
        k: (v if not isinstance(v, str) or len(v) < 24 else f"{v[:8]}…({len(v)})")
        for k, v in step.values.items()
    }
    return f"{step.kind} {step.op} {values}"


def check(reference: Reference, view: dict[str, Any], report: Report, phase: str) -> None:
    """Add to ``report`` what the reader's ``view`` breaks of ``reference``."""
    seen: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for table, rows in view["tables"].items():
        for key, rid, values in rows:
            seen[key].append((rid, values))
            if key not in reference.records:
                report.add("phantom", f"{phase}: {table}/{key} rid {rid} was never written", key)
    for problem in view.get("problems", []):
        report.add("corrupt", f"{phase}: {problem}")
    for key, record in reference.records.items():
        stored = seen.get(key, [])
        allowed = record.allowed()
        where = f"{phase}: {record.table}/{key}"
        if len(stored) > 1:
            report.add(
                "duplicated", f"{where} stored {len(stored)} times (rids {[r for r, _ in stored]})", key
            )
            continue
        if not stored:
            if ABSENT not in allowed:
                report.add("lost", f"{where} is gone; last acknowledged: {_describe(record.last_ack())}", key)
            continue
        rid, values = stored[0]
        if canonical(values) in allowed:
            continue
        if allowed == {ABSENT}:
            if record.deleted():
                report.add("resurrected", f"{where} rid {rid} is back after its acknowledged delete", key)
            else:
                report.add("phantom", f"{where} rid {rid} is stored although its insert was refused", key)
        else:
            report.add(
                "lost",
                f"{where} rid {rid} has v={values.get('v')}, an acknowledged write is lost; "
                f"last acknowledged: {_describe(record.last_ack())}",
                key,
            )
    holders: dict[str, list[str]] = defaultdict(list)
    for row in view["tables"].get(ACCOUNTS, []):
        holders[row[2]["email"]].append(row[0])
    for email, keys in holders.items():
        if len(keys) > 1:
            report.add("unique", f"{phase}: {email} is held by {sorted(keys)}", email)


def check_unique_acks(reference: Reference, report: Report) -> None:
    """Two acknowledged writes of one unique value while the first still held it.

    A write acknowledged at ``a`` was stored before ``a``; one intended at
    ``i`` is stored after ``i``. So if A set the value (acknowledged at
    ``A.ack``) before B's write was intended, and B's was acknowledged before
    A's next change was even intended, B's message came while A held the value
    and B should have been refused.
    """
    intervals: dict[str, list[tuple[str, int, int, float, str]]] = defaultdict(list)
    for key, record in reference.records.items():
        if record.table != ACCOUNTS:
            continue
        steps = record.steps
        for index, step in enumerate(steps):
            if step.status != "ack" or step.kind == "delete" or step.done is None:
                continue
            end: float = float("inf")
            for later in steps[index + 1 :]:
                if later.status == "reject":
                    continue
                if later.kind == "delete" or later.values.get("email") != step.values["email"]:
                    end = later.intent
                    break
            intervals[step.values["email"]].append((key, step.intent, step.done, end, step.op))
    for email, spans in intervals.items():
        spans.sort(key=lambda s: s[2])
        for i, (key_a, _, ack_a, end_a, op_a) in enumerate(spans):
            for key_b, intent_b, ack_b, _, op_b in spans[i + 1 :]:
                if key_b == key_a:
                    continue
                if ack_a < intent_b and ack_b < end_a:
                    report.add(
                        "unique_acked",
                        f"{email}: {op_a} ({key_a}) and {op_b} ({key_b}) were both acknowledged "
                        f"while {key_a} held it",
                    )


def compare_views(reader: dict[str, Any], writer: dict[str, Any]) -> str | None:
    """None when equal, else a short description of the difference."""
    differences = []
    for table in sorted(set(reader["tables"]) | set(writer["tables"])):
        ours = {(k, r): canonical(v) for k, r, v in reader["tables"].get(table, [])}
        theirs = {(k, r): canonical(v) for k, r, v in writer["tables"].get(table, [])}
        only_reader = sorted(k for k in ours if k not in theirs)
        only_writer = sorted(k for k in theirs if k not in ours)
        changed = sorted(k for k in ours if k in theirs and ours[k] != theirs[k])
        if only_reader or only_writer or changed:
            differences.append(
                f"{table}: {len(only_reader)} only in the reader {[k for k, _ in only_reader[:3]]}, "
                f"{len(only_writer)} only in the writer {[k for k, _ in only_writer[:3]]}, "
                f"{len(changed)} differ {[k for k, _ in changed[:3]]}"
            )
    return "; ".join(differences) or None
