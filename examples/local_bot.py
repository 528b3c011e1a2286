"""A discord.py bot against discobase's embedded local Discord server.

Starts the server, connects an unmodified discord.py client, creates a
channel, posts messages (one with a file), reads them back, edits and
deletes one, prints what happened and exits 0. No Discord account needed.

Run it with ``make demo`` (or ``python examples/local_bot.py``).
"""

from __future__ import annotations

import asyncio
import io

import discord

from discobase.local import LocalDiscord


async def main() -> None:
    async with LocalDiscord(rate_limits="discord") as server:
        bot = server.create_bot("demo-bot")
        guild_id = server.create_guild("demo server", owner=bot)
        print(f"local Discord server at {server.url} (guild {guild_id})")

        intents = discord.Intents.default()
        intents.message_content = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.1)
        server.attach(client)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        @client.event
        async def on_ready() -> None:
            try:
                guild = client.get_guild(guild_id)
                assert guild is not None, "the guild should be in the client's cache"
                print(f"logged in as {client.user} and sees guild {guild.name!r}")
                channel = await guild.create_text_channel("Demo Channel")
                print(f"created channel #{channel.name} ({channel.id})")
                first = await channel.send("hello from discord.py")
                await channel.send("a file", file=discord.File(io.BytesIO(b"discobase" * 100), "data.bin"))
                await first.edit(content="hello, edited")
                history = [m async for m in channel.history(limit=10, oldest_first=True)]
                for message in history:
                    files = ", ".join(f"{a.filename} ({a.size} bytes)" for a in message.attachments)
                    print(f"  read back: {message.content!r}" + (f" + {files}" if files else ""))
                data = await history[1].attachments[0].read()
                assert data == b"discobase" * 100, "the attachment should download byte-identical"
                await first.delete()
                left = [m async for m in channel.history(limit=10)]
                print(f"deleted one message; {len(left)} left in #{channel.name}")
                done.set_result(None)
            except BaseException as error:  # hand any failure to main()
                done.set_exception(error)

        async with client:
            await client.login(bot.token)
            runner = asyncio.create_task(client.connect())
            try:
                await asyncio.wait_for(done, timeout=30)
            finally:
                await client.close()
                await asyncio.gather(runner, return_exceptions=True)
        stats = server.stats()
        print("requests per route:")
        for route, count in sorted(stats.items()):
            print(f"  {count:3}  {route}")


if __name__ == "__main__":
    asyncio.run(main())
