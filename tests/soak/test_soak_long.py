"""The long soak and crash trials (``make soak``; skipped by the default run).

Knobs (environment): ``SOAK_SEED`` (base seed, default 7), ``SOAK_WRITER_KILLS``
(default 100), ``SOAK_SERVER_KILLS`` (default 30), ``SOAK_MATRIX_RUNS``
(default 4). Each test runs trials until its count is reached, prints one
summary per trial, and asserts the data-safety bar on the sum at the end;
``make soak`` prints the sum of every trial last.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.soak.checker import Report
from tests.soak.harness import FAULTS, Scenario, SoakError, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]

SEED = int(os.environ.get("SOAK_SEED", "7"))
WRITER_KILLS = int(os.environ.get("SOAK_WRITER_KILLS", "100"))
SERVER_KILLS = int(os.environ.get("SOAK_SERVER_KILLS", "30"))
MATRIX_RUNS = int(os.environ.get("SOAK_MATRIX_RUNS", "4"))
FOLLOWER = {"snapshot_every": 10**9, "reopen_every": None}


def run_trials(
    name: str,
    make: Callable[[int], Scenario],
    done: Callable[[Report], bool],
    work: Path,
    totals: Report,
    max_trials: int,
) -> Report:
    """Run ``make(0)``, ``make(1)``, ... until ``done(sum)`` (at most ``max_trials``)."""
    total = Report(name=name)
    for index in range(max_trials):
        if done(total):
            break
        scenario = make(index)
        try:
            report = run_scenario(scenario, work / f"trial{index}")
        except SoakError as error:  # the harness could not go on: say so, go on with the next trial
            report = Report(name=f"{scenario.name} seed={scenario.seed}", trials=1)
            report.add("harness", str(error)[:2000])
        print(f"\n{report.summary(limit=3)}\n  files: {work / f'trial{index}'}", flush=True)
        total.merge(report)
        totals.merge(report)
    print(f"\n{total.summary(limit=10)}", flush=True)
    return total


def assert_safe(total: Report) -> None:
    assert total.safe, (
        f"the data-safety bar is broken (base seed SOAK_SEED={SEED})\n{total.summary(limit=20)}"
    )


def test_writer_kills(tmp_path: Path, soak_totals: Report) -> None:
    """kill -9 of writers mid-run; each restarted writer reopens and finds its records."""

    def make(index: int) -> Scenario:
        writers = 2 + index % 3
        return Scenario(
            f"writer-kills-{index}",
            seed=SEED * 1000 + index,
            writers=writers,
            tasks=3,
            duration=30.0,
            writer_kills=10,
            faults=("latency", "5xx", "drop_after"),
            snapshot_every=6,
            writer_overrides=({}, FOLLOWER) if index % 2 else (),
        )

    total = run_trials(
        "writer kills", make, lambda t: t.writer_kills >= WRITER_KILLS, tmp_path, soak_totals, max_trials=100
    )
    assert total.writer_kills >= WRITER_KILLS
    assert_safe(total)


def test_server_kills(tmp_path: Path, soak_totals: Report) -> None:
    """kill -9 of the server (and clean restarts) mid-run, started again on the same file and port."""

    def make(index: int) -> Scenario:
        return Scenario(
            f"server-kills-{index}",
            seed=SEED * 1000 + 500 + index,
            writers=3,
            tasks=3,
            duration=24.0,
            server_kills=3,
            restarts=1,
            faults=("drop", "429"),
            snapshot_every=6,
            converge_timeout=30.0,
        )

    total = run_trials(
        "server kills", make, lambda t: t.server_kills >= SERVER_KILLS, tmp_path, soak_totals, max_trials=60
    )
    assert total.server_kills >= SERVER_KILLS
    assert_safe(total)


def test_fault_matrix(tmp_path: Path, soak_totals: Report) -> None:
    """Every fault kind (5xx, 429 and global 429, latency, dropped connections before and
    after the write, gateway closes, drops, reconnects and invalid sessions) with 3-4 writers."""

    def make(index: int) -> Scenario:
        return Scenario(
            f"fault-matrix-{index}",
            seed=SEED * 1000 + 800 + index,
            writers=3 + index % 2,
            tasks=3,
            duration=40.0,
            faults=FAULTS,
            fault_window=2.0,
            restarts=1,
            snapshot_every=5,
            writer_overrides=({}, {}, FOLLOWER),
            converge_timeout=30.0,
        )

    total = run_trials("fault matrix", make, lambda t: t.trials >= MATRIX_RUNS, tmp_path, soak_totals, 100)
    assert_safe(total)


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario("shared-worker-bits", seed=SEED, writers=3, duration=15.0, shared_worker=42, p_insert=0.7),
        Scenario("discord-rate-limits", seed=SEED, writers=3, duration=40.0, rate_limits="discord", big=0.2),
        Scenario(
            "close-and-reopen", seed=SEED, writers=4, duration=30.0, reopen_every=(0.5, 2.0), snapshot_every=3
        ),
    ],
    ids=lambda s: s.name,
)
def test_special(scenario: Scenario, tmp_path: Path, soak_totals: Report) -> None:
    """Writers whose record ids draw the same worker bits; Discord's real rate limits with
    large records; writers that close and reopen all the time."""
    total = run_trials(scenario.name, lambda _: scenario, lambda t: t.trials >= 1, tmp_path, soak_totals, 1)
    assert_safe(total)
