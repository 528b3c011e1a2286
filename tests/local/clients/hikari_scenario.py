"""A hikari bot against the local server, run by ``test_client_libraries.py`` in hikari's own
environment: ``hikari_scenario.py API_URL TOKEN SECOND_TOKEN GUILD_ID SECOND_ID``.

It logs in over the gateway, makes a category whose overwrites let only the second bot (and
the owner) send and a channel in it, sends, uploads, edits, reads history, reacts, sees a
second bot's message as a gateway event, sends a burst that runs into the per-channel rate
limit, survives a gateway close (resume) and prints one JSON object with what it saw.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
import hikari


async def main(api: str, token: str, second_token: str, guild_id: int, second_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bot = hikari.GatewayBot(
        token,
        rest_url=api,
        intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.MESSAGE_CONTENT,
        banner=None,
        logs="WARNING",
    )
    await bot.start()
    try:
        me = bot.get_me()
        out["me"] = int(me.id) if me else None
        guild = await bot.rest.fetch_guild(guild_id)
        out["guild_name"] = guild.name
        category = await bot.rest.create_guild_category(
            guild_id,
            "Hikari Things",
            permission_overwrites=[
                hikari.PermissionOverwrite(
                    id=guild_id,
                    type=hikari.PermissionOverwriteType.ROLE,
                    deny=hikari.Permissions.SEND_MESSAGES,
                ),
                hikari.PermissionOverwrite(
                    id=second_id,
                    type=hikari.PermissionOverwriteType.MEMBER,
                    allow=hikari.Permissions.SEND_MESSAGES,
                ),
            ],
        )
        channel = await bot.rest.create_guild_text_channel(guild_id, "Hikari Chat", category=category.id)
        out["channel"] = {"id": int(channel.id), "name": channel.name, "parent": int(channel.parent_id or 0)}
        out["category_overwrites"] = [
            [int(o.id), int(o.type), int(o.allow), int(o.deny)]
            for o in category.permission_overwrites.values()
        ]
        sent = await bot.rest.create_message(channel.id, "hello from hikari")
        upload = await bot.rest.create_message(
            channel.id, "a file", attachment=hikari.Bytes(b"hikari bytes", "notes.txt")
        )
        out["attachment"] = {"filename": upload.attachments[0].filename, "size": upload.attachments[0].size}
        async with aiohttp.ClientSession() as session, session.get(upload.attachments[0].url) as response:
            out["attachment_body"] = (await response.read()).decode()
        edited = await bot.rest.edit_message(channel.id, sent.id, "edited by hikari")
        out["edited"] = {"content": edited.content, "has_edited_at": edited.edited_timestamp is not None}
        history = [m async for m in bot.rest.fetch_messages(channel.id)]
        out["history"] = [m.content for m in history]
        await bot.rest.add_reaction(channel.id, sent.id, "👍")
        reactors = [int(u.id) async for u in bot.rest.fetch_reactions_for_emoji(channel.id, sent.id, "👍")]
        out["reactors"] = reactors

        # an event caused by a second client (a second bot, REST only)
        waiter = asyncio.ensure_future(
            bot.wait_for(
                hikari.GuildMessageCreateEvent,
                timeout=30,
                predicate=lambda e: e.channel_id == channel.id and e.author_id != bot.get_me().id,  # type: ignore[union-attr]
            )
        )
        rest_app = hikari.RESTApp(url=api)
        await rest_app.start()
        try:
            async with rest_app.acquire(second_token, hikari.TokenType.BOT) as second:
                await second.create_message(channel.id, "hello from the second bot")
        finally:
            await rest_app.close()
        event = await waiter
        out["event_from_second"] = {"content": event.content, "author": int(event.author_id)}

        # a burst over the channel's message bucket: hikari waits on the 429s / headers
        burst = await asyncio.gather(*(bot.rest.create_message(channel.id, f"burst {i}") for i in range(8)))
        out["burst"] = sorted(m.content or "" for m in burst)

        # the server closes every gateway connection with 4000: hikari resumes
        resumed = asyncio.ensure_future(bot.wait_for(hikari.ShardResumedEvent, timeout=30))
        base = api.split("/api/")[0]
        close_url = f"{base}/_local/gateway/close"
        async with (
            aiohttp.ClientSession() as session,
            session.post(close_url, json={"code": 4000}) as response,
        ):
            out["closed_sessions"] = (await response.json())["sessions"]
        await resumed
        after = asyncio.ensure_future(
            bot.wait_for(
                hikari.GuildMessageCreateEvent, timeout=30, predicate=lambda e: e.content == "after resume"
            )
        )
        await bot.rest.create_message(channel.id, "after resume")
        out["after_resume"] = (await after).content
    finally:
        await bot.close()
    return out


if __name__ == "__main__":
    api_url, bot_token, second_bot_token, guild, second_bot = sys.argv[1:6]
    result = asyncio.run(main(api_url, bot_token, second_bot_token, int(guild), int(second_bot)))
    print("RESULT " + json.dumps(result), flush=True)
