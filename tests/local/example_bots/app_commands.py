"""discord.py's ``examples/app_commands/basic.py`` (MIT, Rapptz): ``/hello``, ``/add``,
``/send``, ``/joined``, the "Show Join Date" user context menu and the "Report to Moderators"
message context menu (which also posts the report to a log channel), synced to one guild."""

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


def make_client(guild_id: int, log_channel_id: int) -> MyClient:
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

    @client.tree.command()
    @app_commands.rename(text_to_send="text")
    @app_commands.describe(text_to_send="Text to send in the current channel")
    async def send(interaction: discord.Interaction, text_to_send: str) -> None:
        """Sends the text into the current channel."""
        await interaction.response.send_message(text_to_send)

    @client.tree.command()
    @app_commands.describe(member="The member you want to get the joined date from")
    async def joined(interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        """Says when a member joined."""
        who = member or interaction.user
        assert isinstance(who, discord.Member)
        assert who.joined_at is not None
        await interaction.response.send_message(f"{who} joined {discord.utils.format_dt(who.joined_at)}")

    @client.tree.context_menu(name="Show Join Date")
    async def show_join_date(interaction: discord.Interaction, member: discord.Member) -> None:
        assert member.joined_at is not None
        await interaction.response.send_message(
            f"{member} joined at {discord.utils.format_dt(member.joined_at)}"
        )

    @client.tree.context_menu(name="Report to Moderators")
    async def report_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(
            f"Thanks for reporting this message by {message.author.mention} to our moderators.",
            ephemeral=True,
        )
        assert interaction.guild is not None
        log_channel = interaction.guild.get_channel(log_channel_id)
        assert isinstance(log_channel, discord.TextChannel)
        embed = discord.Embed(title="Reported Message")
        if message.content:
            embed.description = message.content
        embed.set_author(name=message.author.display_name, icon_url=message.author.display_avatar.url)
        embed.timestamp = message.created_at
        url_view = discord.ui.View()
        url_view.add_item(
            discord.ui.Button(label="Go to Message", style=discord.ButtonStyle.url, url=message.jump_url)
        )
        await log_channel.send(embed=embed, view=url_view)

    return client
