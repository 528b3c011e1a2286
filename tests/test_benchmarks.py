"""The benchmarks, short: request counts of a small ``crud`` (deterministic) and the ideal's arithmetic.

The ``crud`` runs use the real runner: one local server without rate limits,
each client in a subprocess. discobase 1.0.0 is not installed here (see
``make bench`` for the comparison). Times are printed by the benchmark, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks.ideal import Req, Step, crud_steps, ideal_for, simulate, workload_steps
from benchmarks.report import ANALYSIS_BEGIN, ANALYSIS_END, BLOCK_BEGIN, headline_chart, markdown, write_docs
from benchmarks.runner import Options, plan_runs, refresh, run_benchmarks
from benchmarks.scale_report import scale_markdown, scale_targets
from benchmarks.workloads import Sizes, crud_plan

SMALL = Sizes(inserts=20, finds=20, updates=10, deletes=10, reopen_finds=5, bulk=100, logs=100)
MSG = "/channels/{channel_id}/messages"
POST = f"POST {MSG}"
HISTORY = f"GET {MSG}"
WITHDRAW = "DELETE /channels/{channel_id}/messages/{message_id}"

#: A cold reopen: the same reads, nothing created. History: the catalog and each
#: table's data channel; the index channels are listed empty (no snapshot) and not read.
#: A connect: the catalog, the table's channels, and the record-id worker claim.
REOPEN = {
    POST: 1,
    HISTORY: 3,
    "GET /guilds/{guild_id}/channels": 1,
    "GET /oauth2/applications/@me": 1,
    "GET /users/@me": 1,
}


def rest(requests: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in requests.items() if not k.startswith("GATEWAY")}


def check_connect(requests: dict[str, int]) -> None:
    """The first connect is set-up, not workload: its exact cost follows the start-up
    protocol (catalog, lease). It makes the six channels of two new tables (category,
    catalog, a data and an index channel per table) and stays small."""
    assert requests["POST /guilds/{guild_id}/channels"] == 6
    assert sum(requests.values()) <= 30, requests


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    options = Options(
        workloads=("crud", "logs"),
        sizes=SMALL,
        baseline=False,
        rate_limits="off",
        latency_samples=50,
        scale_records=(),  # rendered from fake figures below; measured by make bench
        results=tmp_path_factory.mktemp("bench"),
        timeout=60,
    )
    return asyncio.run(run_benchmarks(options))


def phases(report: dict[str, Any], key: str) -> dict[str, dict[str, int]]:
    run = next(r for r in report["runs"] if r["key"] == key)
    assert run["error"] is None, run
    assert run["complete"], run
    return {p["name"]: rest(p["requests"]) for p in run["phases"]}


@pytest.mark.timeout(60)
def test_crud_sequential_request_counts(report: dict[str, Any]) -> None:
    got = phases(report, "crud/sequential/ours")
    check_connect(got.pop("connect"))
    # One message per awaited write: nothing to pack.
    assert got == {
        "insert": {POST: 20},
        "find": {},  # served from memory
        "update": {POST: 10},
        "delete": {POST: 10},
        "close": {WITHDRAW: 1},  # the record-id worker claim
        "reopen": REOPEN,
        "reopen-find": {},
        "find-latency": {},
    }
    run = next(r for r in report["runs"] if r["key"] == "crud/sequential/ours")
    assert run["requests"] == 48  # the workload's requests (set-up excluded; 2 for the worker claim)
    assert run["ops"] == run["planned_ops"] == SMALL.crud_ops()
    assert run["correct"] == run["checked"] == SMALL.finds + SMALL.reopen_finds
    assert run["status_429"] == 0
    assert run["find_p50_us"] is not None
    assert run["peak_rss_mib"] > 10


@pytest.mark.timeout(60)
def test_crud_concurrent_request_counts(report: dict[str, Any]) -> None:
    got = phases(report, "crud/concurrent/ours")
    check_connect(got["connect"])
    assert got["reopen"] == REOPEN
    assert got["find"] == got["reopen-find"] == {}
    assert got["close"] == {WITHDRAW: 1}
    # Group commit: a phase's writes share messages, at least one per table, at most
    # one more per table when a send was already in flight.
    for name in ("insert", "update", "delete"):
        assert set(got[name]) == {POST}, name
        assert 2 <= got[name][POST] <= 4, (name, got[name])
    run = next(r for r in report["runs"] if r["key"] == "crud/concurrent/ours")
    assert run["correct"] == run["checked"] == SMALL.finds + SMALL.reopen_finds


@pytest.mark.timeout(60)
def test_logs_request_counts(report: dict[str, Any]) -> None:
    got = phases(report, "logs/stream/ours")
    connect = got.pop("connect")
    # The first connect makes the category, the catalog and _logs' data and index channels.
    assert connect["POST /guilds/{guild_id}/channels"] == 4
    # 100 records: one message (too few for a snapshot: the close has nothing to do).
    assert got == {"log": {POST: 1}, "verify": {}, "close": {WITHDRAW: 1}}
    run = next(r for r in report["runs"] if r["key"] == "logs/stream/ours")
    assert run["correct"] == run["checked"] == 1  # every record stored, in order
    assert run["ops"] == SMALL.logs
    assert run["records_per_second"] > 0
    assert run["ideal"]["requests"] == 1


def test_report_renders_and_keeps_the_analysis(report: dict[str, Any], tmp_path: Path) -> None:
    assert report["unavailable"] == {}
    logs_targets = {t["target"]: t for t in report["targets"] if t["target"].startswith("logs")}
    assert set(logs_targets) == {"logs: >= 2,000 records/s", "logs (stream): within 3x of the ideal"}
    assert {c["kind"] for c in report["comparisons"]} == {"vs ideal"}
    docs = tmp_path / "benchmarks.md"
    # The page holds other benchmarks' figures: only this runner's section is (re)written.
    docs.write_text("# Benchmarks\n\n## One table at scale\n\nFigures by hand.\n")
    write_docs(report, docs)
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\n## One table at scale\n\nFigures by hand.\n")
    assert "\n## discobase against discobase 1.0.0\n" in text
    assert "crud · sequential · ours" in text
    assert report["command"] in text
    assert "logs · stream · ours" in text
    docs.write_text(text.replace("_No analysis written for these figures yet._", "Hand-written."))
    write_docs(report, docs)
    regenerated = docs.read_text()
    assert f"{ANALYSIS_BEGIN}\nHand-written.\n{ANALYSIS_END}" in regenerated
    assert regenerated.count(BLOCK_BEGIN) == regenerated.count("## discobase against discobase 1.0.0") == 1
    assert regenerated.startswith("# Benchmarks\n\n## One table at scale\n\nFigures by hand.\n")
    assert markdown(report).count("### Runs") == 1
    # Re-rendering a stored report recomputes the same derived figures.
    again = refresh(json.loads(json.dumps(report)))
    assert again["comparisons"] == report["comparisons"]
    assert again["targets"] == report["targets"]
    assert report["scale"] is None
    assert "### One table at scale\n\nNot run (`--scale-records 0`)." in regenerated


#: Figures in the shape ``python -m benchmarks.scale --json`` writes (made up, round numbers).
FAKE_SCALE: dict[str, Any] = {
    "records": 1_000_000,
    "seed": 7,
    "command": "python -m benchmarks.scale --records 1000000 --seed 7",
    "insert_many_records_per_second": 200_000.0,
    "open_seconds": 2.5,
    "warm_find_us_p50": 6.0,
    "range_100_us_p50": 250.0,
    "sorted_asc_skip50_limit100_us_p50": 240.0,
    "sorted_desc_skip50_limit100_us_p50": 400.0,
    "memory_bytes_per_record": 300.0,
    "sqlite_insert_records_per_second": 500_000.0,
    "sqlite_find_us_p50": 5.0,
    "sqlite_range_100_us_p50": 1000.0,
    "sqlite_sorted_asc_skip50_limit100_us_p50": 120.0,
    "sqlite_sorted_desc_skip50_limit100_us_p50": 16_000.0,
    "sqlite_bytes_per_record": 100.0,
}


def test_scale_figures_render_with_sqlite_ratios_goals_and_a_chart(report: dict[str, Any]) -> None:
    targets = {t["target"]: t for t in scale_targets(FAKE_SCALE)}
    insert = targets["insert_many ≥ 0.5x SQLite's rate"]
    assert insert["value"] == pytest.approx(0.4)  # our rate as a share of SQLite's
    assert insert["met"] is False
    find = targets["warm indexed find p50 (unique email) ≤ 1.5x SQLite"]
    assert find["value"] == pytest.approx(1.2)
    assert find["met"] is True
    assert targets["cold open ≤ 2 s (at 1M records)"]["met"] is False
    assert targets["sorted ascending window ≤ 0.3 ms (at 1M records)"]["met"] is True
    assert targets["sorted descending window ≤ 0.3 ms (at 1M records)"]["met"] is False
    assert targets["memory ≤ 400 B per record (at 1M records)"]["met"] is True
    # Below 1M records the absolute goals are shown, not judged; the ratios still are.
    small = {t["target"]: t["met"] for t in scale_targets({**FAKE_SCALE, "records": 100_000})}
    assert small["cold open ≤ 2 s (at 1M records)"] is None
    assert small["warm indexed find p50 (unique email) ≤ 1.5x SQLite"] is True

    text = "\n".join(scale_markdown(FAKE_SCALE))
    assert "| insert_many | 200,000 records/s | 500,000 records/s | 2.5x |" in text
    assert "| warm indexed find p50 (unique email) | 6.0 µs | 5.0 µs | 1.2x |" in text
    assert "| range of 100 records p50 | 250 µs | 1,000 µs | 0.25x |" in text
    assert "| cold open | 2.5 s | — | — |" in text
    assert "| cold open ≤ 2 s (at 1M records) | 2.5 s | MISSED |" in text
    assert "xychart-beta" in text
    assert "bar [2.50, 1.20, 0.25, 2.00, 0.03, 3.00]" in text
    assert FAKE_SCALE["command"] in text
    failed = "\n".join(scale_markdown({"records": 100_000, "error": "exit status 1: boom"}))
    assert "failed: `exit status 1: boom`" in failed

    # The generated section carries them, after the targets.
    section = markdown({**report, "scale": FAKE_SCALE})
    assert section.index("### The issue's targets") < section.index("### One table at scale")
    assert section.index("### One table at scale") < section.index("### Analysis")


# ------------------------------------------------------------------ the ideal


def post(channel: str, tag: str | None = None) -> Req:
    return Req("POST", MSG, channel, tag=tag)


def test_ideal_write_bucket_is_5_per_5_seconds_per_channel() -> None:
    # Six creates in one channel, one after another: the sixth waits for the next window.
    seconds, _, rounds = simulate([Step("w", [post("a")]) for _ in range(6)])
    assert seconds == pytest.approx(5.0, abs=0.002)
    assert rounds == 6
    # Ten at once in one channel: two windows. Five in each of two channels: one burst.
    assert simulate([Step("w", [post("a")] * 10)])[0] == pytest.approx(5.0, abs=0.002)
    assert simulate([Step("w", [post("a")] * 5 + [post("b")] * 5)])[0] == 0.0
    # Edits share the bucket with creates.
    edit = Req("PATCH", MSG + "/{message_id}", "a")
    assert simulate([Step("w", [post("a")] * 5 + [edit])])[0] == pytest.approx(5.0, abs=0.002)


def test_ideal_global_limit_and_round_trips() -> None:
    # 60 writes spread over 60 channels: only the global limit (50 per second) binds.
    assert simulate([Step("w", [post(str(n)) for n in range(60)])])[0] == pytest.approx(1.0, abs=0.002)
    # Each step that sends something costs one round trip; empty steps cost nothing.
    steps = [Step("a", [post("a")]), Step("b", []), Step("c", [post("b")])]
    seconds, per_phase, rounds = simulate(steps, rtt=0.01)
    assert seconds == pytest.approx(0.02)
    assert rounds == 2
    assert per_phase == pytest.approx({"a": 0.01, "c": 0.01})
    # Without rate limits only the round trips remain.
    many = [Step("w", [post("a")]) for _ in range(20)]
    assert simulate(many, rate_limits="off", rtt=0.001)[0] == pytest.approx(0.02)


def test_ideal_delete_bucket_depends_on_the_message_age() -> None:
    delete = [Req("DELETE", MSG + "/{message_id}", "a", age_of=f"m{n}") for n in range(6)]
    creates = [post(f"x{n}", tag=f"m{n}") for n in range(6)]
    # Deleted at once when 0 s old: "young", 5 per 1 s, so the sixth waits a second.
    assert simulate([Step("c", creates), Step("d", delete)])[0] == pytest.approx(1.0, abs=0.002)
    # Deleted 20 s later: "old", 3 per 0.333 s.
    later = [Step("c", creates), *[Step("pad", [post("p")]) for _ in range(21)], Step("d", delete)]
    total, per_phase, _ = simulate(later)
    assert per_phase["d"] == pytest.approx(0.333, abs=0.002)
    assert total == pytest.approx(20.0 + 0.333, abs=0.01)


def test_ideal_of_crud() -> None:
    plan = crud_plan(SMALL, 7)
    sequential = ideal_for(crud_steps(plan, "sequential"))
    # An insert, an update (edit), a delete per operation; reopen: guilds, channels,
    # one history page per table.
    assert sequential.per_route == {
        "DELETE /channels/{channel_id}/messages/{message_id}": 10,
        "GET /channels/{channel_id}/messages": 2,
        "GET /guilds/{guild_id}/channels": 1,
        "GET /users/@me/guilds": 1,
        "PATCH /channels/{channel_id}/messages/{message_id}": 10,
        POST: 20,
    }
    # 10 creates per channel, alternating: two windows; then 5 edits per channel: the
    # next window. The deletes (of 5-10 s old messages) and the reopen fit in bursts.
    assert sequential.per_phase["insert"] == pytest.approx(5.0, abs=0.01)
    assert sequential.per_phase["update"] == pytest.approx(5.0, abs=0.01)
    assert sequential.limit_seconds == pytest.approx(10.0, abs=0.02)
    concurrent = ideal_for(crud_steps(plan, "concurrent"), rtt=0.001)
    # One packed create, edit and edit per table, then the reopen (the records fit in the
    # messages' content once compressed: no attachment to download).
    assert concurrent.requests == 10
    assert concurrent.limit_seconds == 0.0
    assert concurrent.rounds == 6
    assert concurrent.seconds == pytest.approx(0.006)
    # At the default sizes the 100 posts do not fit: the reopen downloads one attachment.
    full = ideal_for(crud_steps(crud_plan(Sizes(), 7), "concurrent"))
    assert full.per_route["GET /attachments/{channel_id}/{attachment_id}/{filename}"] == 1
    # The default crud, sequential: 100 creates per channel need 19 more windows.
    default = ideal_for(crud_steps(crud_plan(Sizes(), 7), "sequential"))
    assert default.per_phase["insert"] == pytest.approx(95.0, abs=0.1)
    # 10,000 concurrent inserts fit in one message.
    bulk = workload_steps("bulk", "concurrent", Sizes(), 7)
    assert bulk is not None
    assert ideal_for(bulk).requests == 1
    # 10,000 log records fit in one message of the _logs channel.
    logs = workload_steps("logs", "stream", Sizes(), 7)
    assert logs is not None
    assert ideal_for(logs).per_route == {POST: 1}


# ------------------------------------------------------------------ sizes and plans


def test_sizes_and_plans() -> None:
    assert Sizes() == Sizes(200, 200, 100, 100, 50, 10_000, 10_000)
    assert Sizes().scaled(0.1) == Sizes(20, 20, 10, 10, 5, 1000, 1000)
    assert Sizes.parse("inserts=20, finds=3,updates=5,deletes=5") == Sizes(20, 3, 5, 5)
    assert Sizes.parse("inserts=40,updates=10,deletes=10").inserts == 40
    with pytest.raises(ValueError, match="must not exceed"):
        Sizes(inserts=10, updates=8, deletes=8)
    with pytest.raises(ValueError, match="bad size"):
        Sizes.parse("nope=1")
    plan = crud_plan(Sizes(), 7)
    assert plan == crud_plan(Sizes(), 7)  # the seed fixes everything
    assert len(plan.inserts) == len(plan.finds) == 200
    assert plan.survivors == {"user": 50, "post": 50}
    updated = {(t, i) for t, i, _ in plan.updates}
    assert not updated & set(plan.deletes)  # a deleted record is never an updated one
    assert all(op.expected >= 1 for op in plan.finds + plan.reopen_finds)


def test_plan_of_runs() -> None:
    runs = plan_runs(Options(baseline=True, rate_limits="discord"))
    keys = [r.key for r in runs]
    assert keys == [
        "crud/sequential/ours",
        "crud/concurrent/ours",
        "crud/sequential/ours@0.05",
        "crud/concurrent/ours@0.05",
        "crud/sequential/1.0.0@0.05",
        "crud/sequential/discordbase@0.05",
        "crud/concurrent/discordbase@0.05",
        "bulk/concurrent/ours",
        "bulk/sequential/1.0.0",
        "bulk/sequential/discordbase",
        "logs/stream/ours",
    ]
    assert all(r.budget == 300 for r in runs if r.library != "ours")
    assert all(r.budget is None for r in runs if r.library == "ours")
    off = [r.key for r in plan_runs(Options(rate_limits="off", workloads=("crud",)))]
    assert off == [
        "crud/sequential/ours",
        "crud/concurrent/ours",
        "crud/sequential/1.0.0",
        "crud/sequential/discordbase",
        "crud/concurrent/discordbase",
    ]
    # One peer only (--peers discordbase), or none (--no-baseline): ours alone.
    one = plan_runs(Options(peers=("discordbase",), workloads=("crud", "bulk"), styles=("sequential",)))
    assert [r.key for r in one] == [
        "crud/sequential/ours",
        "crud/sequential/ours@0.05",
        "crud/sequential/discordbase@0.05",
        "bulk/concurrent/ours",
        "bulk/sequential/discordbase",
    ]
    alone = plan_runs(Options(baseline=False, peers=("1.0.0",)))
    assert {r.library for r in alone} == {"ours"}
    assert not any(r.scale != 1 for r in alone)  # no reduced runs of ours without a peer to match
    with pytest.raises(ValueError, match="unknown peer"):
        plan_runs(Options(peers=("2.0.0",)))


def test_the_headline_chart_draws_each_comparison_with_a_peer() -> None:
    runs = [
        {"key": "a", "workload": "crud", "style": "sequential"},
        {"key": "b", "workload": "bulk", "style": "concurrent"},
        {"key": "c", "workload": "crud", "style": "concurrent"},
    ]
    comparisons = [
        {"kind": "vs peer", "peer": "1.0.0", "ours": "a", "fewer_requests": 10.0, "less_time": 100.0},
        {
            "kind": "vs peer",
            "peer": "discordbase",
            "ours": "b",
            "fewer_requests": 100_000.0,
            "less_time": 0.5,
        },
        {"kind": "vs ideal", "ours": "c", "requests_x": 1.0, "time_x": 2.0},
    ]
    chart = headline_chart({"runs": runs, "comparisons": comparisons})
    assert chart[:2] == ["```mermaid", "xychart-beta"]
    assert '    x-axis ["crud sequential vs 1.0.0", "bulk concurrent vs DiscordBase"]' in chart
    assert '    y-axis "log10(times fewer)" 0 --> 5' in chart
    assert "    bar [1.00, 5.00]" in chart
    assert "    line [2.00, 0.00]" in chart  # slower than the peer shows as 0, not below the axis
    assert headline_chart({"runs": runs, "comparisons": comparisons[2:]}) == []


def test_the_scale_benchmark_runs_at_each_size_given_and_renders_a_part_per_size() -> None:
    from benchmarks.__main__ import record_counts

    assert record_counts("100000,1000000") == (100_000, 1_000_000)
    assert record_counts("0") == ()
    with pytest.raises(argparse.ArgumentTypeError):
        record_counts("100k")
    big = {**FAKE_SCALE, "records": 1_000_000}
    text = "\n".join(scale_markdown([{**FAKE_SCALE, "records": 100_000}, big]))
    assert "### One table at scale: 100,000 records" in text
    assert "### One table at scale: 1,000,000 records" in text
    assert text.count("| insert_many |") == 2
    assert scale_markdown(FAKE_SCALE) == scale_markdown([FAKE_SCALE])  # an older report holds one run
