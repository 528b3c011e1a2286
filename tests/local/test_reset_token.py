"""``LocalDiscord.reset_token``: a bot's token replaced, as the developer portal's "Reset Token" does."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from discobase.exceptions import LocalServerError
from discobase.local import LocalDiscord


async def status_of(server: LocalDiscord, token: str) -> int:
    """The status of ``GET /users/@me`` with ``token``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.api_url}/users/@me", headers={"Authorization": f"Bot {token}"}) as response,
    ):
        return response.status


async def test_a_reset_token_replaces_the_old_one_and_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "local.sqlite3"
    async with LocalDiscord(data, rate_limits="off") as server:
        bot = server.create_bot("resetting")
        old = bot.token
        new = server.reset_token(bot)
        assert new != old
        assert new.split(".")[0] == old.split(".")[0]  # Discord's shape: base64 of the user id first
        assert await status_of(server, old) == 401
        assert await status_of(server, new) == 200
        assert server.reset_token(bot, "chosen.token-1") == "chosen.token-1"
        assert await status_of(server, new) == 401
    async with LocalDiscord(data, rate_limits="off") as server:
        assert await status_of(server, "chosen.token-1") == 200
        bot = server.bot("resetting")
        assert bot is not None
        assert server.reset_token(bot, "chosen.token-1") == "chosen.token-1"  # the same token again is fine
        assert await status_of(server, "chosen.token-1") == 200


def test_a_bad_token_or_another_bots_token_is_refused() -> None:
    server = LocalDiscord()
    try:
        first = server.create_bot("first")
        second = server.create_bot("second")
        for bad in ("", "with space", "tab\there", "é" * 3, "x" * 201):
            with pytest.raises(LocalServerError, match="printable ASCII"):
                server.reset_token(first, bad)
        with pytest.raises(LocalServerError, match="belongs to another bot"):
            server.reset_token(first, second.token)
    finally:
        server.store.close()
