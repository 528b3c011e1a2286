"""``enforce_nonce``: a create retried with the same nonce returns the stored
message, also after the local server restarted in between."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from discobase.local import LocalDiscord


async def create(server: LocalDiscord, token: str, channel_id: int, nonce: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.api_url}/channels/{channel_id}/messages",
            headers={"Authorization": f"Bot {token}"},
            json={"content": "once", "nonce": nonce, "enforce_nonce": True},
        ) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def test_a_nonce_is_remembered_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "local.sqlite3"
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.create_bot("nonce-bot")
        token = bot.token
        guild = server.create_guild("nonces", members=[bot])
        channel = server.create_channel(guild, "stored")  # its id
        first = await create(server, token, channel, "n-1")
        assert (await create(server, token, channel, "n-1"))["id"] == first["id"]
    async with LocalDiscord(data, rate_limits="off") as server:
        again = await create(server, token, channel, "n-1")
        assert again["id"] == first["id"]
        assert len(server.store.history(channel, limit=100)) == 1
        other = await create(server, token, channel, "n-2")
        assert other["id"] != first["id"]
