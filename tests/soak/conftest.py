"""The soak's pytest plumbing: ``slow`` tests run only under ``make soak``, and
the soak runs of a session are summed up at its end."""

from __future__ import annotations

import os

import pytest

from tests.soak.checker import Report

#: Set by ``make soak``: run the tests marked ``slow`` (skipped otherwise).
RUN_SLOW = "DISCOBASE_SOAK"

_totals = pytest.StashKey[Report]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(RUN_SLOW):
        return
    skip = pytest.mark.skip(
        reason=f"slow soak test: run it with `make soak` (or {RUN_SLOW}=1 pytest -m slow)"
    )
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def soak_totals(pytestconfig: pytest.Config) -> Report:
    """Every soak run of the session adds its report here (printed at the end)."""
    return pytestconfig.stash.setdefault(_totals, Report(name="all runs"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    totals = config.stash.get(_totals, None)
    if totals is None or not totals.trials:
        return
    terminalreporter.section("soak summary")
    terminalreporter.write_line(totals.summary(limit=20))
