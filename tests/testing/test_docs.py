"""docs/testing.md: every Python block is a file the plugin's tests run (the leveling bot of
examples/ included), the unittest example passes under ``python -m unittest``, and the
failure message it shows is the one a test gets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import discord
import pytest

from discobase.local import EventTimeoutError
from discobase.testing import Harness

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"
EXAMPLES = ROOT / "docs" / "examples" / "testing_leveling"
LEVELING_BOT = ROOT / "examples" / "leveling_bot.py"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", PAGE.read_text(), re.MULTILINE | re.DOTALL)


def test_every_python_block_is_an_example_the_tests_run() -> None:
    included = []
    for block in blocks("python"):
        match = re.fullmatch(r'--8<-- "([^"]+)"\n', block)
        assert match is not None, f"inline Python in {PAGE.name}:\n{block}"
        included.append(ROOT / match.group(1))
    # test_plugin.py runs every file of the directory with pytest
    assert sorted(included) == sorted(EXAMPLES.glob("*.py"))
    # the bot they test is the leveling bot of examples/, shown in the bots guide
    assert "(bots.md#a-complete-example-a-leveling-bot)" in PAGE.read_text()


def test_the_unittest_example_passes_under_python_m_unittest(tmp_path: Path) -> None:
    for path in (EXAMPLES / "test_leveling_unittest.py", LEVELING_BOT):
        shutil.copy(path, tmp_path / path.name)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "-v", "test_leveling_unittest"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "test_rank_counts_messages (test_leveling_unittest.LevelingBotTest" in done.stderr
    assert "test_rank_slash_command (test_leveling_unittest.LevelingBotTest" in done.stderr
    assert re.search(r"^Ran 2 tests in .*\n\nOK$", done.stderr, re.MULTILINE), done.stderr[-4000:]


async def test_the_failure_message_shown_is_the_real_one() -> None:
    (shown,) = [b for b in blocks("text") if "EventTimeoutError" in b]
    async with Harness() as harness:
        await harness.run_bot(discord.Client(intents=discord.Intents.default()))  # answers nothing
        ada = await harness.member("ada")
        general = harness.guild.general
        with pytest.raises(EventTimeoutError) as raised:
            await ada.ask(general, "!rnak", timeout=0.01)
    real = f"{type(raised.value).__module__}.{type(raised.value).__name__}: {raised.value}\n"
    expected = shown.replace("1577454870426943493", str(general)).replace("10 s", "0.01 s")
    assert real == expected
