"""discobase 1.0.0's own test suite passes against this library on the local server.

``v1_0_0/test_database.py`` is the test file of discobase 1.0.0 (git tag ``v1.0.0`` of
its repository; its MIT licence is in ``v1_0_0/LICENSE.txt``), unchanged except for its
``database`` fixture (see the comment there: bots cannot create guilds, so the fresh
guild comes from the local server instead of being deleted and re-created).
``v1_0_0/conftest.py`` provides what its CI provided: a bot token in ``TEST_BOT_TOKEN``
and the server (here the local one, through ``DISCOBASE_API_URL``).

The suite runs in a pytest subprocess configured as under 1.0.0's pytest-asyncio 0.23,
where an async fixture's event loop lives as long as the fixture
(``asyncio_default_fixture_loop_scope=fixture-scope``): its session-scoped fixtures
rely on that, and this repository's own suite uses function-scoped loops.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from tests.compat.conftest import SUITE_ENV

SUITE = Path(__file__).parent / "v1_0_0"
ROOT = Path(__file__).parents[2]

#: Every test of 1.0.0's suite; ``test_long_resize`` is skipped by 1.0.0 itself except on 3.12.
EXPECTED = {
    "test_about",
    "test_creation",
    "test_metadata_channel",
    "test_schemas",
    "test_resizing",
    "test_long_resize",
    "test_update",
    "test_delete",
}


def test_discobase_1_0_0_suite_passes(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    environment = {**os.environ, SUITE_ENV: "1"}
    environment.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_default_fixture_loop_scope=fixture-scope",
            "-W",
            "ignore::pytest.PytestDeprecationWarning",  # 1.0.0 marks tests with asyncio(scope=...)
            f"--junitxml={report}",
            str(SUITE),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        children = {child.tag for child in case}
        outcome = (
            "skipped" if "skipped" in children else "failed" if children & {"failure", "error"} else "passed"
        )
        outcomes[case.attrib["name"]] = outcome
    assert set(outcomes) == EXPECTED, output[-6000:]
    skipped = {name for name, outcome in outcomes.items() if outcome == "skipped"}
    expected_skips = set() if sys.version_info[:2] == (3, 12) else {"test_long_resize"}
    assert skipped == expected_skips, output[-6000:]
    assert all(outcome != "failed" for outcome in outcomes.values()), output[-6000:]
