"""The lock held in Discord: one process migrates, table creation is not duplicated."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import discobase
from discobase.local import LocalDiscord
from discobase.storage.lock import LOCK_MARKER, DiscordLock
from discobase.storage.memory import MemoryDiscord, MemoryTransport


def make(
    server: MemoryDiscord, version: str, calls: list[str]
) -> tuple[discobase.Database, type[discobase.Table]]:
    db = discobase.Database("db", transport=MemoryTransport(server), version=version)

    @db.table
    class Note(discobase.Table):
        text: str

    @db.on_init
    async def seed(_: discobase.Database) -> None:
        calls.append("init")
        await asyncio.sleep(0.05)  # long enough for the other process to try too
        await Note(text="seeded").save()

    @db.migration("2.0.0")
    async def upgrade(_: discobase.Database) -> None:
        calls.append("2.0.0")
        await asyncio.sleep(0.05)
        await Note(text="migrated").save()

    return db, Note


async def test_two_processes_open_a_new_database_at_once() -> None:
    server = MemoryDiscord(["db"])
    calls: list[str] = []
    (a, NoteA), (b, NoteB) = make(server, "1.0.0", calls), make(server, "1.0.0", calls)
    async with a.conn(), b.conn():
        assert calls == ["init"]  # on_init ran in one process only
        assert a.catalog["note"].data_channels == b.catalog["note"].data_channels  # one table, not two
        for note in (NoteA, NoteB):
            for _ in range(100):
                if [n.text for n in await note.find()] == ["seeded"]:
                    break
                await asyncio.sleep(0.01)
            assert [n.text for n in await note.find()] == ["seeded"]

    calls.clear()
    (c, _), (d, _) = make(server, "2.0.0", calls), make(server, "2.0.0", calls)
    async with c.conn(), d.conn():
        assert calls == ["2.0.0"]  # the migration ran once
        assert await c.get_version() == await d.get_version() == discobase.Version(2, 0, 0)
        applied = [m for m in await c.system_tables["_migrations"].find() if m.outcome == "applied"]  # type: ignore[attr-defined]
        assert len(applied) == 1


async def test_an_expired_claim_does_not_block() -> None:
    server = MemoryDiscord(["db"])
    transport = MemoryTransport(server)
    await transport.connect()
    try:
        guild = server.guild_id("db")
        channel = await transport.create_channel(guild, "locks")
        stale = {"lock": "migrations", "owner": "crashed", "expires": time.time() - 1}
        await transport.send(channel.id, LOCK_MARKER + json.dumps(stale))
        started = time.monotonic()
        async with DiscordLock(transport, channel.id, "migrations", timeout=5):
            assert time.monotonic() - started < 1
        live = {"lock": "migrations", "owner": "other", "expires": time.time() + 0.5}
        await transport.send(channel.id, LOCK_MARKER + json.dumps(live))
        started = time.monotonic()
        async with DiscordLock(transport, channel.id, "migrations", poll=0.05, timeout=5):
            assert time.monotonic() - started >= 0.4  # waited for the live lease to run out
    finally:
        await transport.close()


CHILD = textwrap.dedent(
    """
    import asyncio, os
    import discobase

    db = discobase.Database(os.environ["GUILD"], server_url=os.environ["URL"], version="2.0.0")

    @db.table
    class Note(discobase.Table):
        text: str

    @db.migration("2.0.0")
    async def upgrade(_):
        print("child migrated", flush=True)
        await asyncio.sleep(0.3)
        await Note(text="by child").save()

    async def main():
        async with db.conn(os.environ["TOKEN"]):
            print("child version", await db.get_version(), flush=True)

    asyncio.run(main())
    """
)


async def test_two_processes_migrate_once(tmp_path: Path) -> None:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("lock-bot")
        server.create_guild("lock guild", members=[bot])
        first = discobase.Database("lock guild", server_url=server.url, version="1.0.0")

        @first.table
        class OldNote(discobase.Table):
            text: str

            class Settings:
                name = "note"

        async with first.conn(bot.token):
            pass
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        env = {**os.environ, "GUILD": "lock guild", "URL": server.url, "TOKEN": bot.token}
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(script), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        runs: list[str] = []
        parent = discobase.Database("lock guild", server_url=server.url, version="2.0.0")

        @parent.table
        class Note(discobase.Table):
            text: str

        @parent.migration("2.0.0")
        async def upgrade(_: discobase.Database) -> None:
            runs.append("parent")
            await asyncio.sleep(0.3)
            await Note(text="by parent").save()

        try:
            async with parent.conn(bot.token):
                out, err = await asyncio.wait_for(child.communicate(), timeout=60)
                assert child.returncode == 0, err.decode()
                migrated = runs + (["child"] if b"child migrated" in out else [])
                assert len(migrated) == 1, (runs, out)
                assert b"child version 2.0.0" in out
                for _ in range(100):
                    if len(await Note.find()) == 1:
                        break
                    await asyncio.sleep(0.01)
                assert [n.text for n in await Note.find()] == [f"by {migrated[0]}"]
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
