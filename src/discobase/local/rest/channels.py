"""Channels: create, read, edit, delete, permission overwrites, invites and typing
(https://docs.discord.com/developers/resources/channel)."""

from __future__ import annotations

import secrets

from aiohttp import web

from discobase._discord.limits import MAX_CHANNELS_PER_CATEGORY, MAX_CHANNELS_PER_GUILD
from discobase._discord.permissions import Overwrite, Permission
from discobase.local import validation
from discobase.local.errors import FormErrors, bad_request, forbidden_permissions
from discobase.local.rest.context import Resource
from discobase.local.rest.http import json_response, no_content, now_iso
from discobase.local.store import Channel, Invite

__all__ = ["ChannelRoutes"]


class ChannelRoutes(Resource):
    """``/guilds/{guild_id}/channels`` (create) and ``/channels/{channel_id}`` routes."""

    async def create_channel(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        perms = self.permissions(user_id, guild.id, None)
        if not perms & Permission.MANAGE_CHANNELS:
            raise forbidden_permissions()
        spec = validation.parse_channel_create(await self.read_json(request))
        channels = self.store.guild_channels(guild.id)
        if len(channels) >= MAX_CHANNELS_PER_GUILD:
            raise bad_request(30013, f"Maximum number of server channels reached ({MAX_CHANNELS_PER_GUILD})")
        overwrites = list(spec.permission_overwrites)
        if spec.parent_id is not None:
            parent = self.access.parent_for(guild.id, spec.parent_id, spec.type)
            if sum(1 for c in channels if c.parent_id == parent.id) >= MAX_CHANNELS_PER_CATEGORY:
                errors = FormErrors()
                errors.add(
                    ("parent_id",),
                    "CHANNEL_PARENT_MAX_CHANNELS",
                    f"Maximum number of channels in category reached ({MAX_CHANNELS_PER_CATEGORY})",
                )
                errors.raise_if_any()
            if not overwrites and "permission_overwrites" not in spec.fields_set:
                overwrites = list(parent.overwrites)  # a new channel is synced with its category
        if overwrites and not perms & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        if "permission_overwrites" in spec.fields_set:
            self.access.check_overwrites(user_id, guild.id, None, overwrites)
        channel = Channel(
            id=self.store.next_id(),
            guild_id=guild.id,
            type=spec.type,
            name=validation.normalize_channel_name(spec.name, spec.type),
            position=spec.position if spec.position is not None else len(channels),
            parent_id=spec.parent_id,
            topic=spec.topic,
            nsfw=spec.nsfw,
            rate_limit_per_user=spec.rate_limit_per_user or 0,
            overwrites=overwrites,
        )
        self.store.save_channel(channel)
        payload = self.payloads.channel(channel)
        await self.dispatch("CHANNEL_CREATE", payload, guild_id=guild.id, channel_id=channel.id)
        return json_response(payload, status=201)

    async def get_channel(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request)
        return json_response(self.payloads.channel(channel))

    async def edit_channel(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request, Permission.MANAGE_CHANNELS)
        spec = validation.parse_channel_edit(await self.read_json(request, optional=True))
        fields = spec.fields_set
        new_overwrites = list(spec.permission_overwrites or [])
        if "permission_overwrites" in fields:  # checked first: a refused edit changes nothing
            if not perms & Permission.MANAGE_ROLES:
                raise forbidden_permissions()
            self.access.check_overwrites(self.bot(request).user_id, channel.guild_id, channel, new_overwrites)
        if "name" in fields and spec.name is not None:
            channel.name = validation.normalize_channel_name(spec.name, channel.type)
        if "topic" in fields:
            channel.topic = spec.topic
        if "position" in fields and spec.position is not None:
            channel.position = spec.position
        if "nsfw" in fields and spec.nsfw is not None:
            channel.nsfw = spec.nsfw
        if "rate_limit_per_user" in fields:
            channel.rate_limit_per_user = spec.rate_limit_per_user or 0
        if "parent_id" in fields:
            if spec.parent_id is not None:
                self.access.parent_for(channel.guild_id, spec.parent_id, channel.type)
            channel.parent_id = spec.parent_id
        if "permission_overwrites" in fields:
            channel.overwrites = new_overwrites
        self.store.save_channel(channel)
        payload = self.payloads.channel(channel)
        await self.dispatch("CHANNEL_UPDATE", payload, guild_id=channel.guild_id, channel_id=None)
        return json_response(payload)

    async def delete_channel(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_CHANNELS)
        payload = self.payloads.channel(channel)
        children = [c for c in self.store.guild_channels(channel.guild_id) if c.parent_id == channel.id]
        self.store.delete_channel(channel.id)
        for child in children:  # deleting a category keeps its channels, unparented
            child.parent_id = None
            self.store.save_channel(child)
            await self.dispatch(
                "CHANNEL_UPDATE", self.payloads.channel(child), guild_id=child.guild_id, channel_id=child.id
            )
        await self.dispatch("CHANNEL_DELETE", payload, guild_id=channel.guild_id, channel_id=None)
        return json_response(payload)

    async def put_overwrite(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_ROLES)
        target = self.path_id(request, "overwrite_id")
        allow, deny, kind = validation.parse_overwrite_edit(await self.read_json(request))
        overwrite = Overwrite(target, kind, allow, deny)
        self.access.check_overwrites(self.bot(request).user_id, channel.guild_id, channel, [overwrite])
        channel.overwrites = [o for o in channel.overwrites if o.id != target] + [overwrite]
        self.store.save_channel(channel)
        await self.dispatch("CHANNEL_UPDATE", self.payloads.channel(channel), guild_id=channel.guild_id)
        return no_content()

    async def delete_overwrite(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_ROLES)
        target = self.path_id(request, "overwrite_id")
        channel.overwrites = [o for o in channel.overwrites if o.id != target]
        self.store.save_channel(channel)
        await self.dispatch("CHANNEL_UPDATE", self.payloads.channel(channel), guild_id=channel.guild_id)
        return no_content()

    async def create_invite(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.CREATE_INSTANT_INVITE)
        spec = validation.parse_invite_create(await self.read_json(request, optional=True))
        inviter = self.bot(request).user_id
        if not spec.unique:
            for invite in self.store.invites.values():
                if (
                    invite.channel_id == channel.id
                    and invite.inviter_id == inviter
                    and (invite.max_age, invite.max_uses, invite.temporary)
                    == (spec.max_age, spec.max_uses, spec.temporary)
                ):
                    return json_response(self.payloads.invite(invite))
        invite = Invite(
            code=secrets.token_urlsafe(6)[:8],
            guild_id=channel.guild_id,
            channel_id=channel.id,
            inviter_id=inviter,
            max_age=spec.max_age,
            max_uses=spec.max_uses,
            temporary=spec.temporary,
            created_at=now_iso(),
        )
        self.store.save_invite(invite)
        return json_response(self.payloads.invite(invite))

    async def get_invites(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_CHANNELS)
        invites = [i for i in self.store.invites.values() if i.channel_id == channel.id]
        return json_response([self.payloads.invite(i) for i in invites])

    async def typing(self, request: web.Request) -> web.Response:
        self.channel_for(request, Permission.SEND_MESSAGES)
        return no_content()
