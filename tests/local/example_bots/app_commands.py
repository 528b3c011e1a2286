"""discord.py's ``examples/app_commands/basic.py`` (MIT, Rapptz): ``/hello``, ``/add`` and the
"Report to Moderators" message context menu, synced to one guild."""

from __future__ import annotations

import discord
from discord import app_commands


class MyClient(discord.Client):
    user: discord.ClientUser

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default())
        self.guild = discord.Object(id=guild_id)
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.tree.copy_global_to(guild=self.guild)
        await self.tree.sync(guild=self.guild)


def make_client(guild_id: int) -> MyClient:
    client = MyClient(guild_id)

    @client.tree.command()
    async def hello(interaction: discord.Interaction) -> None:
        """Says hello!"""
        await interaction.response.send_message(f"Hi, {interaction.user.mention}")

    @client.tree.command()
    @app_commands.describe(first_value="The first value", second_value="The value to add")
    async def add(interaction: discord.Interaction, first_value: int, second_value: int) -> None:
        """Adds two numbers together."""
        await interaction.response.send_message(
            f"{first_value} + {second_value} = {first_value + second_value}"
        )

    @client.tree.context_menu(name="Report to Moderators")
    async def report_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(
            f"Thanks for reporting this message by {message.author.mention} to our moderators.",
            ephemeral=True,
        )

    return client
