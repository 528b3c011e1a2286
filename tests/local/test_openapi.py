"""Every JSON response of every implemented route validates against Discord's OpenAPI spec.

Routes are driven with raw aiohttp requests (``Authorization: Bot <token>``); each response is
checked against the schema the spec declares for its operation and status (``200``/``201``/
``204``, ``4XX`` → ``ClientErrorResponse``, ``429`` → ``ClientRatelimitedResponse``), with the
spec's components and formats. Where the spec contradicts Discord's docs the docs win; the
exceptions are listed in :data:`tests.local.openapi_spec.SPEC_EXCEPTIONS` and
:func:`test_each_spec_exception_is_still_needed` proves each one is.

Coverage is enforced: every route of ``RestAPI.routes()`` that the spec has must have had a
success response and (except the public ``GET /gateway``, which has no input that can fail) an
error response validated here, so a new route without a check fails this file.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any
from urllib.parse import quote

import aiohttp

from discobase.local import BotAccount, Fault, LocalDiscord, Overwrite, Permission, RateLimitProfile
from discobase.local.interactions import Interaction
from discobase.local.snowflake import snowflake_at
from discobase.local.store import Message
from tests.local.openapi_spec import (
    SPEC_EXCEPTIONS,
    declared_statuses,
    discord_error_shape_problems,
    header_problems,
    spec_routes,
    strict_json,
    validate_response,
    validate_response_strict,
    validate_schema,
)

#: Routes that cannot answer a 4XX by themselves, with the reason.
NO_CLIENT_ERROR = {
    ("GET", "/gateway"): "public (no Authorization), no path or query input: nothing can be wrong",
}

MSG = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
REACTIONS = "/channels/{channel_id}/messages/{message_id}/reactions"
MEMBER_ROLE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
ONE_MSG = "/channels/{channel_id}/messages/{message_id}"


class Recorder:
    """Sends requests for route templates and validates each response against the spec."""

    def __init__(self, session: aiohttp.ClientSession, server: LocalDiscord, token: str) -> None:
        self.session = session
        self.server = server
        self.auth = {"Authorization": f"Bot {token}"}
        self.success: set[tuple[str, str]] = set()
        self.errors: set[tuple[str, str]] = set()

    async def call(
        self,
        method: str,
        template: str,
        params: dict[str, Any] | None = None,
        *,
        expect: int,
        query: str = "",
        auth: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        path = template.format(**(params or {}))
        url = self.server.api_url + path + (f"?{query}" if query else "")
        headers = {**(self.auth if auth is None else auth), **kwargs.pop("headers", {})}
        async with self.session.request(method, url, headers=headers, **kwargs) as response:
            raw = await response.read()
            content_type = response.content_type
            headers = response.headers
        where = f"{method} {path}{'?' + query if query else ''}"
        assert response.status == expect, f"{where}: {response.status} {raw[:500]!r}"
        declared = declared_statuses(method, template)
        assert str(expect) in declared or f"{expect // 100}XX" in declared, f"{where}: {expect} not in spec"
        key = (method, template)
        (self.success if expect < 400 else self.errors).add(key)
        assert not header_problems(method, template, expect, headers), header_problems(
            method, template, expect, headers
        )
        if expect == 204:
            assert raw == b"", f"{where}: 204 with a body"
            return None
        assert content_type == "application/json", f"{where}: {content_type}"
        body = strict_json(raw)
        problems = validate_response(method, template, expect, body)
        assert not problems, f"{where} {expect}:\n" + "\n".join(problems)
        if expect == 429:  # Discord's documented 429 body (facts §1.3)
            assert set(body) <= {"message", "retry_after", "global", "code"}, body
            assert isinstance(body["retry_after"], float), body
        elif expect >= 400:
            assert not discord_error_shape_problems(body), discord_error_shape_problems(body)
        return body


def multipart(payload: dict[str, Any], files: list[tuple[str, bytes]]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps(payload), content_type="application/json")
    for index, (filename, data) in enumerate(files):
        form.add_field(f"files[{index}]", io.BytesIO(data), filename=filename, content_type="text/plain")
    return form


def all_routes(server: LocalDiscord) -> list[tuple[str, str]]:
    return [(method, template) for method, template, _ in server.rest.routes()]


async def test_success_responses_match_the_spec(server: LocalDiscord, bot: BotAccount, guild_id: int) -> None:
    other = server.create_bot("other-bot")
    server.add_member(guild_id, other)
    app = bot.application_id
    async with aiohttp.ClientSession() as session:
        r = Recorder(session, server, bot.token)
        g = {"guild_id": guild_id}
        # users, gateway, application
        await r.call("GET", "/users/@me", expect=200)
        await r.call("GET", "/users/@me/guilds", expect=200)
        await r.call("GET", "/users/@me/guilds", expect=200, query=f"limit=1&after={guild_id - 1}")
        await r.call("GET", "/gateway", expect=200, auth={})
        await r.call("GET", "/gateway/bot", expect=200)
        await r.call("GET", "/oauth2/applications/@me", expect=200)
        await r.call("GET", "/applications/@me", expect=200)
        # application commands, global and guild
        a = {"application_id": app}
        ag = {"application_id": app, "guild_id": guild_id}
        commands = [
            {"name": "ping", "description": "pong"},
            {
                "name": "store",
                "description": "keep a value",
                "options": [
                    {"type": 3, "name": "key", "description": "the key", "required": True},
                    {"type": 4, "name": "ttl", "description": "seconds", "min_value": 1},
                    {"type": 5, "name": "force", "description": "overwrite"},
                ],
            },
            {"name": "Inspect", "type": 3},
        ]
        put = await r.call("PUT", "/applications/{application_id}/commands", a, expect=200, json=commands)
        assert [c["name"] for c in put] == ["ping", "store", "Inspect"]
        await r.call("GET", "/applications/{application_id}/commands", a, expect=200)
        await r.call(
            "PUT",
            "/applications/{application_id}/guilds/{guild_id}/commands",
            ag,
            expect=200,
            json=commands[:1],
        )
        await r.call("GET", "/applications/{application_id}/guilds/{guild_id}/commands", ag, expect=200)
        await r.call("PUT", "/applications/{application_id}/commands", a, expect=200, json=[])
        # guild
        await r.call("GET", "/guilds/{guild_id}", g, expect=200)
        counted = await r.call("GET", "/guilds/{guild_id}", g, expect=200, query="with_counts=true")
        assert counted["approximate_member_count"] == 2
        await r.call("GET", "/guilds/{guild_id}/roles", g, expect=200)
        members = await r.call("GET", "/guilds/{guild_id}/members", g, expect=200, query="limit=1000")
        assert len(members) == 2
        member = {"guild_id": guild_id, "user_id": other.user_id}
        await r.call("GET", "/guilds/{guild_id}/members/{user_id}", member, expect=200)
        me = {"guild_id": guild_id, "user_id": "@me"}
        await r.call("GET", "/guilds/{guild_id}/members/{user_id}", me, expect=200)
        # channels: every type the server creates, created, listed, fetched, edited and deleted
        create = "/guilds/{guild_id}/channels"
        category = await r.call("POST", create, g, expect=201, json={"name": "Storage", "type": 4})
        text = await r.call(
            "POST",
            create,
            g,
            expect=201,
            json={
                "name": "Data Store",
                "type": 0,
                "topic": "rows",
                "parent_id": category["id"],
                "nsfw": False,
                "rate_limit_per_user": 0,
                "permission_overwrites": [
                    {
                        "id": str(guild_id),
                        "type": 0,
                        "allow": "0",
                        "deny": str(int(Permission.SEND_MESSAGES)),
                    },
                    {"id": str(bot.user_id), "type": 1, "allow": str(int(Permission.SEND_MESSAGES))},
                ],
            },
        )
        voice = await r.call("POST", create, g, expect=201, json={"name": "Voice", "type": 2})
        news = await r.call("POST", create, g, expect=201, json={"name": "news", "type": 5, "position": 3})
        stage = await r.call("POST", create, g, expect=201, json={"name": "stage", "type": 13})
        forum = await r.call("POST", create, g, expect=201, json={"name": "forum", "type": 15, "topic": "t"})
        await r.call("GET", "/guilds/{guild_id}/channels", g, expect=200)
        c = {"channel_id": text["id"]}
        for channel in (category, text, voice, news, stage, forum):
            await r.call("GET", "/channels/{channel_id}", {"channel_id": channel["id"]}, expect=200)
        await r.call(
            "PATCH", "/channels/{channel_id}", c, expect=200, json={"topic": "new topic", "nsfw": True}
        )
        await r.call(
            "PATCH", "/channels/{channel_id}", c, expect=200, json={"parent_id": None, "topic": None}
        )
        await r.call(
            "PATCH", "/channels/{channel_id}", {"channel_id": voice["id"]}, expect=200, json={"name": "V2"}
        )
        overwrite = {"channel_id": text["id"], "overwrite_id": other.user_id}
        perms = "/channels/{channel_id}/permissions/{overwrite_id}"
        await r.call("PUT", perms, overwrite, expect=204, json={"type": 1, "allow": "1024", "deny": "0"})
        await r.call("DELETE", perms, overwrite, expect=204)
        # invites
        invites = "/channels/{channel_id}/invites"
        await r.call("POST", invites, c, expect=200, json={"max_age": 0, "max_uses": 5})
        await r.call("POST", invites, c, expect=200)
        listed = await r.call("GET", invites, c, expect=200)
        assert len(listed) >= 1
        await r.call("POST", "/channels/{channel_id}/typing", c, expect=204)
        # messages
        first = await r.call(
            "POST",
            MSG,
            c,
            expect=200,
            json={
                "content": "hello",
                "nonce": "n-1",
                "tts": False,
                "flags": 4,
                "embeds": [
                    {
                        "title": "t",
                        "description": "d",
                        "url": "https://example.com/",
                        "timestamp": "2024-01-02T03:04:05.678000+00:00",
                        "color": 0xFFFFFF,
                        "footer": {"text": "f", "icon_url": "https://example.com/f.png"},
                        "image": {"url": "https://example.com/i.png"},
                        "thumbnail": {"url": "https://example.com/t.png"},
                        "author": {"name": "a", "url": "https://example.com/a"},
                        "fields": [{"name": "n", "value": "v", "inline": True}],
                    }
                ],
            },
        )
        assert first["nonce"] == "n-1"
        await r.call("POST", MSG, c, expect=200, json={"content": "int nonce", "nonce": 12345})
        await r.call(
            "POST",
            MSG,
            c,
            expect=200,
            json={"content": "same nonce", "nonce": "dedupe", "enforce_nonce": True},
        )
        await r.call(
            "POST",
            MSG,
            c,
            expect=200,
            json={
                "content": "reply",
                "message_reference": {"message_id": first["id"]},
                "allowed_mentions": {"parse": []},
            },
        )
        await r.call(
            "POST",
            MSG,
            c,
            expect=200,
            json={
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 5, "label": "L", "url": "https://x.y/"}]}
                ]
            },
        )
        with_files = await r.call(
            "POST",
            MSG,
            c,
            expect=200,
            data=multipart(
                {"content": "files", "attachments": [{"id": 0, "filename": "a.txt", "description": "alt"}]},
                [("a.txt", b"alpha"), ("b.txt", b"beta")],
            ),
        )
        assert [a["filename"] for a in with_files["attachments"]] == ["a.txt", "b.txt"]
        only_file = await r.call("POST", MSG, c, expect=200, data=multipart({}, [("blob.bin", b"\0" * 10)]))
        ids = [first["id"]]
        for i in range(5):
            ids.append((await r.call("POST", MSG, c, expect=200, json={"content": f"m{i}"}))["id"])
        await r.call("GET", MSG, c, expect=200)
        await r.call("GET", MSG, c, expect=200, query=f"limit=2&before={ids[3]}")
        await r.call("GET", MSG, c, expect=200, query=f"limit=100&after={ids[0]}")
        await r.call("GET", MSG, c, expect=200, query=f"limit=3&around={ids[2]}")
        await r.call("GET", MSG, c, expect=200, query="limit=1&before=1")  # empty page
        m = {"channel_id": text["id"], "message_id": first["id"]}
        await r.call("GET", ONE_MSG, m, expect=200)
        await r.call("PATCH", ONE_MSG, m, expect=200, json={"content": "edited", "embeds": []})
        await r.call("PATCH", ONE_MSG, m, expect=200, json={"flags": 4})
        fm = {"channel_id": text["id"], "message_id": with_files["id"]}
        kept = with_files["attachments"][0]
        await r.call(
            "PATCH",
            ONE_MSG,
            fm,
            expect=200,
            data=multipart(
                {"attachments": [{"id": kept["id"]}, {"id": 0, "filename": "c.txt"}]}, [("c.txt", b"gamma")]
            ),
        )
        await r.call(
            "PATCH", ONE_MSG, {"channel_id": text["id"], "message_id": only_file["id"]}, expect=200, json={}
        )
        # pins, new and deprecated routes
        await r.call("PUT", "/channels/{channel_id}/messages/pins/{message_id}", m, expect=204)
        await r.call("PUT", "/channels/{channel_id}/pins/{message_id}", fm, expect=204)
        pins = await r.call("GET", "/channels/{channel_id}/messages/pins", c, expect=200)
        assert len(pins["items"]) == 2
        await r.call("GET", "/channels/{channel_id}/messages/pins", c, expect=200, query="limit=1")
        before = pins["items"][0]["pinned_at"]
        await r.call(
            "GET", "/channels/{channel_id}/messages/pins", c, expect=200, query=f"before={quote(before)}"
        )
        await r.call("GET", "/channels/{channel_id}/pins", c, expect=200)
        await r.call("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", m, expect=204)
        await r.call("DELETE", "/channels/{channel_id}/pins/{message_id}", fm, expect=204)
        # deletes
        await r.call("DELETE", ONE_MSG, {"channel_id": text["id"], "message_id": ids[1]}, expect=204)
        bulk = "/channels/{channel_id}/messages/bulk-delete"
        await r.call("POST", bulk, c, expect=204, json={"messages": ids[2:5]})
        unknown_id = str(server.store.next_id())  # unknown (but recent) ids are fine
        await r.call("POST", bulk, c, expect=204, json={"messages": [ids[2], unknown_id]})
        for channel in (text, voice, news, stage, forum):
            await r.call("DELETE", "/channels/{channel_id}", {"channel_id": channel["id"]}, expect=200)
        await r.call("DELETE", "/channels/{channel_id}", {"channel_id": category["id"]}, expect=200)
        # leaving a guild: a second guild the bot joined (it cannot leave one it owns)
        second = server.create_guild("another guild", members=[bot])
        await r.call("DELETE", "/users/@me/guilds/{guild_id}", {"guild_id": second}, expect=204)

        await people_routes_succeed(r, server, bot, guild_id)

    missing = spec_routes(all_routes(server)) - r.success
    assert not missing, f"routes without a validated success response: {sorted(missing)}"


async def test_error_responses_match_the_spec(server: LocalDiscord, bot: BotAccount, guild_id: int) -> None:
    other = server.create_bot("member-bot")
    server.add_member(guild_id, other, permissions=int(Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES))
    hidden = server.create_channel(
        guild_id, "hidden", overwrites=[Overwrite(guild_id, 0, 0, int(Permission.VIEW_CHANNEL))]
    )
    category = server.create_channel(guild_id, "cat", type=4)
    channel = server.create_channel(guild_id, "errors")
    message = Message(
        id=server.store.next_id(), channel_id=channel, guild_id=guild_id, author_id=bot.user_id, content="x"
    )
    server.store.insert_message(message)
    old = Message(
        id=snowflake_at(int(time.time() * 1000) - 15 * 86_400_000),
        channel_id=channel,
        guild_id=guild_id,
        author_id=bot.user_id,
        content="old",
    )
    server.store.insert_message(old)
    unknown = server.store.next_id()
    app = bot.application_id
    async with aiohttp.ClientSession() as session:
        r = Recorder(session, server, bot.token)
        o = Recorder(session, server, other.token)
        # 401 on every authenticated route, with and without a (bad) token
        params = {
            "guild_id": guild_id,
            "channel_id": channel,
            "message_id": message.id,
            "application_id": app,
            "user_id": bot.user_id,
            "overwrite_id": other.user_id,
            "emoji": quote("👍", safe=""),
            "member_id": bot.user_id,
            "role_id": guild_id,
            "command_id": app,
        }
        for method, template in sorted(spec_routes(all_routes(server))):
            if (method, template) in NO_CLIENT_ERROR or template.startswith(("/interactions/", "/webhooks/")):
                continue  # the interaction routes are authorised by the token in their path
            body = await r.call(method, template, params, expect=401, auth={})
            assert body == {"message": "401: Unauthorized", "code": 0}
        await r.call("GET", "/users/@me", expect=401, auth={"Authorization": "Bot not-a-token"})
        await r.call("GET", "/users/@me", expect=401, auth={"Authorization": bot.token})  # no "Bot "
        # 404: unknown guild, channel, message, member
        ug = {"guild_id": unknown}
        uc = {"channel_id": unknown}
        await r.call("GET", "/guilds/{guild_id}", ug, expect=404)
        await r.call("GET", "/guilds/{guild_id}/channels", ug, expect=404)
        await r.call("POST", "/guilds/{guild_id}/channels", ug, expect=404, json={"name": "x"})
        await r.call("GET", "/guilds/{guild_id}/roles", ug, expect=404)
        await r.call("GET", "/guilds/{guild_id}/members", ug, expect=404)
        await r.call("DELETE", "/users/@me/guilds/{guild_id}", ug, expect=404)
        await r.call(
            "GET",
            "/guilds/{guild_id}/members/{user_id}",
            {"guild_id": guild_id, "user_id": unknown},
            expect=404,
        )
        for method, template in [
            ("GET", "/channels/{channel_id}"),
            ("PATCH", "/channels/{channel_id}"),
            ("DELETE", "/channels/{channel_id}"),
            ("GET", MSG),
            ("POST", MSG),
            ("GET", "/channels/{channel_id}/messages/pins"),
            ("GET", "/channels/{channel_id}/pins"),
            ("POST", "/channels/{channel_id}/invites"),
            ("GET", "/channels/{channel_id}/invites"),
            ("POST", "/channels/{channel_id}/typing"),
            ("POST", "/channels/{channel_id}/messages/bulk-delete"),
        ]:
            body = await r.call(method, template, uc, expect=404, json={"content": "x"})
            assert body == {"message": "Unknown Channel", "code": 10003}
        um = {"channel_id": channel, "message_id": unknown}
        for method, template in [
            ("GET", ONE_MSG),
            ("PATCH", ONE_MSG),
            ("DELETE", ONE_MSG),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}"),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}"),
            ("PUT", "/channels/{channel_id}/pins/{message_id}"),
            ("DELETE", "/channels/{channel_id}/pins/{message_id}"),
        ]:
            body = await r.call(method, template, um, expect=404, json={"content": "x"})
            assert body == {"message": "Unknown Message", "code": 10008}
        # 403: missing access, missing permissions, someone else's application or message
        h = {"channel_id": hidden}
        await o.call("GET", "/channels/{channel_id}", h, expect=403)
        await o.call("GET", MSG, h, expect=403)
        await o.call(
            "POST", "/guilds/{guild_id}/channels", {"guild_id": guild_id}, expect=403, json={"name": "x"}
        )
        cp = {"channel_id": channel, "overwrite_id": other.user_id}
        await o.call(
            "PUT", "/channels/{channel_id}/permissions/{overwrite_id}", cp, expect=403, json={"type": 1}
        )
        await o.call("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}", cp, expect=403)
        mine = {"channel_id": channel, "message_id": message.id}
        await o.call("PATCH", ONE_MSG, mine, expect=403, json={"content": "not yours"})
        await o.call("DELETE", ONE_MSG, mine, expect=403)
        await o.call("GET", "/channels/{channel_id}/invites", {"channel_id": channel}, expect=403)
        foreign = {"application_id": other.application_id, "guild_id": guild_id}
        for method in ("GET", "PUT"):
            await r.call(method, "/applications/{application_id}/commands", foreign, expect=403, json=[])
            await r.call(
                method,
                "/applications/{application_id}/guilds/{guild_id}/commands",
                foreign,
                expect=403,
                json=[],
            )
        await r.call(
            "DELETE", "/users/@me/guilds/{guild_id}", {"guild_id": guild_id}, expect=400
        )  # the owner
        # 400: form errors (nested, string leaf codes), plain codes
        c = {"channel_id": channel}
        body = await r.call("POST", MSG, c, expect=400, json={"content": "x" * 2001})
        assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
        await r.call("POST", MSG, c, expect=400, json={})
        await r.call(
            "POST", MSG, c, expect=400, data=b"{not json", headers={"Content-Type": "application/json"}
        )
        await r.call("POST", MSG, {"channel_id": category}, expect=400, json={"content": "x"})
        await r.call("POST", MSG, c, expect=400, data=multipart({}, [(f"{i}.txt", b"x") for i in range(11)]))
        await r.call("GET", MSG, c, expect=400, query="limit=0")
        await r.call("GET", MSG, c, expect=400, query="before=abc")
        await r.call("GET", "/channels/{channel_id}", {"channel_id": "not-a-snowflake"}, expect=400)
        await r.call(
            "PATCH",
            ONE_MSG,
            {"channel_id": channel, "message_id": message.id},
            expect=400,
            json={"content": ""},
        )
        await r.call("GET", ONE_MSG, {"channel_id": channel, "message_id": "x"}, expect=400)
        await r.call("DELETE", ONE_MSG, {"channel_id": channel, "message_id": "x"}, expect=400)
        await r.call("GET", "/channels/{channel_id}/messages/pins", c, expect=400, query="limit=51")
        await r.call("GET", "/channels/{channel_id}/messages/pins", c, expect=400, query="before=yesterday")
        await r.call("GET", "/channels/{channel_id}/pins", {"channel_id": "x"}, expect=400)
        bulk = "/channels/{channel_id}/messages/bulk-delete"
        await r.call("POST", bulk, c, expect=400, json={"messages": [str(message.id)]})
        await r.call("POST", bulk, c, expect=400, json={"messages": [str(message.id), str(old.id)]})
        await r.call("PATCH", "/channels/{channel_id}", c, expect=400, json={"name": ""})
        await r.call("DELETE", "/channels/{channel_id}", {"channel_id": "-1"}, expect=400)
        await r.call(
            "POST", "/guilds/{guild_id}/channels", {"guild_id": guild_id}, expect=400, json={"type": 0}
        )
        await r.call("GET", "/guilds/{guild_id}", {"guild_id": "x"}, expect=400)
        await r.call("GET", "/guilds/{guild_id}/channels", {"guild_id": "x"}, expect=400)
        await r.call("GET", "/guilds/{guild_id}/roles", {"guild_id": "x"}, expect=400)
        await r.call(
            "GET", "/guilds/{guild_id}/members", {"guild_id": guild_id}, expect=400, query="limit=1001"
        )
        await r.call(
            "GET", "/guilds/{guild_id}/members/{user_id}", {"guild_id": guild_id, "user_id": "x"}, expect=400
        )
        await r.call("GET", "/users/@me/guilds", expect=400, query="limit=201")
        await r.call("POST", "/channels/{channel_id}/invites", c, expect=400, json={"max_age": -1})
        await r.call(
            "PUT",
            "/channels/{channel_id}/permissions/{overwrite_id}",
            {**c, "overwrite_id": other.user_id},
            expect=400,
            json={"type": 7},
        )
        await r.call(
            "PUT",
            "/applications/{application_id}/commands",
            {"application_id": app},
            expect=400,
            json=[{"name": "Bad Name!"}],
        )
        await r.call(
            "PUT",
            "/applications/{application_id}/guilds/{guild_id}/commands",
            {"application_id": app, "guild_id": guild_id},
            expect=400,
            json={"not": "a list"},
        )
        await r.call(
            "POST", MSG, c, expect=413, data=multipart({}, [("big.bin", b"\0" * (server.upload_limit + 1))])
        )
        await people_routes_fail(r, server, bot, guild_id)

    missing = spec_routes(all_routes(server)) - r.errors - set(NO_CLIENT_ERROR)
    assert not missing, f"routes without a validated error response: {sorted(missing)}"


async def test_rate_limited_responses_match_the_spec() -> None:
    """429s: a route bucket, the shared channel bucket (code 20028), faults, the global limit."""
    profile = (
        RateLimitProfile.discord(shared_channel_writes=True)
        .with_bucket("message_write", limit=100, per=60.0)
        .with_bucket("global", limit=40, per=60.0)
    )
    async with LocalDiscord(rate_limits=profile) as server:
        bot = server.create_bot("limited")
        guild_id = server.create_guild("limits", owner=bot)
        channel = server.create_channel(guild_id, "limited")
        async with aiohttp.ClientSession() as session:
            r = Recorder(session, server, bot.token)
            c = {"channel_id": channel}
            for _ in range(5):  # GET messages: 5 per 5 s per channel
                await r.call("GET", MSG, c, expect=200)
            route = await r.call("GET", MSG, c, expect=429)
            assert route["global"] is False
            assert "code" not in route
            for i in range(10):  # the channel-wide (shared) write limit: 10 per 5 s
                await r.call("POST", MSG, c, expect=200, json={"content": str(i)})
            shared = await r.call("POST", MSG, c, expect=429, json={"content": "11th"})
            assert (shared["code"], shared["message"]) == (20028, "The resource is being rate limited.")
            server.faults.add(Fault(kind="ratelimit", route="GET /channels/{channel_id}", count=1))
            await r.call("GET", "/channels/{channel_id}", c, expect=429)
            server.faults.add(
                Fault(kind="ratelimit", route="GET /channels/{channel_id}", count=1, global_=True)
            )
            assert (await r.call("GET", "/channels/{channel_id}", c, expect=429))["global"] is True
            status = 200
            sent = 0
            while status != 429:  # the global limit (40 per minute here)
                async with session.get(server.api_url + "/users/@me", headers=r.auth) as response:
                    status = response.status
                sent += 1
                assert sent <= 40
            global_ = await r.call("GET", "/users/@me", expect=429)
            assert global_["global"] is True


async def test_each_spec_exception_is_still_needed() -> None:
    """Discord-documented bodies fail the published spec exactly where SPEC_EXCEPTIONS says."""
    assert set(SPEC_EXCEPTIONS) == {"ratelimit-code-optional", "form-error-leaf-codes-are-strings"}
    documented_429 = {"message": "You are being rate limited.", "retry_after": 64.57, "global": False}
    assert validate_response_strict("POST", MSG, 429, documented_429)
    assert not validate_response("POST", MSG, 429, documented_429)
    assert not validate_response("POST", MSG, 429, {**documented_429, "code": 20028})
    assert validate_response("POST", MSG, 429, {**documented_429, "code": "20028"})
    documented_form = {
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {
            "content": {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]
            }
        },
    }
    assert validate_response_strict("POST", MSG, 400, documented_form)
    assert not validate_response("POST", MSG, 400, documented_form)
    integer_leaf = {**documented_form, "errors": {"content": {"_errors": [{"code": 1, "message": "m"}]}}}
    assert validate_response("POST", MSG, 400, integer_leaf)
    plain = {"message": "Unknown Channel", "code": 10003}
    assert not validate_response_strict("GET", "/channels/{channel_id}", 404, plain)


def test_routes_outside_the_spec_are_known() -> None:
    """Only POST /guilds is outside the spec: it was removed in 2025 (facts §6); test_errors checks it."""
    server = LocalDiscord(rate_limits="off")
    try:
        routes = all_routes(server)
    finally:
        server.store.close()
    assert set(routes) - spec_routes(routes) == {("POST", "/guilds")}


def test_formats_are_checked() -> None:
    """The spec's formats are enforced (jsonschema checks none of them by default)."""
    user = {
        "id": "1",
        "username": "u",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
    }
    message = {
        "id": "2",
        "channel_id": "3",
        "author": user,
        "content": "",
        "timestamp": "2024-01-02T03:04:05.678000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
    }
    assert not validate_schema("MessageResponse", message)
    assert validate_schema("MessageResponse", {**message, "timestamp": "yesterday"})
    assert validate_schema("MessageResponse", {**message, "timestamp": "2024-13-02T03:04:05+00:00"})
    assert validate_schema("MessageResponse", {**message, "id": "01"})  # SnowflakeType pattern
    assert validate_schema("MessageResponse", {**message, "flags": 2**31})  # int32
    assert validate_schema("MessageResponse", {**message, "embeds": [{"type": "rich", "url": "no scheme"}]})


async def pending_interaction(server: LocalDiscord) -> Interaction:
    """The interaction a person just started (it waits for its answer in a task)."""
    while not server.interactions._by_id:  # noqa: ASYNC110 - made in another task; no event to await
        await asyncio.sleep(0.01)
    return list(server.interactions._by_id.values())[-1]


async def people_routes_succeed(r: Recorder, server: LocalDiscord, bot: BotAccount, guild_id: int) -> None:
    """Users, DMs, roles, member edits and search, reactions, interactions and their webhooks."""
    ada = server.create_user("ada")
    await ada.join(guild_id)
    g = {"guild_id": guild_id}
    await r.call("GET", "/users/{user_id}", {"user_id": ada.id}, expect=200)
    await r.call("GET", "/soundboard-default-sounds", expect=200)
    dm = await r.call("POST", "/users/@me/channels", expect=200, json={"recipient_id": str(ada.id)})
    assert dm["recipients"][0]["id"] == str(ada.id)
    guilds = await r.call("GET", "/users/@me/guilds", expect=200, query="with_counts=true")
    assert all("approximate_member_count" in guild for guild in guilds)
    role = await r.call("POST", "/guilds/{guild_id}/roles", g, expect=200, json={"name": "mods"})
    await r.call("PATCH", "/guilds/{guild_id}/roles", g, expect=200, json=[{"id": role["id"], "position": 1}])
    found = await r.call("GET", "/guilds/{guild_id}/members/search", g, expect=200, query="query=AD&limit=5")
    assert [m["user"]["id"] for m in found] == [str(ada.id)]
    gm = {"guild_id": guild_id, "user_id": ada.id}
    await r.call("PATCH", "/guilds/{guild_id}/members/{user_id}", gm, expect=200, json={"nick": "Ada"})
    await r.call("PUT", MEMBER_ROLE, {**gm, "role_id": role["id"]}, expect=204)
    await r.call("DELETE", MEMBER_ROLE, {**gm, "role_id": role["id"]}, expect=204)
    general = server.store.guilds[guild_id].system_channel_id
    message = await r.call("POST", MSG, {"channel_id": general}, expect=200, json={"content": "react here"})
    e = {"channel_id": general, "message_id": message["id"], "emoji": quote("👍", safe="")}
    await r.call("PUT", REACTIONS + "/{emoji}/@me", e, expect=204)
    await ada.react(message, "👍")
    users = await r.call("GET", REACTIONS + "/{emoji}", e, expect=200)
    assert {u["id"] for u in users} == {str(bot.user_id), str(ada.id)}
    fetched = await r.call("GET", ONE_MSG, e, expect=200)
    assert fetched["reactions"][0]["count"] == 2
    assert fetched["reactions"][0]["me"] is True
    await r.call("DELETE", REACTIONS + "/{emoji}/{member_id}", {**e, "member_id": ada.id}, expect=204)
    await r.call("DELETE", REACTIONS + "/{emoji}/@me", e, expect=204)
    await r.call("PUT", REACTIONS + "/{emoji}/@me", e, expect=204)
    await r.call("DELETE", REACTIONS + "/{emoji}", e, expect=204)
    await r.call("PUT", REACTIONS + "/{emoji}/@me", e, expect=204)
    await r.call("DELETE", REACTIONS, e, expect=204)
    # an interaction answered over raw HTTP, then its follow-ups
    ag = {"application_id": bot.application_id, "guild_id": guild_id}
    commands = "/applications/{application_id}/guilds/{guild_id}/commands"
    await r.call("PUT", commands, ag, expect=200, json=[{"name": "ping", "description": "Ping"}])
    # command permissions: read with the bot token, set with a person's Bearer token
    command_id = next(c.id for c in server.store.commands.values() if c.data["name"] == "ping")
    cp = {**ag, "command_id": command_id}
    await r.call("GET", commands + "/permissions", ag, expect=200)
    admins = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
    boss = server.create_user("boss")
    await boss.join(guild_id, roles=[admins])
    bearer = {"Authorization": f"Bearer {server.authorize(boss, bot)}"}
    entries = {"permissions": [{"id": str(ada.id), "type": 2, "permission": True}]}
    await r.call("PUT", commands + "/{command_id}/permissions", cp, expect=200, auth=bearer, json=entries)
    await r.call("GET", commands + "/{command_id}/permissions", cp, expect=200)
    listed = await r.call("GET", commands + "/permissions", ag, expect=200, auth=bearer)
    assert [s["id"] for s in listed] == [str(command_id)]
    task = asyncio.create_task(ada.invoke(guild_id, "/ping"))
    interaction = await pending_interaction(server)
    cb = {"interaction_id": interaction.id, "interaction_token": interaction.token}
    answer = {"type": 4, "data": {"content": "pong"}}
    await r.call("POST", CALLBACK, cb, expect=200, auth={}, query="with_response=true", json=answer)
    assert (await task).content == "pong"
    w = {"webhook_id": bot.application_id, "webhook_token": interaction.token}
    await r.call("GET", ORIGINAL, w, expect=200, auth={})
    await r.call("PATCH", ORIGINAL, w, expect=200, auth={}, json={"content": "pong!"})
    follow = await r.call(
        "POST", WEBHOOK, w, expect=200, auth={}, query="wait=true", json={"content": "more"}
    )
    wm = {**w, "message_id": follow["id"]}
    await r.call("GET", WEBHOOK_MESSAGE, wm, expect=200, auth={})
    await r.call("PATCH", WEBHOOK_MESSAGE, wm, expect=200, auth={}, json={"content": "even more"})
    await r.call("DELETE", WEBHOOK_MESSAGE, wm, expect=204, auth={})
    await r.call("DELETE", ORIGINAL, w, expect=204, auth={})
    # in a DM with the bot: no guild_id in the callback's answer, and the follow-ups work alike
    a = {"application_id": bot.application_id}
    await r.call(
        "PUT",
        "/applications/{application_id}/commands",
        a,
        expect=200,
        json=[{"name": "dm", "description": "d"}],
    )
    server.interactions._by_id.clear()
    task = asyncio.create_task(ada.invoke_dm(bot, "/dm"))
    interaction = await pending_interaction(server)
    cb = {"interaction_id": interaction.id, "interaction_token": interaction.token}
    answered = await r.call(
        "POST", CALLBACK, cb, expect=200, auth={}, query="with_response=true", json=answer
    )
    assert "guild_id" not in answered["interaction"]
    assert (await task).content == "pong"
    w = {"webhook_id": bot.application_id, "webhook_token": interaction.token}
    await r.call("POST", WEBHOOK, w, expect=200, auth={}, query="wait=true", json={"content": "in a DM"})


async def people_routes_fail(r: Recorder, server: LocalDiscord, bot: BotAccount, guild_id: int) -> None:
    """A Discord-shaped 4XX from each route of :func:`people_routes_succeed`."""
    g = {"guild_id": guild_id}
    unknown = server.store.next_id()
    assert (await r.call("GET", "/users/{user_id}", {"user_id": unknown}, expect=404))["code"] == 10013
    await r.call("GET", "/soundboard-default-sounds", expect=401, auth={})
    await r.call("POST", "/users/@me/channels", expect=400, json={})
    await r.call("POST", "/guilds/{guild_id}/roles", g, expect=400, json={"color": -1})
    await r.call("PATCH", "/guilds/{guild_id}/roles", g, expect=400, json={"id": "1"})
    await r.call("GET", "/guilds/{guild_id}/members/search", g, expect=400)
    gm = {"guild_id": guild_id, "user_id": unknown}
    await r.call("PATCH", "/guilds/{guild_id}/members/{user_id}", gm, expect=404, json={"nick": "x"})
    own = {"guild_id": guild_id, "user_id": bot.user_id, "role_id": unknown}
    assert (await r.call("PUT", MEMBER_ROLE, own, expect=404))["code"] == 10011
    await r.call("DELETE", MEMBER_ROLE, own, expect=404)
    general = server.store.guilds[guild_id].system_channel_id
    message = await r.call("POST", MSG, {"channel_id": general}, expect=200, json={"content": "x"})
    bad = {"channel_id": general, "message_id": message["id"], "emoji": "abc"}
    assert (await r.call("PUT", REACTIONS + "/{emoji}/@me", bad, expect=400))["code"] == 10014
    await r.call("DELETE", REACTIONS + "/{emoji}/@me", bad, expect=400)
    await r.call("DELETE", REACTIONS + "/{emoji}/{member_id}", {**bad, "member_id": bot.user_id}, expect=400)
    await r.call("GET", REACTIONS + "/{emoji}", bad, expect=400)
    await r.call("DELETE", REACTIONS + "/{emoji}", bad, expect=400)
    await r.call("DELETE", REACTIONS, {**bad, "message_id": unknown}, expect=404)
    ag = {"application_id": bot.application_id, "guild_id": guild_id}
    commands = "/applications/{application_id}/guilds/{guild_id}/commands"
    put = await r.call("PUT", commands, ag, expect=200, json=[{"name": "unset", "description": "u"}])
    cp = {**ag, "command_id": put[0]["id"]}
    unset = await r.call("GET", commands + "/{command_id}/permissions", cp, expect=404)
    assert unset["code"] == 10066
    entries = {"permissions": [{"id": str(guild_id), "type": 1, "permission": False}]}
    bot_put = await r.call("PUT", commands + "/{command_id}/permissions", cp, expect=403, json=entries)
    assert (bot_put["code"], bot_put["message"]) == (20001, "Bots cannot use this endpoint")
    other_app = {**ag, "application_id": unknown}
    assert (await r.call("GET", commands + "/permissions", other_app, expect=403))["code"] == 20012
    cb = {"interaction_id": unknown, "interaction_token": "nope"}
    body = {"type": 4, "data": {"content": "x"}}
    assert (await r.call("POST", CALLBACK, cb, expect=404, auth={}, json=body))["code"] == 10062
    w = {"webhook_id": bot.application_id, "webhook_token": "nope"}
    assert (await r.call("POST", WEBHOOK, w, expect=401, auth={}, json={"content": "x"}))["code"] == 50027
    for method in ("GET", "PATCH", "DELETE"):
        await r.call(method, ORIGINAL, w, expect=401, auth={}, json={"content": "x"})
        await r.call(method, WEBHOOK_MESSAGE, {**w, "message_id": unknown}, expect=401, auth={}, json={})
