"""Prints the fuzz figures (see ``fuzzstats``) at the end of a run that fuzzed anything."""

from __future__ import annotations

import pytest

from tests.local import fuzzstats


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if fuzzstats.CASES:
        terminalreporter.write_sep("-", "local server fuzz figures")
        terminalreporter.write_line(fuzzstats.summary())
