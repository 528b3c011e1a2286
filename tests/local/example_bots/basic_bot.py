"""discord.py's ``examples/basic_bot.py`` (MIT, Rapptz): a prefix-command bot (``?add``,
``?roll``, ``?choose``, ``?repeat``, ``?joined``, ``?cool``)."""

from __future__ import annotations

import random

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
    async def roll(ctx: commands.Context[commands.Bot], dice: str) -> None:
        """Rolls a dice in NdN format."""
        try:
            rolls, limit = map(int, dice.split("d"))
        except Exception:
            await ctx.send("Format has to be in NdN!")
            return
        result = ", ".join(str(random.randint(1, limit)) for _ in range(rolls))
        await ctx.send(result)

    @bot.command(description="For when you wanna settle the score some other way")
    async def choose(ctx: commands.Context[commands.Bot], *choices: str) -> None:
        """Chooses between multiple choices."""
        await ctx.send(random.choice(choices))

    @bot.command()
    async def repeat(ctx: commands.Context[commands.Bot], times: int, content: str = "repeating...") -> None:
        """Repeats a message multiple times."""
        for _ in range(times):
            await ctx.send(content)

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
