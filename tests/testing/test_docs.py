"""docs/testing.md: every Python block is a file the plugin's tests run, and the failure
message it shows is the one a test gets."""

from __future__ import annotations

import re
from pathlib import Path

import discord
import pytest

from discobase.local import EventTimeoutError
from discobase.testing import Harness

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"
EXAMPLES = ROOT / "docs" / "examples" / "testing_leveling"


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
