"""People and interactions with unmodified discord.py over real sockets: components, modals,
autocomplete, the answer rules (once, in the window, while the token lives), permissions,
mentions, DMs, member events, READY's user and GUILD_CREATE's members."""

from __future__ import annotations

import asyncio

import aiohttp
import discord
import pytest
from discord import app_commands

from discobase.local import BotAccount, InteractionRefused, LocalDiscord, Person, PersonRequestError
from discobase.local.store import Command
from tests.conftest import ConnectFactory


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

    class Client(discord.Client):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]
            self.tree = app_commands.CommandTree(self)

    client = await connect(bot, client_class=Client)
    tree: app_commands.CommandTree[discord.Client] = client.tree  # type: ignore[attr-defined]
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
    backend = server._gateway_backend
    without = backend.guild_create_payload(guild_id, bot.user_id, presences=False)
    assert [m["user"]["id"] for m in without["members"]] == [str(bot.user_id)]
    assert without["member_count"] == 2
    with_presences = backend.guild_create_payload(guild_id, bot.user_id, presences=True)
    assert {m["user"]["id"] for m in with_presences["members"]} == {str(bot.user_id), str(ada.id)}
