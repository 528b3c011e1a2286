"""The behaviours discobase 1.0.0 documents, used as a 1.0.0 program uses them, on the local server.

``v1_0_0/test_documented_usage.py`` checks what 1.0.0's own test suite checks
(``Database.guild`` and the catalog channel as discord.py objects, table errors,
find/update/delete), in its style: one session-wide ``Database`` started with
``login_task`` and ``wait_ready``. ``v1_0_0/conftest.py`` provides what 1.0.0's CI
provided: a bot token in ``TEST_BOT_TOKEN`` and the server (the local one, through
``DISCOBASE_API_URL``), with a fresh guild, since bots cannot create guilds.

It runs in a pytest subprocess whose async fixtures live in one session-wide loop,
as under 1.0.0's pytest-asyncio; this repository's own suite uses function-scoped loops.
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

#: Every test of the documented-usage suite.
EXPECTED = {
    "test_package_metadata",
    "test_guild_is_the_bots_discord_guild",
    "test_catalog_channel_is_one_of_the_guilds_channels",
    "test_table_errors_then_a_saved_record_is_found",
    "test_records_of_every_length_are_found_by_field",
    "test_defaults_survive_a_table_of_many_records",
    "test_update_replaces_the_stored_values",
    "test_delete_removes_the_record",
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
    assert skipped == set(), output[-6000:]
    assert all(outcome != "failed" for outcome in outcomes.values()), output[-6000:]
