"""Fault injection: how an unmodified discord.py client copes with a flaky Discord.

A 500 (retried), a 503 (not retried), a storm of 429s (waited out), a dropped
HTTP connection (raised), a dropped gateway connection (resumed, the missed
event replayed), and the seeded randomness that makes all of it repeatable.
Run it with ``python examples/fault_injection.py``.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import discord

from discobase.local import Fault, FaultInjector, LocalDiscord

MESSAGES = "POST /channels/{channel_id}/messages"


async def main() -> None:
    async with LocalDiscord(rate_limits="off", seed=1) as server:
        bot = server.create_bot("flaky-bot")
        guild_id = server.create_guild("faults", owner=bot)
        intents = discord.Intents.default()
        intents.message_content = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.1)
        server.attach(client)
        seen: list[str] = []
        resumed = asyncio.Event()

        @client.event
        async def on_message(message: discord.Message) -> None:
            seen.append(message.content)

        @client.event
        async def on_resumed() -> None:
            resumed.set()

        async with client:
            await client.login(bot.token)
            runner = asyncio.create_task(client.connect())
            await asyncio.wait_for(client.wait_until_ready(), timeout=15)
            guild = client.get_guild(guild_id)
            assert guild is not None
            channel = guild.text_channels[0]

            # 1. One 500 on message create: discord.py sleeps 1 s and retries.
            server.faults.add(Fault(kind="status", status=500, route="POST /channels/*/messages", count=1))
            started = time.monotonic()
            await channel.send("survived a 500")
            print(f"500: sent after {time.monotonic() - started:.1f} s, {server.stats()[MESSAGES]} attempts")

            # 2. A 503 is not among the statuses discord.py retries: it raises at once.
            server.faults.add(Fault(kind="status", status=503, route=MESSAGES, count=1))
            try:
                await channel.send("lost to a 503")
            except discord.DiscordServerError as error:
                print(f"503: raised {type(error).__name__} ({error.text})")

            # 3. A storm of three 429s (with Via, like Discord's): waited out, then answered.
            storm = Fault(kind="ratelimit", route="GET /channels/*/messages", count=3, retry_after=0.2)
            server.faults.add(storm)
            history = [m.content async for m in channel.history(limit=5, oldest_first=True)]
            print(f"429 x3: history still read: {history}")

            # 4. 0.5 s of latency on every request to this channel, then no more faults.
            slow = server.faults.add(Fault(kind="latency", route=f"* /channels/{channel.id}/*", latency=0.5))
            started = time.monotonic()
            await channel.fetch_message(channel.last_message_id or 0)
            print(f"latency: fetch took {time.monotonic() - started:.1f} s")
            server.faults.remove(slow)

            # 5. A connection closed without an answer: discord.py does not retry a POST (aiohttp
            #    retries an idempotent GET once by itself); the caller sees aiohttp's error.
            server.faults.add(Fault(kind="drop", route=MESSAGES, count=1))
            try:
                await channel.send("lost to a dropped connection")
            except aiohttp.ClientError as error:
                print(f"drop: raised {type(error).__name__}")

            # 6. The gateway connection drops instead of delivering the next MESSAGE_CREATE:
            #    discord.py resumes, and the server replays what the client missed.
            server.faults.add(Fault(kind="gateway_drop", route="MESSAGE_CREATE", count=1))
            await channel.send("sent while the gateway drops")
            await asyncio.wait_for(resumed.wait(), timeout=10)
            for _ in range(100):
                if "sent while the gateway drops" in seen:
                    break
                await asyncio.sleep(0.05)
            print(f"gateway drop: resumed, received {seen}")

            await client.close()
            await runner

        stats = server.stats()
        print(f"counters: {stats[MESSAGES]} message creates, {stats.get('GATEWAY RESUME', 0)} resume")

    # The same seed gives the same sequence of fires for faults with 0 < probability < 1.
    def pattern(seed: int) -> str:
        faults = FaultInjector(seed)
        faults.add(Fault(kind="status", route="GET /users/@me", probability=0.5))
        fires = [faults.http_faults("GET", "/users/@me", "/users/@me") for _ in range(20)]
        return "".join("x" if fired else "." for fired in fires)

    print(f"seed 7: {pattern(7)}\nseed 7: {pattern(7)}\nseed 8: {pattern(8)}")


if __name__ == "__main__":
    asyncio.run(main())
