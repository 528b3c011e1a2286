"""``discobase local``: the local Discord-compatible server (serve it, add bots and people to it)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.syntax import Syntax

from discobase import __version__
from discobase.cli.connection import EXIT_USAGE
from discobase.cli.core import app, console, fail, print_json

if TYPE_CHECKING:
    from discobase.local import LocalDiscord
    from discobase.local.people import Person
    from discobase.local.store import BotAccount

__all__ = ["connect_snippet", "local_app"]

local_app = typer.Typer(help="The local Discord-compatible server.", no_args_is_help=True)
app.add_typer(local_app, name="local")

DataOption = Annotated[Path, typer.Option(help="SQLite file that keeps the server's state.", metavar="FILE")]
DEFAULT_DATA = Path(".discobase/local.sqlite3")


@app.command()
def version() -> None:
    """Print the discobase version."""
    console.print(__version__)


def connect_snippet(url: str, token: str) -> str:
    """Plain discord.py (no discobase import) connecting to the local server at ``url``."""
    gateway = "ws" + url[4:] + "/gateway"
    return (
        "import discord, discord.http, discord.gateway, yarl\n"
        f'discord.http.Route.BASE = "{url}/api/v10"\n'
        f'discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("{gateway}")\n'
        "\n"
        "client = discord.Client(intents=discord.Intents.default())\n"
        f'client.run("{token}")\n'
    )


@local_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8765,
    data: DataOption = DEFAULT_DATA,
    rate_limits: Annotated[str, typer.Option(help="'discord' (Discord's limits) or 'off'.")] = "discord",
    bot_name: Annotated[str, typer.Option(help="Name of the bot made on first run.")] = "discobase",
    guild_name: Annotated[str, typer.Option(help="Name of the guild made on first run.")] = "discobase",
    allow_guild_create: Annotated[bool, typer.Option(help="Let bots POST /guilds (legacy).")] = False,
    reset_token: Annotated[
        bool, typer.Option(help="Give the bot a new token (the old one stops working) and print it.")
    ] = False,
) -> None:
    """Run the local Discord-compatible server until interrupted.

    On first run it makes a bot and a guild and prints the bot's token, once:
    the data file keeps only a digest of it, so later runs accept the token but
    cannot print it again (--reset-token makes a new one). It prints the URL and
    a discord.py snippet that connects to it.
    """
    if rate_limits not in ("discord", "off"):
        raise typer.BadParameter("must be 'discord' or 'off'", param_hint="--rate-limits")
    asyncio.run(_serve(host, port, data, rate_limits, bot_name, guild_name, allow_guild_create, reset_token))


async def _serve(
    host: str,
    port: int,
    data: Path,
    rate_limits: str,
    bot_name: str,
    guild_name: str,
    allow_guild_create: bool,
    reset_token: bool = False,
) -> None:
    from discobase.local import LocalDiscord

    # Handle SIGINT/SIGTERM before anything is printed: whoever waits for the
    # TOKEN=/URL= lines may stop the server as soon as it has read them.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    created = [p for p in _data_files(data) if not p.exists()]
    new_directory = not data.parent.exists()
    server = LocalDiscord(
        data,
        host=host,
        port=port,
        rate_limits="discord" if rate_limits == "discord" else "off",
        allow_guild_create=allow_guild_create,
    )
    try:
        await server.start()
    except OSError as error:  # port taken, address not available: say so, no traceback
        server.store.close()
        for path in created:  # a failed start leaves no new data file behind
            path.unlink(missing_ok=True)
        if new_directory:
            with contextlib.suppress(OSError):
                data.parent.rmdir()
        raise typer.BadParameter(
            f"cannot listen on {host}:{port}: {error.strerror or error}", param_hint="'--host' / '--port'"
        ) from None
    try:
        existing = server.bot(bot_name)
        bot = existing or server.create_bot(bot_name)
        if reset_token and existing is not None:
            server.reset_token(bot)
        if not server.store.guilds_by_name(guild_name):
            server.create_guild(guild_name, members=[bot])
        guild_id = server.guild_id(guild_name)
        console.print(
            Panel.fit(
                f"[bold]URL[/]      {server.url}\n"
                f"[bold]gateway[/]  {server.gateway_url}\n"
                f"[bold]bot[/]      {bot.name} ({bot.user_id})\n"
                f"[bold]guild[/]    {guild_name} ({guild_id})\n"
                f"[bold]data[/]     {data}\n"
                f"[bold]limits[/]   {rate_limits}",
                title="discobase local server",
            )
        )
        token = bot.issued_token
        if token is not None:  # made (or reset) by this run: shown this once
            console.print(f"TOKEN={token}", soft_wrap=True, highlight=False)
        else:
            console.print(
                "The bot's token was printed when it was made; the data file keeps only its digest. "
                "Run with --reset-token for a new one.",
                style="dim",
            )
        # What connects discobase (Database.conn() and the discobase command read these).
        console.print(f"DISCOBASE_API_URL={server.url}", soft_wrap=True, highlight=False)
        if token is not None:
            console.print(f"DISCOBASE_TOKEN={token}", soft_wrap=True, highlight=False)
        console.print(f"URL={server.url}", soft_wrap=True, highlight=False)
        # Highlighted but never wrapped: the snippet must stay valid Python when copied.
        snippet = connect_snippet(server.url, token or "<the bot's token>")
        console.print(Syntax(snippet, "python").highlight(snippet.rstrip("\n")), soft_wrap=True)
        console.print("Press Ctrl+C to stop.", style="dim")
        await stop.wait()
    finally:
        await server.stop()


def _data_files(data: Path) -> list[Path]:
    """The data file and SQLite's companions (write-ahead log, shared memory)."""
    return [data, data.with_name(data.name + "-wal"), data.with_name(data.name + "-shm")]


@contextlib.contextmanager
def _stopped_server(data: Path) -> Iterator[LocalDiscord]:
    """The local server's data file opened for editing while the server is not running."""
    from discobase.local import LocalDiscord

    if not data.exists():
        fail(f"no data file {data}: run 'discobase local serve' once first", EXIT_USAGE)
    server = LocalDiscord(data)
    try:
        yield server
    finally:
        server.store.close()


@local_app.command("add-bot")
def add_bot(
    name: Annotated[str, typer.Argument(help="The bot's name.")],
    guild: Annotated[str, typer.Option(help="Guild the bot joins (made if missing).")] = "discobase",
    data: DataOption = DEFAULT_DATA,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make another bot (with its own token) and add it to a guild, e.g. a second
    bot for a test. Stop the server first: the data file has one writer."""
    with _stopped_server(data) as server:
        if server.bot(name) is not None:
            fail(f"a bot named {name!r} exists already", EXIT_USAGE)
        bot = server.create_bot(name)
        guild_id = _guild(server, guild, bot)
        token = bot.issued_token
    if as_json:
        print_json({"name": name, "id": str(bot.user_id), "token": token, "guild_id": str(guild_id)})
        return
    console.print(f"bot {name} ({bot.user_id}) in guild {guild} ({guild_id})")
    console.print(f"TOKEN={token}", soft_wrap=True, highlight=False)


@local_app.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="The person's user name.")],
    guild: Annotated[str, typer.Option(help="Guild the person joins (made if missing).")] = "discobase",
    data: DataOption = DEFAULT_DATA,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a person (not a bot) and add them to a guild, e.g. to test slash
    commands as a member. Stop the server first: the data file has one writer."""
    with _stopped_server(data) as server:
        person = server.create_user(name)
        guild_id = _guild(server, guild, person)
    if as_json:
        print_json({"name": name, "id": str(person.id), "guild_id": str(guild_id)})
        return
    console.print(f"user {name} ({person.id}) in guild {guild} ({guild_id})")


def _guild(server: LocalDiscord, name: str, member: BotAccount | Person) -> int:
    """The id of guild ``name`` (made if missing), with ``member`` added to it."""
    found = server.store.guilds_by_name(name)
    guild_id = found[0].id if found else server.create_guild(name, dispatch=False)
    server.add_member(guild_id, member, dispatch=False)
    return guild_id
