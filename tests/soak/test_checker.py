"""The checker on hand-made journals and views (no processes): it must see each
kind of violation, and accept what an ambiguous operation may have left."""

from __future__ import annotations

from typing import Any

from tests.soak.checker import Report, build_reference, check, check_unique_acks, compare_views
from tests.soak.models import ACCOUNTS, ITEMS
from tests.soak.writer import recover


class Journal:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.clock = 0
        self.ops = 0

    def _add(self, ev: str, **fields: Any) -> None:
        self.clock += 10
        self.events.append({"ev": ev, "t": self.clock, **fields})

    def op(self, kind: str, key: str, outcome: str, table: str = ITEMS, rid: int = 1, **values: Any) -> str:
        self.ops += 1
        op = f"w0.0.{self.ops}"
        self._add("intent", op=op, kind=kind, table=table, key=key, values={"key": key, **values})
        if outcome == "ack":
            self._add("ack", op=op, rid=rid)
        elif outcome in ("reject", "fail"):
            self._add(outcome, op=op, error="x")
        return op


def view(*rows: tuple[str, int, dict[str, Any]], table: str = ITEMS) -> dict[str, Any]:
    return {"tables": {table: [[k, r, {"key": k, **v}] for k, r, v in rows]}, "problems": []}


def checked(journal: Journal, seen: dict[str, Any]) -> Report:
    report = Report(name="t")
    reference = build_reference({"w0": journal.events})
    check(reference, seen, report, "final")
    check_unique_acks(reference, report)
    return report


def test_a_faithful_view_passes() -> None:
    journal = Journal()
    journal.op("insert", "k1", "ack", v=0)
    journal.op("update", "k1", "ack", v=1)
    journal.op("insert", "k2", "ack", v=0)
    journal.op("delete", "k2", "ack", v=0)
    report = checked(journal, view(("k1", 1, {"v": 1})))
    assert report.safe, report.summary()


def test_lost_insert_and_lost_update() -> None:
    journal = Journal()
    journal.op("insert", "k1", "ack", v=0)
    journal.op("insert", "k2", "ack", v=0)
    journal.op("update", "k2", "ack", v=1)
    report = checked(journal, view(("k2", 1, {"v": 0})))
    assert report.count("lost") == 2, report.summary()


def test_duplicated_and_resurrected_and_phantom() -> None:
    journal = Journal()
    journal.op("insert", "k1", "ack", v=0)
    journal.op("insert", "k2", "ack", v=0)
    journal.op("delete", "k2", "ack", v=0)
    journal.op("insert", "k3", "reject", v=0)
    seen = view(
        ("k1", 1, {"v": 0}), ("k1", 2, {"v": 0}), ("k2", 3, {"v": 0}), ("k3", 4, {"v": 0}), ("k9", 5, {})
    )
    report = checked(journal, seen)
    assert (report.count("duplicated"), report.count("resurrected"), report.count("phantom")) == (1, 1, 2)


def test_ambiguous_operations_allow_either_outcome() -> None:
    journal = Journal()
    journal.op("insert", "k1", "fail", v=0)
    journal.op("insert", "k2", "fail", v=0)
    journal.op("insert", "k3", "ack", v=0)
    journal.op("update", "k3", "pending", v=1)  # killed in flight
    journal.op("insert", "k4", "ack", v=0)
    journal.op("delete", "k4", "fail", v=0)
    for k3 in (0, 1):
        seen = view(("k1", 1, {"v": 0}), ("k3", 3, {"v": k3}))
        assert checked(journal, seen).safe
    assert checked(journal, view(("k4", 4, {"v": 0}))).count("lost") == 1  # k3 must be there


def test_unique_values_acknowledged_twice() -> None:
    journal = Journal()
    journal.op("insert", "a", "ack", table=ACCOUNTS, email="x")
    journal.op("insert", "b", "ack", table=ACCOUNTS, email="x")  # while a holds x
    journal.op("insert", "c", "ack", table=ACCOUNTS, email="y")
    journal.op("update", "c", "ack", table=ACCOUNTS, email="z")
    journal.op("insert", "d", "ack", table=ACCOUNTS, email="y")  # c let go of y first
    seen = view(
        ("a", 1, {"email": "x"}),
        ("b", 2, {"email": "x"}),
        ("c", 3, {"email": "z"}),
        ("d", 4, {"email": "y"}),
        table=ACCOUNTS,
    )
    report = checked(journal, seen)
    assert report.count("unique") == 1
    assert report.count("unique_acked") == 1, report.summary()


def test_views_compare_by_key_id_and_values() -> None:
    one = view(("k1", 1, {"v": 0}))
    assert compare_views(one, view(("k1", 1, {"v": 0}))) is None
    assert compare_views(one, view(("k1", 1, {"v": 1}))) is not None
    assert compare_views(one, view(("k1", 2, {"v": 0}))) is not None


def test_a_restarted_writer_recovers_its_records_from_the_journal() -> None:
    journal = Journal()
    journal.op("insert", "w0-0", "ack", rid=10, v=0)
    journal.op("update", "w0-0", "ack", rid=10, v=1)
    journal.op("insert", "w0-1", "fail", v=0)
    journal.op("insert", "w0-2", "ack", rid=12, v=0)
    journal.op("delete", "w0-2", "ack", rid=12, v=0)
    journal.op("insert", "w0-3", "reject", v=0)
    state = recover(journal.events)
    assert state.counter == 4
    assert {k: (live.rid, live.values["v"]) for k, live in state.live.items()} == {"w0-0": (10, 1)}
    assert set(state.retry) == {"w0-1"}
