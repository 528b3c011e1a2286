"""The seeded short soak run of the normal suite: two scenarios, two writer processes each.

``SOAK_SEED=<n>`` reruns them with another seed; a failure prints the seed, the
violations and the directory holding the journals, views and logs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.soak.checker import Report
from tests.soak.harness import Scenario, run_scenario

#: Seconds a live writer has to converge: its gateway must reconnect first, and
#: after a server restart discord.py backs off (1, 2, 4 s ...) and waits 5 s
#: before identifying again.
CONVERGE = 20.0

#: A writer that only follows the others: no snapshots (which catch up from
#: history), no reopening; what it sees comes from gateway events.
FOLLOWER = {"snapshot_every": 10**9, "reopen_every": None}

SHORT = (
    Scenario(
        "gateway-and-http-faults",
        seed=20240611,
        duration=6.0,
        snapshot_every=5,
        faults=("5xx", "gateway_invalid_faults", "drop_after", "invalid_session", "latency"),
        fault_window=1.0,
        writer_overrides=({}, FOLLOWER),
        converge_timeout=CONVERGE,
    ),
    Scenario(
        "kill-and-restart",
        seed=20240612,
        duration=6.0,
        snapshot_every=5,
        faults=("429", "429_global", "gateway_invalid_faults"),
        fault_window=1.0,
        writer_kills=1,
        kill_targets=(0,),
        server_kills=1,
        writer_overrides=({}, FOLLOWER),
        converge_timeout=CONVERGE,
    ),
)


def seeded(scenario: Scenario) -> Scenario:
    seed = os.environ.get("SOAK_SEED")
    return scenario.with_seed(int(seed)) if seed else scenario


def test_short_soak(tmp_path: Path, soak_totals: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both scenarios, then the bar on each: 0 lost, duplicated, resurrected (and the
    rest of :data:`~tests.soak.checker.DATA_LOSS`), and every writer converged."""
    # The writers log at DEBUG, so that the scan for the bot's token in every
    # file of the run (see harness.secrets_written) reads discobase's own log.
    monkeypatch.setenv("SOAK_LOG_LEVEL", os.environ.get("SOAK_LOG_LEVEL", "DEBUG"))
    failures = []
    for scenario in map(seeded, SHORT):
        work = tmp_path / scenario.name
        report = run_scenario(scenario, work)
        soak_totals.merge(report)
        if not report.safe:
            failures.append(
                f"soak scenario {scenario.name!r}, seed {scenario.seed} (rerun: SOAK_SEED={scenario.seed}), "
                f"broke the data-safety bar; files in {work}\n{report.summary()}"
            )
    assert not failures, "\n".join(failures)
