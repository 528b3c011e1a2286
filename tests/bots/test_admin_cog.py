"""The /db commands, used by people through the local server's interactions
(INTERACTION_CREATE over real sockets to an unmodified discord.py bot)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import discobase
from discobase.local import BotAccount, InteractionRefused, LocalDiscord, Permission, Person
from discobase.system.events import EventRecord
from tests.bots.helpers import UserBot, start, stop

GUILD = "admin server"


@dataclass
class Setup:
    server: LocalDiscord
    db: discobase.Database
    User: type[discobase.Table]
    guild_id: int
    channel_id: int
    ada: Person  # an administrator
    bob: Person  # a member without permissions
    bot: UserBot
    db_admins: int  # a role nobody has yet


@pytest.fixture
async def setup(server: LocalDiscord, bot: BotAccount) -> AsyncIterator[Setup]:
    guild_id = server.create_guild(GUILD, owner=bot)
    channel_id = server.store.guilds[guild_id].system_channel_id
    assert channel_id is not None
    admins = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
    db_admins = server.create_role(guild_id, "db-admins")  # made before the bot connects: no event
    db = discobase.Database(GUILD)

    @db.table
    class User(discobase.Table):
        name: str = discobase.Field(unique=True)
        age: int = 0

    user_bot = UserBot(db)
    task = await start(server, bot, user_bot)
    await db.wait_ready()
    ada = server.create_user("ada")
    await ada.join(guild_id, roles=[admins])
    bob = server.create_user("bob")
    await bob.join(guild_id)
    try:
        yield Setup(server, db, User, guild_id, channel_id, ada, bob, user_bot, db_admins)
    finally:
        await ada.close()
        await bob.close()
        if db.open:
            await db.close()
        await stop(user_bot, task)


async def run(s: Setup, command: str, person: Person | None = None) -> Any:
    return await (person or s.ada).invoke(s.guild_id, command, channel=s.channel_id)


def embed(result: Any) -> dict[str, Any]:
    assert result.ephemeral, "every /db answer is ephemeral"
    embeds = result.message["embeds"]
    assert len(embeds) == 1
    return embeds[0]  # type: ignore[no-any-return]


def field_names(result: Any) -> list[str]:
    return [f["name"] for f in embed(result)["fields"]]


async def test_tables_schema_find_and_count(setup: Setup) -> None:
    User = setup.User
    await User.insert_many([User(name="ada", age=36), User(name="bob", age=12), User(name="cy", age=18)])

    tables = await run(setup, "/db tables")
    assert field_names(tables) == ["user"]
    assert embed(tables)["fields"][0]["value"].startswith("3 records")

    schema = await run(setup, "/db schema user")
    assert [(f["name"], f["value"]) for f in embed(schema)["fields"]] == [
        ("name", "`str` · required · unique"),
        ("age", "`int` · default `0`"),
    ]

    adults = await run(setup, "/db find user age>=18 sort:-age")
    names = [f["value"] for f in embed(adults)["fields"]]
    assert len(names) == 2
    assert '"ada"' in names[0]
    assert '"cy"' in names[1]
    assert embed(adults)["description"].startswith("2 record(s) match `age>=18 sort:-age`")

    count = await run(setup, "/db count user age<18")
    assert count.content == "user: 1 record(s) match `age<18`."
    assert count.ephemeral


async def test_errors_are_shown_to_the_member(setup: Setup) -> None:
    unknown = await run(setup, "/db find nope age>=18")
    assert unknown.ephemeral
    assert unknown.content == "There is no table 'nope' (tables: user)."
    bad = await run(setup, "/db find user age>=old")
    assert bad.ephemeral
    assert "age" in bad.content
    assert "valid integer" in bad.content
    nonsense = await run(setup, "/db find user hello")
    assert "'hello' is not a condition" in nonsense.content
    no_field = await run(setup, "/db count user height>2")
    assert "user has no field 'height' (its fields: name, age)" in no_field.content
    missing = await run(setup, "/db delete user 12345")
    assert missing.content == "There is no record 12345 in user."


async def test_members_without_permission_are_refused(setup: Setup) -> None:
    with pytest.raises(InteractionRefused, match="permissions"):
        await run(setup, "/db tables", setup.bob)  # Discord hides the command from non-admins
    assert (await run(setup, "/ping", setup.bob)).content == "pong"  # the bot's own command is open

    setup.db.admin_roles = ("db-admins",)  # an allow-list on top of Discord's check
    refused = await run(setup, "/db tables")
    assert refused.ephemeral
    assert refused.content == "You need one of these roles to use /db: db-admins."
    role = setup.db_admins
    await setup.ada.request("PUT", f"/guilds/{setup.guild_id}/members/{setup.ada.id}/roles/{role}")
    allowed = await run(setup, "/db tables")
    assert field_names(allowed) == ["user"]


async def test_insert_through_the_modal_validates_and_audits(setup: Setup) -> None:
    opened = await run(setup, "/db insert user")
    assert opened.modal is not None
    assert opened.modal["title"] == "New user"
    invalid = await setup.ada.submit_modal(opened, {"name": "eve", "age": "old"})
    assert invalid.ephemeral
    assert invalid.content.startswith("The record was not saved:")
    assert "age: Input should be a valid integer" in invalid.content
    assert await setup.User.find(name="eve") == []

    opened = await run(setup, "/db insert user")
    saved = await setup.ada.submit_modal(opened, {"name": "eve", "age": "41"})
    assert saved.content.startswith("Inserted record ")
    [eve] = await setup.User.find(name="eve")
    assert eve.age == 41
    assert str(eve.record_id) in saved.content

    duplicate = await setup.ada.submit_modal(await run(setup, "/db insert user"), {"name": "eve"})
    assert duplicate.content.startswith("The record was not saved: table 'user' already has a record with")

    events = setup.db.system_tables["_events"]
    [row] = await events.find(operation="/db insert")
    assert isinstance(row, EventRecord)
    assert row.actor == f"ada ({setup.ada.id})"
    assert row.table == "user"
    assert row.detail == f"record {eve.record_id}"


async def test_update_prefills_the_modal(setup: Setup) -> None:
    ada = await setup.User(name="ada", age=36).save()
    opened = await run(setup, f"/db update user {ada.record_id}")
    assert opened.modal is not None
    defaults = {
        row["component"]["custom_id"] if "component" in row else row["components"][0]["custom_id"]: (
            row["component"] if "component" in row else row["components"][0]
        ).get("value")
        for row in opened.modal["components"]
    }
    assert defaults == {"name": "ada", "age": "36"}
    done = await setup.ada.submit_modal(opened, {"age": "37"})
    assert done.content.startswith(f"Updated record {ada.record_id}")
    [again] = await setup.User.find(name="ada")
    assert again.age == 37
    [row] = await setup.db.system_tables["_events"].find(operation="/db update")
    assert row.actor == f"ada ({setup.ada.id})"  # type: ignore[attr-defined]


async def test_delete_asks_for_confirmation(setup: Setup) -> None:
    ada = await setup.User(name="ada", age=36).save()
    asked = await run(setup, f"/db delete user {ada.record_id}")
    assert asked.ephemeral
    assert asked.content.startswith(f"Delete record {ada.record_id} from user?")
    cancelled = await setup.ada.click(asked.message, "discobase:cancel")
    assert cancelled.updated is not None
    assert cancelled.updated["content"] == "Cancelled: nothing was deleted."
    assert len(await setup.User.find()) == 1

    asked = await run(setup, f"/db delete user {ada.record_id}")
    with pytest.raises(InteractionRefused):
        await setup.bob.click(asked.message, "discobase:delete")  # not bob's message to see
    confirmed = await setup.ada.click(asked.message, "discobase:delete")
    assert confirmed.updated is not None
    assert confirmed.updated["content"] == f"Deleted record {ada.record_id} from user."
    assert await setup.User.find() == []
    [row] = await setup.db.system_tables["_events"].find(operation="/db delete")
    assert (row.actor, row.detail) == (f"ada ({setup.ada.id})", f"record {ada.record_id}")  # type: ignore[attr-defined]


async def test_long_results_are_paginated_and_truncated(setup: Setup) -> None:
    User = setup.User
    await User.insert_many(
        [User(name=f"user {i:02} " + "x" * (1500 if i == 0 else 0), age=i) for i in range(25)]
    )
    first = await run(setup, "/db find user sort:age")
    page = embed(first)
    assert len(page["fields"]) == 10
    assert page["footer"]["text"].startswith("page 1/3")
    assert "long values were truncated" in page["footer"]["text"]
    assert "truncated:" in page["fields"][0]["value"]
    assert len(page["fields"][0]["value"]) <= 1024
    assert sum(len(f["name"]) + len(f["value"]) for f in page["fields"]) < 6000
    clicked = await setup.ada.click(first.message, "discobase:next")
    assert clicked.updated is not None
    second = clicked.updated["embeds"][0]
    assert second["footer"]["text"] == "page 2/3"
    assert '"user 10' in second["fields"][0]["value"]
    later = await setup.ada.click(clicked.updated, "discobase:next")
    assert later.updated is not None
    assert later.updated["embeds"][0]["footer"]["text"] == "page 3/3"
    assert len(later.updated["embeds"][0]["fields"]) == 5


async def test_autocomplete_of_tables_and_fields(setup: Setup) -> None:
    tables = await setup.ada.autocomplete(setup.guild_id, "/db find us", "table", channel=setup.channel_id)
    assert [c["value"] for c in tables] == ["user"]
    fields = await setup.ada.autocomplete(
        setup.guild_id, '/db find user "query:age>=18 na"', "query", channel=setup.channel_id
    )
    assert [c["value"] for c in fields] == ["age>=18 name"]


async def test_operations_commands(setup: Setup) -> None:
    await setup.User(name="ada", age=36).save()
    stats = embed(await run(setup, "/db stats"))
    assert stats["fields"][0]["name"] == "user"
    assert stats["fields"][0]["value"].startswith("1 records · 1 messages · 2 channels")
    assert stats["description"].startswith("1 records in 1 tables · ")
    assert "Discord requests in the " in stats["description"]

    version = await run(setup, "/db version")
    assert version.content.startswith(f"discobase {discobase.__version__} · database {GUILD}")

    migrations = embed(await run(setup, "/db migrations"))
    assert migrations["description"] == "No migrations."

    setup.db.logs.attach("INFO")
    discobase_logger = __import__("loguru").logger
    discobase_logger.warning("disk almost full")
    await setup.db.logs.flush()
    logs = embed(await run(setup, "/db logs level:WARNING since:1h"))
    assert [f["value"].split("\n")[0] for f in logs["fields"]] == ["disk almost full"]
    setup.db.logs.detach()

    setup.db.tickets.attach("ERROR")
    discobase_logger.error("payment failed")
    await setup.db.tickets.flush()
    setup.db.tickets.detach()
    tickets = embed(await run(setup, "/db tickets open"))
    [ticket] = tickets["fields"]
    assert ticket["name"].endswith("ERROR open")
    ticket_id = ticket["name"].split()[0].lstrip("#")
    solved = await run(setup, f"/db ticket solve {ticket_id}")
    assert solved.content == f"Ticket {ticket_id} is solved."
    [row] = await setup.db.system_tables["_events"].find(operation="/db ticket solve")
    assert (row.actor, row.table, row.detail) == (f"ada ({setup.ada.id})", "_tickets", f"ticket {ticket_id}")  # type: ignore[attr-defined]
    assert "fields" not in embed(await run(setup, "/db tickets open"))
    assert len(embed(await run(setup, "/db tickets solved"))["fields"]) == 1
    await asyncio.sleep(0)


READER = """
import asyncio, sys
import discobase
from discobase.system.events import EventRecord

async def main() -> None:
    db = discobase.Database(sys.argv[1], server_url=sys.argv[2])

    @db.table
    class User(discobase.Table):
        name: str = discobase.Field(unique=True)
        age: int = 0

    events = db.system_table(EventRecord)
    async with db.conn(sys.argv[3]):
        print("users:", sorted((u.name, u.age) for u in await User.find()))
        print("audit:", sorted((e.operation, e.actor) for e in await events.find() if e.actor))

asyncio.run(main())
"""


async def test_changes_made_with_db_are_seen_by_another_process(
    setup: Setup, bot: BotAccount, tmp_path: Path
) -> None:
    opened = await run(setup, "/db insert user")
    await setup.ada.submit_modal(opened, {"name": "eve", "age": "41"})
    script = tmp_path / "reader.py"
    script.write_text(READER)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), GUILD, setup.server.url, bot.token, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    lines = out.decode().splitlines()
    assert "users: [('eve', 41)]" in lines
    assert f"audit: [('/db insert', 'ada ({setup.ada.id})')]" in lines


async def test_migrations_lists_what_ran(server: LocalDiscord, bot: BotAccount) -> None:
    guild_id = server.create_guild("versioned", owner=bot)
    channel_id = server.store.guilds[guild_id].system_channel_id
    admins = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
    first = discobase.Database("versioned", version="1.0.0")
    user_bot = UserBot(first)
    task = await start(server, bot, user_bot)
    ada = server.create_user("ada")
    db = discobase.Database("versioned", version="1.1.0")

    @db.migration("1.1.0")
    async def add_prices(database: discobase.Database) -> None:
        return None

    try:
        await first.wait_ready()
        await first.close()
        await db.attach(user_bot)  # the next release of the program, on the running bot
        await ada.join(guild_id, roles=[admins])
        shown = (await ada.invoke(guild_id, "/db migrations", channel=channel_id)).message["embeds"][0]
        assert shown["description"] == "1 migration(s) run"
        [row] = shown["fields"]
        assert row["name"] == "1.1.0 test_migrations_lists_what_ran.<locals>.add_prices"
        assert row["value"].startswith("applied · ")
        version = await ada.invoke(guild_id, "/db version", channel=channel_id)
        assert "database versioned: version 1.1.0, status RUNNING" in str(version.content)
    finally:
        await ada.close()
        if db.open:
            await db.close()
        await stop(user_bot, task)
