"""Several processes on one data directory share one embedded local server.

The processes here are real OS processes (a small worker script driven over
its stdin and stdout) on a data directory under ``tmp_path``: one serves, the
others are its clients, and when the serving one dies (SIGKILL included)
another takes over on the same port. Every wait is bounded, every worker is
killed and reaped at the end, and everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import textwrap
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import discobase
from discobase._connect import embedded as _embedded
from discobase.exceptions import LocalServerError

GUILD = "embedded processes"
START_TIMEOUT = 60.0
REPLY_TIMEOUT = 60.0

WORKER = textwrap.dedent(
    """
    import asyncio, json, os, sys, time, warnings
    import discobase

    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    db = discobase.Database(os.environ["GUILD"], data_dir=os.environ["DATA_DIR"], logging=True)

    @db.table
    class Member(discobase.Table):
        email: str = discobase.Field(unique=True)
        who: str

    def reply(**data):
        print(json.dumps(data), flush=True)

    def role():
        embedded = getattr(db, "_embedded", None)
        return "serving" if embedded is not None and embedded.serving else "client"

    async def save(email, who, retry_for):
        deadline = time.monotonic() + retry_for
        while True:
            try:
                await Member(email=email, who=who).save()
                return reply(saved=email)
            except discobase.UniqueViolationError:
                return reply(unique=email)
            except discobase.DiscobaseError as error:  # the server is changing hands
                if time.monotonic() > deadline:
                    return reply(error=repr(error))
                await asyncio.sleep(0.1)

    async def bulk(prefix, count, who):
        rows = [Member(email=f"{prefix}{i}@example.org", who=who) for i in range(count)]
        shared = Member(email="shared@example.org", who=who)
        clash = discobase.UniqueViolationError
        try:  # refused before sending when the other process's value is here already
            errors = await Member.insert_each([*rows, shared])
        except clash:
            errors = [*await Member.insert_each(rows), clash("shared@example.org is taken")]
        emails = [r.email for r in rows] + [shared.email]
        kept_out = sorted(m for m, e in zip(emails, errors) if isinstance(e, clash))
        others = [repr(e) for e in errors if e is not None and not isinstance(e, clash)]
        reply(stored=sum(e is None for e in errors), unique=kept_out, errors=others)

    async def wait(emails, timeout):
        deadline = time.monotonic() + timeout
        while True:
            seen = {m.email for m in await Member.find()}
            if emails <= seen or time.monotonic() > deadline:
                return reply(seen=sorted(seen), ok=emails <= seen)
            await asyncio.sleep(0.02)

    async def main():
        loop = asyncio.get_running_loop()
        async with db.conn():
            reply(ready=True, role=role(), pid=os.getpid())
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                command, *args = line.split() or ["quit"]
                if command == "quit":
                    break
                if command == "role":
                    reply(role=role())
                elif command == "save":
                    await save(args[0], args[1], float(args[2]))
                elif command == "bulk":
                    await bulk(args[0], int(args[1]), args[2])
                elif command == "wait":
                    await wait(set(args[0].split(",")), float(args[1]))
                elif command == "list":
                    reply(members=sorted([m.email, m.who] for m in await Member.find()))
        reply(closed=True)

    asyncio.run(main())
    """
)


class Worker:
    """One worker process: ``await worker.ask("save a@x me 0")`` → its JSON reply."""

    def __init__(self, process: asyncio.subprocess.Process, name: str, stderr: Path) -> None:
        self.process = process
        self.name = name
        self.stderr = stderr
        self.output: list[str] = []
        self.pid = process.pid
        self.role = ""

    async def read(self, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise AssertionError(f"worker {self.name} ended: {self.stderr.read_text()[-3000:]}")
        self.output.append(line.decode())
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def ask(self, command: str, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.read(timeout)

    async def quit(self) -> None:
        reply = await self.ask("quit")
        assert reply == {"closed": True}, reply
        assert await asyncio.wait_for(self.process.wait(), REPLY_TIMEOUT) == 0, self.stderr.read_text()

    def logs(self) -> str:
        return "".join(self.output) + self.stderr.read_text()


class Workers:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.script = tmp_path / "worker.py"
        self.script.write_text(WORKER)
        self.started: list[Worker] = []

    async def start(self, name: str) -> Worker:
        """Start a worker and wait until its database is open."""
        env = {**os.environ, "GUILD": GUILD, "DATA_DIR": str(self.data_dir)}
        for variable in ("DISCOBASE_TOKEN", "DISCOBASE_API_URL", "DISCOBASE_DATA_DIR"):
            env.pop(variable, None)
        stderr = self.tmp_path / f"{name}.stderr"
        with stderr.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(self.script),
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        worker = Worker(process, name, stderr)
        self.started.append(worker)
        ready = await worker.read(START_TIMEOUT)
        assert ready["ready"] is True
        assert ready["pid"] == worker.pid
        worker.role = ready["role"]
        return worker

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.data_dir / _embedded.STATE_FILE).read_text())
        return state

    async def reap(self) -> None:
        for worker in self.started:
            if worker.process.returncode is None:
                worker.process.kill()
            await worker.process.wait()


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[Workers]:
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        await pool.reap()


async def reopen(data_dir: Path) -> list[tuple[str, str]]:
    """(email, who) of every member, read by a new database on ``data_dir``."""
    db = discobase.Database(GUILD, data_dir=data_dir)

    @db.table
    class Member(discobase.Table):
        email: str = discobase.Field(unique=True)
        who: str

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
        async with db.conn():
            return sorted((m.email, m.who) for m in await Member.find())


def assert_no_token_in_logs(pool: Workers, token: str) -> None:
    for worker in pool.started:
        assert token not in worker.logs(), f"the bot token appears in the output of worker {worker.name}"


async def test_a_unique_value_saved_by_two_processes_is_acknowledged_once(workers: Workers) -> None:
    first = await workers.start("first")
    second = await workers.start("second")
    results = await asyncio.gather(
        first.ask("save same@example.org first 0"), second.ask("save same@example.org second 0")
    )
    assert sorted(next(iter(r)) for r in results) == ["saved", "unique"], results
    winner = "first" if "saved" in results[0] else "second"
    await first.quit()
    await second.quit()
    assert await reopen(workers.data_dir) == [("same@example.org", winner)]


async def test_two_processes_bulk_insert_at_once_and_a_shared_unique_value_lands_once(
    workers: Workers,
) -> None:
    first = await workers.start("first")
    second = await workers.start("second")
    # Each inserts 300 records of its own and the same unique email, concurrently.
    results = await asyncio.gather(first.ask("bulk a 300 first"), second.ask("bulk b 300 second"))
    assert [r["errors"] for r in results] == [[], []], results
    assert sorted(r["stored"] for r in results) == [300, 301], results
    assert sorted(len(r["unique"]) for r in results) == [0, 1], results
    winner = "first" if results[0]["stored"] == 301 else "second"
    await first.quit()
    await second.quit()
    stored = await reopen(workers.data_dir)
    assert len(stored) == 601
    assert ("shared@example.org", winner) in stored
    assert {email for email, _ in stored} >= {f"{p}{i}@example.org" for p in "ab" for i in range(300)}


async def test_two_processes_share_one_server_and_see_each_others_writes(workers: Workers) -> None:
    first = await workers.start("first")
    second = await workers.start("second")
    assert sorted([first.role, second.role]) == ["client", "serving"]
    serving, client = (first, second) if first.role == "serving" else (second, first)

    state_file = workers.data_dir / _embedded.STATE_FILE
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    state = workers.state()
    assert state["pid"] == serving.pid
    assert state["url"] == f"http://127.0.0.1:{state['port']}"

    assert await first.ask("save first@example.org first 0") == {"saved": "first@example.org"}
    assert await second.ask("save second@example.org second 0") == {"saved": "second@example.org"}
    both = "first@example.org,second@example.org"
    assert (await first.ask(f"wait {both} 10"))["ok"]
    assert (await second.ask(f"wait {both} 10"))["ok"]

    # The serving process closes: the client serves from then on, on the same port.
    await serving.quit()
    assert await client.ask("save after@example.org client 30") == {"saved": "after@example.org"}
    assert await client.ask("role") == {"role": "serving"}
    assert workers.state()["pid"] == client.pid
    assert workers.state()["port"] == state["port"]
    await client.quit()

    assert_no_token_in_logs(workers, state["token"])
    assert await reopen(workers.data_dir) == [
        ("after@example.org", "client"),
        ("first@example.org", "first"),
        ("second@example.org", "second"),
    ]


async def test_a_client_takes_over_when_the_serving_process_is_killed(workers: Workers) -> None:
    first = await workers.start("first")
    second = await workers.start("second")
    serving, survivor = (first, second) if first.role == "serving" else (second, first)
    assert survivor.role == "client"
    port = workers.state()["port"]
    assert await serving.ask("save before-s@example.org s 0") == {"saved": "before-s@example.org"}
    assert await survivor.ask("save before-c@example.org c 0") == {"saved": "before-c@example.org"}
    assert (await survivor.ask("wait before-s@example.org,before-c@example.org 10"))["ok"]

    serving.process.kill()  # SIGKILL: no clean-up at all
    await asyncio.wait_for(serving.process.wait(), 30)
    started = time.monotonic()
    assert await survivor.ask("save after-kill@example.org c 30") == {"saved": "after-kill@example.org"}
    assert time.monotonic() - started < 30
    assert await survivor.ask("role") == {"role": "serving"}
    state = workers.state()
    assert (state["pid"], state["port"]) == (survivor.pid, port)

    third = await workers.start("third")
    assert third.role == "client"
    assert await third.ask("save third@example.org t 0") == {"saved": "third@example.org"}
    everything = "before-s@example.org,before-c@example.org,after-kill@example.org,third@example.org"
    assert (await third.ask(f"wait {everything} 10"))["ok"]
    assert (await survivor.ask(f"wait {everything} 30"))["ok"]
    await third.quit()
    await survivor.quit()

    assert_no_token_in_logs(workers, state["token"])
    assert await reopen(workers.data_dir) == [
        ("after-kill@example.org", "c"),
        ("before-c@example.org", "c"),
        ("before-s@example.org", "s"),
        ("third@example.org", "t"),
    ]


# ---------------------------------------------------------------------- in one process
def make_database(name: str, data_dir: Path) -> tuple[discobase.Database, type[discobase.Table]]:
    db = discobase.Database(name, data_dir=data_dir)

    @db.table
    class Note(discobase.Table):
        text: str

    return db, Note


def role(db: discobase.Database) -> str | None:
    """ "serving" or "client" for a database on the embedded server, else None."""
    embedded = db._embedded
    return None if embedded is None else "serving" if embedded.serving else "client"


def takeover_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "discobase-embedded-takeover"]


@pytest.mark.filterwarnings("ignore::discobase.EmbeddedServerWarning")
async def test_databases_of_one_process_share_the_server_and_hand_it_over(tmp_path: Path) -> None:
    """Two databases on one data directory (other guilds, one process): the second
    is a client, its guild made by the first; it serves once the first closes."""
    first, FirstNote = make_database("first guild", tmp_path)
    second, SecondNote = make_database("second guild", tmp_path)
    async with first.conn():
        assert role(first) == "serving"
        async with second.conn():
            assert role(second) == "client"
            assert len(takeover_tasks()) == 1
            await SecondNote(text="in the second guild").save()
            await FirstNote(text="in the first guild").save()
            await first.close()
            for _ in range(100):
                if role(second) == "serving":
                    break
                await asyncio.sleep(0.05)
            assert role(second) == "serving"
            assert takeover_tasks() == []
            for attempt in range(100):  # the REST side works once the new server listens
                try:
                    await SecondNote(text="after the hand-over").save()
                    break
                except discobase.DiscobaseError:
                    assert attempt < 99
                    await asyncio.sleep(0.1)
    again, AgainNote = make_database("second guild", tmp_path)
    async with again.conn():
        assert sorted(n.text for n in await AgainNote.find()) == [
            "after the hand-over",
            "in the second guild",
        ]


@pytest.mark.filterwarnings("ignore::discobase.EmbeddedServerWarning")
async def test_a_client_that_closes_leaves_no_task_and_no_lock(tmp_path: Path) -> None:
    first, _ = make_database("guild", tmp_path)
    second, _ = make_database("guild", tmp_path)
    async with first.conn():
        async with second.conn():
            assert len(takeover_tasks()) == 1
        assert takeover_tasks() == []
        assert role(first) == "serving"
    # Nobody holds the lock any more: a new database serves at once.
    third, _ = make_database("guild", tmp_path)
    async with third.conn():
        assert role(third) == "serving"


@pytest.mark.filterwarnings("ignore::discobase.EmbeddedServerWarning")
async def test_a_lock_holder_that_does_not_serve_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fcntl = pytest.importorskip("fcntl")
    monkeypatch.setattr(_embedded, "JOIN_TIMEOUT", 0.5)
    with (tmp_path / _embedded.LOCK_FILE).open("w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        db, _ = make_database("guild", tmp_path)
        with pytest.raises(LocalServerError, match="holds the lock of the embedded local server"):
            async with db.conn():
                pass
        assert role(db) is None
        assert takeover_tasks() == []
    db, _ = make_database("guild", tmp_path)
    async with db.conn():  # the lock is free again, and the failed attempt left nothing behind
        assert role(db) == "serving"


@pytest.mark.filterwarnings("ignore::discobase.EmbeddedServerWarning")
async def test_a_client_replays_the_writes_it_missed_while_reconnecting(tmp_path: Path) -> None:
    """A new gateway session (as after a hand-over: the new server cannot resume
    the old sessions) is followed by a replay of the channels' history, so the
    writes made while the client had no session are not lost to it."""
    first, FirstNote = make_database("guild", tmp_path)
    second, SecondNote = make_database("guild", tmp_path)
    async with first.conn(), second.conn():
        assert first._embedded is not None
        server = first._embedded.server
        assert server is not None
        identifying, released = asyncio.Event(), asyncio.Event()

        async def identify_when_released(shard_id: int | None, *, initial: bool = False) -> None:
            identifying.set()
            await released.wait()

        second.bot.before_identify_hook = identify_when_released  # type: ignore[method-assign]
        await server.gateway.send_invalid_session(False)  # every session is gone, as after a hand-over
        await asyncio.wait_for(identifying.wait(), 10)
        await FirstNote(text="while the second was away").save()
        await asyncio.sleep(0.2)
        assert await SecondNote.find() == []  # it has no session: it cannot know yet
        released.set()
        for _ in range(200):
            if await SecondNote.find():
                break
            await asyncio.sleep(0.05)
        assert [n.text for n in await SecondNote.find()] == ["while the second was away"]
