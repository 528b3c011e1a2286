"""The benchmarks' peers: their virtual environments, the report against two peers,
and DiscordBase 0.1.0 on the local server.

The environments are tested without the package index: an environment whose
interpreter is this one (a symlink) passes or fails its version check for
real, and the install step is observed through a stand-in for
``subprocess.run``. The run of DiscordBase itself needs its environment
(``benchmarks/.discordbase-venv``, made by the first ``make bench`` or
``python -m benchmarks --peers discordbase``) and is skipped without it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks import baseline_env
from benchmarks.baseline_env import BASELINE, DISCORDBASE, PEERS, PeerEnv, ensure_env, installed_versions
from benchmarks.client_discordbase import SCHEMAS, row, row_id
from benchmarks.report import headline_chart, markdown
from benchmarks.runner import EXPECTED_PHASES, Options, RunConfig, compare, refresh, run_benchmarks, summarize
from benchmarks.workloads import Sizes, bulk_records, crud_plan

SMALL = Sizes(inserts=20, finds=20, updates=10, deletes=10, reopen_finds=5, bulk=100, logs=100)
MSG = "/channels/{channel_id}/messages"
POST = f"POST {MSG}"
HISTORY = f"GET {MSG}"
EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"
WITHDRAW = "DELETE /channels/{channel_id}/messages/{message_id}"


# ------------------------------------------------------------------ the environments


def fake_env(tmp_path: Path, prints: str, version: str = "0.1.0") -> PeerEnv:
    """A peer whose environment's interpreter is this one and whose check prints ``prints``."""
    return PeerEnv(
        library="fake",
        title="Fake 0.1.0",
        requirement=f"fake=={version}",
        version=version,
        venv=tmp_path / "venv",
        version_check=f"print({prints!r})",
        client="benchmarks.client_fake",
        transport="httpx",
    )


def link_python(env: PeerEnv) -> None:
    env.python.parent.mkdir(parents=True)
    env.python.symlink_to(sys.executable)


def test_the_peers_and_their_environments() -> None:
    assert list(PEERS) == ["1.0.0", "discordbase"]
    assert (BASELINE.requirement, BASELINE.client) == ("discobase==1.0.0", "benchmarks.client_baseline")
    assert (DISCORDBASE.requirement, DISCORDBASE.client) == (
        "discordbase==0.1.0",
        "benchmarks.client_discordbase",
    )
    # Each peer in a directory of its own under benchmarks/, ignored by git.
    assert BASELINE.venv != DISCORDBASE.venv
    ignored = (Path(__file__).parents[1] / ".gitignore").read_text().splitlines()
    for env in PEERS.values():
        assert env.venv.parent.name == "benchmarks"
        assert f"benchmarks/{env.venv.name}/" in ignored


def test_an_environment_that_passes_its_check_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fake_env(tmp_path, "0.1.0 0.28.1")
    assert installed_versions(env) is None  # no interpreter yet
    link_python(env)
    assert installed_versions(env) == ("0.1.0", "0.28.1")
    installs: list[list[str]] = []
    real_run = subprocess.run

    def run(argv: list[str], **kwargs: Any) -> Any:
        if "pip" in argv:
            installs.append(argv)
        return real_run(argv, **kwargs)

    monkeypatch.setattr(baseline_env.subprocess, "run", run)
    said: list[str] = []
    assert ensure_env(env, say=said.append) == (env.python, "0.28.1")
    assert installs == said == []


def test_a_missing_environment_is_made_with_the_peers_requirement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fake_env(tmp_path, "unused")
    calls: list[list[str]] = []
    installed: list[str] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        if argv[1:3] == ["-m", "venv"]:
            link_python(env)
        elif argv[1:4] == ["-m", "pip", "install"]:
            installed.append(argv[-1])
        elif argv[1] == "-c":  # the version check
            assert argv[2] == env.version_check
            assert kwargs["cwd"] == "/"
            out = "0.1.0 0.28.1\n" if installed else ""
            return subprocess.CompletedProcess(argv, 0 if installed else 1, out, "")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(baseline_env.subprocess, "run", run)
    said: list[str] = []
    assert ensure_env(env, say=said.append) == (env.python, "0.28.1")
    assert calls[0] == [sys.executable, "-m", "venv", str(env.venv)]
    assert calls[1] == [str(env.python), "-m", "pip", "install", "--quiet", "fake==0.1.0"]
    assert installed == ["fake==0.1.0"]
    assert said == [f"installing fake==0.1.0 from the package index into {env.venv} (first run only)"]


def test_an_environment_with_another_version_is_reinstalled_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fake_env(tmp_path, "0.0.9 0.28.1")
    link_python(env)
    assert installed_versions(env) == ("0.0.9", "0.28.1")
    pip: list[list[str]] = []
    real_run = subprocess.run

    def run(argv: list[str], **kwargs: Any) -> Any:
        if "pip" in argv:  # the index is not asked; the version stays wrong
            pip.append(argv)
            return subprocess.CompletedProcess(argv, 0, "", "")
        return real_run(argv, **kwargs)

    monkeypatch.setattr(baseline_env.subprocess, "run", run)
    with pytest.raises(
        RuntimeError, match=r"could not install fake==0\.1\.0 into .*\(found version 0\.0\.9\)"
    ):
        ensure_env(env, say=lambda _: None)
    assert pip == [[str(env.python), "-m", "pip", "install", "--quiet", "fake==0.1.0"]]
    broken = fake_env(tmp_path / "broken", "x")
    link_python(broken)
    object.__setattr__(broken, "version_check", "raise SystemExit(3)")
    assert installed_versions(broken) is None


# ------------------------------------------------------------------ the DiscordBase client's rows


def test_discordbase_rows_carry_a_primary_key_and_the_workloads_fields() -> None:
    plan = crud_plan(SMALL, 7)
    user = row("user", 3, plan.record("user", 3))
    assert user == {"id": "user000003", **plan.users[3]}
    assert set(user) == set(SCHEMAS["user"])
    post = row("post", 0, plan.record("post", 0))
    assert set(post) == set(SCHEMAS["post"])
    assert post["id"] == row_id("post", 0) == "post000000"
    assert len({row("user", i, r)["id"] for i, r in enumerate(bulk_records(100, 7))}) == 100


# ------------------------------------------------------------------ the report against two peers


def phase(
    name: str,
    done: int,
    seconds: float,
    requests: dict[str, int],
    *,
    planned: int | None = None,
    part: str = "workload",
    complete: bool = True,
) -> dict[str, Any]:
    return {
        "kind": "phase",
        "name": name,
        "part": part,
        "planned": done if planned is None else planned,
        "done": done,
        "ok": 0,
        "checked": 0,
        "complete": complete,
        "error_count": 0,
        "errors": [],
        "seconds": seconds,
        "requests": requests,
    }


def fake_run(config: RunConfig, phases: list[dict[str, Any]], *, exhausted: bool = False) -> dict[str, Any]:
    """A run as :func:`benchmarks.runner.run_client` records it, with made-up figures."""
    run: dict[str, Any] = {
        "key": config.key,
        "library": config.library,
        "workload": config.workload,
        "style": config.style,
        "scale": config.scale,
        "sizes": config.sizes.to_json(),
        "budget": config.budget,
        "note": config.note,
        "database": "bench",
        "returncode": 0,
        "killed": False,
        "process_seconds": 1.0,
        "peak_rss_mib": 40.0,
        "status_429": 0,
        "phases": phases,
        "result": {"kind": "result", "budget_exhausted": exhausted},
        "error": None,
        "log": "run.log",
    }
    summarize(run, EXPECTED_PHASES[config.workload])
    return run


def crud_phases(writes: dict[str, int], seconds: float, reopen: int) -> list[dict[str, Any]]:
    return [
        phase("connect", 0, 0.1, {POST: 3}, part="setup"),
        phase("insert", 20, 20 * seconds, {POST: 20 * writes[POST]} if writes[POST] else {}),
        phase("find", 20, 20 * seconds, {HISTORY: 20 * writes[HISTORY]} if writes[HISTORY] else {}),
        phase("update", 10, 10 * seconds, {POST: 10 * writes[POST]} if writes[POST] else {}),
        phase("delete", 10, 10 * seconds, {POST: 10 * writes[POST]} if writes[POST] else {}),
        phase("close", 0, 0.01, {}),
        phase("reopen", 0, 0.01, {HISTORY: reopen}),
        phase("reopen-find", 5, 5 * seconds, {}),
    ]


def two_peer_report() -> dict[str, Any]:
    """ours against 1.0.0 (complete) and DiscordBase (its budget ran out) on crud and bulk."""
    bulk = Sizes(bulk=100)
    runs = [
        fake_run(
            RunConfig("ours", "crud", "sequential", SMALL, 0.05), crud_phases({POST: 1, HISTORY: 0}, 0.01, 3)
        ),
        fake_run(
            RunConfig("1.0.0", "crud", "sequential", SMALL, 0.05, budget=120),
            crud_phases({POST: 10, HISTORY: 1}, 1.0, 30),
        ),
        fake_run(
            RunConfig("discordbase", "crud", "sequential", SMALL, 0.05, budget=120),
            [
                phase("connect", 0, 0.1, {POST: 2}, part="setup"),
                phase("insert", 20, 20.0, {HISTORY: 20, POST: 20}),
                phase("find", 8, 8.0, {HISTORY: 8}, planned=20, complete=False),
                phase("close", 0, 0.01, {}, part="extra"),
            ],
            exhausted=True,
        ),
        fake_run(
            RunConfig("ours", "bulk", "concurrent", bulk),
            [
                phase("connect", 0, 0.1, {}, part="setup"),
                phase("insert", 100, 0.05, {POST: 1}),
                phase("close", 0, 0, {}),
            ],
        ),
        fake_run(
            RunConfig("discordbase", "bulk", "sequential", bulk, budget=120),
            [
                phase("connect", 0, 0.1, {}, part="setup"),
                phase("insert", 50, 60.0, {HISTORY: 50, POST: 50}, planned=100, complete=False),
                phase("close", 0, 0, {}),
            ],
            exhausted=True,
        ),
    ]
    options = Options(workloads=("crud", "bulk"), rate_limits="off")
    comparisons, targets = compare(runs, options)
    return {
        "date": "2026-12-02T00:00:00+00:00",
        "command": "python -m benchmarks --workloads crud,bulk",
        "machine": {"cpus": 2, "cpu_model": "test", "memory_gib": 1.0, "platform": "test", "python": "3.11"},
        "versions": {
            "ours": "2.0.0",
            "ours_git": None,
            "baseline": "1.0.0",
            "baseline_discord_py": "2.7.1",
            "peers": {
                "1.0.0": {
                    "title": "discobase 1.0.0",
                    "transport": "discord.py",
                    "transport_version": "2.7.1",
                },
                "discordbase": {
                    "title": "DiscordBase 0.1.0",
                    "transport": "httpx",
                    "transport_version": "0.28.1",
                },
            },
        },
        "options": {
            "workloads": ["crud", "bulk"],
            "styles": ["sequential"],
            "sizes": SMALL.to_json(),
            "seed": 7,
            "baseline": True,
            "peers": ["1.0.0", "discordbase"],
            "baseline_scale": 0.05,
            "rate_limits": "off",
            "budget": 120.0,
            "data_channels": 1,
            "latency_samples": 10,
            "scale_records": [],
        },
        "rtt_seconds": 0.001,
        "unavailable": {},
        "runs": runs,
        "comparisons": comparisons,
        "targets": targets,
        "scale": None,
    }


def test_the_report_shows_ratios_against_both_peers() -> None:
    report = two_peer_report()
    against = {(c["workload"], c["peer"]): c for c in report["comparisons"] if c["kind"] == "vs peer"}
    assert set(against) == {("crud", "1.0.0"), ("crud", "discordbase"), ("bulk", "discordbase")}
    # 1.0.0 finished: whole runs. ours: 40 writes + 3 reads = 43 requests, 0.65 s.
    whole = against[("crud", "1.0.0")]
    assert whole["basis"] == "same workload, whole run"
    assert whole["fewer_requests"] == pytest.approx((400 + 20 + 30) / 43)
    assert whole["less_time"] == pytest.approx(65.02 / 0.67)
    # DiscordBase's budget ran out in find: per operation over insert and find.
    partial = against[("crud", "discordbase")]
    assert partial["basis"] == (
        "per operation, over the phases DiscordBase 0.1.0 reached (insert, find): "
        "it completed 28 of 65 operations in its 120 s budget"
    )
    assert partial["fewer_requests"] == pytest.approx((48 / 28) / (20 / 40))
    assert partial["less_time"] == pytest.approx((28 / 28) / (0.4 / 40))
    bulk = against[("bulk", "discordbase")]
    assert "it completed 50 of 100 records in its 120 s budget" in bulk["basis"]
    assert bulk["fewer_requests"] == pytest.approx(2 / 0.01)
    assert bulk["less_time"] == pytest.approx(1.2 / 0.0005)
    # The issue's >= 20x targets are against 1.0.0 only.
    crud_targets = [t["target"] for t in report["targets"] if t["target"].startswith("crud: >= 20x")]
    assert crud_targets == [
        "crud: >= 20x fewer requests than 1.0.0 (sequential)",
        "crud: >= 20x less wall time than 1.0.0 (sequential)",
    ]
    # A stored report re-rendered (--from-json) gets the same comparisons.
    again = refresh(json.loads(json.dumps(report)))
    assert [c for c in again["comparisons"] if c["kind"] == "vs peer"] == list(against.values())


def test_each_style_of_ours_is_compared_with_the_same_style_of_a_peer_that_ran_it() -> None:
    def crud(library: str, style: str) -> dict[str, Any]:
        return fake_run(
            RunConfig(library, "crud", style, SMALL, 0.05), crud_phases({POST: 1, HISTORY: 1}, 0.1, 3)
        )

    runs = [crud("ours", "sequential"), crud("ours", "concurrent"), crud("1.0.0", "sequential")]
    runs += [crud("discordbase", "sequential"), crud("discordbase", "concurrent")]
    comparisons, _ = compare(runs, Options(workloads=("crud",)))
    pairs = {(c["ours"], c["other"]) for c in comparisons if c["kind"] == "vs peer"}
    assert pairs == {
        # 1.0.0 runs sequentially only: both styles of ours against it.
        ("crud/sequential/ours@0.05", "crud/sequential/1.0.0@0.05"),
        ("crud/concurrent/ours@0.05", "crud/sequential/1.0.0@0.05"),
        # DiscordBase ran both: style against style.
        ("crud/sequential/ours@0.05", "crud/sequential/discordbase@0.05"),
        ("crud/concurrent/ours@0.05", "crud/concurrent/discordbase@0.05"),
    }


def test_the_generated_section_names_both_peers_with_a_chart() -> None:
    report = two_peer_report()
    text = markdown(report)
    assert "vs 1.0.0 (discord.py 2.7.1) and DiscordBase 0.1.0 (httpx 0.28.1)" in text
    assert "peers (1.0.0, DiscordBase 0.1.0): `crud` scale 0.05, budget 120 s per workload" in text
    assert (
        "| crud · sequential · ours (sizes x0.05) vs crud · sequential · DiscordBase 0.1.0 (sizes x0.05) |"
        in text
    )
    assert "| crud · sequential · ours (sizes x0.05) vs crud · sequential · 1.0.0 (sizes x0.05) |" in text
    assert "| bulk · concurrent · ours vs bulk · sequential · DiscordBase 0.1.0 |" in text
    # The runs table shows what DiscordBase completed within its budget.
    line = next(x for x in text.splitlines() if x.startswith("| crud · sequential · DiscordBase 0.1.0"))
    assert "| 28/65 |" in line
    assert "budget ran out" in line
    chart = headline_chart(report)
    axis = ["crud sequential vs 1.0.0", "crud sequential vs DiscordBase", "bulk concurrent vs DiscordBase"]
    assert "    x-axis [" + ", ".join(f'"{label}"' for label in axis) + "]" in chart
    assert "\n".join(chart) in text
    assert "**DiscordBase 0.1.0** is installed from the package index" in text
    # A report of ours alone says so.
    alone = {**report, "versions": {**report["versions"], "peers": {}}}
    assert "alone (no peers)" in markdown({**alone, "comparisons": [], "targets": []})


# ------------------------------------------------------------------ DiscordBase on the local server


def _discordbase_installed() -> bool:
    versions = installed_versions(DISCORDBASE)
    return versions is not None and versions[0] == DISCORDBASE.version


@pytest.mark.timeout(120)
@pytest.mark.skipif(
    not _discordbase_installed(),
    reason="DiscordBase 0.1.0 is not installed in benchmarks/.discordbase-venv (it needs the package "
    "index: python -m benchmarks --peers discordbase makes it)",
)
def test_discordbase_runs_the_workloads_on_the_local_server(tmp_path: Path) -> None:
    options = Options(
        workloads=("crud", "bulk", "logs"),
        sizes=SMALL,
        peers=("discordbase",),
        rate_limits="off",
        latency_samples=10,
        scale_records=(),
        results=tmp_path,
        timeout=60,
    )
    report = asyncio.run(run_benchmarks(options))
    runs = {run["key"]: run for run in report["runs"]}
    assert "logs/stream/discordbase" not in runs  # it has no log table
    for style in ("sequential", "concurrent"):
        crud = runs[f"crud/{style}/discordbase"]
        assert crud["error"] is None, crud
        assert crud["complete"], crud
        assert crud["errors"] == 0, crud
        got = {
            p["name"]: {k: v for k, v in p["requests"].items() if not k.startswith("GATEWAY")}
            for p in crud["phases"]
        }
        # Its first connect: a category, a catalog and two table channels; two catalog entries.
        assert got.pop("connect")["POST /guilds/{guild_id}/channels"] == 4
        # Each operation reads its table's channel (under 100 rows: one page), then writes once;
        # issued together, the operations of a phase cost the same.
        assert got == {
            "insert": {HISTORY: 20, POST: 20},
            "find": {HISTORY: 20},
            "update": {HISTORY: 10, EDIT: 10},
            "delete": {HISTORY: 10, WITHDRAW: 10},
            "close": {},
            "reopen": {"GET /users/@me": 1, "GET /guilds/{guild_id}/channels": 4, HISTORY: 2},
            "reopen-find": {HISTORY: 5},
        }, style
        assert crud["correct"] == crud["checked"] == SMALL.finds + SMALL.reopen_finds
    bulk = runs["bulk/sequential/discordbase"]
    assert bulk["error"] is None, bulk
    assert bulk["complete"], bulk
    assert bulk["per_route"] == {HISTORY: 100, POST: 100}
    assert bulk["correct"] == bulk["checked"] == 1  # the table holds every acknowledged insert
    assert {(c["ours"], c["other"]) for c in report["comparisons"] if c["kind"] == "vs peer"} == {
        ("crud/sequential/ours", "crud/sequential/discordbase"),
        ("crud/concurrent/ours", "crud/concurrent/discordbase"),
        ("bulk/concurrent/ours", "bulk/sequential/discordbase"),
    }
    assert report["versions"]["peers"]["discordbase"]["transport"] == "httpx"
