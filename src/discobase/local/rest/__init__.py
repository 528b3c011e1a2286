"""REST v10 routes of the local server, one module per resource.

Each handler checks what Discord checks (existence, membership, permissions,
limits) and raises :class:`~discobase.local.errors.HTTPError` with Discord's
code otherwise; it dispatches the matching gateway event *before* answering,
so a client sees ``CHANNEL_CREATE``/``MESSAGE_CREATE`` in its cache as soon
as the REST call returns.

The handlers depend on a :class:`~discobase.local.rest.context.RestContext` (store,
payloads, permission checker, event sender, limits), never on the server itself.
"""

from __future__ import annotations

from discobase.local.rest.access import Access
from discobase.local.rest.application import ApplicationRoutes
from discobase.local.rest.channels import ChannelRoutes
from discobase.local.rest.context import Dispatcher, Events, GuildFactory, RestContext
from discobase.local.rest.guilds import GuildRoutes
from discobase.local.rest.http import (
    API_PREFIXES,
    BOT_KEY,
    GRANT_KEY,
    Handler,
    RequestLimits,
    Upload,
    json_response,
)
from discobase.local.rest.members import MemberRoutes
from discobase.local.rest.messages import MessageRoutes
from discobase.local.rest.reactions import ReactionRoutes
from discobase.local.rest.users import UserRoutes
from discobase.local.store import Channel, Member

__all__ = [
    "API_PREFIXES",
    "BOT_KEY",
    "GRANT_KEY",
    "Access",
    "Dispatcher",
    "Events",
    "GuildFactory",
    "Handler",
    "RequestLimits",
    "RestAPI",
    "RestContext",
    "Upload",
    "json_response",
]


class RestAPI:
    """The route table over the resource handlers of one :class:`RestContext`."""

    def __init__(self, ctx: RestContext) -> None:
        self.ctx = ctx
        self.users = UserRoutes(ctx)
        self.application = ApplicationRoutes(ctx)
        self.guilds = GuildRoutes(ctx)
        self.members = MemberRoutes(ctx)
        self.channels = ChannelRoutes(ctx)
        self.messages = MessageRoutes(ctx)
        self.reactions = ReactionRoutes(ctx)

    def permissions(self, user_id: int, guild_id: int, channel: Channel | None) -> int:
        """``user_id``'s permissions in the guild, or in ``channel`` when given."""
        return self.ctx.access.permissions(user_id, guild_id, channel)

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        """Whether ``user_id`` is in the guild and (with ``channel_id``) may view that channel."""
        return self.ctx.access.can_see(user_id, guild_id, channel_id)

    async def member_added(self, member: Member) -> None:
        await self.ctx.events.member_added(member)

    async def member_removed(self, guild_id: int, user_id: int) -> None:
        await self.ctx.events.member_removed(guild_id, user_id)

    def routes(self) -> list[tuple[str, str, Handler]]:
        """``(method, template, handler)``; templates are discord.py's route paths.

        Order matters where templates overlap: literal segments (``pins``,
        ``bulk-delete``) come before ``{message_id}``.
        """
        return [
            ("GET", "/users/@me", self.users.get_me),
            ("GET", "/users/@me/guilds", self.users.get_my_guilds),
            ("POST", "/users/@me/channels", self.users.create_dm),
            ("GET", "/users/{user_id}", self.users.get_user),
            ("GET", "/soundboard-default-sounds", self.application.get_default_sounds),
            ("DELETE", "/users/@me/guilds/{guild_id}", self.users.leave_guild),
            ("GET", "/gateway", self.application.get_gateway),
            ("GET", "/gateway/bot", self.application.get_gateway_bot),
            ("GET", "/oauth2/applications/@me", self.application.get_application),
            ("GET", "/applications/@me", self.application.get_application),
            ("GET", "/applications/{application_id}/commands", self.application.get_commands),
            ("PUT", "/applications/{application_id}/commands", self.application.put_commands),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self.application.get_commands,
            ),
            (
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self.application.put_commands,
            ),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands/permissions",
                self.application.get_all_command_permissions,
            ),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}/permissions",
                self.application.get_command_permissions,
            ),
            (
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}/permissions",
                self.application.put_command_permissions,
            ),
            ("POST", "/guilds", self.guilds.create_guild),
            ("GET", "/guilds/{guild_id}", self.guilds.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.guilds.get_guild_channels),
            ("POST", "/guilds/{guild_id}/channels", self.channels.create_channel),
            ("GET", "/guilds/{guild_id}/roles", self.guilds.get_roles),
            ("POST", "/guilds/{guild_id}/roles", self.members.create_role),
            ("PATCH", "/guilds/{guild_id}/roles", self.members.move_roles),
            ("GET", "/guilds/{guild_id}/members", self.guilds.get_members),
            ("GET", "/guilds/{guild_id}/members/search", self.members.search_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.guilds.get_member),
            ("PATCH", "/guilds/{guild_id}/members/{user_id}", self.members.edit_member),
            ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.members.add_member_role),
            (
                "DELETE",
                "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
                self.members.remove_member_role,
            ),
            ("GET", "/channels/{channel_id}", self.channels.get_channel),
            ("PATCH", "/channels/{channel_id}", self.channels.edit_channel),
            ("DELETE", "/channels/{channel_id}", self.channels.delete_channel),
            ("PUT", "/channels/{channel_id}/permissions/{overwrite_id}", self.channels.put_overwrite),
            ("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}", self.channels.delete_overwrite),
            ("POST", "/channels/{channel_id}/invites", self.channels.create_invite),
            ("GET", "/channels/{channel_id}/invites", self.channels.get_invites),
            ("POST", "/channels/{channel_id}/typing", self.channels.typing),
            ("GET", "/channels/{channel_id}/messages/pins", self.messages.get_pins),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self.messages.pin),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self.messages.unpin),
            ("GET", "/channels/{channel_id}/pins", self.messages.get_pins_deprecated),
            ("PUT", "/channels/{channel_id}/pins/{message_id}", self.messages.pin),
            ("DELETE", "/channels/{channel_id}/pins/{message_id}", self.messages.unpin),
            ("POST", "/channels/{channel_id}/messages/bulk-delete", self.messages.bulk_delete),
            ("GET", "/channels/{channel_id}/messages", self.messages.get_messages),
            ("POST", "/channels/{channel_id}/messages", self.messages.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.messages.get_message),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.reactions.add_reaction,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.reactions.remove_own_reaction,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{member_id}",
                self.reactions.remove_user_reaction,
            ),
            (
                "GET",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
                self.reactions.get_reactions,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
                self.reactions.clear_emoji_reactions,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions",
                self.reactions.clear_reactions,
            ),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.messages.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.messages.delete_message),
        ]
