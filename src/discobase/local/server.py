"""``LocalDiscord``: a Discord-compatible server (REST v10 + Gateway v10 on one port).

Unmodified discord.py connects to it through :meth:`LocalDiscord.attach`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
import sys
import time
import weakref
from collections import Counter
from collections.abc import Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeGuard, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from loguru import logger

from discobase._discord.gateway import LARGE_THRESHOLD
from discobase._discord.interactions import RESPONSE_WINDOW, TOKEN_LIFETIME
from discobase._discord.limits import GUILD_NAME_MAX, GUILD_NAME_MIN, MESSAGE_FILES_LIMIT, UPLOAD_LIMIT
from discobase._discord.permissions import DEFAULT_BOT_PERMISSIONS, Overwrite
from discobase._discord.snowflakes import coerce_snowflake, is_object_id, iso_timestamp, snowflake_ms
from discobase.exceptions import LocalServerError
from discobase.local.cdn import DEFAULT_URL_LIFETIME, GONE_MESSAGE, AttachmentSigner
from discobase.local.errors import HTTPError, not_found_route, unauthorized
from discobase.local.faults import Fault, FaultInjector, fault_response
from discobase.local.gateway import GatewayHub, GatewayIdentity
from discobase.local.interactions import Interactions
from discobase.local.jsonbody import UndecodableJSON, decode
from discobase.local.payloads import Payloads
from discobase.local.people import Person
from discobase.local.ratelimit import Decision, RateLimiter, RateLimitProfile, message_age_metadata
from discobase.local.rest import (
    API_PREFIXES,
    BOT_KEY,
    GRANT_KEY,
    Access,
    Events,
    RequestLimits,
    RestAPI,
    RestContext,
    json_response,
)
from discobase.local.store import BotAccount, Channel, Grant, Member, Role, Store, hash_token

if TYPE_CHECKING:
    import discord

__all__ = ["LocalDiscord", "attach"]

MiB = 1024 * 1024

#: Routes that need no ``Authorization`` header (like Discord's and its CDN's).
_PUBLIC_ROUTES = frozenset(
    {
        "GET /gateway",
        "GET /attachments/{channel_id}/{attachment_id}/{filename}",
        # interaction callbacks and follow-ups are authorised by the interaction's token
        "POST /interactions/{interaction_id}/{interaction_token}/callback",
        "POST /webhooks/{webhook_id}/{webhook_token}",
        "GET /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "GET /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
    }
)
#: Routes an OAuth2 ``Bearer`` token may call (the command-permission routes; see
#: :mod:`discobase.local.rest.application`); with any other route a Bearer token is 401.
_BEARER_ROUTES = frozenset(
    {
        "GET /applications/{application_id}/guilds/{guild_id}/commands/permissions",
        "GET /applications/{application_id}/guilds/{guild_id}/commands/{command_id}/permissions",
        "PUT /applications/{application_id}/guilds/{guild_id}/commands/{command_id}/permissions",
    }
)
_DISCORD_API = re.compile(r"^https?://(?:[a-z]+\.)?discord(?:app)?\.com/api")
_DISCORD_GATEWAY = re.compile(r"^wss?://gateway(?:[-.][a-z0-9-]+)*\.discord(?:app)?\.gg")
_MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id")


class _ProtocolLogger(logging.Logger):
    """The logger of aiohttp's HTTP protocol handler for this server.

    aiohttp answers a request it cannot parse (a request line or header over 8190
    bytes, a malformed method, version or header) with 400 itself, and logs it with
    a traceback at ERROR level: any client could fill the log that way. Such a
    request is logged here at debug level, without a traceback; every other record
    goes on to aiohttp's ``aiohttp.server`` logger as before.
    """

    def __init__(self) -> None:
        super().__init__("discobase.local.http")
        self.parent = logging.getLogger("aiohttp.server")

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(error, HttpProcessingError):
            logger.debug("unparsable HTTP request refused with 400: {}", type(error).__name__)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _admin_error(message: str) -> HTTPError:
    """A 400 of the admin API (its bodies are shaped like Discord's errors)."""
    return HTTPError(400, 50035, message)


async def _admin_body(request: web.Request, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """An admin request's JSON object body; ``empty`` is used when there is no body
    (``None``: a body is required). Undecodable → 400/50109, not an object → 400/50035."""
    raw = await request.read()
    if not raw.strip():
        if empty is None:
            raise _admin_error("the body must be a JSON object")
        return dict(empty)
    try:
        body = decode(raw)
    except UndecodableJSON:
        raise HTTPError(400, 50109, "The request body contains invalid JSON.") from None
    if not isinstance(body, dict):
        raise _admin_error(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _is_close_code(code: object) -> TypeGuard[int]:
    """Whether ``code`` is a close code a server may send: 1000-1003, 1007-1014 or 3000-4999
    (RFC 6455 §7.4; 1004-1006 and 1015 are reserved and never sent in a close frame)."""
    return (
        isinstance(code, int)
        and not isinstance(code, bool)
        and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)
    )


def attach(client: discord.Client, url: str) -> None:
    """Point one discord.py client at the local server at ``url`` (``http://host:port``).

    Per client, nothing process-wide: the client's ``HTTPClient.request``
    rewrites each route's Discord URL (``https://discord.com/api/...``) to the
    server, and its ``HTTPClient.ws_connect`` swaps Discord's gateway URL for
    the server's ``ws://host:port/gateway``, keeping the query discord.py adds.
    Other clients in the process keep talking to whatever they talked to.
    """
    http = client.http
    base = url.rstrip("/")
    if getattr(http, "_discobase_local", None) == base:
        return
    api = f"{base}/api"
    gateway = "ws" + base[4:] + "/gateway" if base.startswith("http") else base + "/gateway"
    original_request = http.request
    original_ws_connect = http.ws_connect

    async def request(route: Any, **kwargs: Any) -> Any:
        route.url = _DISCORD_API.sub(api, route.url)
        return await original_request(route, **kwargs)

    async def ws_connect(ws_url: str, *, compress: int = 0) -> Any:
        host = ws_url.split("?", 1)[0]
        if _DISCORD_GATEWAY.match(host):
            query = ws_url.split("?", 1)[1] if "?" in ws_url else ""
            ws_url = f"{gateway}?{query}" if query else gateway
        return await original_ws_connect(ws_url, compress=compress)

    original_login = http.static_login

    async def static_login(token: str) -> Any:
        user = await original_login(token)
        # interaction responses and follow-ups go through discord.py's webhook adapter on
        # this client's session: remember which server the session talks to
        _WEBHOOK_SESSIONS[http._HTTPClient__session] = api  # type: ignore[attr-defined]
        return user

    setattr(http, "request", request)  # noqa: B010 - an instance attribute shadows the method
    setattr(http, "ws_connect", ws_connect)  # noqa: B010
    setattr(http, "static_login", static_login)  # noqa: B010
    setattr(http, "_discobase_local", base)  # noqa: B010
    _install_webhook_adapter()


#: aiohttp sessions of attached discord.py clients → the local server's API base.
_WEBHOOK_SESSIONS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _install_webhook_adapter() -> None:
    """Make discord.py's webhook adapter (used for interaction callbacks, follow-ups and
    ``@original``) send the requests of attached clients' sessions to their local server.

    The adapter is discord.py's context variable ``async_context``; it is replaced, in the
    current context, by a subclass that rewrites Discord's URL only for a session in
    :data:`_WEBHOOK_SESSIONS`, so other clients keep talking to Discord.
    """
    from discord.webhook import async_ as webhook_async

    if isinstance(webhook_async.async_context.get(), _LocalWebhookAdapter):
        return
    webhook_async.async_context.set(_LocalWebhookAdapter())


def _local_webhook_adapter_class() -> type[Any]:
    from discord.webhook.async_ import AsyncWebhookAdapter

    class LocalWebhookAdapter(AsyncWebhookAdapter):
        async def request(self, route: Any, session: Any, **kwargs: Any) -> Any:
            api = _WEBHOOK_SESSIONS.get(session)
            if api is not None:
                route.url = _DISCORD_API.sub(api, route.url)
            return await super().request(route, session, **kwargs)

    return LocalWebhookAdapter


_LocalWebhookAdapter = _local_webhook_adapter_class()


class _Backend:
    """What the gateway needs from the REST side's state (see ``GatewayBackend``)."""

    def __init__(self, server: LocalDiscord) -> None:
        self.server = server

    def authenticate(self, token: str) -> GatewayIdentity | None:
        bot = self.server.store.bot_for_token(token)
        if bot is None or not bot.bot:
            return None
        return GatewayIdentity(
            user_id=bot.user_id,
            application_id=bot.application_id,
            user=self.server.payloads.me(bot),  # READY's user has the private fields, as /users/@me
        )

    def guild_ids_for(self, user_id: int) -> list[int]:
        return self.server.store.guilds_of(user_id)

    def guild_create_payload(
        self, guild_id: int, user_id: int, *, presences: bool = False, large_threshold: int = LARGE_THRESHOLD
    ) -> dict[str, Any]:
        store = self.server.store
        channels = [c for c in store.guild_channels(guild_id) if self.can_see(user_id, guild_id, c.id)]
        return self.server.payloads.guild_create(
            store.guilds[guild_id],
            channels,
            viewer_id=user_id,
            presences=presences,
            large_threshold=large_threshold,
        )

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        return self.server.rest.can_see(user_id, guild_id, channel_id)

    def member_chunk(
        self, guild_id: int, user_id: int, query: str | None, limit: int, user_ids: list[int] | None
    ) -> list[dict[str, Any]]:
        store = self.server.store
        if store.member(guild_id, user_id) is None:
            return []
        members = store.guild_members(guild_id)
        if user_ids:
            wanted = set(user_ids)
            members = [m for m in members if m.user_id in wanted]
        elif query:
            members = [
                m for m in members if self.server.payloads.user(m.user_id)["username"].startswith(query)
            ]
        if limit:
            members = members[:limit]
        return [self.server.payloads.member(m) for m in members]


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
        self.gateway = GatewayHub(
            _Backend(self),
            stats=self._stats,
            faults=self.faults,
            heartbeat_interval_ms=int(heartbeat_interval * 1000),
        )
        context = RestContext(
            store=self.store,
            payloads=self.payloads,
            access=Access(self.store),
            events=Events(self.store, self.payloads, self.gateway),
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
        self._backend = _Backend(self)
        self._runner: web.AppRunner | None = None
        self._templates: dict[str, str] = {}
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
        runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=_ProtocolLogger())
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
        if self._runner is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return token
            task = loop.create_task(self._close_sessions_of(bot.user_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return token

    async def _close_sessions_of(self, user_id: int) -> None:
        await self.gateway.close_sessions(4004, user_id=user_id)

    def bot(self, name: str) -> BotAccount | None:
        """The bot named ``name``, if there is one."""
        return self.store.bot_by_name(name)

    @property
    def bots(self) -> list[BotAccount]:
        return [account for account in self.store.bots.values() if account.bot]

    def create_user(self, name: str, *, global_name: str | None = None) -> Person:
        """A person (not a bot): a user on Discord's new name system (discriminator ``"0"``,
        ``global_name`` defaulting to ``name``) who acts through the REST routes as a client
        would. Add them to a guild with :meth:`add_member` or :meth:`Person.join`."""
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
        """An OAuth2 access token that ``person`` gave ``bot``'s application (what the
        authorization-code flow ends with on Discord); send it as ``Bearer <token>``.

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
        """What Discord sends when a bot is added to a guild: the guild's other members get
        GUILD_ROLE_CREATE for the bot's managed role, the bot's own sessions GUILD_CREATE
        (``on_guild_join``), then the others GUILD_MEMBER_ADD (with GUILD_MEMBERS)
        (https://discord.com/developers/docs/events/gateway-events#guild-create,
        #guild-member-add)."""
        guild_id = member.guild_id
        others = [m.user_id for m in self.store.guild_members(guild_id) if m.user_id != member.user_id]
        await self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild_id), "role": self.payloads.role(role)},
            guild_id=guild_id,
            user_ids=others,
        )
        payload = self._backend.guild_create_payload(guild_id, member.user_id)
        payload.pop("unavailable", None)  # a join's GUILD_CREATE has no "unavailable" (on_guild_join)
        await self.gateway.dispatch("GUILD_CREATE", payload, guild_id=None, user_ids=[member.user_id])
        await self.rest.ctx.events.member_added(member, user_ids=others)

    def remove_member(self, guild_id: int, user: BotAccount | Person) -> None:
        """Remove a member (as a kick would): the guild's clients get GUILD_MEMBER_REMOVE and a
        removed bot's clients GUILD_DELETE, once the event loop runs."""
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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: clients get the guild at IDENTIFY
        if self._runner is None:
            return
        guild = self.store.guilds[guild_id]
        payload = self._backend.guild_create_payload(guild.id, user_id)
        payload.pop("unavailable", None)  # a join's GUILD_CREATE has no "unavailable" (on_guild_join)
        task = loop.create_task(self.gateway.dispatch(event, payload, guild_id=None, user_ids=[user_id]))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ statistics
    def stats(self) -> dict[str, int]:
        """Requests per route template since start (or :meth:`reset_stats`),
        e.g. ``{"POST /channels/{channel_id}/messages": 12}``; gateway counters
        are named ``GATEWAY ...``."""
        return dict(self._stats)

    def reset_stats(self) -> None:
        self._stats.clear()

    # ------------------------------------------------------------------ discord.py
    def attach(self, client: discord.Client) -> None:
        """Point one discord.py client at this server (REST and gateway).

        See :func:`attach` for the mechanism; call before ``client.start``/``login``.
        """
        attach(client, self.url)

    # ------------------------------------------------------------------ the aiohttp app
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=self.request_limit + MiB)
        for prefix in API_PREFIXES:
            for method, template, handler in self.rest.routes() + self.interactions.routes():
                route = app.router.add_route(method, prefix + template, handler)
                self._templates[route.resource.canonical if route.resource else ""] = template
        self._add_admin_routes(app)
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

    def _add_admin_routes(self, app: web.Application) -> None:
        """``/_local/...``: statistics, fault injection and gateway control over HTTP,
        for a standalone server (``discobase local serve``). Not part of Discord's API.

        Bodies are JSON objects (read with the same nesting bound as the REST routes);
        anything else, and any field of the wrong type or out of range, is a 400 with
        a ``{"message", "code"}`` body naming what is wrong, never a 5xx.
        """

        async def get_stats(request: web.Request) -> web.Response:
            return json_response(self.stats())

        async def reset_stats(request: web.Request) -> web.Response:
            self.reset_stats()
            return web.Response(status=204)

        async def get_faults(request: web.Request) -> web.Response:
            return json_response([fault.to_dict() for fault in self.faults.faults])

        async def add_fault(request: web.Request) -> web.Response:
            spec = await _admin_body(request)
            try:
                fault = self.faults.add(Fault.from_spec(spec))
            except (ValueError, TypeError, OverflowError) as error:
                raise _admin_error(str(error)) from None
            return json_response(fault.to_dict(), status=201)

        async def clear_faults(request: web.Request) -> web.Response:
            self.faults.clear()
            return web.Response(status=204)

        async def gateway_action(request: web.Request) -> web.Response:
            action = request.match_info["action"]
            if action not in ("close", "reconnect", "invalid_session", "drop"):
                raise not_found_route()
            body = await _admin_body(request, empty={})
            if action == "close":
                code = body.get("code", 4000)
                if not _is_close_code(code):
                    raise _admin_error(f"code must be a WebSocket close code (1000-4999), got {code!r}")
                count = await self.gateway.close_sessions(code)
            elif action == "reconnect":
                count = await self.gateway.send_reconnect()
            elif action == "invalid_session":
                resumable = body.get("resumable", False)
                if not isinstance(resumable, bool):
                    raise _admin_error(f"resumable must be true or false, got {resumable!r}")
                count = await self.gateway.send_invalid_session(resumable)
            else:
                count = await self.gateway.drop_connections()
            return json_response({"sessions": count})

        async def info(request: web.Request) -> web.Response:
            return json_response(
                {
                    "url": self.url,
                    "gateway_url": self.gateway_url,
                    "bots": [{"id": str(b.user_id), "name": b.name} for b in self.bots],
                    "guilds": [{"id": str(g.id), "name": g.name} for g in self.store.guilds.values()],
                    "sessions": self.gateway.session_count(),
                }
            )

        app.router.add_get("/_local/info", info)
        app.router.add_get("/_local/stats", get_stats)
        app.router.add_delete("/_local/stats", reset_stats)
        app.router.add_get("/_local/faults", get_faults)
        app.router.add_post("/_local/faults", add_fault)
        app.router.add_delete("/_local/faults", clear_faults)
        app.router.add_post("/_local/gateway/{action}", gateway_action)

    def _template(self, request: web.Request) -> str | None:
        route = request.match_info.route
        resource = route.resource
        if resource is None:
            return None
        return self._templates.get(resource.canonical)

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        """The CDN route: the bytes of an attachment, for a URL signed by this server that has
        not expired and names the attachment's file; 404 "This content is no longer available."
        (as Discord's CDN answers) for anything else, checked before the store is touched."""
        channel_id = coerce_snowflake(request.match_info["channel_id"])
        attachment_id = coerce_snowflake(request.match_info["attachment_id"])
        if (
            channel_id is None
            or attachment_id is None
            or not is_object_id(channel_id)
            or not is_object_id(attachment_id)
            or not self.signer.verify(
                channel_id, attachment_id, request.match_info["filename"], request.query
            )
        ):
            return web.Response(status=404, text=GONE_MESSAGE)
        data = self.store.attachment_data(channel_id, attachment_id)
        if data is None:
            return web.Response(status=404, text=GONE_MESSAGE)
        return web.Response(body=data, content_type="application/octet-stream")

    def _actor(
        self, request: web.Request, template: str | None
    ) -> tuple[BotAccount | None, Grant | None, str]:
        """The account of the request: ``Bot <token>`` for a bot, the bare token for a person
        (as Discord's own clients send it), ``Bearer <token>`` for an OAuth2 grant a person
        gave an application (its person is the account; only on the routes that take one);
        a token of the wrong kind authenticates nobody."""
        header = request.headers.get("Authorization", "")
        grant = None
        if header.startswith("Bearer "):
            grant = self.store.grant_for_token(header[7:]) if header[7:] else None
            if grant is None or f"{request.method} {template}" not in _BEARER_ROUTES:
                return None, None, request.remote or "unknown"
            account = self.store.bots.get(grant.user_id)
        else:
            is_bot = header.startswith("Bot ")
            token = header[4:] if is_bot else header
            account = self.store.bot_for_token(token) if token else None
            if account is not None and account.bot != is_bot:
                account = None
        if account is None:
            return None, None, request.remote or "unknown"
        return account, grant, str(account.user_id)

    async def _metadata(self, request: web.Request, template: str) -> str | None:
        """The sub-limit a request falls under (channel name/topic edits, deletes by age)."""
        if request.method == "DELETE" and template == "/channels/{channel_id}/messages/{message_id}":
            message_id = coerce_snowflake(request.match_info.get("message_id", ""))
            if message_id is None:
                return None
            return message_age_metadata(time.time() - snowflake_ms(message_id) / 1000)
        if request.method == "PATCH" and template == "/channels/{channel_id}":
            try:
                body = decode(await request.read())
            except UndecodableJSON:
                return None  # the handler answers it
            if isinstance(body, dict) and ("name" in body or "topic" in body):
                return "name_topic"
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        template = self._template(request)
        method = request.method
        if template is None and request.path in ("/gateway", "/gateway/"):
            return await handler(request)  # type: ignore[no-any-return]
        if template is None and request.path.startswith("/_local/"):
            return await self._admin(request, handler)
        key = f"{method} {template}" if template is not None else f"{method} <unknown route>"
        self._stats[key] += 1
        bot, grant, actor = self._actor(request, template)
        decision: Decision | None = None
        try:
            if template is None:
                await handler(request)  # aiohttp raises its 404/405 here
                raise not_found_route()
            if template.startswith("/attachments/"):
                return await handler(request)  # type: ignore[no-any-return]
            for fault in self.faults.http_faults(method, template, request.path):
                if fault.kind == "latency":
                    await asyncio.sleep(fault.latency)
                elif fault.kind == "drop":
                    # Abort the TCP connection; the response below is never written.
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=204)
                else:
                    status, headers, body = fault_response(fault)
                    return json_response(body, status=status, headers=headers)
            if f"{method} {template}" not in _PUBLIC_ROUTES and bot is None:
                raise unauthorized()
            ban = self.ratelimiter.ban_decision(actor)
            if ban is not None:
                return self._limited(ban)
            major = next((request.match_info[p] for p in _MAJOR_PARAMETERS if p in request.match_info), None)
            decision = self.ratelimiter.check(
                actor=actor,
                method=method,
                route=template,
                major=major,
                metadata=await self._metadata(request, template),
            )
            if not decision.allowed:
                self.ratelimiter.record_response(
                    actor=actor, status=429, scope=decision.headers.get("X-RateLimit-Scope")
                )
                return self._limited(decision)
            if bot is not None:
                request[BOT_KEY] = bot
            if grant is not None:
                request[GRANT_KEY] = grant
            response = cast(web.StreamResponse, await handler(request))
        except HTTPError as error:
            response = json_response(error.body(), status=error.status, headers=error.headers)
        except web.HTTPRequestEntityTooLarge:
            response = json_response({"message": "Request entity too large", "code": 40005}, status=413)
        except web.HTTPMethodNotAllowed:
            response = json_response({"message": "405: Method Not Allowed", "code": 0}, status=405)
        except web.HTTPNotFound:
            response = json_response({"message": "404: Not Found", "code": 0}, status=404)
        except Exception:
            logger.exception("unhandled error in {} {}", method, template)
            response = json_response({"message": "500: Internal Server Error", "code": 0}, status=500)
        if decision is not None:
            for name, value in decision.headers.items():
                response.headers[name] = value
        self.ratelimiter.record_response(actor=actor, status=response.status)
        return response

    @staticmethod
    async def _admin(request: web.Request, handler: Any) -> web.StreamResponse:
        """Run an admin route, answering its errors with JSON (and a 500 only for a bug)."""
        try:
            return cast(web.StreamResponse, await handler(request))
        except HTTPError as error:
            return json_response(error.body(), status=error.status, headers=error.headers)
        except web.HTTPRequestEntityTooLarge:
            return json_response({"message": "Request entity too large", "code": 40005}, status=413)
        except web.HTTPMethodNotAllowed:
            return json_response({"message": "405: Method Not Allowed", "code": 0}, status=405)
        except web.HTTPNotFound:
            return json_response({"message": "404: Not Found", "code": 0}, status=404)
        except Exception:
            logger.exception("unhandled error in admin route {} {}", request.method, request.path)
            return json_response({"message": "500: Internal Server Error", "code": 0}, status=500)

    @staticmethod
    def _limited(decision: Decision) -> web.Response:
        return json_response(decision.body or {}, status=decision.status, headers=decision.headers)
