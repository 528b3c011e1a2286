"""The gateway URL, the application and its commands, and the default soundboard sounds.

See https://docs.discord.com/developers/resources/application,
https://docs.discord.com/developers/interactions/application-commands."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from discobase._discord.permissions import Permission
from discobase.local import validation
from discobase.local.errors import (
    HTTPError,
    forbidden_access,
    forbidden_permissions,
    unauthorized,
    unknown_guild,
)
from discobase.local.rest.context import Resource
from discobase.local.rest.http import GRANT_KEY, json_response
from discobase.local.store import BotAccount, Command, Guild

__all__ = ["COMMAND_PERMISSIONS_SCOPE", "ApplicationRoutes"]

#: The OAuth2 scope a Bearer token needs to edit command permissions.
COMMAND_PERMISSIONS_SCOPE = "applications.commands.permissions.update"

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

    # ------------------------------------------------------------------ command permissions
    def _permission_scope(self, request: web.Request) -> tuple[int, Guild]:
        """The application and guild of a command-permissions route.

        For a bot token of the application's bot, or a Bearer token a member of the guild gave
        the application.
        """
        account = self.bot(request)
        grant = request.get(GRANT_KEY)
        application_id = self.path_id(request, "application_id")
        owner = grant.application_id if grant is not None else account.application_id
        if application_id != owner:
            raise HTTPError(403, 20012, "You are not authorized to perform this action on this application")
        guild = self.store.guilds.get(self.path_id(request, "guild_id"))
        if guild is None:
            raise unknown_guild()
        app_bot = next(
            (b for b in self.store.bots.values() if b.bot and b.application_id == application_id), None
        )
        if self.store.member(guild.id, account.user_id) is None or (
            app_bot is not None and self.store.member(guild.id, app_bot.user_id) is None
        ):
            raise forbidden_access()
        return application_id, guild

    def _command_target(self, request: web.Request, application_id: int, guild_id: int) -> Command | None:
        """The command of the path, or ``None`` for the application's own id.

        The application's id names the set of all its commands; another application's command or
        another guild's is 404/10063.
        """
        command_id = self.path_id(request, "command_id")
        if command_id == application_id:
            return None
        command = self.store.commands.get(command_id)
        if (
            command is None
            or command.application_id != application_id
            or command.guild_id not in (None, guild_id)
        ):
            raise HTTPError(404, 10063, "Unknown application command")
        return command

    @staticmethod
    def _permission_set(
        application_id: int, guild_id: int, command_id: int, permissions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "id": str(command_id),
            "application_id": str(application_id),
            "guild_id": str(guild_id),
            "permissions": permissions,
        }

    async def get_all_command_permissions(self, request: web.Request) -> web.Response:
        """``GET .../guilds/{guild_id}/commands/permissions``: the application's permission sets.

        Every set of the application in the guild: its commands' and its own.
        """
        application_id, guild = self._permission_scope(request)
        sets = [
            self._permission_set(app, guild_id, command_id, entries)
            for (app, guild_id, command_id), entries in sorted(self.store.command_permissions.items())
            if app == application_id and guild_id == guild.id
        ]
        return json_response(sets)

    async def get_command_permissions(self, request: web.Request) -> web.Response:
        """``GET .../commands/{command_id}/permissions``: 404/10066 when none are set."""
        application_id, guild = self._permission_scope(request)
        command = self._command_target(request, application_id, guild.id)
        command_id = application_id if command is None else command.id
        entries = self.store.command_permissions.get((application_id, guild.id, command_id))
        if entries is None:
            raise HTTPError(404, 10066, "Unknown application command permissions")
        return json_response(self._permission_set(application_id, guild.id, command_id, entries))

    async def put_command_permissions(self, request: web.Request) -> web.Response:
        """``PUT .../commands/{command_id}/permissions``: replace a command's overwrites in a guild.

        With the application's id, the application's own overwrites are replaced.

        Only a Bearer token with the ``applications.commands.permissions.update`` scope may:
        a bot token is 403/20001 "Bots cannot use this endpoint". The token's user must have
        MANAGE_GUILD and MANAGE_ROLES in the guild and be able to use the command
        (https://discord.com/developers/docs/interactions/application-commands#permissions).
        APPLICATION_COMMAND_PERMISSIONS_UPDATE goes to the application's bot.
        """
        account = self.bot(request)
        grant = request.get(GRANT_KEY)
        if grant is None:
            if account.bot:
                raise HTTPError(403, 20001, "Bots cannot use this endpoint")
            raise unauthorized()
        if COMMAND_PERMISSIONS_SCOPE not in grant.scopes:
            raise forbidden_access()
        application_id, guild = self._permission_scope(request)
        command = self._command_target(request, application_id, guild.id)
        needed = Permission.MANAGE_GUILD | Permission.MANAGE_ROLES
        if self.permissions(account.user_id, guild.id, None) & needed != needed:
            raise forbidden_permissions()
        if command is not None and not self.access.may_use_command(account.user_id, guild.id, None, command):
            raise forbidden_permissions()
        entries = validation.parse_command_permissions(await self.read_json(request))
        command_id = application_id if command is None else command.id
        self.store.set_command_permissions(application_id, guild.id, command_id, entries)
        payload = self._permission_set(application_id, guild.id, command_id, entries)
        bots = [b.user_id for b in self.store.bots.values() if b.bot and b.application_id == application_id]
        await self.dispatch(
            "APPLICATION_COMMAND_PERMISSIONS_UPDATE", payload, guild_id=guild.id, user_ids=bots
        )
        return json_response(payload)

    async def get_default_sounds(self, request: web.Request) -> web.Response:
        return json_response(DEFAULT_SOUNDS)
