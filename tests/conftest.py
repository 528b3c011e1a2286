"""Shared fixtures: a running local Discord server and connected discord.py clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import discord
import pytest

from discobase import testing
from discobase.local import BotAccount, LocalDiscord

ConnectFactory = Callable[..., Awaitable[discord.Client]]


@pytest.fixture
async def server() -> AsyncIterator[LocalDiscord]:
    """A local server without rate limits (tests that need them make their own)."""
    async with LocalDiscord(rate_limits="off", heartbeat_interval=5.0) as srv:
        yield srv


@pytest.fixture
def bot(server: LocalDiscord) -> BotAccount:
    return server.create_bot("test-bot")


@pytest.fixture
def guild_id(server: LocalDiscord, bot: BotAccount) -> int:
    return server.create_guild("test guild", owner=bot)


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return intents


async def start_client(
    server: LocalDiscord,
    bot: BotAccount,
    *,
    intents: discord.Intents | None = None,
    client_class: type[discord.Client] = discord.Client,
) -> discord.Client:
    """Log ``bot`` in on ``server`` and wait until the client is ready (as the shipped
    ``discobase.testing.start_client`` does)."""
    client = client_class(intents=intents or default_intents())
    client._test_task = await testing.start_client(server, client, bot, timeout=15)  # type: ignore[attr-defined]
    return client


async def stop_client(client: discord.Client) -> None:
    await client.close()
    task: asyncio.Task[None] | None = getattr(client, "_test_task", None)
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def connect(server: LocalDiscord) -> AsyncIterator[ConnectFactory]:
    """``await connect(bot)`` → a ready discord.py client; all are closed at teardown."""
    clients: list[discord.Client] = []

    async def factory(account: BotAccount, **kwargs: object) -> discord.Client:
        client = await start_client(server, account, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await stop_client(client)
