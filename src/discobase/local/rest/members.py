"""Roles and member edits, with Discord's role hierarchy.

Creating and moving roles, editing members and their roles, member search.
See https://docs.discord.com/developers/resources/guild."""

from __future__ import annotations

from aiohttp import web

from discobase._discord.limits import MAX_MEMBER_QUERY, MAX_MEMBERS_PAGE, MAX_ROLES
from discobase._discord.permissions import Permission
from discobase.local import validation
from discobase.local.errors import FormErrors, bad_request, forbidden_permissions
from discobase.local.rest.context import Resource
from discobase.local.rest.http import json_response, no_content
from discobase.local.store import Role

__all__ = ["MemberRoutes"]


class MemberRoutes(Resource):
    """``/guilds/{guild_id}/roles`` and ``/guilds/{guild_id}/members/...`` writes and search."""

    async def create_role(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        perms = self.permissions(user_id, guild.id, None)
        if not perms & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        spec = validation.parse_role_create(await self.read_json(request, optional=True))
        roles = self.store.guild_roles(guild.id)
        if len(roles) >= MAX_ROLES:
            raise bad_request(30005, f"Maximum number of guild roles reached ({MAX_ROLES})")
        granted = spec.permissions if spec.permissions is not None else self.store.roles[guild.id].permissions
        if granted & ~perms:  # a role cannot get permissions its creator lacks
            raise forbidden_permissions()
        role = Role(
            id=self.store.next_id(),
            guild_id=guild.id,
            name=spec.name,
            permissions=granted,
            position=1,
            color=spec.color,
            hoist=spec.hoist,
            mentionable=spec.mentionable,
        )
        for other in roles:  # a new role goes in at position 1, above @everyone
            if other.id != guild.id and other.position >= 1:
                other.position += 1
                self.store.save_role(other)
        self.store.save_role(role)
        payload = self.payloads.role(role)
        await self.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": payload}, guild_id=guild.id
        )
        return json_response(payload)

    async def move_roles(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        if not self.permissions(user_id, guild.id, None) & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        moves = validation.parse_role_positions(await self.read_json(request))
        self.access.check_role_hierarchy(guild.id, user_id, [role_id for role_id, _ in moves])
        top = self.access.top_position(guild.id, user_id)
        changed = []
        for role_id, position in moves:
            role = self.store.roles[role_id]
            if position is not None and position != role.position:
                if position >= top:
                    raise forbidden_permissions()
                role.position = position
                changed.append(role)
        for role in changed:
            self.store.save_role(role)
            await self.dispatch(
                "GUILD_ROLE_UPDATE",
                {"guild_id": str(guild.id), "role": self.payloads.role(role)},
                guild_id=guild.id,
            )
        return json_response([self.payloads.role(r) for r in self.store.guild_roles(guild.id)])

    async def edit_member(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        member = self.member_target(request, guild)
        actor = self.bot(request).user_id
        spec = validation.parse_member_edit(await self.read_json(request, optional=True))
        perms = self.permissions(actor, guild.id, None)
        fields = spec.fields_set
        own_nick = member.user_id == actor and perms & Permission.CHANGE_NICKNAME
        if "nick" in fields and not perms & Permission.MANAGE_NICKNAMES and not own_nick:
            raise forbidden_permissions()
        if "roles" in fields:
            if not perms & Permission.MANAGE_ROLES:
                raise forbidden_permissions()
            new_roles = spec.roles or []
            self.access.check_role_hierarchy(guild.id, actor, set(new_roles) ^ set(member.roles))
        if "communication_disabled_until" in fields and not perms & Permission.MODERATE_MEMBERS:
            raise forbidden_permissions()
        if member.user_id == guild.owner_id and member.user_id != actor and fields - {"roles"}:
            raise forbidden_permissions()  # nobody else may rename or time out the owner
        if "nick" in fields:
            member.nick = spec.nick
        if "roles" in fields:
            member.roles = list(spec.roles or [])
        if "communication_disabled_until" in fields:
            member.communication_disabled_until = spec.communication_disabled_until
        self.store.save_member(member)
        await self.events.member_updated(member)
        return json_response(self.payloads.member(member))

    async def _set_member_role(self, request: web.Request, add: bool) -> web.Response:
        guild = self.guild_for(request)
        actor = self.bot(request).user_id
        if not self.permissions(actor, guild.id, None) & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        member = self.member_target(request, guild)
        role_id = self.path_id(request, "role_id")
        self.access.check_role_hierarchy(guild.id, actor, [role_id])
        if (role_id in member.roles) != add:
            member.roles = [*member.roles, role_id] if add else [r for r in member.roles if r != role_id]
            self.store.save_member(member)
            await self.events.member_updated(member)
        return no_content()

    async def add_member_role(self, request: web.Request) -> web.Response:
        return await self._set_member_role(request, True)

    async def remove_member_role(self, request: web.Request) -> web.Response:
        return await self._set_member_role(request, False)

    async def search_members(self, request: web.Request) -> web.Response:
        """Members whose username or nickname starts with ``query`` (case-insensitive).

        ``limit`` defaults to 1, at most 1000
        (https://discord.com/developers/docs/resources/guild#search-guild-members).
        """
        guild = self.guild_for(request)
        query = request.query.get("query")
        if query is None or not 1 <= len(query) <= MAX_MEMBER_QUERY:
            errors = FormErrors()
            if query is None:
                errors.add(("query",), "BASE_TYPE_REQUIRED", "This field is required")
            else:
                errors.add(
                    ("query",), "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_MEMBER_QUERY} in length."
                )
            errors.raise_if_any()
        assert query is not None
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=1, minimum=1, maximum=MAX_MEMBERS_PAGE
        )
        prefix = query.casefold()
        found = []
        for member in sorted(self.store.guild_members(guild.id), key=lambda m: m.user_id):
            account = self.store.bots.get(member.user_id)
            names = [account.name if account else "", member.nick or ""]
            if any(name.casefold().startswith(prefix) for name in names if name):
                found.append(self.payloads.member(member))
        return json_response(found[:limit])
