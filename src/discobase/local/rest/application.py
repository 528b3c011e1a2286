"""The gateway URL, the application and its commands, and the default soundboard sounds.

See https://docs.discord.com/developers/resources/application,
https://docs.discord.com/developers/interactions/application-commands."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from discobase.local import validation
from discobase.local.errors import HTTPError
from discobase.local.rest.context import Resource
from discobase.local.rest.http import json_response
from discobase.local.store import BotAccount, Command

__all__ = ["ApplicationRoutes"]

#: What ``GET /soundboard-default-sounds`` lists: the sounds every user may play
#: (https://discord.com/developers/docs/resources/soundboard#list-default-soundboard-sounds).
DEFAULT_SOUNDS: list[dict[str, Any]] = [
    {
        "name": name,
        "sound_id": str(index),
        "volume": 1.0,
        "emoji_id": None,
        "emoji_name": emoji,
        "available": True,
    }
    for index, (name, emoji) in enumerate(
        [
            ("quack", "🦆"),
            ("airhorn", "🔊"),
            ("cricket", "🦗"),
            ("golf clap", "⛳"),
            ("sad horn", "🎺"),
            ("ba dum tss", "🥁"),
        ],
        start=1,
    )
]


class ApplicationRoutes(Resource):
    """``/gateway``, ``/applications/...`` and ``/soundboard-default-sounds``."""

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.ctx.gateway_url()})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.ctx.gateway_url(),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.application(self.bot(request)))

    def _application(self, request: web.Request) -> tuple[BotAccount, int | None]:
        bot = self.bot(request)
        application_id = self.path_id(request, "application_id")
        if application_id != bot.application_id:
            raise HTTPError(403, 20012, "You are not authorized to perform this action on this application")
        guild_id = None
        if "guild_id" in request.match_info:
            guild_id = self.guild_for(request).id
        return bot, guild_id

    async def get_commands(self, request: web.Request) -> web.Response:
        bot, guild_id = self._application(request)
        commands = self.store.list_commands(bot.application_id, guild_id)
        return json_response([self.payloads.command(c) for c in sorted(commands, key=lambda c: c.id)])

    async def put_commands(self, request: web.Request) -> web.Response:
        bot, guild_id = self._application(request)
        specs = validation.parse_application_commands(await self.read_json(request))
        existing = {
            (c.data.get("name"), c.data.get("type", 1)): c
            for c in self.store.list_commands(bot.application_id, guild_id)
        }
        commands = []
        for spec in specs:
            old = existing.get((spec.get("name"), spec.get("type", 1)))
            command_id = old.id if old is not None else self.store.next_id()
            version = self.store.next_id() if old is None or old.data != spec else old.version
            commands.append(Command(command_id, bot.application_id, guild_id, spec, version))
        self.store.replace_commands(bot.application_id, guild_id, commands)
        return json_response([self.payloads.command(c) for c in commands])

    async def get_default_sounds(self, request: web.Request) -> web.Response:
        return json_response(DEFAULT_SOUNDS)
