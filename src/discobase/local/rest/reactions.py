"""Reactions: add, remove (own or another's), list, clear one emoji or all, with their events.

See https://docs.discord.com/developers/resources/message#create-reaction."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from discobase._discord.limits import REACTION_USERS_DEFAULT, REACTION_USERS_PAGE
from discobase._discord.messages import MAX_REACTIONS
from discobase._discord.permissions import Permission
from discobase.local import validation
from discobase.local.errors import HTTPError, bad_request, forbidden_permissions
from discobase.local.rest.context import Resource
from discobase.local.rest.http import json_response, no_content
from discobase.local.store import Channel, Message

__all__ = ["ReactionRoutes"]


class ReactionRoutes(Resource):
    """``/channels/{channel_id}/messages/{message_id}/reactions/...`` routes."""

    def emoji_for(self, request: web.Request) -> dict[str, Any]:
        """The ``{emoji}`` of the path (percent-decoded) as a reaction's emoji object.

        A unicode emoji → ``{"id": null, "name"}``; a custom ``name:id`` names no emoji of the
        local server; anything else is 10014
        (https://discord.com/developers/docs/resources/message#create-reaction).
        """
        raw = request.match_info["emoji"]
        if ":" in raw or not 1 <= len(raw) <= 32 or raw.isascii() or any(c.isspace() for c in raw):
            raise HTTPError(400, 10014, "Unknown Emoji")
        return {"id": None, "name": raw}

    @staticmethod
    def _reaction(message: Message, emoji: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in message.reactions if r["emoji"] == emoji), None)

    def _reaction_event(self, channel: Channel, message: Message, extra: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"channel_id": str(channel.id), "message_id": str(message.id)}
        if channel.type != 1:
            payload["guild_id"] = str(channel.guild_id)
        payload.update(extra)
        return payload

    async def _dispatch_reaction(self, event: str, channel: Channel, payload: dict[str, Any]) -> None:
        if channel.type == 1:
            await self.dispatch(event, payload, guild_id=None, user_ids=channel.recipients)
        else:
            await self.dispatch(event, payload, guild_id=channel.guild_id, channel_id=channel.id)

    async def add_reaction(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request, Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        user_id = self.bot(request).user_id
        reaction = self._reaction(message, emoji)
        if reaction is None:
            if not perms & Permission.ADD_REACTIONS:
                raise forbidden_permissions()
            if len(message.reactions) >= MAX_REACTIONS:
                raise bad_request(30010, f"Maximum number of reactions reached ({MAX_REACTIONS})")
            reaction = {"emoji": emoji, "users": []}
            message.reactions.append(reaction)
        if user_id in reaction["users"]:
            return no_content()
        reaction["users"].append(user_id)
        self.store.update_message(message)
        extra: dict[str, Any] = {
            "user_id": str(user_id),
            "emoji": emoji,
            "message_author_id": str(message.author_id),
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        member = self.store.member(channel.guild_id, user_id) if channel.type != 1 else None
        if member is not None:
            extra["member"] = self.payloads.member(member)
        await self._dispatch_reaction(
            "MESSAGE_REACTION_ADD", channel, self._reaction_event(channel, message, extra)
        )
        return no_content()

    async def _remove_reaction(self, request: web.Request, user_id: int, channel: Channel) -> web.Response:
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        reaction = self._reaction(message, emoji)
        if reaction is None or user_id not in reaction["users"]:
            return no_content()
        reaction["users"].remove(user_id)
        if not reaction["users"]:
            message.reactions.remove(reaction)
        self.store.update_message(message)
        extra = {"user_id": str(user_id), "emoji": emoji, "burst": False, "type": 0}
        await self._dispatch_reaction(
            "MESSAGE_REACTION_REMOVE", channel, self._reaction_event(channel, message, extra)
        )
        return no_content()

    async def remove_own_reaction(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request)
        return await self._remove_reaction(request, self.bot(request).user_id, channel)

    async def remove_user_reaction(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        return await self._remove_reaction(request, self.path_id(request, "member_id"), channel)

    async def get_reactions(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        limit = validation.parse_query_int(
            request.query.get("limit"),
            "limit",
            default=REACTION_USERS_DEFAULT,
            minimum=1,
            maximum=REACTION_USERS_PAGE,
        )
        after = validation.parse_query_snowflake(request.query.get("after"), "after") or 0
        kind = validation.parse_query_int(request.query.get("type"), "type", default=0, minimum=0, maximum=1)
        reaction = self._reaction(message, emoji)
        users = sorted(reaction["users"]) if reaction is not None and kind == 0 else []
        return json_response([self.payloads.user(u) for u in users if u > after][:limit])

    async def clear_emoji_reactions(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        reaction = self._reaction(message, emoji)
        if reaction is not None:
            message.reactions.remove(reaction)
            self.store.update_message(message)
            await self._dispatch_reaction(
                "MESSAGE_REACTION_REMOVE_EMOJI",
                channel,
                self._reaction_event(channel, message, {"emoji": emoji}),
            )
        return no_content()

    async def clear_reactions(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        message = self.message_for(request, channel)
        if message.reactions:
            message.reactions = []
            self.store.update_message(message)
            await self._dispatch_reaction(
                "MESSAGE_REACTION_REMOVE_ALL", channel, self._reaction_event(channel, message, {})
            )
        return no_content()
