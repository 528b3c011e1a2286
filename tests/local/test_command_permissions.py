"""Application command permissions: Discord's rules of who may use a command, the routes
that read and (with a person's Bearer token only) set the overwrites, and their effect on
what people can invoke, with unmodified discord.py over real sockets."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from discobase._discord.commands import command_permitted, member_may_use
from discobase._discord.permissions import ALL_PERMISSIONS, Permission
from discobase.local import BotAccount, InteractionRefused, LocalDiscord, PersonRequestError
from tests.conftest import ConnectFactory

GUILD = 1000
CHANNEL = 2000
ROLE = 3000
USER = 4000
APP = 5000


def allowed(
    command: list[dict[str, Any]] | None = None,
    application: list[dict[str, Any]] | None = None,
    *,
    permissions: int = int(Permission.SEND_MESSAGES),
    required: str | None = None,
    roles: tuple[int, ...] = (ROLE,),
    channel: int | None = CHANNEL,
) -> bool:
    return command_permitted(
        permissions=permissions,
        default_member_permissions=required,
        user_id=USER,
        roles=roles,
        guild_id=GUILD,
        channel_id=channel,
        command_entries=command or [],
        application_entries=application or [],
    )


def entry(target: int, kind: int, permission: bool) -> dict[str, Any]:
    return {"id": str(target), "type": kind, "permission": permission}


def test_default_member_permissions() -> None:
    manage = str(int(Permission.MANAGE_GUILD))
    assert member_may_use(0, None)
    assert not member_may_use(0, manage)
    assert member_may_use(int(Permission.MANAGE_GUILD), manage)
    assert not member_may_use(int(Permission.MANAGE_GUILD), "0")  # "0": administrators only
    assert member_may_use(int(Permission.ADMINISTRATOR), "0")
    assert member_may_use(ALL_PERMISSIONS, "0")  # the owner


def test_user_role_and_everyone_entries() -> None:
    assert allowed()
    assert not allowed([entry(GUILD, 1, False)])  # @everyone denied
    assert allowed([entry(GUILD, 1, False), entry(ROLE, 1, True)])  # a role of the member allows
    assert not allowed([entry(ROLE, 1, False)])
    assert allowed([entry(ROLE, 1, False), entry(ROLE + 1, 1, True)], roles=(ROLE, ROLE + 1))  # allow wins
    assert allowed([entry(ROLE, 1, False), entry(USER, 2, True)])  # the user's own entry decides
    assert not allowed([entry(ROLE, 1, True), entry(USER, 2, False)])
    assert allowed([entry(ROLE + 9, 1, False)])  # a role the member lacks says nothing


def test_command_entries_override_default_member_permissions() -> None:
    manage = str(int(Permission.MANAGE_GUILD))
    assert not allowed(required=manage)
    assert allowed([entry(USER, 2, True)], required=manage)
    assert allowed([entry(USER, 2, True)], required="0")
    assert not allowed([entry(USER, 2, False)], permissions=int(Permission.MANAGE_GUILD), required=manage)


def test_application_entries_are_the_base() -> None:
    manage = str(int(Permission.MANAGE_GUILD))
    assert not allowed(application=[entry(USER, 2, False)])
    assert allowed([entry(USER, 2, True)], [entry(USER, 2, False)])  # the command's own entry wins
    assert not allowed(application=[entry(USER, 2, True)], required=manage)  # still needs the default
    assert allowed(
        application=[entry(USER, 2, True)], permissions=int(Permission.MANAGE_GUILD), required=manage
    )


def test_channel_entries() -> None:
    assert not allowed([entry(CHANNEL, 3, False)])
    assert allowed([entry(CHANNEL, 3, False)], channel=CHANNEL + 1)
    all_channels = GUILD - 1
    assert not allowed([entry(all_channels, 3, False)], channel=CHANNEL + 1)
    assert allowed([entry(all_channels, 3, False), entry(CHANNEL, 3, True)])  # the channel's own entry
    assert not allowed(application=[entry(CHANNEL, 3, False)])
    assert allowed([entry(CHANNEL, 3, True)], [entry(CHANNEL, 3, False)])
    assert not allowed([entry(CHANNEL, 3, False), entry(USER, 2, True)])  # both must allow
    assert allowed([entry(CHANNEL, 3, False)], channel=None)  # the guild as a whole


def test_administrators_use_everything() -> None:
    admin = int(Permission.ADMINISTRATOR)
    assert allowed([entry(USER, 2, False), entry(CHANNEL, 3, False)], permissions=admin, required="0")


async def commands_bot(guild_id: int, client: discord.Client) -> app_commands.CommandTree[discord.Client]:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    guild = discord.Object(guild_id)

    @tree.command(guild=guild)
    async def ping(interaction: discord.Interaction) -> None:
        """Pong."""
        await interaction.response.send_message("pong")

    @tree.command(guild=guild)
    @app_commands.default_permissions(manage_guild=True)
    async def purge(interaction: discord.Interaction) -> None:
        """Moderators only."""
        await interaction.response.send_message("purged")

    await tree.sync(guild=guild)
    return tree


async def test_overwrites_decide_who_may_invoke(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    tree = await commands_bot(guild_id, client)
    moderator = server.create_role(
        guild_id, "moderator", permissions=int(Permission.MANAGE_GUILD | Permission.MANAGE_ROLES)
    )
    testers = server.create_role(guild_id, "testers")
    ada, grace, bob = server.create_user("ada"), server.create_user("grace"), server.create_user("bob")
    await ada.join(guild_id, roles=[moderator, testers])
    await grace.join(guild_id, roles=[testers])
    await bob.join(guild_id)
    assert (await bob.invoke(guild_id, "/ping")).content == "pong"

    updated = asyncio.ensure_future(client.wait_for("raw_app_command_permissions_update"))
    answer = await ada.edit_command_permissions(
        bot,
        guild_id,
        "ping",
        [{"id": guild_id, "type": 1, "permission": False}, {"id": testers, "type": 1, "permission": True}],
    )
    ping = next(c for c in server.store.commands.values() if c.data["name"] == "ping")
    assert answer == {
        "id": str(ping.id),
        "application_id": str(bot.application_id),
        "guild_id": str(guild_id),
        "permissions": [
            {"id": str(guild_id), "type": 1, "permission": False},
            {"id": str(testers), "type": 1, "permission": True},
        ],
    }
    event = await asyncio.wait_for(updated, 10)
    assert (event.target_id, event.guild.id) == (ping.id, guild_id)
    assert [(p.target.id, p.permission) for p in event.permissions] == [(guild_id, False), (testers, True)]

    with pytest.raises(InteractionRefused):
        await bob.invoke(guild_id, "/ping")
    assert (await grace.invoke(guild_id, "/ping")).content == "pong"

    # a user entry lets bob use /purge despite its default_member_permissions
    with pytest.raises(InteractionRefused):
        await bob.invoke(guild_id, "/purge")
    await ada.edit_command_permissions(
        bot, guild_id, "purge", [{"id": bob.id, "type": 2, "permission": True}]
    )
    assert (await bob.invoke(guild_id, "/purge")).content == "purged"

    # the application-level set: no commands in #general for anyone without their own entry
    general = server.store.guilds[guild_id].system_channel_id
    other = server.create_channel(guild_id, "other")
    await ada.edit_command_permissions(bot, guild_id, None, [{"id": general, "type": 3, "permission": False}])
    with pytest.raises(InteractionRefused):
        await grace.invoke(guild_id, "/ping")
    assert (await grace.invoke(guild_id, "/ping", channel=other)).content == "pong"

    # discord.py reads them back (GET, bot token)
    synced = await tree.fetch_commands(guild=discord.Object(guild_id))
    by_name = {c.name: c for c in synced}
    perms = await by_name["purge"].fetch_permissions(discord.Object(guild_id))
    assert [(p.target.id, p.type, p.permission) for p in perms.permissions] == [
        (bob.id, discord.AppCommandPermissionType.user, True)
    ]
    everything = await client.http.get_guild_application_command_permissions(bot.application_id, guild_id)
    assert {s["id"] for s in everything} == {str(ping.id), str(by_name["purge"].id), str(bot.application_id)}

    # removing every entry: the command is usable again, and unset permissions are 404/10066
    await ada.edit_command_permissions(bot, guild_id, "ping", [])
    await ada.edit_command_permissions(bot, guild_id, None, [])
    assert (await bob.invoke(guild_id, "/ping")).content == "pong"
    with pytest.raises(discord.NotFound) as unset:
        await client.http.get_application_command_permissions(bot.application_id, guild_id, ping.id)
    assert unset.value.code == 10066


async def test_only_a_bearer_token_of_a_manager_may_edit(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    client = await connect(bot)
    await commands_bot(guild_id, client)
    ping = next(c for c in server.store.commands.values() if c.data["name"] == "ping")
    body = [{"id": str(guild_id), "type": 1, "permission": False}]
    with pytest.raises(discord.Forbidden) as refused:  # discord.py still has the route, with a bot token
        await client.http.edit_application_command_permissions(
            bot.application_id, guild_id, ping.id, {"permissions": body}
        )
    assert (refused.value.status, refused.value.code, refused.value.text) == (
        403,
        20001,
        "Bots cannot use this endpoint",
    )
    bob = server.create_user("bob")
    await bob.join(guild_id)
    with pytest.raises(PersonRequestError) as lacking:  # no MANAGE_GUILD / MANAGE_ROLES
        await bob.edit_command_permissions(bot, guild_id, "ping", body)
    assert (lacking.value.status, lacking.value.code) == (403, 50013)
    path = f"/applications/{bot.application_id}/guilds/{guild_id}/commands"
    token = server.authorize(bob, bot, scopes=("identify",))
    with pytest.raises(PersonRequestError) as scope:  # the token lacks the scope
        await bob.request("PUT", f"{path}/{ping.id}/permissions", {"permissions": body}, bearer=token)
    assert (scope.value.status, scope.value.code) == (403, 50001)
    with pytest.raises(PersonRequestError) as elsewhere:  # a Bearer token is good for these routes only
        await bob.request("GET", "/users/@me/guilds", bearer=token)
    assert elsewhere.value.status == 401
    with pytest.raises(PersonRequestError) as batch:  # the batch edit was removed in 2022
        await bob.request("PUT", f"{path}/permissions", {"permissions": []}, bearer=token)
    assert batch.value.status == 405
    owner = server.create_user("owner")
    managers = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
    await owner.join(guild_id, roles=[managers])
    unknown = server.store.next_id()
    with pytest.raises(PersonRequestError) as missing:
        await owner.edit_command_permissions(bot, guild_id, unknown, body)
    assert (missing.value.status, missing.value.code) == (404, 10063)
    too_many = [{"id": str(server.store.next_id()), "type": 2, "permission": True} for _ in range(101)]
    with pytest.raises(PersonRequestError) as invalid:
        await owner.edit_command_permissions(bot, guild_id, "ping", too_many)
    assert (invalid.value.status, invalid.value.code) == (400, 50035)
    assert "permissions" in invalid.value.body["errors"]


async def test_an_edit_reaches_a_bot_in_another_process_and_survives_a_restart(tmp_path: Path) -> None:
    """The write path with two processes: a person edits the permissions here, a discord.py bot
    in a child process gets APPLICATION_COMMAND_PERMISSIONS_UPDATE and reads them back; a
    server restarted on the same file still has them (and still enforces them)."""
    data = tmp_path / "discord.sqlite3"
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.create_bot("perm-bot")
        guild_id = server.create_guild("perm guild", owner=bot)
        async with aiohttp.ClientSession() as session:
            url = f"{server.api_url}/applications/{bot.application_id}/guilds/{guild_id}/commands"
            headers = {"Authorization": f"Bot {bot.token}"}
            async with session.put(url, json=[{"name": "ping", "description": "p"}], headers=headers) as put:
                assert put.status == 200
                command_id = int((await put.json())[0]["id"])
        admin = server.create_role(guild_id, "admin", permissions=int(Permission.ADMINISTRATOR))
        ada, bob = server.create_user("ada"), server.create_user("bob")
        await ada.join(guild_id, roles=[admin])
        await bob.join(guild_id)
        script = Path(__file__).parent / "clients" / "permissions_watcher.py"
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            server.url,
            bot.token,
            str(guild_id),
            str(command_id),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        async with asyncio.timeout(30):
            while (line := await child.stdout.readline()) and line.strip() != b"READY":
                pass
            await ada.edit_command_permissions(
                bot, guild_id, "ping", [{"id": bob.id, "type": 2, "permission": False}]
            )
            stdout, stderr = await child.communicate()
        assert child.returncode == 0, stderr.decode()[-2000:]
        result = json.loads(stdout.decode().split("RESULT ", 1)[1])
        assert result["event"] == {
            "command": command_id,
            "guild": guild_id,
            "permissions": [[bob.id, False]],
        }
        assert result["fetched"]["permissions"] == [{"id": str(bob.id), "type": 2, "permission": False}]
        bob_id = bob.id
    async with LocalDiscord(data, rate_limits="off") as again:
        assert again.store.command_permissions[(bot.application_id, guild_id, command_id)] == [
            {"id": str(bob_id), "type": 2, "permission": False}
        ]
        command = again.store.commands[command_id]
        assert not again.rest.ctx.access.may_use_command(bob_id, guild_id, None, command)
