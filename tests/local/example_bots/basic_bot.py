"""discord.py's ``examples/basic_bot.py`` (MIT, Rapptz): a prefix-command bot (``?add``, ``?joined``)."""

from __future__ import annotations

import discord
from discord.ext import commands


def make_bot() -> commands.Bot:
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    bot = commands.Bot(command_prefix="?", description="An example bot", intents=intents)

    @bot.command()
    async def add(ctx: commands.Context[commands.Bot], left: int, right: int) -> None:
        """Adds two numbers together."""
        await ctx.send(str(left + right))

    @bot.command()
    async def joined(ctx: commands.Context[commands.Bot], member: discord.Member) -> None:
        """Says when a member joined."""
        if member.joined_at is None:
            await ctx.send(f"{member} has no join date.")
        else:
            await ctx.send(f"{member} joined {discord.utils.format_dt(member.joined_at)}")

    @bot.group()
    async def cool(ctx: commands.Context[commands.Bot]) -> None:
        """Says if a user is cool."""
        if ctx.invoked_subcommand is None:
            await ctx.send(f"No, {ctx.subcommand_passed} is not cool")

    @cool.command(name="bot")
    async def _bot(ctx: commands.Context[commands.Bot]) -> None:
        """Is the bot cool?"""
        await ctx.send("Yes, the bot is cool.")

    return bot
