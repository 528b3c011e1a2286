"""discobase inside your bot: the database is attached in setup_hook and shares the bot's connection."""

import asyncio

import discord
from discord.ext import commands

import discobase
from discobase.local import LocalDiscord

db = discobase.Database("my server")


@db.table
class Note(discobase.Table):
    author: int
    text: str


class MyBot(commands.Bot):
    def __init__(self) -> None:
        # guilds and guild_messages are all a database needs (both in the defaults, neither privileged)
        super().__init__(command_prefix="!", intents=discord.Intents.default())

    async def setup_hook(self) -> None:
        await db.attach(self)  # returns at once: the database opens when its guild arrives
        await self.load_extension("discobase.cogs.admin")  # the /db commands (optional)
        await self.tree.sync()

    async def on_ready(self) -> None:
        await db.wait_ready()  # outside setup_hook, waiting is fine
        print("database open in", db.guild.name if db.guild else None, "| bot:", self.user)


async def main() -> None:
    # On Discord: `await MyBot().start(token)`. Here, the local server stands in for it.
    async with LocalDiscord(rate_limits="off") as server:
        account = server.create_bot("my-bot")
        server.create_guild("my server", owner=account)
        bot = MyBot()
        server.attach(bot)
        async with bot:
            runner = asyncio.create_task(bot.start(account.token))
            await bot.wait_until_ready()
            await db.wait_ready()
            note = await Note(author=1, text="hello").save()
            print("saved note", note.record_id == (await Note.find(text="hello"))[0].record_id)
            print("guild is a discord.Guild:", isinstance(db.guild, discord.Guild))
            stats = server.stats()
            print("logins:", stats["GET /users/@me"], "| gateway sessions:", stats["GATEWAY IDENTIFY"])
            await db.close()
            print("bot still running:", not bot.is_closed())
        await runner


asyncio.run(main())
