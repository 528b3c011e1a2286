"""The ``discobase`` commands through typer's runner, against a local server over real sockets.

The server runs on its own event loop in a thread (the commands run theirs with
``asyncio.run``); data is put in place and checked with :class:`discobase.Database`
connected to the same server, as another program would.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from typer.testing import CliRunner

import discobase
from discobase.cli import app
from discobase.cli.connection import EXIT_CHECK_FAILED, EXIT_NOT_FOUND, EXIT_USAGE
from discobase.local import LocalDiscord
from discobase.local.permissions import DEFAULT_BOT_PERMISSIONS, Permission

GUILD = "cli guild"
LIMITED = "limited guild"
#: One guild (one database) per test, so that tests do not see each other's records.
GUILDS = ("cli records", "cli export", "cli resume", "cli backup", "cli processes", "cli migrate", GUILD)


@dataclass
class Server:
    url: str
    token: str

    def env(self) -> dict[str, str]:
        return {"DISCOBASE_API_URL": self.url, "DISCOBASE_TOKEN": self.token}

    def database(self, guild: str = GUILD, **options: Any) -> discobase.Database:
        return discobase.Database(guild, server_url=self.url, compaction_delay=0, **options)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A local server (rate limits off) on a thread's event loop; a bot in two guilds,
    one where its role lacks Manage Messages."""
    loop = asyncio.new_event_loop()
    local = LocalDiscord(rate_limits="off", heartbeat_interval=5.0)
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with local:
            bot = local.create_bot("cli-bot")
            for name in GUILDS:
                local.create_guild(name, members=[bot])
            limited = local.create_guild(LIMITED)
            local.add_member(limited, bot, permissions=DEFAULT_BOT_PERMISSIONS & ~Permission.MANAGE_MESSAGES)
            server.token = local.reset_token(bot)
            server.url = local.url
            ready.set()
            await stop.wait()

    server = Server("", "")
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the local server did not start"
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def invoke(server: Server, guild: str, *args: str) -> Any:
    """``discobase --guild GUILD args...`` through typer's runner, connected to ``server``."""
    result = CliRunner().invoke(
        app, ["--guild", guild, *args], env=server.env(), catch_exceptions=False, prog_name="discobase"
    )
    return result


def output_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


Work = Callable[[discobase.Database, Any], Coroutine[Any, Any, Any]]


def person_model() -> Any:
    """The application's model (a class attaches to one database: a new one each time)."""

    class Person(discobase.Table):
        name: str
        age: int = 0
        tags: list[str] = []

    return Person


def on(server: Server, guild: str, work: Work, **options: Any) -> Any:
    """Run ``work(db, Person)`` with the database of ``guild`` open (another program, in effect)."""
    return asyncio.run(_with_db(server, guild, work, **options))


async def _with_db(server: Server, guild: str, work: Work, *, tickets: bool = False, **options: Any) -> Any:
    db = server.database(guild, **options)
    model = db.table(person_model())
    if tickets:
        db.tickets.attach()
    async with db.conn(server.token):
        return await work(db, model)


def contents(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without their ids, in a stable order."""
    return sorted(({k: v for k, v in r.items() if k != "_id"} for r in records), key=json.dumps)


def test_bare_help_version_and_flags(server: Server) -> None:
    bare = CliRunner().invoke(app, [], prog_name="discobase")
    assert bare.exit_code == 0
    assert "Usage: discobase" in bare.stdout
    assert "<bool>" not in bare.stdout
    assert "<bool>" not in CliRunner().invoke(app, ["delete", "--help"]).stdout
    version = CliRunner().invoke(app, ["--version"])
    assert (version.exit_code, version.stdout.strip()) == (0, discobase.__version__)


def test_find_count_insert_update_delete_and_exit_codes(server: Server) -> None:
    g = "cli records"

    async def seed(db: discobase.Database, Person: Any) -> None:
        for number, name in enumerate(["ada", "bob", "cy"]):
            await Person(name=name, age=20 + 10 * number).save()

    on(server, g, seed)
    tables = output_json(invoke(server, g, "tables", "--json"))
    assert [(t["name"], t["records"], t["fields"]) for t in tables] == [("person", 3, 3)]
    schema = output_json(invoke(server, g, "schema", "person", "--json"))
    assert schema["fields"]["name"] == {"schema": {"type": "string"}, "required": True, "type": "str"}

    found = output_json(invoke(server, g, "find", "person", "age>=30", "sort:-age", "--json"))
    assert [(r["name"], r["age"]) for r in found] == [("cy", 40), ("bob", 30)]
    assert output_json(invoke(server, g, "count", "person", "age<30", "--json")) == {
        "table": "person",
        "count": 1,
    }
    table = invoke(server, g, "find", "person", "name=ada")
    assert table.exit_code == 0
    assert "ada" in table.stdout
    assert "bob" not in table.stdout

    inserted = output_json(invoke(server, g, "insert", "person", "name=dee", "age=5", 'tags=["x"]', "--json"))
    assert {k: inserted[k] for k in ("name", "age", "tags")} == {"name": "dee", "age": 5, "tags": ["x"]}
    record_id = str(inserted["_id"])
    output_json(invoke(server, g, "update", "person", record_id, "age=6", "--json"))

    async def check(db: discobase.Database, Person: Any) -> Any:
        return await Person.get(int(record_id))

    dee = on(server, g, check)
    assert (dee.name, dee.age, dee.tags) == ("dee", 6, ["x"])  # the application's model reads it

    assert output_json(invoke(server, g, "delete", "person", record_id, "--json")) == {
        "table": "person",
        "deleted": 1,
    }
    assert invoke(server, g, "delete", "person", record_id).exit_code == EXIT_NOT_FOUND
    assert invoke(server, g, "find", "nobody").exit_code == EXIT_NOT_FOUND
    assert invoke(server, g, "find", "person", "agee=3").exit_code == EXIT_USAGE
    assert invoke(server, g, "insert", "person", "age=notanumber").exit_code == EXIT_USAGE
    assert invoke(server, g, "delete", "person", "--where", "age>0").exit_code == EXIT_USAGE  # needs --yes
    assert invoke(server, "no such guild", "find", "person").exit_code == EXIT_NOT_FOUND


def test_export_delete_all_import_round_trip(server: Server, tmp_path: Path) -> None:
    g = "cli export"

    async def seed(db: discobase.Database, Person: Any) -> None:
        await Person.insert_many([Person(name=f"p{n}", age=n, tags=["a"] * (n % 3)) for n in range(30)])

    on(server, g, seed)
    before = output_json(invoke(server, g, "find", "person", "--json"))
    exported = tmp_path / "people.jsonl"
    assert output_json(invoke(server, g, "export", "person", str(exported), "--json"))["records"] == len(
        before
    )

    deleted = output_json(invoke(server, g, "delete", "person", "--where", "", "--yes", "--json"))
    assert deleted["deleted"] == len(before)
    assert output_json(invoke(server, g, "count", "person", "--json"))["count"] == 0

    first = output_json(invoke(server, g, "import", str(exported), "--json"))
    assert first == {"inserted": len(before), "updated": 0, "unchanged": 0, "deleted": 0}
    assert contents(output_json(invoke(server, g, "find", "person", "--json"))) == contents(before)
    # Idempotent: a second run writes nothing.
    again = output_json(invoke(server, g, "import", str(exported), "--json"))
    assert again == {"inserted": 0, "updated": 0, "unchanged": len(before), "deleted": 0}
    assert contents(output_json(invoke(server, g, "find", "person", "--json"))) == contents(before)

    # A changed file fails its checksum, and nothing is written.
    exported.write_text(exported.read_text().replace('"p1"', '"px"'))
    broken = invoke(server, g, "import", str(exported))
    assert broken.exit_code == EXIT_CHECK_FAILED
    assert "checksum" in broken.output


def test_import_resumes_from_its_progress_file(server: Server, tmp_path: Path) -> None:
    """A run cut short is resumed: what it noted as done (or left in the table) is not written twice."""
    g = "cli resume"

    async def seed(db: discobase.Database, Person: Any) -> None:
        await Person.insert_many([Person(name=f"r{n}", age=n) for n in range(6)])

    on(server, g, seed)
    exported = tmp_path / "resume.jsonl"
    invoke(server, g, "export", "person", str(exported))
    before = output_json(invoke(server, g, "find", "person", "--json"))
    invoke(server, g, "delete", "person", "--where", "", "--yes")
    dump = exported.read_text().splitlines()
    progress = exported.with_name(exported.name + ".progress")

    async def partial(db: discobase.Database, Person: Any) -> None:
        """What a run killed after 3 records leaves: 2 noted, the third written but not noted."""
        lines = []
        for line in dump[1:4]:
            item = json.loads(line)
            made = await Person(**item["record"]).save()
            lines.append(
                {"database": g, "table": "person", "source": item["_id"], "target": str(made.record_id)}
            )
        progress.write_text("".join(json.dumps(line) + "\n" for line in lines[:2]) + '{"database": "cli gu')

    on(server, g, partial)
    resumed = output_json(invoke(server, g, "import", str(exported), "--json"))
    assert resumed == {"inserted": 3, "updated": 0, "unchanged": 3, "deleted": 0}
    assert contents(output_json(invoke(server, g, "find", "person", "--json"))) == contents(before)


def system_contents(server: Server, g: str) -> dict[str, Any]:
    """Every table's records without ids; occurrences name their ticket by its hash."""
    tables = ["person", "_logs", "_tickets", "_occurrences", "_versions", "_migrations"]
    found = {name: output_json(invoke(server, g, "find", name, "--json")) for name in tables}
    hashes = {t["_id"]: t["hash"] for t in found["_tickets"]}
    for occurrence in found["_occurrences"]:
        occurrence["ticket"] = hashes[occurrence["ticket"]]
    return {name: contents(records) for name, records in found.items()}


def test_backup_restore_equal_including_system_tables(server: Server, tmp_path: Path) -> None:
    g = "cli backup"

    async def seed(db: discobase.Database, Person: Any) -> None:
        await Person(name="kept", age=1).save()
        for number in range(3):
            logger.warning("disk {}% full", 90 + number)
        logger.info("started")
        await db.logs.flush()
        await db.tickets.flush()

    options = {"version": "1.2.0", "log_table": "INFO", "tickets": True}
    on(server, g, seed, **options)
    backup = tmp_path / "backup.jsonl"
    written = output_json(invoke(server, g, "backup", str(backup), "--json"))
    assert {"_logs", "_tickets", "_occurrences", "_versions", "person"} <= set(written["tables"])
    saved = system_contents(server, g)
    assert saved["_versions"][0]["version"] == "1.2.0"
    assert len(saved["_occurrences"]) == 3

    async def damage(db: discobase.Database, Person: Any) -> None:
        await Person(name="added later", age=2).save()
        for person in await Person.find(name="kept"):
            await person.delete()
        logger.error("after the backup")
        await db.logs.flush()
        await db.tickets.flush()
        for ticket in await db.tickets.get_tickets():
            await db.tickets.delete_ticket(ticket.record_id)  # type: ignore[arg-type]
        await db.update_version("1.3.0")

    on(server, g, damage, **options)
    assert system_contents(server, g) != saved

    assert invoke(server, g, "restore", str(backup)).exit_code == EXIT_USAGE  # needs --yes
    restored = output_json(invoke(server, g, "restore", str(backup), "--yes", "--json"))
    assert restored["deleted"] > 0
    assert restored["inserted"] > 0
    assert system_contents(server, g) == saved
    again = output_json(invoke(server, g, "restore", str(backup), "--yes", "--json"))
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)

    # The logs and tickets commands read the restored tables.
    tickets = output_json(invoke(server, g, "tickets", "list", "--json"))
    assert [t["occurrences"] for t in tickets] == [3]
    shown = output_json(invoke(server, g, "tickets", "show", str(tickets[0]["_id"]), "--json"))
    assert sorted(o["message"] for o in shown["occurrences"]) == [
        "disk 90% full",
        "disk 91% full",
        "disk 92% full",
    ]
    solved = output_json(invoke(server, g, "tickets", "solve", str(tickets[0]["_id"]), "--json"))
    assert solved["changed"] is True
    assert output_json(invoke(server, g, "tickets", "list", "--open", "--json")) == []
    assert invoke(server, g, "tickets", "show", "12345").exit_code == EXIT_NOT_FOUND
    tail = output_json(invoke(server, g, "logs", "tail", "-n", "2", "--json"))
    assert [r["message"] for r in tail][-1] == "started"
    errors = output_json(invoke(server, g, "logs", "query", "level=WARNING", "--json"))
    assert len(errors) == 3
    stats = output_json(invoke(server, g, "logs", "stats", "--json"))
    assert {(s["level"], s["records"]) for s in stats} >= {("WARNING", 3), ("INFO", 1)}
    chart = invoke(server, g, "logs", "stats")
    assert chart.exit_code == 0
    assert "█" in chart.stdout
    status = output_json(invoke(server, g, "migrate", "status", "--json"))
    assert (status["stored"], status["state"]) == ("1.2.0", "current")

    # A backup cut short is refused before anything is written.
    backup.write_bytes(backup.read_bytes()[:-20])
    assert invoke(server, g, "restore", str(backup), "--yes").exit_code == EXIT_CHECK_FAILED


def test_doctor_healthy_and_missing_permission(server: Server) -> None:
    g = "cli guild"
    healthy = invoke(server, g, "doctor", "--json")
    report = output_json(healthy)
    assert report["healthy"] is True
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "token": "ok",
        "guild": "ok",
        "intents": "ok",
        "permissions": "ok",
        "channels": "ok",
        "snapshots": "ok",
        "rate limits": "ok",
    }
    limited = invoke(server, LIMITED, "doctor", "--json")
    assert limited.exit_code == EXIT_CHECK_FAILED
    checks = {c["name"]: c for c in json.loads(limited.stdout)["checks"]}
    assert checks["permissions"]["status"] == "fail"
    assert "Manage Messages" in checks["permissions"]["detail"]
    assert checks["channels"]["status"] == "skipped"
    shown = invoke(server, LIMITED, "doctor")
    assert shown.exit_code == EXIT_CHECK_FAILED
    assert "Manage Messages" in shown.stdout


def test_cli_writes_while_another_process_writes(server: Server, tmp_path: Path) -> None:
    """``insert`` and ``import`` in child processes while this process's database writes the same table."""
    g = "cli processes"
    source = tmp_path / "batch.jsonl"
    rows = [
        {"_id": str(n + 1), "record": {"age": n, "name": f"batch{n}", "tags": []}, "table": "person"}
        for n in range(10)
    ]
    header = {
        "format": "discobase-export",
        "version": 1,
        "database": g,
        "created": "2024-01-01T00:00:00+00:00",
        "tables": {"person": {"records": 10, "schema_version": 1, "schema": {}}},
    }
    import hashlib

    body = "".join(json.dumps(line, sort_keys=True) + "\n" for line in [header, *rows]).encode()
    checksum = {"checksum": "sha256:" + hashlib.sha256(body).hexdigest(), "records": 10}
    source.write_bytes(body + (json.dumps(checksum) + "\n").encode())
    env = {**os.environ, **server.env(), "DISCOBASE_GUILD": g}
    command = [sys.executable, "-m", "discobase.cli"]

    async def work(db: discobase.Database, Person: Any) -> list[str]:
        children = [
            await asyncio.create_subprocess_exec(
                *command, "import", str(source), env=env, stdout=subprocess.PIPE
            ),
            await asyncio.create_subprocess_exec(
                *command, "insert", "person", "name=child", env=env, stdout=subprocess.PIPE
            ),
        ]
        for number in range(10):
            await Person(name=f"parent{number}").save()
        for child in children:
            out, _ = await child.communicate()
            assert child.returncode == 0, out
        names = set()
        while not {"child", "batch9", "parent9"} <= names:  # the children's writes reach this process
            names = {p.name for p in await Person.find()}
            await asyncio.sleep(0.05)
        return sorted(names)

    names = asyncio.run(asyncio.wait_for(_with_db(server, g, work), 60))
    assert {f"batch{n}" for n in range(10)} | {f"parent{n}" for n in range(10)} | {"child"} <= set(names)
    found = output_json(invoke(server, g, "find", "person", "name^=batch", "--json"))
    assert len(found) == 10  # each imported once


APPLICATION = """
import discobase

db = discobase.Database("cli migrate", version="1.1.0")


@db.table
class Item(discobase.Table):
    name: str
    size: int = 0


@db.migration("1.1.0")
async def sizes(db):
    for item in await Item.find():
        item.size = len(item.name)
        await item.update()
"""


def test_migrate_status_apply_history(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = "cli migrate"

    async def seed() -> None:
        db = server.database(g, version="1.0.0")

        @db.table
        class Item(discobase.Table):
            name: str
            size: int = 0

        async with db.conn(server.token):
            await Item.insert_many([Item(name="ab"), Item(name="abcd")])

    asyncio.run(seed())
    (tmp_path / "cli_migrate_app.py").write_text(APPLICATION)
    monkeypatch.syspath_prepend(str(tmp_path))
    status = output_json(invoke(server, g, "migrate", "status", "--app", "cli_migrate_app:db", "--json"))
    assert (status["stored"], status["expected"], status["state"]) == ("1.0.0", "1.1.0", "behind")
    assert output_json(invoke(server, g, "migrate", "history", "--json")) == []

    applied = output_json(invoke(server, g, "migrate", "apply", "--app", "cli_migrate_app:db", "--json"))
    assert applied == {"version": "1.1.0"}
    history = output_json(invoke(server, g, "migrate", "history", "--json"))
    assert [(h["version"], h["name"], h["outcome"]) for h in history] == [("1.1.0", "sizes", "applied")]
    items = output_json(invoke(server, g, "find", "item", "sort:size", "--json"))
    assert [(i["name"], i["size"]) for i in items] == [("ab", 2), ("abcd", 4)]
    status = output_json(invoke(server, g, "migrate", "status", "--app", "cli_migrate_app:db", "--json"))
    assert status["state"] == "current"
    wrong = invoke(server, g, "migrate", "apply", "--app", "cli_migrate_app:nothing")
    assert wrong.exit_code == EXIT_USAGE
