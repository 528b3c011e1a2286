"""The admin API of a standalone local server (``/_local/...``): statistics, faults, gateway control."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

from aiohttp import web

from discobase.local.errors import HTTPError, not_found_route
from discobase.local.faults import Fault
from discobase.local.jsonbody import UndecodableJSON, decode
from discobase.local.rest import json_response

if TYPE_CHECKING:
    from discobase.local.server import LocalDiscord

__all__ = ["add_admin_routes", "admin_body", "admin_error", "is_close_code"]


def admin_error(message: str) -> HTTPError:
    """A 400 of the admin API (its bodies are shaped like Discord's errors)."""
    return HTTPError(400, 50035, message)


async def admin_body(request: web.Request, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """An admin request's JSON object body, or ``empty`` when there is none.

    ``empty=None`` requires a body. Undecodable → 400/50109, not an object → 400/50035.
    """
    raw = await request.read()
    if not raw.strip():
        if empty is None:
            raise admin_error("the body must be a JSON object")
        return dict(empty)
    try:
        body = decode(raw)
    except UndecodableJSON:
        raise HTTPError(400, 50109, "The request body contains invalid JSON.") from None
    if not isinstance(body, dict):
        raise admin_error(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def is_close_code(code: object) -> TypeGuard[int]:
    """Whether ``code`` is a close code a server may send: 1000-1003, 1007-1014 or 3000-4999.

    RFC 6455 §7.4: 1004-1006 and 1015 are reserved and never sent in a close frame.
    """
    return (
        isinstance(code, int)
        and not isinstance(code, bool)
        and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)
    )


def add_admin_routes(server: LocalDiscord, app: web.Application) -> None:
    """Add ``/_local/...``: statistics, fault injection and gateway control over HTTP.

    For a standalone server (``discobase local serve``); not part of Discord's API.

    Bodies are JSON objects (read with the same nesting bound as the REST routes);
    anything else, and any field of the wrong type or out of range, is a 400 with
    a ``{"message", "code"}`` body naming what is wrong, never a 5xx.
    """

    async def get_stats(request: web.Request) -> web.Response:
        return json_response(server.stats())

    async def reset_stats(request: web.Request) -> web.Response:
        server.reset_stats()
        return web.Response(status=204)

    async def get_faults(request: web.Request) -> web.Response:
        return json_response([fault.to_dict() for fault in server.faults.faults])

    async def add_fault(request: web.Request) -> web.Response:
        spec = await admin_body(request)
        try:
            fault = server.faults.add(Fault.from_spec(spec))
        except (ValueError, TypeError, OverflowError) as error:
            raise admin_error(str(error)) from None
        return json_response(fault.to_dict(), status=201)

    async def clear_faults(request: web.Request) -> web.Response:
        server.faults.clear()
        return web.Response(status=204)

    async def gateway_action(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ("close", "reconnect", "invalid_session", "drop"):
            raise not_found_route()
        body = await admin_body(request, empty={})
        if action == "close":
            code = body.get("code", 4000)
            if not is_close_code(code):
                raise admin_error(f"code must be a WebSocket close code (1000-4999), got {code!r}")
            count = await server.gateway.close_sessions(code)
        elif action == "reconnect":
            count = await server.gateway.send_reconnect()
        elif action == "invalid_session":
            resumable = body.get("resumable", False)
            if not isinstance(resumable, bool):
                raise admin_error(f"resumable must be true or false, got {resumable!r}")
            count = await server.gateway.send_invalid_session(resumable)
        else:
            count = await server.gateway.drop_connections()
        return json_response({"sessions": count})

    async def info(request: web.Request) -> web.Response:
        return json_response(
            {
                "url": server.url,
                "gateway_url": server.gateway_url,
                "bots": [{"id": str(b.user_id), "name": b.name} for b in server.bots],
                "guilds": [{"id": str(g.id), "name": g.name} for g in server.store.guilds.values()],
                "sessions": server.gateway.session_count(),
            }
        )

    app.router.add_get("/_local/info", info)
    app.router.add_get("/_local/stats", get_stats)
    app.router.add_delete("/_local/stats", reset_stats)
    app.router.add_get("/_local/faults", get_faults)
    app.router.add_post("/_local/faults", add_fault)
    app.router.add_delete("/_local/faults", clear_faults)
    app.router.add_post("/_local/gateway/{action}", gateway_action)
