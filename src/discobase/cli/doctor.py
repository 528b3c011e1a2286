"""``discobase doctor``: is this database healthy, and if not, what to do.

It opens the database as any program would, and reports, in order: the
token, the guild, the gateway intents, the bot's permissions, the channels
used of the guild's 500, how old each table's newest snapshot is, and
whether Discord rate-limited the requests made meanwhile. An opening that
fails is reported at the check it failed (a rejected token, a guild the bot
is not in, a missing permission); the checks after it are skipped.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import discord
import typer
from rich.table import Table as RichTable

from discobase._connect.attached import REQUIRED_INTENTS
from discobase._discord.limits import MAX_CHANNELS_PER_GUILD
from discobase.cli.connection import EXIT_CHECK_FAILED, open_database
from discobase.cli.core import app, console, print_json, run, target
from discobase.exceptions import DiscobaseError, GuildNotFoundError, MissingPermissionsError

__all__ = ["CHECKS", "Check", "diagnose"]

Status = Literal["ok", "warn", "fail", "skipped"]
#: The checks, in the order they run.
CHECKS = ("token", "guild", "intents", "permissions", "channels", "snapshots", "rate limits")
#: A table whose data messages outnumber this replays many messages at every open (it
#: snapshots every ``snapshot_every`` operations, 5000 by default, in a process that writes).
SNAPSHOT_BACKLOG = 5000
#: Channels used from which the budget is a warning.
CHANNEL_WARNING = 0.9


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str


class _RateLimits(logging.Handler):
    """Counts discord.py's reports of rate-limited requests (a 429 it waited out)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.hits = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "rate limit" in record.getMessage().lower():
            self.hits += 1


async def diagnose(ctx: typer.Context) -> list[Check]:
    """Run the checks against the database the global options name."""
    checks: list[Check] = []
    watcher = _RateLimits()
    http_logger = logging.getLogger("discord.http")
    http_logger.addHandler(watcher)
    try:
        async with open_database(target(ctx), None) as opened:
            db = opened.db
            me = db.bot.user
            who = f"bot {me.name} ({me.id})" if me is not None else "the embedded local server's bot"
            checks.append(Check("token", "ok", f"accepted: {who}"))
            guild = db.guild
            assert guild is not None
            checks.append(Check("guild", "ok", f"{guild.name} ({guild.id})"))
            intents = db.bot.intents
            missing = [name for name in REQUIRED_INTENTS if not getattr(intents, name)]
            checks.append(
                Check("intents", "fail", f"missing: {', '.join(missing)}")
                if missing
                else Check("intents", "ok", ", ".join(REQUIRED_INTENTS) + " (not privileged)")
            )
            checks.append(Check("permissions", "ok", "every permission discobase needs is granted"))
            channels = getattr(guild, "channels", None)
            used = len(channels) if channels is not None else None
            mine = sum(len(meta.data_channels) + 1 for meta in opened.tables.values()) + 2
            if used is None:
                checks.append(Check("channels", "ok", f"discobase uses {mine}"))
            else:
                status: Status = "ok" if used < MAX_CHANNELS_PER_GUILD * CHANNEL_WARNING else "warn"
                if used >= MAX_CHANNELS_PER_GUILD:
                    status = "fail"
                checks.append(
                    Check(
                        "channels", status, f"{used} of {MAX_CHANNELS_PER_GUILD} used ({mine} by discobase)"
                    )
                )
            stats = await db.stats(system=True)
            checks.append(_snapshots(stats.tables))
            requests = stats.requests
    except GuildNotFoundError as error:
        checks += [Check("token", "ok", "accepted"), Check("guild", "fail", str(error))]
    except MissingPermissionsError as error:
        checks += [Check("token", "ok", "accepted"), Check("guild", "ok", "found")]
        checks += [
            Check("intents", "ok", ", ".join(REQUIRED_INTENTS)),
            Check("permissions", "fail", str(error)),
        ]
    except (DiscobaseError, discord.DiscordException) as error:
        checks.append(Check("token", "fail", str(error)))
    else:
        detail = f"{requests} request(s) made, {watcher.hits} rate-limited"
        checks.append(Check("rate limits", "ok" if watcher.hits == 0 else "warn", detail))
    finally:
        http_logger.removeHandler(watcher)
    done = {check.name for check in checks}
    checks += [Check(name, "skipped", "an earlier check failed") for name in CHECKS if name not in done]
    return checks


def _snapshots(tables: list[Any]) -> Check:
    now = datetime.now(UTC)
    backlog = [t.name for t in tables if t.messages > SNAPSHOT_BACKLOG]
    ages = [(now - t.last_snapshot).total_seconds() / 86400 for t in tables if t.last_snapshot is not None]
    never = [t.name for t in tables if t.last_snapshot is None and t.records]
    parts = [f"oldest newest-snapshot {max(ages):.1f} day(s) ago" if ages else "no snapshot yet"]
    if never:
        parts.append(f"never snapshotted: {', '.join(never)}")
    if backlog:
        parts.append(f"over {SNAPSHOT_BACKLOG} data messages to replay at open: {', '.join(backlog)}")
        return Check("snapshots", "warn", "; ".join(parts))
    return Check("snapshots", "ok", "; ".join(parts))


STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skipped": "dim"}


@app.command()
def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Check the token, guild, intents, permissions, channel budget, snapshots and rate limits.

    Exits 4 when a check fails (warnings do not fail).
    """
    checks = run(lambda: diagnose(ctx))
    healthy = not any(check.status == "fail" for check in checks)
    if as_json:
        print_json({"healthy": healthy, "checks": [asdict(check) for check in checks]})
    else:
        report = RichTable(title="discobase doctor", show_header=False)
        for check in checks:
            report.add_row(check.name, f"[{STYLES[check.status]}]{check.status}[/]", check.detail)
        console.print(report)
    if not healthy:
        raise typer.Exit(EXIT_CHECK_FAILED)
