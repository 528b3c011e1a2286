"""Deterministic repros of the known data-safety bugs (DESIGN.md §3 invariants).

Each failed on the code before the fixes of the data-safety issue and passes
since. They use the public API, with two or more
``Database`` objects on one local server in this process, or real processes.
"""

from __future__ import annotations

import asyncio
import os
import random
import string
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import discobase
from discobase.exceptions import DiscobaseError, UniqueViolationError
from discobase.local import BotAccount, Fault, LocalDiscord
from discobase.local.permissions import Overwrite, Permission
from tests.soak.server import AfterFault, SoakServer

GUILD = "repro guild"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def local() -> AsyncIterator[tuple[SoakServer, BotAccount]]:
    async with SoakServer(rate_limits="off", heartbeat_interval=5.0) as server:
        bot = server.create_bot("repro-bot")
        server.create_guild(GUILD, members=[bot])
        yield server, bot


class Record(discobase.Table):
    class Settings:
        name = "records"

    key: str
    blob: str = ""


class Member(discobase.Table):
    class Settings:
        name = "members"

    email: str = discobase.Field(unique=True)
    who: str = ""


def open_db(
    server: LocalDiscord, model: type[discobase.Table] = Record, **options: Any
) -> tuple[discobase.Database, Any]:
    """A new ``Database`` on ``server`` with its own copy of ``model``
    (a table class belongs to one database)."""
    options.setdefault("compaction_delay", 0)  # compact at once: the repros look at what is deleted
    db = discobase.Database(GUILD, server_url=server.url, **options)
    table = db.table(type(model.__name__, (model,), {"__module__": __name__}))
    return db, table


def channel_id(server: LocalDiscord, name: str) -> int:
    guild = server.guild_id(GUILD)
    return next(c.id for c in server.store.guild_channels(guild) if c.name == name)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> bool:
    """Whether ``check`` becomes true within ``timeout`` (bounded polling)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def keys(table: Any) -> set[str]:
    return {r.key for r in await table.find()}


async def fresh_keys(server: LocalDiscord, bot: BotAccount) -> set[str]:
    """What a process opening the database now sees."""
    db, table = open_db(server)
    async with db.conn(bot.token):
        return await keys(table)


# ---------------------------------------------------------------------------- (a)


async def test_a_two_processes_snapshotting_one_table_lose_an_acknowledged_write(
    local: tuple[SoakServer, BotAccount],
) -> None:
    server, bot = local
    a, record_a = open_db(server, snapshot_every=1)
    b, record_b = open_db(server, snapshot_every=1)
    async with a.conn(bot.token), b.conn(bot.token):
        index = channel_id(server, "records-index")
        # A's next snapshot is slow to post (its state and marks are taken before).
        server.faults.add(Fault("latency", route=f"POST /channels/{index}/messages", latency=3.0, count=1))
        await record_a(key="r1").save()  # A snapshots {r1} in the background: held 3 s
        await asyncio.sleep(0.3)
        await record_b(key="r2").save()  # B snapshots {r1, r2}
        await asyncio.sleep(0.5)
        await record_b(key="r3").save()  # B snapshots {r1, r2, r3}, compacts what its first covered
        everything = {"r1", "r2", "r3"}
        assert await eventually(lambda: _has(record_a, everything)), "A did not see r1, r2, r3"
        assert await eventually(lambda: _has(record_b, everything)), "B did not see r1, r2, r3"
        await asyncio.sleep(3.5)  # A's snapshot of {r1} lands, the newest in the index channel
        seen = await fresh_keys(server, bot)
    assert seen == everything, f"A and B both saw r1, r2, r3; a fresh process sees {sorted(seen)}"


async def _has(table: Any, wanted: set[str]) -> bool:
    return wanted <= await keys(table)


# ---------------------------------------------------------------------------- (b)


async def _lose_next_event_of_first_session(server: LocalDiscord) -> Fault:
    """The next MESSAGE_CREATE sent to the first gateway session (the first opened
    database's) is replaced by op 9 INVALID_SESSION, not resumable: that session
    re-identifies and the event is gone for it."""
    return server.faults.add(
        Fault("gateway_invalid_session", route="MESSAGE_CREATE", resumable=False, count=1)
    )


async def test_b_events_missed_while_reidentifying_are_never_caught_up(
    local: tuple[SoakServer, BotAccount],
) -> None:
    server, bot = local
    a, record_a = open_db(server)
    b, record_b = open_db(server)
    async with a.conn(bot.token), b.conn(bot.token):
        identified = server.stats().get("GATEWAY IDENTIFY", 0)
        await _lose_next_event_of_first_session(server)
        await record_b(key="during").save()  # A's session is invalidated instead of told
        assert await eventually(lambda: _value(server.stats().get("GATEWAY IDENTIFY", 0) > identified), 10), (
            "A's gateway session did not re-identify"
        )
        await record_b(key="after").save()
        assert await eventually(lambda: _has(record_a, {"after"})), "A missed an event after re-identifying"
        caught_up = await eventually(lambda: _has(record_a, {"during"}), 3.0)
        seen = sorted(await keys(record_a))
    assert caught_up, f"A never caught up with the write made while it re-identified; A sees {seen}"


async def _value(value: bool) -> bool:
    return value


async def test_b_unique_save_after_reidentifying_is_checked_against_missed_writes(
    local: tuple[SoakServer, BotAccount],
) -> None:
    server, bot = local
    a, member_a = open_db(server, Member)
    b, member_b = open_db(server, Member)
    async with a.conn(bot.token), b.conn(bot.token):
        identified = server.stats().get("GATEWAY IDENTIFY", 0)
        await _lose_next_event_of_first_session(server)
        await member_b(email="taken@example.org", who="B").save()
        assert await eventually(lambda: _value(server.stats().get("GATEWAY IDENTIFY", 0) > identified), 10), (
            "A's gateway session did not re-identify"
        )
        await asyncio.sleep(0.5)
        with pytest.raises(UniqueViolationError):
            await member_a(email="taken@example.org", who="A").save()


# ---------------------------------------------------------------------------- (c)


async def test_c_record_ids_do_not_collide_when_processes_draw_the_same_worker(
    local: tuple[SoakServer, BotAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both processes draw the same worker bits (what two processes got once in
    1024 pairs before workers were leased) and write in the same milliseconds:
    the lease moves the second to another number, and no record replaces another."""
    server, bot = local
    import random

    monkeypatch.setattr(random, "randrange", lambda n: 0x2A)
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)  # every id in one millisecond
    a, record_a = open_db(server)
    b, record_b = open_db(server)
    saved: list[str] = []
    ids: set[int] = set()
    async with a.conn(bot.token), b.conn(bot.token):
        assert a.worker_id != b.worker_id
        for attempt in range(20):
            one, two = record_a(key=f"a{attempt}"), record_b(key=f"b{attempt}")
            await asyncio.gather(one.save(), two.save())
            saved += [one.key, two.key]
            ids |= {one.record_id, two.record_id}  # type: ignore[arg-type]
        monkeypatch.undo()
        await asyncio.sleep(0.3)
        seen = await fresh_keys(server, bot)
    assert len(ids) == len(saved)
    lost = sorted(set(saved) - seen)
    assert not lost, f"acknowledged records {lost} are gone"


# ---------------------------------------------------------------------------- (d)


async def test_d_a_write_whose_reply_is_lost_is_stored_once(local: tuple[SoakServer, BotAccount]) -> None:
    server, bot = local
    db, record = open_db(server)
    async with db.conn(bot.token):
        data = channel_id(server, "records")
        server.after_faults.append(
            AfterFault(id=1, kind="drop_after", route=f"POST /channels/{data}/messages", count=1)
        )
        try:
            await record(key="once").save()
        except DiscobaseError:
            await record(key="once").save()  # it looked failed: the user tries again
    db, record = open_db(server)
    async with db.conn(bot.token):
        copies = await record.find(key="once")
    assert len(copies) == 1, (
        f"the record is stored {len(copies)} times (record ids {[c.record_id for c in copies]})"
    )


# ---------------------------------------------------------------------------- (e)

MiB = 1024 * 1024


def incompressible(size: int, seed: int) -> str:
    """Text zstd cannot shrink much (random letters and digits, about 6 bits a character)."""
    rng = random.Random(seed)
    alphabet = (string.ascii_letters + string.digits).encode()
    return rng.randbytes(size).translate(bytes(alphabet[b % len(alphabet)] for b in range(256))).decode()


async def test_e_concurrent_large_records_each_fit_alone(local: tuple[SoakServer, BotAccount]) -> None:
    server, bot = local
    db, record = open_db(server)
    async with db.conn(bot.token):
        alone = await record(key="alone", blob=incompressible(12 * MiB, 0)).save()
        assert alone.record_id is not None
        large = [record(key=f"large{i}", blob=incompressible(12 * MiB, i + 1)) for i in range(3)]
        outcomes = await asyncio.gather(*(r.save() for r in large), return_exceptions=True)
    errors = [f"{type(o).__name__}: {str(o)[:120]}" for o in outcomes if isinstance(o, BaseException)]
    assert not errors, f"{len(errors)} of 3 records that each fit alone failed together: {errors}"


# ---------------------------------------------------------------------------- (f)


async def _catalog_then(
    server: LocalDiscord, bot: BotAccount, change: Callable[[int], None]
) -> tuple[set[str] | None, BaseException | None]:
    db, record = open_db(server)
    async with db.conn(bot.token):
        await record(key="kept").save()
    change(channel_id(server, "_dbmetadata"))
    db, record = open_db(server)
    try:
        async with db.conn(bot.token):
            return await keys(record), None
    except DiscobaseError as error:
        return None, error


async def test_f_hidden_catalog_is_an_error_not_an_empty_database(
    local: tuple[SoakServer, BotAccount],
) -> None:
    server, bot = local

    def hide(channel: int) -> None:
        stored = server.store.channels[channel]
        stored.overwrites = [
            *(o for o in stored.overwrites if o.id != bot.user_id),
            Overwrite(id=bot.user_id, type=1, allow=0, deny=int(Permission.VIEW_CHANNEL)),
        ]
        server.store.save_channel(stored)

    seen, error = await _catalog_then(server, bot, hide)
    assert error is not None or seen == {"kept"}, f"opened without an error, seeing {seen}"


async def test_f_renamed_catalog_is_an_error_not_an_empty_database(
    local: tuple[SoakServer, BotAccount],
) -> None:
    server, bot = local

    def rename(channel: int) -> None:
        stored = server.store.channels[channel]
        stored.name = "dbmetadata-renamed"
        server.store.save_channel(stored)

    seen, error = await _catalog_then(server, bot, rename)
    assert error is not None or seen == {"kept"}, f"opened without an error, seeing {seen}"


# ---------------------------------------------------------------------------- (g)

EMBEDDED_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys, time, warnings
    from pathlib import Path
    import discobase

    warnings.simplefilter("ignore")
    db = discobase.Database("embedded soak")

    @db.table
    class Member(discobase.Table):
        class Settings:
            name = "members"
        email: str = discobase.Field(unique=True)
        who: str = ""

    async def main():
        who = sys.argv[1]
        control = Path(os.environ["CONTROL"])
        async with db.conn():
            if who == "setup":
                return
            if who == "reader":
                holders = await Member.find(email="same@example.org")
                print("holders", sorted(m.who for m in holders), flush=True)
                return
            (control / f"ready-{who}").touch()
            deadline = time.monotonic() + 30
            while not (control / "go").exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            try:
                await Member(email="same@example.org", who=who).save()
                print("acknowledged", flush=True)
            except discobase.UniqueViolationError:
                print("refused", flush=True)
            await asyncio.sleep(1.0)

    asyncio.run(main())
    """
)


def _embedded(script: Path, who: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), who],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_g_embedded_default_with_two_processes_keeps_unique_values(tmp_path: Path) -> None:
    script = tmp_path / "embedded.py"
    script.write_text(EMBEDDED_CHILD)
    control = tmp_path / "control"
    control.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCOBASE_")}
    env.update({"DISCOBASE_DATA_DIR": str(tmp_path / "data"), "CONTROL": str(control)})
    setup = _embedded(script, "setup", env)  # the database exists before the two start
    _, err = _finish(setup)
    assert setup.returncode == 0, err[-2000:]
    children = [_embedded(script, who, env) for who in ("one", "two")]
    try:
        deadline = time.monotonic() + 60
        while not all((control / f"ready-{w}").exists() for w in ("one", "two")):
            if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                break
            time.sleep(0.05)
        (control / "go").touch()
        results = [_finish(child) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    acknowledged = [
        who for who, (out, _) in zip(("one", "two"), results, strict=True) if "acknowledged" in out
    ]
    reader_out, reader_err = _finish(_embedded(script, "reader", env))
    holders = next(
        (line for line in reader_out.splitlines() if line.startswith("holders")), reader_err[-500:]
    )
    assert len(acknowledged) <= 1, (
        f"both processes' saves of one unique value were acknowledged; after reopening: {holders}"
    )
    assert acknowledged, f"neither save was acknowledged: {[e[-300:] for _, e in results]}"
    assert f"'{acknowledged[0]}'" in holders, f"{acknowledged[0]}'s acknowledged save is gone: {holders}"
