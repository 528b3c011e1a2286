"""Who may do what: the permission checks of the REST handlers (and of interactions and people).

:class:`Access` reads only the store: the guild, its roles, the member and the channel's
overwrites give a user's permissions
(https://docs.discord.com/developers/topics/permissions#permission-overwrites), and each
``*_for`` helper resolves an object of the request's path after Discord's existence,
membership and permission checks, raising Discord's error otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from discobase._discord.commands import command_permitted
from discobase._discord.permissions import DM_PERMISSIONS, Overwrite, Permission, compute_permissions
from discobase.local.errors import (
    FormErrors,
    HTTPError,
    forbidden_access,
    forbidden_permissions,
    unknown_channel,
    unknown_guild,
    unknown_message,
)
from discobase.local.rest.http import bot, path_id
from discobase.local.store import Channel, Command, Guild, Member, Message, Store

__all__ = ["Access"]


class Access:
    """The permission checker of one store."""

    bot = staticmethod(bot)
    path_id = staticmethod(path_id)

    def __init__(self, store: Store) -> None:
        self.store = store

    def member_of(self, guild_id: int, user_id: int) -> Member:
        member = self.store.member(guild_id, user_id)
        if member is None:
            raise forbidden_access()
        return member

    def guild_for(self, request: web.Request) -> Guild:
        guild_id = self.path_id(request, "guild_id")
        guild = self.store.guilds.get(guild_id)
        if guild is None:
            raise unknown_guild()
        self.member_of(guild_id, self.bot(request).user_id)
        return guild

    def permissions(self, user_id: int, guild_id: int, channel: Channel | None) -> int:
        guild = self.store.guilds[guild_id]
        member = self.store.member(guild_id, user_id)
        if member is None:
            return 0
        roles = {role.id: role.permissions for role in self.store.guild_roles(guild_id)}
        return compute_permissions(
            user_id=user_id,
            owner_id=guild.owner_id,
            guild_id=guild_id,
            role_permissions=roles,
            member_roles=member.roles,
            overwrites=channel.overwrites if channel is not None else (),
        )

    def may_use_command(self, user_id: int, guild_id: int, channel_id: int | None, command: Command) -> bool:
        """Whether a member may use ``command`` in ``channel_id`` (``None``: somewhere in the guild).

        It decides by the command's ``default_member_permissions`` and the guild's command
        permission overwrites (see :mod:`discobase._discord.commands`).
        """
        member = self.store.member(guild_id, user_id)
        if member is None:
            return False
        channel = self.store.channels.get(channel_id) if channel_id is not None else None
        app = command.application_id
        return command_permitted(
            permissions=self.permissions(user_id, guild_id, channel),
            default_member_permissions=command.data.get("default_member_permissions"),
            user_id=user_id,
            roles=member.roles,
            guild_id=guild_id,
            channel_id=channel_id,
            command_entries=self.store.command_permissions.get((app, guild_id, command.id), ()),
            application_entries=self.store.command_permissions.get((app, guild_id, app), ()),
        )

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        if guild_id not in self.store.guilds or self.store.member(guild_id, user_id) is None:
            return False
        if channel_id is None:
            return True
        channel = self.store.channels.get(channel_id)
        if channel is None:
            return False
        return bool(self.permissions(user_id, guild_id, channel) & Permission.VIEW_CHANNEL)

    def channel_for(self, request: web.Request, need: int = 0) -> tuple[Channel, int]:
        """The channel of the path and the bot's permissions in it, after Discord's checks."""
        channel_id = self.path_id(request, "channel_id")
        channel = self.store.channels.get(channel_id)
        if channel is None:
            raise unknown_channel()
        user_id = self.bot(request).user_id
        if channel.type == 1:  # a DM: only its two users see it
            if user_id not in channel.recipients:
                raise forbidden_access()
            if need and DM_PERMISSIONS & need != need:
                raise forbidden_permissions()
            return channel, DM_PERMISSIONS
        if self.store.member(channel.guild_id, user_id) is None:
            raise forbidden_access()
        perms = self.permissions(user_id, channel.guild_id, channel)
        if not perms & Permission.VIEW_CHANNEL:
            raise forbidden_access()
        if need and perms & need != need:
            raise forbidden_permissions()
        return channel, perms

    def check_overwrites(
        self,
        user_id: int,
        guild_id: int,
        channel: Channel | None,
        overwrites: Iterable[Overwrite],
    ) -> None:
        """Discord's rule for setting permission overwrites; 403/50013 "Missing Permissions" if broken.

        The caller has already checked MANAGE_ROLES. Only permissions the bot has can be
        allowed or denied: on Create Guild Channel (``channel`` is ``None``) its permissions
        in the guild, and setting MANAGE_ROLES in an overwrite is for administrators only
        (https://docs.discord.com/developers/resources/guild#create-guild-channel); on Modify
        Channel and Edit Channel Permissions its permissions in the guild, or in the parent
        category if the channel has one, plus its permissions in the channel itself when an
        overwrite of the channel gives it MANAGE_ROLES
        (https://docs.discord.com/developers/resources/channel#edit-channel-permissions).
        The guild owner and administrators may set anything. On an edit only the bits that
        change count: re-sending an overwrite someone else set is not granting anything.
        """
        guild_perms = self.permissions(user_id, guild_id, None)
        if guild_perms & Permission.ADMINISTRATOR:  # the owner's permissions include it too
            return
        existing: dict[tuple[int, int], Overwrite] = {}
        if channel is None:
            basis = guild_perms
        else:
            existing = {(o.type, o.id): o for o in channel.overwrites}
            parent = self.store.channels.get(channel.parent_id) if channel.parent_id is not None else None
            basis = self.permissions(user_id, guild_id, parent) if parent is not None else guild_perms
            if self._manage_roles_overwrite(user_id, guild_id, channel):
                basis |= self.permissions(user_id, guild_id, channel)
        for overwrite in overwrites:
            old = existing.get((overwrite.type, overwrite.id))
            if old is None:
                changed = overwrite.allow | overwrite.deny
            else:
                changed = (overwrite.allow ^ old.allow) | (overwrite.deny ^ old.deny)
            if changed & ~basis or (channel is None and changed & Permission.MANAGE_ROLES):
                raise forbidden_permissions()

    def _manage_roles_overwrite(self, user_id: int, guild_id: int, channel: Channel) -> bool:
        """Whether an overwrite of ``channel`` for the member or one of its roles allows MANAGE_ROLES."""
        member = self.store.member(guild_id, user_id)
        targets = {(1, user_id), (0, guild_id)} | {(0, role) for role in (member.roles if member else [])}
        return any(
            (o.type, o.id) in targets and o.allow & Permission.MANAGE_ROLES for o in channel.overwrites
        )

    def parent_for(self, guild_id: int, parent_id: int, child_type: int) -> Channel:
        """The category a channel of ``child_type`` may be put in; else 400/50035 on ``parent_id``."""
        parent = self.store.channels.get(parent_id)
        if parent is None or parent.guild_id != guild_id or parent.type != 4 or child_type == 4:
            errors = FormErrors()
            errors.add(("parent_id",), "CHANNEL_PARENT_INVALID", "Invalid parent channel")
            errors.raise_if_any()
        assert parent is not None
        return parent

    def message_for(self, request: web.Request, channel: Channel) -> Message:
        message_id = self.path_id(request, "message_id")
        message = self.store.get_message(channel.id, message_id)
        if message is None:
            raise unknown_message()
        return message

    def member_target(self, request: web.Request, guild: Guild) -> Member:
        raw = request.match_info["user_id"]
        user_id = self.bot(request).user_id if raw == "@me" else self.path_id(request, "user_id")
        member = self.store.member(guild.id, user_id)
        if member is None:
            raise HTTPError(404, 10007, "Unknown Member")
        return member

    def top_position(self, guild_id: int, user_id: int) -> int:
        """The position of ``user_id``'s highest role (the owner outranks everyone)."""
        if self.store.guilds[guild_id].owner_id == user_id:
            return 1 << 30
        member = self.store.member(guild_id, user_id)
        positions = [
            self.store.roles[r].position for r in (member.roles if member else []) if r in self.store.roles
        ]
        return max(positions, default=0)

    def check_role_hierarchy(self, guild_id: int, user_id: int, role_ids: Iterable[int]) -> None:
        """Refuse (403/50013) to give or take a role at or above the actor's highest role.

        See https://discord.com/developers/docs/topics/permissions#permission-hierarchy.
        """
        top = self.top_position(guild_id, user_id)
        for role_id in role_ids:
            role = self.store.roles.get(role_id)
            if role is None or role.guild_id != guild_id or role_id == guild_id:
                raise HTTPError(404, 10011, "Unknown Role")
            if role.managed or role.position >= top:
                raise forbidden_permissions()
