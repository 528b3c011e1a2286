"""discord.py's ``examples/reply.py`` (MIT, Rapptz): replies "Hello!" to ``!hello``."""

from __future__ import annotations

import discord


class MyClient(discord.Client):
    user: discord.ClientUser

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id == self.user.id:
            return
        if message.content.startswith("!hello"):
            await message.reply("Hello!", mention_author=True)


def make_client() -> MyClient:
    intents = discord.Intents.default()
    intents.message_content = True
    return MyClient(intents=intents)
