"""The HTTP front of the local server: authentication, faults, rate limits and errors as JSON."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from loguru import logger

from discobase._discord.snowflakes import coerce_snowflake, snowflake_ms
from discobase.local.errors import HTTPError, not_found_route, unauthorized
from discobase.local.faults import FaultInjector, fault_response
from discobase.local.jsonbody import UndecodableJSON, decode
from discobase.local.ratelimit import Decision, RateLimiter, message_age_metadata
from discobase.local.rest import BOT_KEY, GRANT_KEY, json_response
from discobase.local.store import BotAccount, Grant, Store

__all__ = ["HttpFront", "ProtocolLogger", "error_response"]

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
_MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id")


class ProtocolLogger(logging.Logger):
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


def error_response(error: Exception, where: str) -> web.Response:
    """The JSON answer to an exception a route raised: Discord's error body, or a logged 500.

    ``where`` names the route in the log of an unexpected exception (a bug).
    """
    if isinstance(error, HTTPError):
        return json_response(error.body(), status=error.status, headers=error.headers)
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return json_response({"message": "Request entity too large", "code": 40005}, status=413)
    if isinstance(error, web.HTTPMethodNotAllowed):
        return json_response({"message": "405: Method Not Allowed", "code": 0}, status=405)
    if isinstance(error, web.HTTPNotFound):
        return json_response({"message": "404: Not Found", "code": 0}, status=404)
    logger.opt(exception=error).error("unhandled error in {}", where)
    return json_response({"message": "500: Internal Server Error", "code": 0}, status=500)


class HttpFront:
    """The middleware of every route: who is asking, injected faults, rate limits, statistics.

    ``templates`` maps aiohttp's canonical route paths to Discord's route templates (the
    server fills it as it adds routes); ``stats`` counts requests per template.
    """

    def __init__(
        self,
        store: Store,
        faults: FaultInjector,
        ratelimiter: RateLimiter,
        stats: Counter[str],
        templates: dict[str, str],
    ) -> None:
        self.store = store
        self.faults = faults
        self.ratelimiter = ratelimiter
        self.stats = stats
        self.templates = templates

    def template(self, request: web.Request) -> str | None:
        route = request.match_info.route
        resource = route.resource
        if resource is None:
            return None
        return self.templates.get(resource.canonical)

    def _actor(
        self, request: web.Request, template: str | None
    ) -> tuple[BotAccount | None, Grant | None, str]:
        """The account of the request, from its ``Authorization`` header.

        ``Bot <token>`` for a bot, the bare token for a person (as Discord's own clients send
        it), ``Bearer <token>`` for an OAuth2 grant a person gave an application (its person is
        the account; only on the routes that take one); a token of the wrong kind authenticates
        nobody.
        """
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
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        template = self.template(request)
        method = request.method
        if template is None and request.path in ("/gateway", "/gateway/"):
            return await handler(request)  # type: ignore[no-any-return]
        if template is None and request.path.startswith("/_local/"):
            return await self._admin(request, handler)
        key = f"{method} {template}" if template is not None else f"{method} <unknown route>"
        self.stats[key] += 1
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
        except Exception as error:
            response = error_response(error, f"{method} {template}")
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
        except Exception as error:
            return error_response(error, f"admin route {request.method} {request.path}")

    @staticmethod
    def _limited(decision: Decision) -> web.Response:
        return json_response(decision.body or {}, status=decision.status, headers=decision.headers)
