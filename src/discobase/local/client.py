"""Pointing an unmodified discord.py client at a local server: its REST, gateway and webhook URLs."""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import discord

__all__ = ["attach"]

_DISCORD_API = re.compile(r"^https?://(?:[a-z]+\.)?discord(?:app)?\.com/api")
_DISCORD_GATEWAY = re.compile(r"^wss?://gateway(?:[-.][a-z0-9-]+)*\.discord(?:app)?\.gg")


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
    """Send the webhook requests of attached clients' sessions to their local server.

    discord.py's webhook adapter carries interaction callbacks, follow-ups and ``@original``.

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
