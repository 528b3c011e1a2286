"""Guilds: creating one (when allowed), reading it, its channels, roles and members
(https://docs.discord.com/developers/resources/guild)."""

from __future__ import annotations

from aiohttp import web

from discobase._discord.limits import GUILD_NAME_MAX, GUILD_NAME_MIN, MAX_MEMBERS_PAGE
from discobase.local import validation
from discobase.local.errors import FormErrors, HTTPError
from discobase.local.rest.context import Resource
from discobase.local.rest.http import json_response

__all__ = ["GuildRoutes"]


class GuildRoutes(Resource):
    """``/guilds`` and ``/guilds/{guild_id}`` reads."""

    async def create_guild(self, request: web.Request) -> web.Response:
        if not self.ctx.allow_guild_create:
            raise HTTPError(403, 20001, "Bots cannot use this endpoint")
        body = await self.read_json(request)
        errors = FormErrors()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            errors.add(("name",), "BASE_TYPE_REQUIRED", "This field is required")
        elif not GUILD_NAME_MIN <= len(name) <= GUILD_NAME_MAX:
            errors.add(
                ("name",),
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between {GUILD_NAME_MIN} and {GUILD_NAME_MAX} in length.",
            )
        errors.raise_if_any()
        assert isinstance(name, str)
        bot = self.bot(request)
        guild_id = self.ctx.create_guild(name, owner=bot, dispatch=False)
        guild = self.store.guilds[guild_id]
        await self.dispatch(
            "GUILD_CREATE",
            self.payloads.guild_create(guild, self.store.guild_channels(guild_id), joined=True),
            guild_id=guild_id,
        )
        return json_response(self.payloads.guild(guild), status=201)

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        with_counts = request.query.get("with_counts", "false").lower() in ("true", "1")
        return json_response(self.payloads.guild(guild, with_counts=with_counts))

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        channels = [c for c in self.store.guild_channels(guild.id) if self.can_see(user_id, guild.id, c.id)]
        return json_response([self.payloads.channel(c) for c in channels])

    async def get_roles(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        return json_response([self.payloads.role(r) for r in self.store.guild_roles(guild.id)])

    async def get_members(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=1, minimum=1, maximum=MAX_MEMBERS_PAGE
        )
        after = validation.parse_query_snowflake(request.query.get("after"), "after") or 0
        members = sorted(
            (m for m in self.store.guild_members(guild.id) if m.user_id > after), key=lambda m: m.user_id
        )
        return json_response([self.payloads.member(m) for m in members[:limit]])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        raw = request.match_info["user_id"]
        user_id = self.bot(request).user_id if raw == "@me" else self.path_id(request, "user_id")
        member = self.store.member(guild.id, user_id)
        if member is None:
            raise HTTPError(404, 10007, "Unknown Member")
        return json_response(self.payloads.member(member))
