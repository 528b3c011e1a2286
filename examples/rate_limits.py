"""Discord's rate limits on the local server: the 5 messages per 5 s bucket of a channel.

Three servers run side by side. With rate-limit headers (the default, as on
Discord) discord.py sees ``X-RateLimit-Remaining: 0`` and waits before the 6th
message, so no request is refused. With ``ratelimit_headers=False`` it cannot
know, so the 6th message meets a real 429; discord.py sleeps ``retry_after``
and retries. Both end with all 8 messages in order after about 5 seconds. The
third server uses a custom profile: 2 messages per second in a channel.
Run it with ``python examples/rate_limits.py``.
"""

from __future__ import annotations

import asyncio
import time

import discord

from discobase.local import LocalDiscord, RateLimitProfile

COUNT = 8


async def send_burst(name: str, profile: RateLimitProfile, ratelimit_headers: bool) -> str:
    async with LocalDiscord(rate_limits=profile, ratelimit_headers=ratelimit_headers) as server:
        bot = server.create_bot("busy-bot")
        guild_id = server.create_guild("limits", owner=bot)
        client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.1)
        server.attach(client)
        async with client:
            await client.login(bot.token)
            runner = asyncio.create_task(client.connect())
            await asyncio.wait_for(client.wait_until_ready(), timeout=15)
            guild = client.get_guild(guild_id)
            assert guild is not None
            channel = guild.text_channels[0]
            started = time.monotonic()
            for i in range(COUNT):
                await channel.send(f"message {i}")
            elapsed = time.monotonic() - started
            arrived = [m.content async for m in channel.history(limit=None, oldest_first=True)]
            await client.close()
            await runner
        assert arrived == [f"message {i}" for i in range(COUNT)]
        attempts = server.stats()["POST /channels/{channel_id}/messages"]
        refused = server.ratelimiter.invalid_count(str(bot.user_id))  # 401s, 403s and 429s
        headers = "on " if ratelimit_headers else "off"
        timing = f"{COUNT} messages in {elapsed:.1f} s"
        return f"{name}, headers {headers}: {timing}, {attempts} attempts, {refused} 429s"


async def main() -> None:
    discord_profile = RateLimitProfile.discord()  # what rate_limits="discord" means
    two_per_second = discord_profile.with_bucket("message_write", limit=2, per=1.0)
    results = await asyncio.gather(
        send_burst("discord", discord_profile, ratelimit_headers=True),
        send_burst("discord", discord_profile, ratelimit_headers=False),
        send_burst("2 per 1 s", two_per_second, ratelimit_headers=False),
    )
    print("\n".join(results))


if __name__ == "__main__":
    asyncio.run(main())
