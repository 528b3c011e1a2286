"""A person drives a bot on the local server: a message, a reply, a reaction, a slash command,
and an admin who takes the command away from them (command permissions)."""

import asyncio

import discord
from discord import app_commands

from discobase.local import InteractionRefused, LocalDiscord, Permission


class Greeter(discord.Client):
    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(guild_id)

        @self.tree.command(guild=self.guild)
        async def add(interaction: discord.Interaction, a: int, b: int) -> None:
            """Adds two numbers."""
            await interaction.response.send_message(f"{a} + {b} = {a + b}", ephemeral=True)

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild)

    async def on_message(self, message: discord.Message) -> None:
        if message.content == "!hello":
            reply = await message.reply("Hello!")
            await reply.add_reaction("👋")


async def main() -> None:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("greeter")
        guild_id = server.create_guild("my server", owner=bot)
        channel_id = server.store.guilds[guild_id].system_channel_id
        assert channel_id is not None  # create_guild makes #general, the guild's system channel
        client = Greeter(guild_id)
        server.attach(client)
        await client.login(bot.token)
        runner = asyncio.create_task(client.connect())
        await client.wait_until_ready()

        ada = server.create_user("ada")  # a person, not a bot
        await ada.join(guild_id)  # the bot's clients get GUILD_MEMBER_ADD

        answered = asyncio.ensure_future(client.wait_for("reaction_add"))
        sent = await ada.send(channel_id, "!hello")
        await answered  # the bot replied, then reacted to its reply
        reply = server.store.history(channel_id, limit=1)[0]
        payload = server.payloads.message(reply)
        print("reply:", reply.content, "to", payload["referenced_message"]["content"])
        print("pings ada:", reply.mentions == [ada.id])
        print("replied to !hello:", payload["message_reference"]["message_id"] == sent["id"])

        result = await ada.invoke(guild_id, "/add 2 3")  # what ada sees of the answer
        print("slash command:", result.content, "| ephemeral:", result.ephemeral)
        assert reply.mentions == [ada.id]
        assert result.content == "2 + 3 = 5"
        assert result.ephemeral

        # an admin (MANAGE_GUILD and MANAGE_ROLES) denies ada the command, as in Server Settings >
        # Integrations; this goes through PUT .../commands/{id}/permissions with a Bearer token
        admins = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
        grace = server.create_user("grace")
        await grace.join(guild_id, roles=[admins])
        await grace.edit_command_permissions(
            bot, guild_id, "add", [{"id": ada.id, "type": 2, "permission": False}]
        )
        refused = False
        try:
            await ada.invoke(guild_id, "/add 2 3")
        except InteractionRefused:  # Discord's client no longer offers ada the command
            refused = True
        print("ada may use /add after the admin's edit:", not refused)
        print("grace still may:", (await grace.invoke(guild_id, "/add 1 1")).content)
        assert refused

        await client.close()
        await runner


asyncio.run(main())
