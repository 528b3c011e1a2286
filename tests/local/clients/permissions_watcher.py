"""A discord.py bot in its own process, run by ``test_command_permissions.py``:
``permissions_watcher.py SERVER_URL TOKEN GUILD_ID COMMAND_ID``.

It logs in, prints ``READY``, waits for the APPLICATION_COMMAND_PERMISSIONS_UPDATE that a
person's edit in the test's process sends, reads the command's permissions back with
``GET .../commands/{command_id}/permissions`` and prints ``RESULT {json}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import discord

from discobase.local.server import attach


async def main(url: str, token: str, guild_id: int, command_id: int) -> dict[str, Any]:
    client = discord.Client(intents=discord.Intents.default())
    attach(client, url)
    updated: asyncio.Future[discord.RawAppCommandPermissionsUpdateEvent] = (
        asyncio.get_running_loop().create_future()
    )

    @client.event
    async def on_ready() -> None:
        print("READY", flush=True)

    @client.event
    async def on_raw_app_command_permissions_update(
        event: discord.RawAppCommandPermissionsUpdateEvent,
    ) -> None:
        if not updated.done():
            updated.set_result(event)

    await client.login(token)
    runner = asyncio.create_task(client.connect())
    try:
        event = await asyncio.wait_for(updated, 20)
        assert client.application_id is not None
        fetched = await client.http.get_application_command_permissions(
            client.application_id, guild_id, command_id
        )
        return {
            "event": {
                "command": event.target_id,
                "guild": event.guild.id,
                "permissions": [[p.target.id, p.permission] for p in event.permissions],
            },
            "fetched": fetched,
        }
    finally:
        await client.close()
        await asyncio.gather(runner, return_exceptions=True)


if __name__ == "__main__":
    server_url, bot_token, guild, command = sys.argv[1:5]
    result = asyncio.run(main(server_url, bot_token, int(guild), int(command)))
    print("RESULT " + json.dumps(result), flush=True)
