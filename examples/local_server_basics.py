"""The local server's Python API: bots, a guild, permissions, one attached client.

Run it with ``python examples/local_server_basics.py``; it needs no Discord account.
"""

from __future__ import annotations

import asyncio

import discord

from discobase.local import LocalDiscord, Overwrite, Permission


async def main() -> None:
    async with LocalDiscord() as server:  # in memory, Discord's rate limits
        owner = server.create_bot("owner-bot")
        helper = server.create_bot("helper-bot")
        guild_id = server.create_guild("basics", owner=owner)  # with #general
        # The invite flow: a managed role named after the bot holds these permissions.
        server.add_member(guild_id, helper, permissions=Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES)
        # The @everyone role's id is the guild's id; deny it SEND_MESSAGES here.
        everyone_muted = Overwrite(id=guild_id, type=0, allow=0, deny=Permission.SEND_MESSAGES)
        server.create_channel(guild_id, "announcements", overwrites=[everyone_muted])
        print(f"server at {server.url}, bots: {[bot.name for bot in server.bots]}")

        intents = discord.Intents.default()
        intents.message_content = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.1)
        server.attach(client)  # this client, and only this one, talks to the local server
        async with client:
            await client.login(helper.token)
            runner = asyncio.create_task(client.connect())
            await asyncio.wait_for(client.wait_until_ready(), timeout=15)

            guild = client.get_guild(guild_id)
            assert guild is not None
            print(f"{client.user} sees {guild.name!r}: {sorted(c.name for c in guild.channels)}")
            general = discord.utils.get(guild.text_channels, name="general")
            announcements = discord.utils.get(guild.text_channels, name="announcements")
            assert general is not None
            assert announcements is not None

            await general.send("first")
            await general.send("second")
            print("history:", [m.content async for m in general.history(oldest_first=True)])
            try:
                await announcements.send("not allowed")
            except discord.Forbidden as error:
                print(f"#announcements: {error.status} {error.code} {error.text}")

            await client.close()
            await runner

        print("requests per route:")
        for route, count in sorted(server.stats().items()):
            print(f"  {count:3}  {route}")


if __name__ == "__main__":
    asyncio.run(main())
