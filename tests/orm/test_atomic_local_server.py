"""Atomic increments and upserts from two OS processes, through unmodified
discord.py on the local server over real sockets: every increment is counted,
and upserts of one unique value converge to one record."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import discobase
from discobase.local import BotAccount, LocalDiscord

ROOT = Path(__file__).resolve().parents[2]
GUILD = "atomic guild"
PROCESS_TIMEOUT = 90

WORKER = textwrap.dedent(
    """
    import asyncio, json, os, sys
    import discobase

    db = discobase.Database(os.environ["GUILD"], server_url=os.environ["SERVER_URL"])

    @db.table
    class Player(discobase.Table):
        name: str = discobase.Field(unique=True)
        xp: int = 0
        who: str = ""

    async def main():
        rid, times, who = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        async with db.conn(os.environ["TOKEN"]):
            player = await Player.get(rid)
            acks = [(await player.inc(xp=1)).xp for _ in range(times // 2)]
            acks += [p.xp for p in await asyncio.gather(
                *(_inc(rid) for _ in range(times - times // 2))
            )]
            upserted = await Player.upsert(Player(name="bea", xp=0, who=who), on="name")
            print(json.dumps({"acks": acks, "bea": upserted.record_id}), flush=True)

    async def _inc(rid):
        copy = await Player.get(rid)
        return await copy.inc(xp=1)

    asyncio.run(main())
    """
)


class Player(discobase.Table):
    name: str = discobase.Field(unique=True)
    xp: int = 0
    who: str = ""


@pytest.fixture
async def local() -> AsyncIterator[tuple[LocalDiscord, BotAccount]]:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("atomic-bot")
        server.create_guild(GUILD, members=[bot])
        yield server, bot


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def _finish(process: subprocess.Popen[str]) -> dict[str, list[int] | int]:
    try:
        out, err = await asyncio.to_thread(process.communicate, timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)
    assert process.returncode == 0, err
    result: dict[str, list[int] | int] = json.loads(out.strip().splitlines()[-1])
    return result


async def test_two_processes_increment_one_record_and_upsert_one_value(
    local: tuple[LocalDiscord, BotAccount], tmp_path: Path
) -> None:
    server, bot = local
    db = discobase.Database(GUILD, server_url=server.url)
    table = db.table(type("Player", (Player,), {"__module__": __name__}))
    async with db.conn(bot.token):
        ada = await table(name="ada").save()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "GUILD": GUILD, "SERVER_URL": server.url, "TOKEN": bot.token}
    times = 20
    first = _run(script, env, str(ada.record_id), str(times), "first")
    second = _run(script, env, str(ada.record_id), str(times), "second")
    results = await asyncio.gather(_finish(first), _finish(second))
    acks = sorted(ack for result in results for ack in result["acks"])  # type: ignore[union-attr]
    # Each process acknowledged the values its own increments made, in message order.
    assert acks == list(range(1, 2 * times + 1))
    assert results[0]["bea"] == results[1]["bea"]
    reader = discobase.Database(GUILD, server_url=server.url)
    fresh = reader.table(type("Player", (Player,), {"__module__": __name__}))
    async with reader.conn(bot.token):
        assert (await fresh.get(ada.record_id)).xp == 2 * times
        bea = await fresh.find(name="bea")
        assert [b.record_id for b in bea] == [results[0]["bea"]]
        assert bea[0].who in {"first", "second"}
