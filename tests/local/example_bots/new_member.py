"""discord.py's ``examples/new_member.py`` (MIT, Rapptz): welcomes members in the system channel."""

from __future__ import annotations

import discord


class MyClient(discord.Client):
    async def on_member_join(self, member: discord.Member) -> None:
        guild = member.guild
        if guild.system_channel is not None:
            await guild.system_channel.send(f"Welcome {member.mention} to {guild.name}!")


def make_client() -> MyClient:
    intents = discord.Intents.default()
    intents.members = True
    return MyClient(intents=intents)
