"""The ORM through unmodified discord.py on the local server, over real sockets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import discobase
from discobase.exceptions import (
    DatabaseKeyError,
    GuildNotFoundError,
    LoginError,
    MissingPermissionsError,
)
from discobase.local import DEFAULT_BOT_PERMISSIONS, BotAccount, LocalDiscord, Permission

ROOT = Path(__file__).resolve().parents[2]
GUILD = "orm guild"


class Account(discobase.Table):
    name: str
    email: str = ""
    age: int = 0


@pytest.fixture
async def local() -> AsyncIterator[tuple[LocalDiscord, BotAccount]]:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("orm-bot")
        server.create_guild(GUILD, members=[bot])
        yield server, bot


def database(server: LocalDiscord, **options: object) -> tuple[discobase.Database, type[Account]]:
    db = discobase.Database(GUILD, server_url=server.url, **options)  # type: ignore[arg-type]

    @db.table
    class User(Account):
        pass

    return db, User


def requests(server: LocalDiscord) -> dict[str, int]:
    """REST requests counted by the server since the last reset (gateway traffic left out)."""
    return {k: v for k, v in server.stats().items() if not k.startswith("GATEWAY")}


async def test_request_counts(local: tuple[LocalDiscord, BotAccount]) -> None:
    server, bot = local
    db, User = database(server)
    async with db.conn(bot.token):
        server.reset_stats()
        user = await User(name="ada").save()
        assert requests(server) == {"POST /channels/{channel_id}/messages": 1}
        server.reset_stats()
        user.age = 37
        await user.update()
        assert requests(server) == {"POST /channels/{channel_id}/messages": 1}
        server.reset_stats()
        assert [u.age for u in await User.find(name="ada")] == [37]
        await User.find()
        await User.find_unique(name="ada")
        assert requests(server) == {}
        await user.delete()
        assert requests(server) == {"POST /channels/{channel_id}/messages": 1}
        server.reset_stats()
        await asyncio.gather(*(User(name=f"c{i}").save() for i in range(100)))
        assert sum(requests(server).values()) <= 5
        assert len(await User.find()) == 100


async def test_reopen_of_10000_records_takes_at_most_10_requests(
    local: tuple[LocalDiscord, BotAccount],
) -> None:
    server, bot = local
    db, User = database(server)
    async with db.conn(bot.token):
        await asyncio.gather(*(User(name=f"n{i}", age=i).save() for i in range(10_000)))
    server.reset_stats()
    db2, User2 = database(server)
    async with db2.conn(bot.token):
        opened = requests(server)
        assert len(await User2.find()) == 10_000
        assert [u.age for u in await User2.find(name="n4321")] == [4321]
    assert sum(opened.values()) <= 10, opened


async def test_startup_errors_surface_from_conn(local: tuple[LocalDiscord, BotAccount]) -> None:
    server, bot = local
    db, _ = database(server)
    with pytest.raises(LoginError) as bad_token:
        async with db.conn("not-a-token"):
            pass
    assert "not-a-token" not in str(bad_token.value)
    assert db.open is False

    missing = discobase.Database("no such guild", server_url=server.url)
    with pytest.raises(GuildNotFoundError) as no_guild:
        async with missing.conn(bot.token):
            pass
    assert "no such guild" in str(no_guild.value)
    assert no_guild.value.invite_url is not None
    assert f"client_id={bot.application_id}" in no_guild.value.invite_url

    weak = server.create_bot("weak-bot")
    server.add_member(
        server.guild_id(GUILD), weak, permissions=DEFAULT_BOT_PERMISSIONS & ~int(Permission.MANAGE_CHANNELS)
    )
    fresh = discobase.Database(GUILD, server_url=server.url)

    @fresh.table
    class Other(discobase.Table):
        x: int

    with pytest.raises(MissingPermissionsError, match="Manage Channels"):
        async with fresh.conn(weak.token):
            pass


async def test_a_5_mb_record_round_trips(local: tuple[LocalDiscord, BotAccount]) -> None:
    server, bot = local
    db, User = database(server)
    big = "🎲" * 1_250_000  # 5 MB of UTF-8
    async with db.conn(bot.token):
        await User(name="big", email=big).save()
    db2, User2 = database(server)
    async with db2.conn(bot.token):
        assert (await User2.find_unique(name="big")).email == big


async def test_clean_removes_every_channel(local: tuple[LocalDiscord, BotAccount]) -> None:
    server, bot = local
    guild_id = server.guild_id(GUILD)
    before = {c.id for c in server.store.guild_channels(guild_id)}
    db, User = database(server)
    async with db.conn(bot.token):
        await User(name="x").save()
        assert len(server.store.guild_channels(guild_id)) == len(before) + 4
        await db.clean()
        assert {c.id for c in server.store.guild_channels(guild_id)} == before


async def test_encrypted_records_are_unreadable_without_the_key(
    local: tuple[LocalDiscord, BotAccount],
) -> None:
    server, bot = local
    db, User = database(server, key="correct horse battery staple")
    async with db.conn(bot.token):
        await User(name="secret-name", email="secret@example.org").save()
        channel = User.__disco_cursor__.meta.data_channels[0]  # type: ignore[union-attr]
    stored = server.store.history(channel, limit=100)
    assert stored
    assert all("secret" not in m.content for m in stored)
    keyless, _ = database(server, on_corruption="raise")
    with pytest.raises(DatabaseKeyError, match="is encrypted"):
        async with keyless.conn(bot.token):
            pass
    wrong, _ = database(server, key="Correct horse battery staple", on_corruption="skip")
    with pytest.raises(DatabaseKeyError, match="does not open"):
        async with wrong.conn(bot.token):
            pass
    keyed, User3 = database(server, key="correct horse battery staple")
    async with keyed.conn(bot.token):
        assert (await User3.find_unique(name="secret-name")).email == "secret@example.org"


async def test_the_hidden_category(local: tuple[LocalDiscord, BotAccount]) -> None:
    server, bot = local
    outsider = server.create_bot("outsider")
    guild_id = server.guild_id(GUILD)
    server.add_member(guild_id, outsider, permissions=int(Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES))
    db, User = database(server)
    async with db.conn(bot.token):
        await User(name="x").save()
        ours = User.__disco_cursor__.channel_ids()  # type: ignore[union-attr]
    for channel_id in ours:
        assert server.rest.can_see(bot.user_id, guild_id, channel_id)
        assert not server.rest.can_see(outsider.user_id, guild_id, channel_id)


CHILD = textwrap.dedent(
    """
    import asyncio, os, sys, time
    import discobase

    db = discobase.Database(os.environ["GUILD"], server_url=os.environ["URL"])

    @db.table
    class User(discobase.Table):
        name: str
        email: str = ""
        age: int = 0

    async def main():
        async with db.conn(os.environ["TOKEN"]):
            print("ready", flush=True)
            await User(name="from child").save()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if await User.find(name="from parent"):
                    print("child saw parent", flush=True)
                    return
                await asyncio.sleep(0.01)
            print("child timed out", flush=True)
            sys.exit(1)

    asyncio.run(main())
    """
)


async def test_two_processes_see_each_others_writes_within_a_second(
    local: tuple[LocalDiscord, BotAccount], tmp_path: Path
) -> None:
    server, bot = local
    db, User = database(server)
    async with db.conn(bot.token):
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        env = {**os.environ, "GUILD": GUILD, "URL": server.url, "TOKEN": bot.token}
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(script), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert child.stdout is not None
        try:
            line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
            assert line.strip() == b"ready"
            started = time.monotonic()
            while not await User.find(name="from child"):
                assert time.monotonic() - started < 1.0, "the child's write did not arrive within 1 s"
                await asyncio.sleep(0.005)
            await User(name="from parent").save()
            out, err = await asyncio.wait_for(child.communicate(), timeout=30)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert child.returncode == 0, err.decode()
        assert b"child saw parent" in out


async def test_embedded_server_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCOBASE_TOKEN", raising=False)
    monkeypatch.delenv("DISCOBASE_API_URL", raising=False)
    monkeypatch.setenv("DISCOBASE_DATA_DIR", str(tmp_path))
    db = discobase.Database("embedded db")

    @db.table
    class Note(discobase.Table):
        text: str

    with pytest.warns(discobase.EmbeddedServerWarning, match="embedded local Discord server"):
        async with db.conn():
            await Note(text="kept").save()
    assert (tmp_path / "local.sqlite3").exists()
    db2 = discobase.Database("embedded db")

    @db2.table
    class Note(discobase.Table):  # type: ignore[no-redef]
        text: str

    with pytest.warns(discobase.EmbeddedServerWarning):
        async with db2.conn():
            assert [n.text for n in await Note.find()] == ["kept"]


UNIQUE_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    import discobase

    db = discobase.Database(os.environ["GUILD"], server_url=os.environ["URL"])

    @db.table
    class Member(discobase.Table):
        email: str = discobase.Field(unique=True)
        who: str

    async def main():
        async with db.conn(os.environ["TOKEN"]):
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            try:
                await Member(email="same@example.org", who="child").save()
                print("child won", flush=True)
            except discobase.UniqueViolationError:
                print("child lost", flush=True)
            for _ in range(200):
                holders = await Member.find(email="same@example.org")
                if holders:
                    break
                await asyncio.sleep(0.01)
            print("holder", [m.who for m in holders], flush=True)

    asyncio.run(main())
    """
)


async def test_unique_race_between_two_processes(
    local: tuple[LocalDiscord, BotAccount], tmp_path: Path
) -> None:
    server, bot = local
    db = discobase.Database(GUILD, server_url=server.url)

    @db.table
    class Member(discobase.Table):
        email: str = discobase.Field(unique=True)
        who: str

    async with db.conn(bot.token):
        script = tmp_path / "unique_child.py"
        script.write_text(UNIQUE_CHILD)
        env = {**os.environ, "GUILD": GUILD, "URL": server.url, "TOKEN": bot.token}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            assert (await asyncio.wait_for(child.stdout.readline(), timeout=30)).strip() == b"ready"
            child.stdin.write(b"go\n")
            await child.stdin.drain()
            try:
                await Member(email="same@example.org", who="parent").save()
                parent_won = True
            except discobase.UniqueViolationError:
                parent_won = False
            out, err = await asyncio.wait_for(child.communicate(), timeout=30)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert child.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        child_won = "child won" in lines
        assert parent_won != child_won, lines  # exactly one of the two writes took the value
        winner = "parent" if parent_won else "child"
        assert f"holder ['{winner}']" in lines
        for _ in range(100):
            holders = await Member.find(email="same@example.org")
            if holders:
                break
            await asyncio.sleep(0.01)
        assert [m.who for m in holders] == [winner]
    db2 = discobase.Database(GUILD, server_url=server.url)

    @db2.table
    class Member(discobase.Table):  # type: ignore[no-redef]
        email: str = discobase.Field(unique=True)
        who: str

    async with db2.conn(bot.token):
        assert [m.who for m in await Member.find()] == [winner]
