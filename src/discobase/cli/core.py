"""The ``discobase`` typer application: global options, running a command, printing results."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from loguru import logger
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from discobase import __version__
from discobase.cli.connection import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CliError,
    Target,
)
from discobase.exceptions import DatabaseLookupError, DiscobaseError, QueryError

__all__ = ["app", "console", "err", "fail", "print_json", "run", "target"]

T = TypeVar("T")


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """No type column for an on/off flag (typer shows ``<bool>`` there, which
    reads as if the flag took a value)."""
    if self.is_flag and not self.count:
        return None
    return _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]  # patched on purpose

app = typer.Typer(
    help="discobase: an async ORM that stores Pydantic models in Discord.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(highlight=False, soft_wrap=True)
"""Results go to stdout."""
err = Console(stderr=True, highlight=False)
"""Errors, notes and progress bars go to stderr, so that stdout stays parsable."""


def _show_version(value: bool) -> None:
    if value:
        console.print(__version__)
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    guild: Annotated[
        str | None,
        typer.Option(
            "--guild",
            "-g",
            envvar="DISCOBASE_GUILD",
            help="The database: its guild's name or id.",
            metavar="GUILD",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="DISCOBASE_TOKEN",
            help="The bot's token (none: the embedded local server of --data-dir).",
            metavar="TOKEN",
            show_envvar=True,
        ),
    ] = None,
    server_url: Annotated[
        str | None,
        typer.Option(
            envvar="DISCOBASE_API_URL",
            help="URL of a local server ('discobase local serve'); needs --token.",
            metavar="URL",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="DISCOBASE_DATA_DIR",
            help="Directory of the embedded local server (default .discobase).",
            metavar="DIR",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="DISCOBASE_KEY", help="The database's encryption key (a passphrase).", metavar="KEY"
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print discobase's log on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """discobase: an async ORM that stores Pydantic models in Discord.

    Connects with --token (a bot on Discord, or on a local server with
    --server-url), or, without a token, to the embedded local server.
    Exit codes: 0 success, 1 error, 2 usage, 3 not found, 4 check failed.
    """
    if ctx.invoked_subcommand is None:  # bare ``discobase``: the help, and success
        console.print(ctx.get_help())
        raise typer.Exit()
    if verbose:
        logger.enable("discobase")
        logger.remove()
        logger.add(sys.stderr, level="DEBUG")
    ctx.obj = Target(guild=guild, token=token, server_url=server_url, data_dir=data_dir, key=key)


def target(ctx: typer.Context) -> Target:
    """The database the global options name."""
    found = ctx.find_root().obj
    return found if isinstance(found, Target) else Target()


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine; report a discobase error on stderr and exit
    with its code (see :mod:`discobase.cli.connection`) instead of a traceback."""
    try:
        return asyncio.run(work())
    except CliError as error:
        fail(error, error.exit_code)
    except QueryError as error:
        fail(error, EXIT_USAGE)
    except DatabaseLookupError as error:
        fail(error, EXIT_NOT_FOUND)
    except DiscobaseError as error:
        fail(error, EXIT_ERROR)


def fail(error: BaseException | str, code: int) -> NoReturn:
    """Print ``error`` on stderr and exit with ``code``."""
    err.print("[red]error:[/]", escape(str(error)), soft_wrap=True)
    raise typer.Exit(code) from None


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout (one document; what ``--json`` promises)."""
    sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()
