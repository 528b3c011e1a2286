"""Client libraries besides discord.py against the local server, over real sockets: hikari
(PyPI) and discord.js (npm).

Each library is installed once into ``.discobase/clientlibs/`` (ignored by git; never into
the project's environment) and runs a scenario script from ``tests/local/clients/`` in its
own process: gateway login, a category with permission overwrites and a channel in it,
messages, an upload read back through its signed URL, an edit, history, a reaction, a
second bot's message seen as a gateway event, a burst into Discord's per-channel rate limit
(the server runs the ``discord`` rate-limit profile) and a resume after the server closes
the gateway connection with 4000. A library that cannot be installed here (no network, no
``node``) skips its test and says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from discobase._discord.permissions import Permission
from discobase.local import LocalDiscord

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".discobase" / "clientlibs"
SCRIPTS = Path(__file__).resolve().parent / "clients"
INSTALL_TIMEOUT = 600
#: The versions the scenarios are written for.
HIKARI = "hikari>=2.1,<3"
DISCORD_JS = "discord.js@14"


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr).strip()[-400:]


def _install_hikari() -> Path:
    """The python of a venv with hikari, made on first use."""
    venv = CACHE / "hikari"
    python = venv / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([python, "-c", "import hikari"], capture_output=True).returncode == 0
    ):
        return python
    try:
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", venv], capture_output=True, text=True, timeout=120
        )
        if made.returncode != 0:
            pytest.skip(f"cannot create a venv for hikari: {_tail(made)}")
        installed = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", HIKARI],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing {HIKARI} from PyPI took over {INSTALL_TIMEOUT} s")
    if installed.returncode != 0:
        pytest.skip(f"cannot install {HIKARI} from PyPI: {_tail(installed)}")
    return python


def _install_discordjs() -> Path:
    """The ``node_modules`` directory holding discord.js, installed on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("discord.js needs node and npm (e.g. apt-get install nodejs npm); not found")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if not version.startswith("v") or int(version[1:].split(".")[0]) < 18:
        pytest.skip(f"discord.js 14 needs node >= 18, found {version or 'an unknown version'}")
    prefix = CACHE / "discordjs"
    modules = prefix / "node_modules"
    if (modules / "discord.js" / "package.json").exists():
        return modules
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        installed = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", prefix, DISCORD_JS],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing {DISCORD_JS} from npm took over {INSTALL_TIMEOUT} s")
    if installed.returncode != 0:
        pytest.skip(f"cannot install {DISCORD_JS} from npm: {_tail(installed)}")
    return modules


async def _run_scenario(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a scenario script; its last ``RESULT {json}`` line is what it saw."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    stdout, stderr = await proc.communicate()
    lines = [line for line in stdout.decode().splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0, stderr.decode()[-3000:]
    assert lines, stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def _check(
    server: LocalDiscord, out: dict[str, Any], bot_id: int, second_id: int, guild_id: int, name: str
) -> None:
    """What every scenario must have seen, checked against the server's own state too."""
    assert int(out["me"]) == bot_id
    assert out["guild_name"] == "client guild"
    channel = server.store.channels[int(out["channel"]["id"])]
    assert (channel.name, out["channel"]["name"]) == (name, name)  # Discord's text-channel name rule
    category = server.store.channels[int(out["channel"]["parent"])]
    assert category.type == 4
    assert channel.parent_id == category.id
    send = int(Permission.SEND_MESSAGES)
    expected = {(guild_id, 0, 0, send), (second_id, 1, send, 0)}
    assert {(int(i), int(t), int(a), int(d)) for i, t, a, d in out["category_overwrites"]} == expected
    assert {(o.id, o.type, o.allow, o.deny) for o in category.overwrites} == expected
    assert {(o.id, o.type, o.allow, o.deny) for o in channel.overwrites} == expected  # synced with it
    assert out["attachment"]["filename"] == "notes.txt"
    assert out["attachment"]["size"] == len(out["attachment_body"].encode())
    assert out["edited"]["has_edited_at"]
    assert out["edited"]["content"] in out["history"]
    assert "a file" in out["history"]
    assert [int(u) for u in out["reactors"]] == [bot_id]
    assert out["event_from_second"]["author"] in (second_id, str(second_id))
    assert out["event_from_second"]["content"] == "hello from the second bot"
    assert out["burst"] == [f"burst {i}" for i in range(8)]
    assert out["closed_sessions"] >= 1
    assert out["after_resume"].startswith("after resume")
    stats = server.stats()
    assert stats.get("GATEWAY RESUME", 0) == 1
    contents = [m.content for m in server.store.history(channel.id, limit=100)]
    assert {f"burst {i}" for i in range(8)} <= set(contents)
    assert out["edited"]["content"] in contents


async def _scenario(
    build: Callable[[LocalDiscord, str, str, int, int], tuple[list[str], dict[str, str] | None]], name: str
) -> None:
    async with LocalDiscord(rate_limits="discord") as server:
        bot = server.create_bot("client-bot")
        second = server.create_bot("second-bot")
        guild_id = server.create_guild("client guild", owner=bot, members=[second])
        command, env = build(server, bot.token, second.token, guild_id, second.user_id)
        out = await _run_scenario(command, env)
        _check(server, out, bot.user_id, second.user_id, guild_id, name)


@pytest.mark.timeout(INSTALL_TIMEOUT + 180)
async def test_hikari() -> None:
    python = await asyncio.to_thread(_install_hikari)

    def build(
        server: LocalDiscord, token: str, second_token: str, guild_id: int, second_id: int
    ) -> tuple[list[str], dict[str, str] | None]:
        script = str(SCRIPTS / "hikari_scenario.py")
        args = [server.api_url, token, second_token, str(guild_id), str(second_id)]
        return [str(python), "-O", script, *args], None

    await _scenario(build, "hikari-chat")


@pytest.mark.timeout(INSTALL_TIMEOUT + 180)
async def test_discordjs() -> None:
    modules = await asyncio.to_thread(_install_discordjs)

    def build(
        server: LocalDiscord, token: str, second_token: str, guild_id: int, second_id: int
    ) -> tuple[list[str], dict[str, str] | None]:
        script = str(SCRIPTS / "discordjs_scenario.js")
        args = [f"{server.url}/api", token, second_token, str(guild_id), str(second_id)]
        return ["node", script, *args], {**os.environ, "NODE_PATH": str(modules)}

    await _scenario(build, "djs-chat")
