"""A local Discord-compatible server that unmodified discord.py accepts as Discord.

REST v10 and Gateway v10 on one port, persisted in SQLite.

```python
from discobase.local import LocalDiscord

async with LocalDiscord(rate_limits="discord") as server:
    bot = server.create_bot("my-bot")
    guild_id = server.create_guild("my server", owner=bot)
    client = discord.Client(intents=discord.Intents.default())
    server.attach(client)
```
"""

from __future__ import annotations

from discobase._discord.permissions import DEFAULT_BOT_PERMISSIONS, Overwrite, Permission
from discobase.local.faults import Fault, FaultInjector
from discobase.local.interactions import InteractionRefused, InteractionResult
from discobase.local.observe import DispatchedEvent, EventTimeoutError
from discobase.local.people import Person, PersonRequestError
from discobase.local.ratelimit import RateLimiter, RateLimitProfile
from discobase.local.server import LocalDiscord
from discobase.local.store import BotAccount

__all__ = [
    "DEFAULT_BOT_PERMISSIONS",
    "BotAccount",
    "DispatchedEvent",
    "EventTimeoutError",
    "Fault",
    "FaultInjector",
    "InteractionRefused",
    "InteractionResult",
    "LocalDiscord",
    "Overwrite",
    "Permission",
    "Person",
    "PersonRequestError",
    "RateLimitProfile",
    "RateLimiter",
]
