"""A leveling bot: members earn XP by talking; /rank shows a member's level, /top the leaderboard.

The XP is stored with discobase in the bot's own server, through the bot's own
connection: the database is attached in ``setup_hook``, so there is one login
and one gateway session. Only non-privileged intents are used: counting
messages needs no message content, and the prefix command is a mention
(``@leveler rank``), whose content Discord shows a bot without the privileged
message content intent. The leaderboard has a Refresh button that keeps working
after a restart (a persistent view).

Run it for real with ``DISCORD_TOKEN=... python examples/leveling_bot.py``
(the bot must be in a server named "leveling"); without a token it runs a
demo on discobase's local Discord server, where two people chat and ask for
their rank.
"""

from __future__ import annotations

import asyncio
import math
import os
import time

import discord
from discord import app_commands
from discord.ext import commands

import discobase
from discobase import col
from discobase.model import asc, desc

GUILD = "leveling"
XP_PER_MESSAGE = 10
db = discobase.Database(GUILD)


# --8<-- [start:model]
@db.table
class Level(discobase.Table):
    user_id: int = discobase.Field(unique=True)
    name: str
    xp: int = 0
    messages: int = 0


# --8<-- [end:model]


def level_of(xp: int) -> int:
    """Level n needs 100·n² XP: 100 for level 1, 400 for level 2, 900 for level 3..."""
    return math.isqrt(xp // 100)


def xp_lock(client: discord.Client) -> asyncio.Lock:
    """The lock of the XP: discord.py runs handlers concurrently, and an update reads, then
    writes. Handlers take it in the order their events came, so a /rank or /top that comes
    after a message counts that message."""
    assert isinstance(client, LevelingBot)
    return client.xp_lock


async def rank_text(user: discord.abc.User) -> str | None:
    """The member's level, XP and place; ``None`` if they have no XP yet."""
    entry = await Level.find_unique(user_id=user.id, strict=False)
    if entry is None:
        return None
    position = await Level.query(col(Level.xp) > entry.xp).count() + 1
    return f"{user.display_name}: level {level_of(entry.xp)}, {entry.xp} XP, #{position} on the server"


# --8<-- [start:top]
async def leaderboard() -> str:
    leaders = await Level.query().sort(desc(Level.xp), asc(Level.name)).limit(10).to_list()
    lines = [f"{i}. {e.name}: level {level_of(e.xp)} ({e.xp} XP)" for i, e in enumerate(leaders, start=1)]
    return "\n".join(lines) or "Nobody has XP yet."


# --8<-- [end:top]


class Leaderboard(discord.ui.View):
    """The Refresh button under /top. Persistent (no timeout, a fixed ``custom_id``, added
    in ``setup_hook``): it works on leaderboards posted before the bot restarted."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Refresh", custom_id="leveling:top:refresh", style=discord.ButtonStyle.grey)
    async def refresh(self, interaction: discord.Interaction, button: discord.ui.Button[Leaderboard]) -> None:
        async with xp_lock(interaction.client):
            text = await leaderboard()
        await interaction.response.edit_message(content=text, view=self)


class LevelingBot(commands.Bot):
    def __init__(self, *, cooldown: float = 60.0) -> None:
        # guilds and guild_messages (in the defaults) are all a database needs
        super().__init__(command_prefix=commands.when_mentioned, intents=discord.Intents.default())
        self.cooldown = cooldown  # seconds between two messages that earn XP, per member
        self.last_xp: dict[int, float] = {}
        self.xp_lock = asyncio.Lock()  # one XP update at a time (see xp_lock)
        self.tree.add_command(rank)
        self.tree.add_command(top)
        self.add_command(rank_command)

    # --8<-- [start:setup]
    async def setup_hook(self) -> None:
        # returns at once; the database opens when the guild arrives (after setup_hook)
        await db.attach(self)
        self.add_view(Leaderboard())  # clicks on leaderboards sent before a restart
        await self.tree.sync()

    # --8<-- [end:setup]

    async def close(self) -> None:
        if db.open:  # write the last snapshots while the connection is still there
            await db.close()
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        context = await self.get_context(message)
        if context.valid:  # "@leveler rank": a command, which earns no XP
            await self.invoke(context)
            return
        await db.wait_ready()  # only waits for the first messages after start-up
        now = time.monotonic()
        if now - self.last_xp.get(message.author.id, -math.inf) < self.cooldown:
            return
        self.last_xp[message.author.id] = now
        async with xp_lock(self):
            entry = await Level.find_unique(user_id=message.author.id, strict=False)
            if entry is None:
                entry = await Level(user_id=message.author.id, name=message.author.display_name).save()
            before = level_of(entry.xp)
            entry.xp += XP_PER_MESSAGE
            entry.messages += 1
            await entry.update()
            if level_of(entry.xp) > before and isinstance(message.channel, discord.TextChannel):
                await message.channel.send(f"{message.author.mention} reached level {level_of(entry.xp)}!")


@commands.command(name="rank")
async def rank_command(ctx: commands.Context[LevelingBot], member: discord.Member | None = None) -> None:
    """@leveler rank [member]: the same as /rank, as a reply."""
    who = member or ctx.author
    async with xp_lock(ctx.bot):
        text = await rank_text(who)
    await ctx.reply(text or f"{who.display_name} has no XP yet.")


@app_commands.command(description="Your XP and level (or another member's)")
@app_commands.describe(member="Whose rank to show")
async def rank(interaction: discord.Interaction, member: discord.Member | None = None) -> None:
    who = member or interaction.user
    async with xp_lock(interaction.client):
        text = await rank_text(who)
    if text is None:  # only the member who asked sees it
        await interaction.response.send_message(f"{who.display_name} has no XP yet.", ephemeral=True)
    else:
        await interaction.response.send_message(text)


@app_commands.command(description="The members with the most XP")
async def top(interaction: discord.Interaction) -> None:
    async with xp_lock(interaction.client):
        text = await leaderboard()
    await interaction.response.send_message(text, view=Leaderboard())


async def demo() -> None:
    """The bot on the local server: ada and bob chat, then ask for /rank and /top."""
    from discobase.local import LocalDiscord

    async with LocalDiscord(rate_limits="off") as server:
        account = server.create_bot("leveler")
        guild_id = server.create_guild(GUILD, owner=account)
        channel_id = server.store.guilds[guild_id].system_channel_id
        assert channel_id is not None  # a new guild has a system channel
        bot = LevelingBot(cooldown=0.0)
        server.attach(bot)  # point discord.py at the local server
        await bot.login(account.token)  # bot.start() is login() (which runs setup_hook), then connect()
        runner = asyncio.create_task(bot.connect())
        await db.wait_ready()
        ada, bob = server.create_user("ada"), server.create_user("bob")
        for person in (ada, bob):
            await person.join(guild_id)
        for person in [ada] * 12 + [bob] * 4:
            await person.send(channel_id, "hello")
        # a rank waits for the messages before it to be counted (the bot's XP lock)
        print("rank:", (await ada.invoke(guild_id, "/rank", channel=channel_id)).content)
        print("rank of bob:", (await ada.invoke(guild_id, f"/rank {bob.id}", channel=channel_id)).content)
        top = (await bob.invoke(guild_id, "/top", channel=channel_id)).content or ""
        print("top:", top.replace("\n", " | "))
        announced = [
            m.content for m in server.store.history(channel_id, limit=100) if "reached level" in m.content
        ]
        print("level-ups announced:", len(announced))
        stats = server.stats()
        print("logins:", stats["GET /users/@me"], "gateway sessions:", stats["GATEWAY IDENTIFY"])
        await db.close()  # the database closes; the bot goes on until it is closed
        print("bot still running after db.close():", not bot.is_closed())
        await bot.close()
        await runner
        for person in (ada, bob):
            await person.close()


if __name__ == "__main__":
    token = os.environ.get("DISCORD_TOKEN")
    if token:
        LevelingBot().run(token)
    else:
        asyncio.run(demo())
