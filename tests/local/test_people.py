"""People and interactions with unmodified discord.py over real sockets: components, modals,
autocomplete, the answer rules (once, in the window, while the token lives), permissions,
mentions, DMs, member events, READY's user and GUILD_CREATE's members."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from discobase.local import BotAccount, InteractionRefused, LocalDiscord, Person, PersonRequestError
from discobase.local.gateway.frames import large_threshold
from discobase.local.store import Command
from tests.conftest import ConnectFactory


class TreeClient(discord.Client):
    """A discord.py client with an application command tree."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.tree: app_commands.CommandTree[TreeClient] = app_commands.CommandTree(self)


async def tree_client(
    bot: BotAccount, connect: ConnectFactory
) -> tuple[discord.Client, app_commands.CommandTree[TreeClient]]:
    client = await connect(bot, client_class=TreeClient)
    assert isinstance(client, TreeClient)
    return client, client.tree


class Panel(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Count", custom_id="count")
    async def count(self, interaction: discord.Interaction, button: discord.ui.Button[Panel]) -> None:
        await interaction.response.edit_message(content="counted")

    @discord.ui.select(
        custom_id="fruit", options=[discord.SelectOption(label=f, value=f) for f in ("apple", "kiwi")]
    )
    async def fruit(self, interaction: discord.Interaction, select: discord.ui.Select[Panel]) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}", ephemeral=True)

    @discord.ui.button(label="Feedback", custom_id="feedback")
    async def feedback(self, interaction: discord.Interaction, button: discord.ui.Button[Panel]) -> None:
        await interaction.response.send_modal(Feedback())


class Feedback(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Feedback] = discord.ui.TextInput(label="Text", custom_id="text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}")


async def people_bot(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> discord.Client:
    """A discord.py client with commands and a persistent view, synced to the guild."""

    client, tree = await tree_client(bot, connect)
    guild = discord.Object(guild_id)

    @tree.command(guild=guild)
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("panel", view=Panel())

    @tree.command(guild=guild)
    @app_commands.default_permissions(manage_guild=True)
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("admin only")

    @tree.command(guild=guild)
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("done")
        await interaction.followup.send("and more", ephemeral=True)

    async def fruits(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=f, value=f)
            for f in ("apple", "apricot", "banana")
            if f.startswith(current)
        ]

    @tree.command(guild=guild)
    @app_commands.autocomplete(name=fruits)
    async def fruit(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    await tree.sync(guild=guild)
    return client


async def test_buttons_selects_and_modals(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    await people_bot(server, bot, guild_id, connect)
    ada = server.create_user("ada")
    await ada.join(guild_id)
    shown = await ada.invoke(guild_id, "/panel")
    panel = shown.message
    assert panel is not None
    assert panel["content"] == "panel"
    clicked = await ada.click(panel, "count")
    assert clicked.updated is not None
    assert clicked.updated["content"] == "counted"  # type 7 edits the panel
    picked = await ada.select(panel, "fruit", ["kiwi"])
    assert (picked.content, picked.ephemeral) == ("picked kiwi", True)
    with pytest.raises(InteractionRefused):
        await ada.select(panel, "fruit", ["mango"])
    opened = await ada.click(panel, "feedback")
    assert opened.modal is not None
    assert opened.modal["title"] == "Feedback"
    submitted = await ada.submit_modal(opened, {"text": "great"})
    assert submitted.content == "thanks: great"


async def test_deferred_answers_follow_ups_and_autocomplete(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    await people_bot(server, bot, guild_id, connect)
    ada = server.create_user("ada")
    await ada.join(guild_id)
    slow = await ada.invoke(guild_id, "/slow")
    messages = await slow.wait_for_messages(2)
    assert [m["content"] for m in messages] == ["done", "and more"]  # the first follow-up fills the defer
    assert [bool(m["flags"] & 64) for m in messages] == [False, True]
    assert await ada.autocomplete(guild_id, "/fruit name:ap", "name") == [
        {"name": "apple", "value": "apple"},
        {"name": "apricot", "value": "apricot"},
    ]


async def test_default_member_permissions_hide_a_command(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    await people_bot(server, bot, guild_id, connect)
    ada = server.create_user("ada")
    await ada.join(guild_id)
    with pytest.raises(InteractionRefused):
        await ada.invoke(guild_id, "/admin")
    boss = server.create_role(guild_id, "boss", permissions=int(discord.Permissions(manage_guild=True).value))
    grace = server.create_user("grace")
    await grace.join(guild_id, roles=[boss])
    assert (await grace.invoke(guild_id, "/admin")).content == "admin only"


async def test_the_answer_window_and_the_token_life(
    server: LocalDiscord, bot: BotAccount, guild_id: int
) -> None:
    """Without a bot answering, the interaction fails; a late callback is 10062, a second 40060,
    an expired token 50027 (the clocks are configured short)."""
    server.interactions.response_window = 0.2
    ada = server.create_user("ada")
    await ada.join(guild_id)
    server.store.save_command(
        Command(server.store.next_id(), bot.application_id, guild_id, {"name": "ping", "description": "p"})
    )
    result = await ada.invoke(guild_id, "/ping")
    assert result.failed
    interaction = server.interactions._by_id[result.interaction_id]
    url = f"{server.api_url}/interactions/{interaction.id}/{interaction.token}/callback"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"type": 4, "data": {"content": "late"}}) as response:
            assert (response.status, (await response.json())["code"]) == (404, 10062)
        server.interactions.response_window = 60.0
        async with session.post(url, json={"type": 4, "data": {"content": "now"}}) as response:
            assert response.status == 204
        async with session.post(url, json={"type": 4, "data": {"content": "again"}}) as response:
            assert (response.status, (await response.json())["code"]) == (400, 40060)
        server.interactions.token_lifetime = 0.0
        hook = f"{server.api_url}/webhooks/{bot.application_id}/{interaction.token}/messages/@original"
        async with session.get(hook) as response:
            assert (response.status, (await response.json())["code"]) == (401, 50027)


async def test_mentions_member_events_dms_and_what_ready_shows(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    intents = discord.Intents.default()
    intents.members = True  # no message content: a mention still shows the content
    client = await connect(bot, intents=intents)
    me = await client.http.get_user(bot.user_id)
    assert me["discriminator"] != "0000"
    assert len(me["discriminator"]) == 4
    assert client.user is not None
    ready_user = client.user
    assert ready_user.discriminator == me["discriminator"]
    joined = asyncio.ensure_future(client.wait_for("member_join"))
    ada: Person = server.create_user("ada")
    await ada.join(guild_id)
    member = await joined
    assert (member.name, member.discriminator, member.global_name) == ("ada", "0", "ada")
    channel = server.store.guilds[guild_id].system_channel_id
    got = asyncio.ensure_future(client.wait_for("message"))
    await ada.send(channel, f"hi <@{bot.user_id}>")
    message = await got
    assert message.content == f"hi <@{bot.user_id}>"
    assert [u.id for u in message.mentions] == [bot.user_id]
    plain = asyncio.ensure_future(client.wait_for("message"))
    await ada.send(channel, "no mention here")
    assert (await plain).content == ""  # without the intent and without a mention
    everyone = await ada.send(channel, "@everyone hello")
    assert everyone["mention_everyone"] is True  # @everyone may mention everyone by default
    dm = await ada.dm(bot)
    dm_seen = asyncio.ensure_future(client.wait_for("message"))
    await ada.send(int(dm["id"]), "psst")
    assert isinstance((await dm_seen).channel, discord.DMChannel)
    in_dm = await ada.send(int(dm["id"]), f"<@{bot.user_id}> @everyone <@&{guild_id}>")
    assert [u["id"] for u in in_dm["mentions"]] == [str(bot.user_id)]  # users only: no roles in a DM
    assert (in_dm["mention_roles"], in_dm["mention_everyone"]) == ([], False)
    left = asyncio.ensure_future(client.wait_for("raw_member_remove"))
    await ada.leave(guild_id)
    assert (await left).user.id == ada.id
    stranger = server.create_user("stranger")
    with pytest.raises(PersonRequestError) as refused:
        await stranger.dm(bot)
    assert refused.value.code == 50007
    guild = client.get_guild(guild_id)
    assert guild is not None


async def test_guild_create_lists_other_members_only_with_presences(
    server: LocalDiscord, bot: BotAccount, guild_id: int
) -> None:
    ada = server.create_user("ada")
    await ada.join(guild_id)
    backend = server.gateway_backend
    without = backend.guild_create_payload(guild_id, bot.user_id, presences=False)
    assert [m["user"]["id"] for m in without["members"]] == [str(bot.user_id)]
    assert without["member_count"] == 2
    with_presences = backend.guild_create_payload(guild_id, bot.user_id, presences=True)
    assert {m["user"]["id"] for m in with_presences["members"]} == {str(bot.user_id), str(ada.id)}
    assert with_presences["large"] is False
    # above the session's large_threshold, offline members without a role or nickname are left out
    grace, lin = server.create_user("grace"), server.create_user("lin")
    await grace.join(guild_id, roles=[server.create_role(guild_id, "crew")])
    await lin.join(guild_id, nick="Lin")
    large = backend.guild_create_payload(guild_id, bot.user_id, presences=True, large_threshold=3)
    assert large["large"] is True
    assert large["member_count"] == 4
    assert {m["user"]["id"] for m in large["members"]} == {str(bot.user_id), str(grace.id), str(lin.id)}


def test_large_threshold_is_clamped_to_discords_range() -> None:
    assert [large_threshold(v) for v in (None, 10, 50, 120, 250, 1000, True, "99")] == [
        50,
        50,
        50,
        120,
        250,
        250,
        50,
        50,
    ]


class Confirm(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Yes", custom_id="yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Confirm]) -> None:
        where = "a DM" if interaction.guild is None else "a guild"
        await interaction.response.edit_message(
            content=f"confirmed by {interaction.user.name} in {where}", view=None
        )


async def test_interactions_in_a_dm_with_the_bot(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    """A global command used in the DM with the bot, and a button of the bot's DM message:
    INTERACTION_CREATE carries ``user`` (no ``member``, no ``guild_id``), a DM ``channel`` and
    ``context`` 1, and discord.py answers through the same routes as in a guild."""

    _, tree = await tree_client(bot, connect)
    seen: list[discord.Interaction] = []

    @tree.command()
    async def hello(interaction: discord.Interaction) -> None:
        """Says hello, anywhere."""
        seen.append(interaction)
        await interaction.response.send_message(f"hello {interaction.user.name}", view=Confirm())

    @tree.command()
    @app_commands.guild_only()
    async def roles(interaction: discord.Interaction) -> None:
        """Only in guilds."""
        await interaction.response.send_message("roles")

    @tree.command(guild=discord.Object(guild_id))
    async def local(interaction: discord.Interaction) -> None:
        """A guild command."""
        await interaction.response.send_message("local")

    await tree.sync()
    await tree.sync(guild=discord.Object(guild_id))
    raw: list[dict[str, Any]] = []  # INTERACTION_CREATE payloads as sent
    original = server.interactions.start

    async def recording_start(**kwargs: object) -> object:
        result = await original(**kwargs)  # type: ignore[arg-type]
        raw.append(server.interactions._by_id[result.interaction_id].payload)
        return result

    server.interactions.start = recording_start  # type: ignore[method-assign]
    ada = server.create_user("ada")
    await ada.join(guild_id)
    greeted = await ada.invoke_dm(bot, "/hello")
    assert greeted.content == "hello ada"
    payload = raw[-1]
    assert "member" not in payload
    assert "guild_id" not in payload
    assert payload["context"] == 1
    assert payload["user"]["id"] == str(ada.id)
    assert payload["channel"]["type"] == 1
    assert payload["authorizing_integration_owners"] == {"0": "0"}
    interaction = seen[-1]
    assert interaction.guild is None
    assert isinstance(interaction.user, discord.User)
    assert isinstance(interaction.channel, discord.DMChannel)
    assert interaction.context.dm_channel
    message = greeted.message
    assert message is not None
    assert "guild_id" not in message or message["guild_id"] is None
    stored = server.store.get_message(int(message["channel_id"]), int(message["id"]))
    assert stored is not None  # a DM response is a message of the DM channel
    assert stored.interaction_metadata is not None
    assert stored.interaction_metadata["authorizing_integration_owners"] == {"0": "0"}

    clicked = await ada.click(message, "yes")
    assert clicked.updated is not None
    assert clicked.updated["content"] == "confirmed by ada in a DM"
    assert clicked.updated["components"] == []
    assert raw[-1]["type"] == 3
    assert raw[-1]["message"]["id"] == message["id"]

    with pytest.raises(InteractionRefused):
        await ada.invoke_dm(bot, "/roles")  # guild_only: contexts [0]
    with pytest.raises(InteractionRefused):
        await ada.invoke_dm(bot, "/local")  # guild commands are not available in DMs
    assert (await ada.invoke(guild_id, "/roles")).content == "roles"
    in_guild = await ada.invoke(guild_id, "/hello")
    assert raw[-1]["context"] == 0
    assert "member" in raw[-1]
    confirmed = await ada.click(in_guild.message, "yes")
    assert confirmed.updated is not None
    assert confirmed.updated["content"] == "confirmed by ada in a guild"


async def test_a_bot_joining_a_guild(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    """Adding a bot: the guild's bots see its managed role and GUILD_MEMBER_ADD (with the
    members intent only); the bot itself gets GUILD_CREATE (``on_guild_join``), not a
    GUILD_MEMBER_ADD about itself."""
    members_intent = discord.Intents.default()
    members_intent.members = True
    watcher = await connect(bot, intents=members_intent)
    unprivileged = server.create_bot("unprivileged")
    server.add_member(guild_id, unprivileged)
    quiet = await connect(unprivileged, intents=discord.Intents.default())
    newcomer = server.create_bot("newcomer")
    other_guild = server.create_guild("elsewhere", owner=newcomer)
    client = await connect(newcomer, intents=members_intent)
    quiet_joins: list[discord.Member] = []
    own_joins: list[discord.Member] = []

    @quiet.event
    async def on_member_join(member: discord.Member) -> None:
        quiet_joins.append(member)

    @client.event
    async def on_member_join(member: discord.Member) -> None:  # noqa: F811 - another client's handler
        own_joins.append(member)

    joined = asyncio.ensure_future(watcher.wait_for("member_join", check=lambda m: m.id == newcomer.user_id))
    guild_join = asyncio.ensure_future(client.wait_for("guild_join"))

    server.add_member(guild_id, newcomer)

    guild = await asyncio.wait_for(guild_join, 10)
    assert guild.id == guild_id
    assert guild.me is not None
    member = await asyncio.wait_for(joined, 10)
    assert (member.id, member.bot, member.guild.id) == (newcomer.user_id, True, guild_id)
    assert [r.name for r in member.roles if not r.is_default()] == ["newcomer"]  # its managed role
    assert member.roles[-1].is_bot_managed()
    # later events on the same connections, to know the earlier ones were all handled
    ada = server.create_user("ada")
    own_marker = asyncio.ensure_future(client.wait_for("member_join"))
    quiet_marker = asyncio.ensure_future(quiet.wait_for("message"))
    await ada.join(guild_id)
    assert (await asyncio.wait_for(own_marker, 10)).id == ada.id
    await ada.send(server.store.guilds[guild_id].system_channel_id, "marker")
    await asyncio.wait_for(quiet_marker, 10)
    assert quiet_joins == []  # GUILD_MEMBER_ADD needs the members intent
    assert [m.id for m in own_joins] == [ada.id]  # nothing about itself
    assert client.get_guild(other_guild) is not None


async def test_own_member_updates_arrive_without_the_members_intent(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    """GUILD_MEMBER_UPDATE needs GUILD_MEMBERS, except for the bot's own member (gateway docs,
    "Caveats"): a bot without the intent sees its own nick change, not a person's."""
    client = await connect(bot, intents=discord.Intents.default())
    ada = server.create_user("ada")
    await ada.join(guild_id)
    events: list[str] = []

    @client.event
    async def on_socket_event_type(event_type: str) -> None:  # every dispatch, cached or not
        events.append(event_type)

    guild = client.get_guild(guild_id)
    assert guild is not None
    own = asyncio.ensure_future(client.wait_for("member_update"))
    await client.http.edit_member(guild_id, ada.id, nick="Ada")  # the owner renames ada: not seen
    await guild.me.edit(nick="helper")  # PATCH /guilds/{guild_id}/members/@me
    _, after = await asyncio.wait_for(own, 10)
    assert (after.id, after.nick) == (bot.user_id, "helper")
    assert events.count("GUILD_MEMBER_UPDATE") == 1
