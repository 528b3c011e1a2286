"""A user's bot with a database attached, on the local server, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import discord
from discord.ext import commands

import discobase
from discobase.local import BotAccount, LocalDiscord


class UserBot(commands.Bot):
    """A bot as its developer writes it: non-privileged intents, a database attached
    in ``setup_hook``, its own slash command and listener."""

    def __init__(self, *databases: discobase.Database, admin: bool = True) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.databases = databases
        self.admin = admin
        #: The people's messages its own ``on_message`` got, in order (their content is empty:
        #: no privileged intent).
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()

        @self.tree.command(name="ping", description="Answers pong")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

    async def setup_hook(self) -> None:
        for db in self.databases:
            await db.attach(self)
        if self.admin:
            await self.load_extension("discobase.cogs.admin")
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:  # not its database's messages, which the bot writes
            self.messages.put_nowait(message)

    async def next_message(self, *, timeout: float = 15.0) -> discord.Message:
        """The oldest message ``on_message`` got that no call returned yet (the timeout is
        a safety bound against a hang, not a measure of speed)."""
        async with asyncio.timeout(timeout):
            return await self.messages.get()


async def start(server: LocalDiscord, account: BotAccount, bot: commands.Bot) -> asyncio.Task[None]:
    """Log ``bot`` in and run its gateway connection as a task (what ``bot.start()`` does)."""
    server.attach(bot)
    await bot.login(account.token)
    return asyncio.create_task(bot.connect(reconnect=True))


async def stop(bot: commands.Bot, task: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` holds (checked after each event-loop turn; the
    timeout is a safety bound against a hang, not a measure of speed)."""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)
