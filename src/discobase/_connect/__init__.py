"""Connecting a database: token and environment, the discord.py bot, the local servers.

A standalone local server or the embedded one; the only importer of :mod:`discobase.local`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from discobase.exceptions import NotConnectedError
from discobase.storage.discord_transport import DiscordTransport
from discobase.storage.transport import Transport

if TYPE_CHECKING:
    from discobase._connect.embedded import EmbeddedServer

__all__ = ["ConnectMixin", "EmbeddedServerWarning"]


class EmbeddedServerWarning(UserWarning):
    """discobase started its embedded local Discord server (no token was given)."""


class ConnectMixin:
    """How a :class:`~discobase.database.Database` reaches Discord."""

    name: str
    server_url: str | None
    data_dir: Path | None
    _transport: Transport | None
    _bot: commands.Bot | None
    _embedded: EmbeddedServer | None

    @property
    def bot(self) -> commands.Bot:
        """The discord.py ``Bot`` that talks to Discord (made on first use)."""
        if self._bot is None:
            intents = discord.Intents.none()
            intents.guilds = True
            intents.guild_messages = True
            intents.message_content = True
            self._bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.5)
            self._bot.db = self  # type: ignore[attr-defined]
        return self._bot

    async def _resolve_transport(self, token: str | None) -> Transport:
        if self._transport is not None:
            return self._transport
        token = token or os.environ.get("DISCOBASE_TOKEN") or None
        server_url = self.server_url or os.environ.get("DISCOBASE_API_URL") or None
        if server_url is not None:
            if token is None:
                raise NotConnectedError(
                    f"a token is needed to use the local server at {server_url}: "
                    "'discobase local serve' prints one (pass it to conn(), or set DISCOBASE_TOKEN)"
                )
            from discobase.local.server import attach

            attach(self.bot, server_url)
        elif token is None:
            token = await self._start_embedded_server()
        transport = DiscordTransport(self.bot, token)
        self._transport = transport
        return transport

    async def _start_embedded_server(self) -> str:
        """Serve the data directory's embedded server, or join the process that
        serves it (see :mod:`discobase._connect.embedded`); returns the bot's token."""
        from discobase._connect.embedded import DATA_FILE, EmbeddedServer

        directory = self.data_dir or Path(os.environ.get("DISCOBASE_DATA_DIR", ".discobase"))
        warnings.warn(
            "no Discord token given: discobase uses its embedded local Discord server, "
            f"persisted in {directory / DATA_FILE}",
            EmbeddedServerWarning,
            stacklevel=4,
        )
        self._embedded = EmbeddedServer(directory)
        return await self._embedded.join(self.name, self.bot)
