"""A plain discord.py program against a standalone ``discobase local serve``.

The server runs in a subprocess (as you would run it in a terminal). This
program does not import discobase: it points discord.py at the server with
the lines the CLI prints, which change discord.py for the whole process, and
restores discord.py's defaults at the end.
Run it with ``python examples/standalone_server.py``.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import discord
import discord.gateway
import discord.http
import yarl


def start_server(data: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Run ``discobase local serve`` on a free port; return it with its URL and bot token."""
    command = [sys.executable, "-m", "discobase.cli", "local", "serve", "--port", "0", "--data", str(data)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    found: dict[str, str] = {}
    for line in server.stdout:  # it prints TOKEN=... and URL=... once it is listening
        key, _, value = line.strip().partition("=")
        if key in ("TOKEN", "URL"):
            found[key] = value
        if len(found) == 2:
            return server, found["URL"], found["TOKEN"]
    raise RuntimeError("discobase local serve exited before printing its URL and token")


async def run_bot(token: str) -> None:
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.1)

    @client.event
    async def on_ready() -> None:
        for guild in client.guilds:
            print(f"{client.user} sees {guild.name!r} with {[c.name for c in guild.text_channels]}")
            message = await guild.text_channels[0].send("hello from plain discord.py")
            print(f"sent message {message.id} to #{guild.text_channels[0].name}")
        await client.close()

    async with client:
        await client.start(token)


def main() -> None:
    default_base = discord.http.Route.BASE
    default_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with tempfile.TemporaryDirectory() as tmp:
        server, url, token = start_server(Path(tmp) / "local.sqlite3")
        try:
            # What `discobase local serve` prints: process-wide, every client follows it.
            discord.http.Route.BASE = f"{url}/api/v10"
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("ws" + url[4:] + "/gateway")
            asyncio.run(run_bot(token))
        finally:
            # Undo it: clients made from now on talk to Discord again.
            discord.http.Route.BASE = default_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = default_gateway
            server.send_signal(signal.SIGINT)  # Ctrl+C: the server stops cleanly
            print(f"server exited with {server.wait(timeout=15)}")


if __name__ == "__main__":
    main()
