"""``LocalDiscord``: a Discord-compatible server (REST v10 + Gateway v10 on one port).

Unmodified discord.py connects to it through :meth:`LocalDiscord.attach`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections import Counter
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from aiohttp import web
from loguru import logger

from discobase._discord.interactions import RESPONSE_WINDOW, TOKEN_LIFETIME
from discobase._discord.limits import GUILD_NAME_MAX, GUILD_NAME_MIN, MESSAGE_FILES_LIMIT, UPLOAD_LIMIT
from discobase._discord.permissions import DEFAULT_BOT_PERMISSIONS, Overwrite
from discobase._discord.snowflakes import iso_timestamp
from discobase.exceptions import LocalServerError
from discobase.local.admin import add_admin_routes
from discobase.local.backend import StoreGatewayBackend
from discobase.local.cdn import DEFAULT_URL_LIFETIME, AttachmentSigner, serve_attachment
from discobase.local.client import attach
from discobase.local.faults import FaultInjector
from discobase.local.front import HttpFront, ProtocolLogger
from discobase.local.gateway import GatewayHub
from discobase.local.interactions import Interactions
from discobase.local.observe import EventRecorder, gateway_event_name
from discobase.local.payloads import Payloads
from discobase.local.people import Person
from discobase.local.ratelimit import RateLimiter, RateLimitProfile
from discobase.local.rest import (
    API_PREFIXES,
    Access,
    Events,
    RequestLimits,
    RestAPI,
    RestContext,
)
from discobase.local.store import BotAccount, Channel, Grant, Member, Role, Store, hash_token

if TYPE_CHECKING:
    import discord

__all__ = ["LocalDiscord", "attach"]

MiB = 1024 * 1024


class LocalDiscord:
    """A local Discord-compatible server.

    Args:
        data: SQLite file that keeps everything across restarts, or ``":memory:"``.
        host: address to bind; loopback by default.
        port: TCP port; 0 picks a free one (see :attr:`url`).
        rate_limits: ``"discord"`` applies Discord's buckets and the 50/s global
            limit with real headers and 429s; ``"off"`` applies none; or a
            :class:`~discobase.local.ratelimit.RateLimitProfile`.
        ratelimit_headers: send ``X-RateLimit-*`` headers on successful
            responses (with them discord.py throttles before it hits a 429).
        allow_guild_create: accept ``POST /guilds`` from bots (Discord refuses
            it since 2025; this legacy switch lets old programs run).
        seed: seed of the fault injector's random numbers.
        heartbeat_interval: gateway heartbeat interval in seconds.
        upload_limit: largest attachment in bytes (Discord: 10 MiB).
        attachment_url_lifetime: seconds an attachment URL stays valid after it
            was handed out (Discord's last about a day); see :mod:`~discobase.local.cdn`.
        interaction_response_window: seconds a bot has to answer an interaction (Discord: 3).
        interaction_token_lifetime: seconds an interaction's token works for follow-ups
            and edits (Discord: 15 minutes); see :mod:`~discobase.local.interactions`.

    Use it as an async context manager, or call :meth:`start` and :meth:`stop`.
    ``data`` must be a ``str`` or ``os.PathLike`` (``None`` is refused with a
    :class:`TypeError`; pass ``":memory:"`` for a server that keeps nothing). A new
    data file is created with mode 0600 and keeps only digests of bot tokens.
    """

    def __init__(
        self,
        data: str | os.PathLike[str] = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: Literal["discord", "off"] | RateLimitProfile = "discord",
        ratelimit_headers: bool = True,
        allow_guild_create: bool = False,
        seed: int | None = 0,
        heartbeat_interval: float = 41.25,
        upload_limit: int = UPLOAD_LIMIT,
        attachment_url_lifetime: float = DEFAULT_URL_LIFETIME,
        interaction_response_window: float = RESPONSE_WINDOW,
        interaction_token_lifetime: float = TOKEN_LIFETIME,
    ) -> None:
        self.store = Store(data)
        try:
            self.signer = AttachmentSigner(
                self.store.meta_secret("attachment_url_key"), lifetime=attachment_url_lifetime
            )
        except ValueError:
            self.store.close()
            raise
        self.host = host
        self.port = port
        self.allow_guild_create = allow_guild_create
        self.upload_limit = upload_limit
        self.request_limit = MESSAGE_FILES_LIMIT + upload_limit
        self.payloads = Payloads(self.store, self.signer)
        self.ratelimiter = RateLimiter(rate_limits, headers=ratelimit_headers)
        self.faults = FaultInjector(seed)
        self._stats: Counter[str] = Counter()
        self._templates: dict[str, str] = {}
        self.front = HttpFront(self.store, self.faults, self.ratelimiter, self._stats, self._templates)
        self.gateway_backend = StoreGatewayBackend(self)
        self.gateway = GatewayHub(
            self.gateway_backend,
            stats=self._stats,
            faults=self.faults,
            heartbeat_interval_ms=int(heartbeat_interval * 1000),
        )
        self.recorder = EventRecorder(self.gateway)
        context = RestContext(
            store=self.store,
            payloads=self.payloads,
            access=Access(self.store),
            events=Events(self.store, self.payloads, self.recorder),
            limits=RequestLimits(upload_limit=self.upload_limit, request_limit=self.request_limit),
            gateway_url=lambda: self.gateway_url,
            create_guild=self.create_guild,
            allow_guild_create=allow_guild_create,
        )
        self.rest = RestAPI(context)
        self.interactions = Interactions(
            context,
            response_window=interaction_response_window,
            token_lifetime=interaction_token_lifetime,
        )
        self._people: dict[int, Person] = {}
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._runner is None:
            raise LocalServerError(
                "the local server is not started; use 'async with LocalDiscord()' or start()"
            )
        return f"http://{self._url_host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The REST base, ``http://host:port/api/v10``."""
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """The gateway's ``ws://`` URL (what ``GET /gateway/bot`` returns)."""
        return f"ws://{self._url_host}:{self.port}/gateway"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Bind and serve; with ``port=0`` a free port is chosen."""
        if self._runner is not None:
            return
        app = self.build_app()
        runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=ProtocolLogger())
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self.payloads.base_url = self.url
        self.gateway.url = self.gateway_url
        logger.info("local Discord server listening on {}", self.url)

    async def stop(self) -> None:
        """Close every gateway session, stop serving and close the store."""
        if self._runner is None:
            return
        for person in self._people.values():
            await person.close()
        await self.gateway.close()
        await self._runner.cleanup()
        self._runner = None
        self.store.close()
        logger.info("local Discord server stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ accounts and guilds
    def create_bot(self, name: str = "discobase") -> BotAccount:
        """A new bot user with its application and token.

        The token is in the returned account's :attr:`~BotAccount.token`; like Discord's
        developer portal, the server shows it this once: the data file keeps only its
        SHA-256 digest, so after a restart the token still works but cannot be read
        back (:meth:`reset_token` makes a new one).
        """
        if not 2 <= len(name) <= 32:
            raise LocalServerError(f"a bot name must be 2 to 32 characters, not {len(name)}: {name!r}")
        return self.store.create_bot(name)

    def reset_token(self, bot: BotAccount, token: str | None = None) -> str:
        """Give ``bot`` a new token and return it, as "Reset Token" does on Discord:
        ``token`` if given (printable ASCII, no spaces), else a new one in Discord's format.

        The old token stops working at once, for REST and for IDENTIFY/RESUME; called on
        the running server's event loop, it also closes the bot's open gateway connections
        with 4004 (authentication failed).
        """
        if bot.user_id not in self.store.bots:
            raise LocalServerError(f"no bot with id {bot.user_id}")
        if token is not None and (
            not token or not all("!" <= char <= "~" for char in token) or len(token) > 200
        ):
            raise LocalServerError("a bot token must be 1 to 200 printable ASCII characters without spaces")
        try:
            token = self.store.reset_token(self.store.bots[bot.user_id], token)
        except ValueError as error:
            raise LocalServerError(f"cannot give bot {bot.user_id} that token: {error}") from None
        self._soon(self._close_sessions_of(bot.user_id))
        return token

    async def _close_sessions_of(self, user_id: int) -> None:
        """Close ``user_id``'s gateway connections with 4004 (authentication failed)."""
        await self.gateway.close_sessions(4004, user_id=user_id)

    def bot(self, name: str) -> BotAccount | None:
        """The bot named ``name``, if there is one."""
        return self.store.bot_by_name(name)

    @property
    def bots(self) -> list[BotAccount]:
        return [account for account in self.store.bots.values() if account.bot]

    def create_user(self, name: str, *, global_name: str | None = None) -> Person:
        """A person (not a bot) who acts through the REST routes as a client would.

        A user on Discord's new name system (discriminator ``"0"``, ``global_name`` defaulting
        to ``name``). Add them to a guild with :meth:`add_member` or :meth:`Person.join`.
        """
        if not 2 <= len(name) <= 32:
            raise LocalServerError(f"a user name must be 2 to 32 characters, not {len(name)}: {name!r}")
        person = Person(self, self.store.create_user(name, global_name))
        self._people[person.id] = person
        return person

    def person(self, user_id: int) -> Person:
        """The :class:`Person` of a user made with :meth:`create_user` (also after a restart)."""
        person = self._people.get(user_id)
        if person is None:
            account = self.store.bots.get(user_id)
            if account is None or account.bot:
                raise LocalServerError(f"no person with id {user_id}")
            person = self._people[user_id] = Person(self, account)
        return person

    def authorize(
        self,
        person: Person,
        bot: BotAccount,
        scopes: tuple[str, ...] = ("identify", "applications.commands.permissions.update"),
    ) -> str:
        """An OAuth2 access token that ``person`` gave ``bot``'s application.

        What the authorization-code flow ends with on Discord; send it as ``Bearer <token>``.

        Discord lets only such a token edit command permissions
        (``PUT .../commands/{command_id}/permissions``), on behalf of a person who may manage
        the guild and its roles. Like bot tokens, only the token's digest is kept.
        """
        if not bot.bot:
            raise LocalServerError(f"{bot!r} is not a bot: only applications get OAuth2 grants")
        token = secrets.token_urlsafe(22)
        self.store.save_grant(Grant(hash_token(token), person.id, bot.application_id, list(scopes)))
        return token

    def create_role(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int = 0,
        mentionable: bool = False,
        color: int = 0,
        hoist: bool = False,
    ) -> int:
        """Create a role directly (as the guild's owner would) just above @everyone; returns its id.

        Like the other direct helpers this sends no gateway event: make roles before clients connect.
        """
        if guild_id not in self.store.guilds:
            raise LocalServerError(f"no guild with id {guild_id}")
        for other in self.store.guild_roles(guild_id):
            if other.id != guild_id and other.position >= 1:
                other.position += 1
                self.store.save_role(other)
        role = Role(
            id=self.store.next_id(),
            guild_id=guild_id,
            name=name,
            permissions=permissions,
            position=1,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        self.store.save_role(role)
        return role.id

    def create_guild(
        self,
        name: str,
        owner: BotAccount | int | None = None,
        *,
        members: list[BotAccount] | None = None,
        channels: bool = True,
        dispatch: bool = True,
    ) -> int:
        """Create a guild (as a person would on Discord) and return its id.

        ``owner`` (a bot, or a user id) owns the guild and may do anything in
        it; without one a placeholder owner is made. Each bot of ``members``
        joins with :data:`DEFAULT_BOT_PERMISSIONS` (see :meth:`add_member`).
        With ``channels`` the guild gets Discord's default ``Text Channels``
        category and ``#general``.
        """
        if not GUILD_NAME_MIN <= len(name) <= GUILD_NAME_MAX:
            raise LocalServerError(
                f"a guild name must be {GUILD_NAME_MIN} to {GUILD_NAME_MAX} characters: {name!r}"
            )
        owner_id = owner.user_id if isinstance(owner, BotAccount) else owner
        if owner_id is None:
            owner_id = self.store.next_id()
        guild = self.store.create_guild(name, owner_id)
        if isinstance(owner, BotAccount) or owner_id in self.store.bots:
            self.store.save_member(Member(guild.id, owner_id, [], iso_timestamp(self.store.next_id())))
        if channels:
            category = Channel(self.store.next_id(), guild.id, 4, "Text Channels", position=0)
            general = Channel(self.store.next_id(), guild.id, 0, "general", position=0, parent_id=category.id)
            self.store.save_channel(category)
            self.store.save_channel(general)
            guild.system_channel_id = general.id
            self.store.save_guild(guild)
        for bot in members or []:
            self.add_member(guild.id, bot, dispatch=False)
        if dispatch:
            for user_id in dict.fromkeys([owner_id, *(bot.user_id for bot in members or [])]):
                self._dispatch_soon("GUILD_CREATE", guild.id, user_id)
        return guild.id

    def add_member(
        self,
        guild_id: int,
        bot: BotAccount | Person,
        *,
        permissions: int = DEFAULT_BOT_PERMISSIONS,
        roles: list[int] | None = None,
        nick: str | None = None,
        dispatch: bool = True,
    ) -> None:
        """Add a bot or a person to a guild.

        A bot joins as the OAuth2 invite flow adds it: with a managed role named after it
        that holds ``permissions`` (its clients get GUILD_CREATE). A person joins with
        ``roles`` (ids) and ``nick``; the guild's clients get GUILD_MEMBER_ADD, sent once the
        event loop runs (:meth:`Person.join` waits until it has been sent).
        """
        if guild_id not in self.store.guilds:
            raise LocalServerError(f"no guild with id {guild_id}")
        account = bot.account if isinstance(bot, Person) else bot
        if self.store.member(guild_id, account.user_id) is not None:
            return
        if not account.bot:
            unknown = [r for r in roles or [] if self.store.roles.get(r) is None or r == guild_id]
            if unknown:
                raise LocalServerError(f"no roles {unknown} in guild {guild_id}")
            member = Member(
                guild_id, account.user_id, list(roles or []), iso_timestamp(self.store.next_id()), nick
            )
            self.store.save_member(member)
            if dispatch:
                self._soon(self.rest.member_added(member))
            return
        existing = self.store.guild_roles(guild_id)
        role = Role(
            id=self.store.next_id(),
            guild_id=guild_id,
            name=account.name,
            permissions=permissions,
            position=max((r.position for r in existing), default=0) + 1,
            managed=True,
            bot_id=account.user_id,
        )
        self.store.save_role(role)
        member = Member(guild_id, account.user_id, [role.id], iso_timestamp(self.store.next_id()))
        self.store.save_member(member)
        if dispatch:
            self._soon(self._bot_joined(member, role))

    async def _bot_joined(self, member: Member, role: Role) -> None:
        """Send what Discord sends when a bot is added to a guild.

        The guild's other members get GUILD_ROLE_CREATE for the bot's managed role, the bot's
        own sessions GUILD_CREATE (``on_guild_join``), then the others GUILD_MEMBER_ADD (with
        GUILD_MEMBERS) (https://discord.com/developers/docs/events/gateway-events#guild-create,
        #guild-member-add).
        """
        guild_id = member.guild_id
        others = [m.user_id for m in self.store.guild_members(guild_id) if m.user_id != member.user_id]
        await self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild_id), "role": self.payloads.role(role)},
            guild_id=guild_id,
            user_ids=others,
        )
        payload = self._joined_guild(guild_id, member.user_id)
        await self.gateway.dispatch("GUILD_CREATE", payload, guild_id=None, user_ids=[member.user_id])
        await self.rest.ctx.events.member_added(member, user_ids=others)

    def remove_member(self, guild_id: int, user: BotAccount | Person) -> None:
        """Remove a member, as a kick would.

        The guild's clients get GUILD_MEMBER_REMOVE and a removed bot's clients GUILD_DELETE,
        once the event loop runs.
        """
        account = user.account if isinstance(user, Person) else user
        if self.store.member(guild_id, account.user_id) is None:
            return
        if self.store.guilds[guild_id].owner_id == account.user_id:
            raise LocalServerError("the guild's owner cannot be removed")
        self._soon(self.rest.member_removed(guild_id, account.user_id))

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the running loop in the background (closed unrun when not serving)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self._runner is None:
            work.close()
            return
        task = loop.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,
        parent_id: int | None = None,
        overwrites: list[Overwrite] | None = None,
    ) -> int:
        """Create a channel directly (no permission checks, no rate limits)."""
        if guild_id not in self.store.guilds:
            raise LocalServerError(f"no guild with id {guild_id}")
        position = len(self.store.guild_channels(guild_id))
        channel = Channel(
            self.store.next_id(), guild_id, type, name, position, parent_id, overwrites=list(overwrites or [])
        )
        self.store.save_channel(channel)
        return channel.id

    def guild_id(self, name: str) -> int:
        """The id of the guild named ``name``."""
        guilds = self.store.guilds_by_name(name)
        if not guilds:
            raise LocalServerError(f"no guild named {name!r}")
        return guilds[0].id

    def invite_url(self, bot: BotAccount, permissions: int = DEFAULT_BOT_PERMISSIONS) -> str:
        """The OAuth2 URL that would add ``bot`` to a guild on Discord."""
        return (
            f"https://discord.com/oauth2/authorize?client_id={bot.application_id}"
            f"&scope=bot+applications.commands&permissions={permissions}"
        )

    def _dispatch_soon(self, event: str, guild_id: int, user_id: int) -> None:
        """Send ``user_id``'s sessions ``event`` with the guild they joined, in the background."""
        if self._runner is None:
            return  # not serving yet: clients get the guild at IDENTIFY
        payload = self._joined_guild(guild_id, user_id)
        self._soon(self.gateway.dispatch(event, payload, guild_id=None, user_ids=[user_id]))

    def _joined_guild(self, guild_id: int, user_id: int) -> dict[str, Any]:
        """The GUILD_CREATE of a guild ``user_id`` joined, as ``on_guild_join`` expects it."""
        payload = self.gateway_backend.guild_create_payload(guild_id, user_id)
        payload.pop("unavailable", None)  # a join's GUILD_CREATE has no "unavailable"
        return payload

    # ------------------------------------------------------------------ statistics
    def stats(self) -> dict[str, int]:
        """Requests per route template since start or :meth:`reset_stats`; gateway ones: ``GATEWAY ...``."""
        return dict(self._stats)

    def reset_stats(self) -> None:
        self._stats.clear()

    # ------------------------------------------------------------------ waiting for what bots do
    async def wait_for(
        self,
        event: str,
        check: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The ``d`` of the oldest ``event`` the server sent that ``check`` accepts.

        Only events no earlier wait returned count; waits up to ``timeout`` seconds for one.

        ``event`` is a gateway name (``"MESSAGE_CREATE"``) or discord.py's (``"message"``,
        ``"reaction_add"``, ``"member_join"``, ...; see
        :data:`~discobase.local.observe.EVENT_NAMES`). Unlike discord.py's ``wait_for``,
        events sent *before* the call count too (each is returned once), so an answer quicker
        than the test is not missed. Raises
        :class:`~discobase.local.observe.EventTimeoutError` listing the latest events.
        """
        name = gateway_event_name(event)
        accept = check or (lambda data: True)
        found = await self.recorder.wait(name, accept, timeout=timeout)
        return found.data

    async def next_message(
        self,
        channel: Any,
        *,
        author: Any | None = None,
        after: Any | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The next message posted in ``channel`` by a bot, or by ``author``, that no earlier wait returned.

        ``channel`` is an id or anything with ``id``; ``author`` a person, a bot account, a
        discord.py client or user, or an id; ``after`` (a message or id) skips older messages.

        Interaction responses are left out: :meth:`Person.invoke
        <discobase.local.people.Person.invoke>` and :meth:`~discobase.local.people.Person.click`
        return them. Waits up to ``timeout`` seconds (see :meth:`wait_for`).
        """
        return await self.recorder.next_message(channel, author=author, after=after, timeout=timeout)

    # ------------------------------------------------------------------ discord.py
    def attach(self, client: discord.Client) -> None:
        """Point one discord.py client at this server (REST and gateway).

        See :func:`attach` for the mechanism; call before ``client.start``/``login``.
        """
        attach(client, self.url)

    # ------------------------------------------------------------------ the aiohttp app
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self.front.middleware], client_max_size=self.request_limit + MiB)
        for prefix in API_PREFIXES:
            for method, template, handler in self.rest.routes() + self.interactions.routes():
                route = app.router.add_route(method, prefix + template, handler)
                self._templates[route.resource.canonical if route.resource else ""] = template
        add_admin_routes(self, app)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        # Any file name (braces included: aiohttp's default placeholder pattern refuses them).
        attachment = app.router.add_get(
            "/attachments/{channel_id}/{attachment_id}/{filename:[^/]+}", self._attachment
        )
        self._templates[attachment.resource.canonical if attachment.resource else ""] = (
            "/attachments/{channel_id}/{attachment_id}/{filename}"
        )
        return app

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        """The CDN route (see :func:`~discobase.local.cdn.serve_attachment`)."""
        return serve_attachment(request, self.signer, self.store.attachment_data)
