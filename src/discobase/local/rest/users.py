"""The current user and other users, and DM channels.

``/users/@me``, its guilds, leaving a guild, ``/users/{id}``.
See https://docs.discord.com/developers/resources/user."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from discobase._discord.limits import MY_GUILDS_PAGE
from discobase.local import validation
from discobase.local.errors import HTTPError, bad_request
from discobase.local.rest.context import Resource
from discobase.local.rest.http import json_response, no_content
from discobase.local.store import Channel

__all__ = ["UserRoutes"]


class UserRoutes(Resource):
    """``/users/...`` routes."""

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.me(self.bot(request)))

    async def get_my_guilds(self, request: web.Request) -> web.Response:
        user_id = self.bot(request).user_id
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=MY_GUILDS_PAGE, minimum=1, maximum=MY_GUILDS_PAGE
        )
        after = validation.parse_query_snowflake(request.query.get("after"), "after") or 0
        before = validation.parse_query_snowflake(request.query.get("before"), "before")
        with_counts = validation.parse_query_bool(
            request.query.get("with_counts"), "with_counts", default=False
        )
        result: list[dict[str, Any]] = []
        for guild_id in self.store.guilds_of(user_id):
            if guild_id <= after or (before is not None and guild_id >= before):
                continue
            guild = self.store.guilds[guild_id]
            entry: dict[str, Any] = {
                "id": str(guild.id),
                "name": guild.name,
                "icon": None,
                "banner": None,
                "owner": guild.owner_id == user_id,
                "permissions": str(self.permissions(user_id, guild_id, None)),
                "features": [],
            }
            if (
                with_counts
            ):  # only when asked (https://discord.com/developers/docs/resources/user#get-current-user-guilds)
                entry["approximate_member_count"] = len(self.store.guild_members(guild_id))
                entry["approximate_presence_count"] = 0
            result.append(entry)
        return json_response(result[:limit])

    async def leave_guild(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        if guild.owner_id == user_id:
            raise bad_request(50055, "Invalid guild")
        await self.events.member_removed(guild.id, user_id)
        return no_content()

    async def get_user(self, request: web.Request) -> web.Response:
        user_id = self.path_id(request, "user_id")
        if user_id not in self.store.bots:
            raise HTTPError(404, 10013, "Unknown User")
        return json_response(self.payloads.user(user_id))

    async def create_dm(self, request: web.Request) -> web.Response:
        """Open (or return the open) DM channel with ``recipient_id``.

        A DM needs a guild in common
        (https://discord.com/developers/docs/resources/user#create-dm).
        """
        me = self.bot(request).user_id
        recipient = validation.parse_dm_create(await self.read_json(request))
        if recipient not in self.store.bots:
            raise HTTPError(404, 10013, "Unknown User")
        if recipient != me and not set(self.store.guilds_of(me)) & set(self.store.guilds_of(recipient)):
            raise HTTPError(403, 50007, "Cannot send messages to this user")
        channel = self.store.dm_channel(me, recipient)
        if channel is None:
            channel = Channel(self.store.next_id(), 0, 1, "", recipients=sorted({me, recipient}))
            self.store.save_channel(channel)
        return json_response(self.payloads.dm_channel(channel, me))
