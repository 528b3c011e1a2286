"""A small leveling bot: members earn XP by talking (and hear when they reach a new level),
``!rank`` and ``/rank`` show it, and a button under the rank claims a one-time bonus. Its
data is a discobase table.

The bot uses the database; the program that runs it opens the database first:

    async with db.conn(token):
        await LevelingBot().start(token)
"""

from __future__ import annotations

import asyncio

import discord
from discord.ext import commands

import discobase

XP_PER_MESSAGE = 10
XP_PER_LEVEL = 100
BONUS_XP = 50

db = discobase.Database("leveling data")


@db.table
class Level(discobase.Table):
    user_id: int = discobase.Field(unique=True)
    xp: int = 0
    bonus_claimed: bool = False

    @property
    def level(self) -> int:
        return self.xp // XP_PER_LEVEL


async def level_of(user_id: int) -> Level:
    """The user's record, made on first use."""
    found = await Level.find_unique(user_id=user_id, strict=False)
    return found if found is not None else await Level(user_id=user_id).save()


def rank_text(name: str, level: Level) -> str:
    return f"{name} is level {level.level} with {level.xp} XP"


class BonusButton(discord.ui.View):
    """The button under a rank; persistent (``timeout=None``, a fixed ``custom_id``), so it
    keeps working after the bot restarts."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Claim bonus", custom_id="leveling:bonus", style=discord.ButtonStyle.green)
    async def claim(self, interaction: discord.Interaction, button: discord.ui.Button[BonusButton]) -> None:
        assert isinstance(interaction.client, LevelingBot)
        async with interaction.client.xp_lock:
            level = await level_of(interaction.user.id)
            if level.bonus_claimed:
                await interaction.response.send_message("You already claimed your bonus.", ephemeral=True)
                return
            level.xp += BONUS_XP
            level.bonus_claimed = True
            await level.update()
        await interaction.response.send_message(f"+{BONUS_XP} XP! {rank_text(interaction.user.name, level)}")


class LevelingBot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # prefix commands read the messages' text
        super().__init__(command_prefix="!", intents=intents)
        #: XP changes read, then write: one at a time, in the order the events came.
        self.xp_lock = asyncio.Lock()

        @self.command(name="rank")
        async def rank_command(ctx: commands.Context[LevelingBot]) -> None:
            level = await level_of(ctx.author.id)
            await ctx.reply(rank_text(ctx.author.name, level), view=BonusButton())

        @self.tree.command(name="rank", description="Show your level")
        async def rank_slash(interaction: discord.Interaction) -> None:
            async with self.xp_lock:
                level = await level_of(interaction.user.id)
            await interaction.response.send_message(rank_text(interaction.user.name, level), ephemeral=True)

    async def setup_hook(self) -> None:
        self.add_view(BonusButton())  # clicks on buttons sent before a restart still arrive
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        async with self.xp_lock:  # a !rank sees the XP of every message sent before it
            if not message.content.startswith(str(self.command_prefix)):
                level = await level_of(message.author.id)
                before = level.level
                level.xp += XP_PER_MESSAGE
                await level.update()
                if level.level > before:
                    await message.channel.send(f"{message.author.mention} reached level {level.level}!")
            await self.process_commands(message)
