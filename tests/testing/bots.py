"""Small bots the toolkit's tests drive."""

from __future__ import annotations

import asyncio

import discord
from discord.ext import commands


def intents() -> discord.Intents:
    chosen = discord.Intents.default()
    chosen.message_content = True
    chosen.members = True
    return chosen


class EchoBot(commands.Bot):
    """``!echo <text>`` answers ``text``; ``!twice`` answers twice; ``!react`` reacts with 👍;
    ``!quiet`` answers nothing; ``!boom`` answers, then raises;
    ``!whisper`` answers in a DM; ``/add a b`` answers
    ``a + b = c`` with a button ``again``; a new member is welcomed in ``#general``."""

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=intents())
        self.joined: list[int] = []

        @self.command()
        async def echo(ctx: commands.Context[EchoBot], *, text: str) -> None:
            await ctx.send(text)

        @self.command()
        async def twice(ctx: commands.Context[EchoBot]) -> None:
            await ctx.send("one")
            await ctx.send("two")

        @self.command()
        async def react(ctx: commands.Context[EchoBot]) -> None:
            await ctx.message.add_reaction("👍")

        @self.command()
        async def quiet(ctx: commands.Context[EchoBot]) -> None:
            return None

        @self.command()
        async def whisper(ctx: commands.Context[EchoBot]) -> None:
            await ctx.author.send("psst")

        @self.command()
        async def boom(ctx: commands.Context[EchoBot]) -> None:
            await ctx.send("about to fail")
            raise ZeroDivisionError("division by zero")

        @self.tree.command()
        async def add(interaction: discord.Interaction, a: int, b: int) -> None:
            """Adds two numbers."""
            view = discord.ui.View()
            view.add_item(discord.ui.Button(label="again", custom_id="again"))
            await interaction.response.send_message(f"{a} + {b} = {a + b}", view=view)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_member_join(self, member: discord.Member) -> None:
        self.joined.append(member.id)
        if member.guild.system_channel is not None:
            await member.guild.system_channel.send(f"welcome {member.name}")


class SlowStarter(discord.Client):
    """A client whose ``setup_hook`` waits for ``release`` (to test the ready timeout)."""

    def __init__(self, release: asyncio.Event) -> None:
        super().__init__(intents=intents())
        self.release = release

    async def setup_hook(self) -> None:
        await self.release.wait()


class Ticker(discord.Client):
    """A client with a task that never ends by itself (to test leftover tasks)."""

    def __init__(self) -> None:
        super().__init__(intents=intents())
        self.started = asyncio.Event()

    async def on_ready(self) -> None:
        self.started.set()
        await asyncio.Event().wait()  # an event handler still running at the end of the test
