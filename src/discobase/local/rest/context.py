"""What a REST handler module depends on, and nothing more.

Handlers do not see the server: each resource module gets a :class:`RestContext` with the
store, the payload builders, the permission checker (:class:`~discobase.local.rest.access.Access`),
the event sender (:class:`Events`, over any :class:`Dispatcher` such as the gateway hub) and
the few settings it needs. The server builds one context and hands it to
:class:`~discobase.local.rest.RestAPI` and to the interactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from discobase.local.payloads import Payloads
from discobase.local.rest import http
from discobase.local.rest.access import Access
from discobase.local.rest.http import RequestLimits, Upload
from discobase.local.store import BotAccount, Channel, Member, Message, Store

__all__ = ["Dispatcher", "Events", "GuildFactory", "Resource", "RestContext"]


class Dispatcher(Protocol):
    """Sends a gateway event to the sessions that should see it (the gateway hub)."""

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None = None,
        author_id: int | None = None,
        user_ids: Iterable[int] | None = None,
    ) -> None: ...


class GuildFactory(Protocol):
    """Creates a guild with Discord's defaults (``POST /guilds``) and returns its id."""

    def __call__(self, name: str, owner: BotAccount, *, dispatch: bool) -> int: ...


class Events:
    """The gateway events the handlers send, built from the store's objects."""

    def __init__(self, store: Store, payloads: Payloads, dispatcher: Dispatcher) -> None:
        self.store = store
        self.payloads = payloads
        self.dispatcher = dispatcher

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None = None,
        author_id: int | None = None,
        user_ids: Iterable[int] | None = None,
    ) -> None:
        await self.dispatcher.dispatch(
            event, data, guild_id=guild_id, channel_id=channel_id, author_id=author_id, user_ids=user_ids
        )

    async def dispatch_message(self, event: str, channel: Channel, message: Message) -> None:
        """MESSAGE_CREATE / MESSAGE_UPDATE to whoever sees ``channel`` (a DM's two users)."""
        if channel.type == 1:
            await self.dispatch(
                event,
                self.payloads.message(message, gateway=True),
                guild_id=None,
                author_id=message.author_id,
                user_ids=channel.recipients,
            )
            return
        await self.dispatch(
            event,
            self.payloads.message(message, gateway=True),
            guild_id=channel.guild_id,
            channel_id=channel.id,
            author_id=message.author_id,
        )

    async def message_deleted(self, channel: Channel, message_id: int) -> None:
        """MESSAGE_DELETE ``{id, channel_id, guild_id?}`` to whoever sees ``channel``.

        In a DM, its two users, and no ``guild_id``.
        """
        if channel.type == 1:
            await self.dispatch(
                "MESSAGE_DELETE",
                {"id": str(message_id), "channel_id": str(channel.id)},
                guild_id=None,
                user_ids=channel.recipients,
            )
            return
        await self.dispatch(
            "MESSAGE_DELETE",
            {"id": str(message_id), "channel_id": str(channel.id), "guild_id": str(channel.guild_id)},
            guild_id=channel.guild_id,
            channel_id=channel.id,
        )

    async def member_added(self, member: Member, *, user_ids: Iterable[int] | None = None) -> None:
        """GUILD_MEMBER_ADD: the member and ``guild_id``, to the guild's sessions (or ``user_ids``').

        See https://discord.com/developers/docs/events/gateway-events#guild-member-add.
        """
        payload = self.payloads.member(member)
        payload["guild_id"] = str(member.guild_id)
        await self.dispatch("GUILD_MEMBER_ADD", payload, guild_id=member.guild_id, user_ids=user_ids)

    async def member_removed(self, guild_id: int, user_id: int) -> None:
        """Remove a member and tell the sessions that see it.

        GUILD_DELETE goes to its own sessions (a bot), GUILD_MEMBER_REMOVE ``{guild_id, user}``
        to the guild's others.
        """
        if user_id in self.store.bots and self.store.bots[user_id].bot:
            await self.dispatch("GUILD_DELETE", {"id": str(guild_id)}, guild_id=guild_id, user_ids=[user_id])
        self.store.remove_member(guild_id, user_id)
        await self.dispatch(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": self.payloads.user(user_id)},
            guild_id=guild_id,
        )

    async def member_updated(self, member: Member) -> None:
        """GUILD_MEMBER_UPDATE (https://discord.com/developers/docs/events/gateway-events#guild-member-update)."""
        payload = self.payloads.member(member)
        payload["guild_id"] = str(member.guild_id)
        await self.dispatch("GUILD_MEMBER_UPDATE", payload, guild_id=member.guild_id)


@dataclass(frozen=True, slots=True)
class RestContext:
    """The dependencies of the REST handlers and the interactions.

    ``gateway_url`` is a callable because the port is known only once the server listens;
    ``allow_guild_create`` lets bots ``POST /guilds`` (Discord refuses most bots).
    """

    store: Store
    payloads: Payloads
    access: Access
    events: Events
    limits: RequestLimits
    gateway_url: Callable[[], str]
    create_guild: GuildFactory
    allow_guild_create: bool = False


class Resource:
    """Base of one resource's handlers: short names for the context's helpers."""

    bot = staticmethod(http.bot)
    path_id = staticmethod(http.path_id)
    read_json = staticmethod(http.read_json)

    def __init__(self, ctx: RestContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.payloads = ctx.payloads
        self.access = ctx.access
        self.events = ctx.events
        self.dispatch = ctx.events.dispatch
        self.dispatch_message = ctx.events.dispatch_message
        self.permissions = ctx.access.permissions
        self.can_see = ctx.access.can_see
        self.guild_for = ctx.access.guild_for
        self.channel_for = ctx.access.channel_for
        self.message_for = ctx.access.message_for
        self.member_target = ctx.access.member_target

    async def read_message_body(self, request: web.Request) -> tuple[Any, list[Upload]]:
        return await http.read_message_body(request, self.ctx.limits)
