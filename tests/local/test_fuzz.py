"""Hypothesis fuzzing of the local server over real sockets: REST bodies, query parameters,
path parameters and headers of every route, the attachment CDN route, the ``/_local/`` admin
API and gateway frames.

Whatever a client sends, the server must answer like Discord: never a 5xx, always a JSON body
(RFC 8259: no NaN), error bodies ``{message: str, code: int[, errors: tree]}`` whose tree leaves
are ``{"_errors": [{"code": str, "message": str}]}``, and 2xx bodies that validate against the
spec's response schema for the route (a message, a channel, ...). The CDN answers the file or
404 "This content is no longer available."; a gateway frame is answered or the socket is closed
with one of Discord's close codes, never dropped. Nothing may log a traceback or an error, and
every request has a time limit, so a hang fails too.

Each test starts ONE server (on a background event loop, so a plain synchronous ``@given``
function can drive it) and runs all its examples against it. Runs are deterministic
(``derandomize=True``); every case is counted in :mod:`tests.local.fuzzstats`, whose figures
pytest prints at the end of the run.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import yarl
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from discobase.local import BotAccount, LocalDiscord
from discobase.local.cdn import GONE_MESSAGE
from discobase.local.snowflake import snowflake_at
from tests.local import fuzzstats
from tests.local.logwatch import LogWatch
from tests.local.openapi_spec import (
    discord_error_shape_problems,
    operation,
    response_schema,
    strict_json,
    validate_response,
)

T = TypeVar("T")

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIGHT = settings(FUZZ, max_examples=60)

MSG = "/channels/{channel_id}/messages"
ONE_MSG = "/channels/{channel_id}/messages/{message_id}"


@dataclass
class Reply:
    status: int
    content_type: str
    raw: bytes


class LiveServer:
    """A :class:`LocalDiscord` (rate limits off) on its own event loop thread, with a bot that
    owns a guild, a text channel, a category and one message, and a synchronous request API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server", daemon=True)
        self.watch = LogWatch()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread (the store belongs to that thread)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def __enter__(self) -> LiveServer:
        self.watch.__enter__()
        self.thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        self.server = LocalDiscord(rate_limits="off")
        await self.server.start()
        self.bot: BotAccount = self.server.create_bot("fuzzer")
        self.guild_id = self.server.create_guild("fuzz guild", owner=self.bot)
        self.channel_id = self.server.create_channel(self.guild_id, "fuzz")
        self.category_id = self.server.create_channel(self.guild_id, "fuzz category", type=4)
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bot {self.bot.token}"}, timeout=aiohttp.ClientTimeout(total=30)
        )
        reply = await self._request("POST", f"/channels/{self.channel_id}/messages", json={"content": "seed"})
        self.message_id = int(strict_json(reply.raw)["id"])

    async def _request(self, method: str, path: str, **kwargs: Any) -> Reply:
        url = path if path.startswith("http") else self.server.api_url + path
        async with self.session.request(method, url, **kwargs) as response:
            return Reply(response.status, response.content_type, await response.read())

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        """A request to ``api_url + path`` (or to ``path`` when it is a full URL)."""
        return self.run(self._request(method, path, **kwargs))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.run(self.session.close())
            self.run(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
            self.watch.__exit__(exc_type, exc, tb)
        if exc_type is None:
            assert self.watch.clean(), "the server logged errors:\n" + "\n".join(self.watch.problems)


#: Known gap, not fixed here: message ``components`` are passed through with only their ``type``
#: checked (validation.py: "their layout rules are not mirrored"), so a fuzzed component of an
#: unknown type or shape is accepted and echoed, and such a message fails the spec's
#: ``*ComponentResponse`` schemas (real Discord rejects it with 50035). 2xx message bodies are
#: therefore validated without ``components``; each top-level component must still carry its ``id``.
KNOWN_GAP_COMPONENTS = True


def check(reply: Reply, method: str, template: str, what: object) -> Any:
    """The Discord-likeness assertions shared by every fuzz test; returns the parsed body."""
    where = f"{method} {template} with {what!r:.300}"
    fuzzstats.record(f"{method} {template}", reply.status)
    assert reply.status < 500, f"{where}: {reply.status} {reply.raw[:300]!r}"
    if reply.status == 204:
        assert reply.raw == b"", where
        return None
    assert reply.content_type == "application/json", f"{where}: {reply.content_type}"
    body = strict_json(reply.raw)
    problems: list[str]
    if reply.status < 300:
        checked = body
        if isinstance(body, dict) and "components" in body and "author" in body:
            checked = {**body, "components": []}  # see KNOWN_GAP_COMPONENTS
            assert all(isinstance(c.get("id"), int) for c in body["components"]), body["components"]
        problems = validate_response(method, template, reply.status, checked)
    else:
        assert 400 <= reply.status < 500, f"{where}: {reply.status}"
        problems = discord_error_shape_problems(body) or validate_response(
            method, template, reply.status, body
        )
    assert not problems, f"{where}: {reply.status} {body!r:.300}\n" + "\n".join(problems)
    return body


# ------------------------------------------------------------------ strategies

huge_ints = st.sampled_from(
    [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1, -(2**63) - 1, 10**40, -(10**40)]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | huge_ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=15,
)
snowflake_like = (
    st.integers(min_value=0, max_value=2**64 + 5).map(str)
    | st.integers(min_value=-5, max_value=2**64 + 5)
    | st.text(max_size=25)
)


def dumps(value: Any) -> bytes:
    """JSON text; NaN and ±Infinity go out as the raw tokens ``json.dumps`` writes for them."""
    return json.dumps(value, allow_nan=True).encode()


Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]


def real_keys(fields: dict[str, Field], required: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with a route's real keys. ``fields`` maps each key to ``(valid, edge)`` strategies:
    values Discord accepts, and values just outside its rules. The dicts hold valid values only
    (mostly successful requests), valid or edge values, or any of those or any JSON value; the
    keys of ``required`` are usually present."""

    def build(
        values: dict[str, st.SearchStrategy[Any]], *, any_keys: bool
    ) -> st.SearchStrategy[dict[str, Any]]:
        must = {k: v for k, v in values.items() if k in required}
        rest = {k: v for k, v in values.items() if k not in required}
        usual = st.fixed_dictionaries(must, optional=rest)
        return usual | st.fixed_dictionaries({}, optional=values) if any_keys else usual

    valid = build({k: v for k, (v, _) in fields.items()}, any_keys=False)
    return st.one_of(
        valid,
        valid,
        build({k: v | e for k, (v, e) in fields.items()}, any_keys=True),
        build({k: v | e | json_values for k, (v, e) in fields.items()}, any_keys=True),
    )


def bodies(fields: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Mostly dicts with the real keys, sometimes any JSON value at all."""
    return st.one_of(json_values, fields, fields)


label = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=20)
urls = st.sampled_from(["https://example.com/", "https://example.com/p?q=1", "http://127.0.0.1/x.png"])
valid_embeds = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.text(max_size=30),
            "description": st.text(max_size=50),
            "url": urls,
            "color": st.integers(min_value=0, max_value=0xFFFFFF),
            "timestamp": st.sampled_from(["2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05.123Z"]),
            "fields": st.lists(st.fixed_dictionaries({"name": label, "value": label}), max_size=3),
            "footer": st.fixed_dictionaries({"text": label}),
            "author": st.fixed_dictionaries({"name": label}),
            "image": st.fixed_dictionaries({"url": urls}),
            "type": st.just("rich"),
        },
    ),
    max_size=3,
)
edge_embeds = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.text(min_size=257, max_size=260),
            "url": st.sampled_from(["nope", "", "ftp://x"]),
            "color": st.sampled_from([-1, 2**24]),
            "timestamp": st.sampled_from(["yesterday", "2024-13-01T00:00:00"]),
            "fields": st.lists(st.fixed_dictionaries({"name": st.just("")}), max_size=1),
            "type": st.sampled_from(["image", 5]),
        },
    ),
    min_size=1,
    max_size=2,
) | st.lists(st.fixed_dictionaries({"title": label}), min_size=11, max_size=11)
attachments = st.lists(
    st.fixed_dictionaries(
        {"id": st.integers(min_value=-1, max_value=12) | st.text(max_size=3)},
        optional={"filename": st.text(max_size=20), "description": st.text(max_size=20)},
    ),
    min_size=1,
    max_size=4,
)
link_row = st.fixed_dictionaries(
    {
        "type": st.just(1),
        "components": st.lists(
            st.fixed_dictionaries({"type": st.just(2), "style": st.just(5), "label": label, "url": urls}),
            min_size=1,
            max_size=2,
        ),
    }
)
message_fields = real_keys(
    {
        "content": (st.text(min_size=1, max_size=2000), st.text(min_size=2001, max_size=2005) | st.just("")),
        "embeds": (valid_embeds, edge_embeds),
        "nonce": (
            st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=25),
            huge_ints | st.text(min_size=26, max_size=30),
        ),
        "enforce_nonce": (st.booleans(), st.sampled_from(["true", 1])),
        "tts": (st.booleans(), st.sampled_from(["false", 0])),
        "attachments": (st.just([]), attachments),
        "flags": (st.sampled_from([0, 4, 4096, 4100]), st.integers(min_value=-1, max_value=2**65)),
        "sticker_ids": (st.just([]), st.lists(snowflake_like, max_size=4)),
        "allowed_mentions": (
            st.fixed_dictionaries(
                {"parse": st.lists(st.sampled_from(["users", "roles", "everyone"]), unique=True)}
            ),
            st.fixed_dictionaries({"parse": st.lists(st.text(max_size=8), min_size=1)}),
        ),
        "message_reference": (st.nothing(), st.fixed_dictionaries({"message_id": snowflake_like})),
        "components": (
            st.lists(link_row, max_size=2),
            st.lists(st.fixed_dictionaries({"type": st.integers(-1, 20)}), min_size=1, max_size=2),
        ),
    },
    required=("content",),
)
message_bodies = bodies(message_fields)
permission_bits = st.integers(min_value=0, max_value=2**53).map(str)
overwrites = st.lists(
    st.fixed_dictionaries(
        {"id": snowflake_like, "type": st.integers(-1, 2)},
        optional={"allow": permission_bits | snowflake_like, "deny": permission_bits | snowflake_like},
    ),
    min_size=1,
    max_size=3,
)


def channel_bodies(guild_id: int, category_id: int) -> st.SearchStrategy[Any]:
    own_overwrites = st.lists(
        st.fixed_dictionaries(
            {"id": st.just(str(guild_id)), "type": st.just(0)},
            optional={"allow": permission_bits, "deny": permission_bits},
        ),
        max_size=1,
    )
    return bodies(
        real_keys(
            {
                "name": (st.text(min_size=1, max_size=100), st.sampled_from(["", "x" * 101])),
                "type": (st.sampled_from([0, 0, 0, 2, 4, 5, 13, 15]), st.sampled_from([16, -1, 99, 1, 3])),
                "topic": (st.text(max_size=1024), st.text(min_size=1025, max_size=1030)),
                "parent_id": (st.just(str(category_id)), snowflake_like),
                "permission_overwrites": (own_overwrites, overwrites),
                "position": (st.integers(min_value=0, max_value=1000), st.sampled_from([-1, 2**40])),
                "nsfw": (st.booleans(), st.sampled_from(["yes", 1])),
                "rate_limit_per_user": (
                    st.integers(min_value=0, max_value=21600),
                    st.sampled_from([-1, 21601]),
                ),
                "bitrate": (
                    st.integers(min_value=8000, max_value=96000),
                    st.integers(min_value=0, max_value=7999),
                ),
                "user_limit": (st.integers(min_value=0, max_value=99), st.sampled_from([-1, 100, 10**5])),
            },
            required=("name",),
        )
    )


#: JSON nested far deeper than anything real (beyond the server's bound and Python's recursion limit).
deep_json = st.integers(min_value=60, max_value=3000).map(
    lambda depth: b"[" * depth + b"]" * depth
) | st.integers(min_value=30, max_value=1500).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth)
payload_json = message_bodies.map(dumps) | st.binary(max_size=40) | deep_json
file_parts = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=11).map(lambda i: f"files[{i}]")
        | st.sampled_from(["file", "files", "files[x]", "files[-1]", "other"]),
        st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=20),  # aiohttp refuses controls
        st.binary(max_size=64),
    ),
    max_size=3,
)


def form(payload: bytes | None, parts: list[tuple[str, str, bytes]]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    if payload is not None:
        data.add_field("payload_json", io.BytesIO(payload), content_type="application/json")
    for name, filename, blob in parts:
        data.add_field(
            name, io.BytesIO(blob), filename=filename or None, content_type="application/octet-stream"
        )
    return data


JSON = {"Content-Type": "application/json"}
garbage_requests = st.tuples(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
            "application/octet-stream",
        ]
    ),
    st.binary(max_size=200) | message_bodies.map(dumps) | deep_json,
)


# ------------------------------------------------------------------ tests


def test_fuzz_create_message_json() -> None:
    with LiveServer() as live:
        path = MSG.format(channel_id=live.channel_id)

        @FUZZ
        @given(body=message_bodies)
        def run(body: Any) -> None:
            reply = live.request("POST", path, data=dumps(body), headers=JSON)
            message = check(reply, "POST", MSG, body)
            if reply.status == 200:
                assert message["channel_id"] == str(live.channel_id)
                assert message["author"]["id"] == str(live.bot.user_id)

        run()


def test_fuzz_create_message_multipart() -> None:
    with LiveServer() as live:
        path = MSG.format(channel_id=live.channel_id)

        @FUZZ
        @given(payload=st.none() | payload_json, parts=file_parts)
        def run(payload: bytes | None, parts: list[tuple[str, str, bytes]]) -> None:
            reply = live.request("POST", path, data=form(payload, parts))
            message = check(reply, "POST", MSG, (payload, parts))
            if reply.status == 200:
                assert len(message["attachments"]) <= len(parts)

        run()


def test_fuzz_create_channel() -> None:
    with LiveServer() as live:
        path = f"/guilds/{live.guild_id}/channels"
        template = "/guilds/{guild_id}/channels"

        @FUZZ
        @given(body=channel_bodies(live.guild_id, live.category_id))
        def run(body: Any) -> None:
            reply = live.request("POST", path, data=dumps(body), headers=JSON)
            channel = check(reply, "POST", template, body)
            if reply.status == 201:
                assert channel["guild_id"] == str(live.guild_id)
                assert 1 <= len(channel["name"]) <= 100

        run()


def test_fuzz_garbage_bodies_and_content_types() -> None:
    with LiveServer() as live:
        targets = [
            ("POST", MSG, MSG.format(channel_id=live.channel_id)),
            ("POST", "/guilds/{guild_id}/channels", f"/guilds/{live.guild_id}/channels"),
            ("PATCH", "/channels/{channel_id}", f"/channels/{live.channel_id}"),
            ("PATCH", ONE_MSG, ONE_MSG.format(channel_id=live.channel_id, message_id=live.message_id)),
            (
                "POST",
                "/channels/{channel_id}/messages/bulk-delete",
                f"/channels/{live.channel_id}/messages/bulk-delete",
            ),
        ]

        @FUZZ
        @given(target=st.sampled_from(targets), request=garbage_requests)
        def run(target: tuple[str, str, str], request: tuple[str, bytes]) -> None:
            method, template, path = target
            content_type, raw = request
            reply = live.request(method, path, data=raw, headers={"Content-Type": content_type})
            check(reply, method, template, request)

        run()


def fuzz_route(
    live: LiveServer, method: str, template: str, path: str, strategy: st.SearchStrategy[Any]
) -> None:
    @LIGHT
    @given(body=strategy)
    def run(body: Any) -> None:
        reply = live.request(method, path, data=dumps(body), headers=JSON)
        check(reply, method, template, body)

    run()


def test_fuzz_other_body_routes() -> None:
    """PATCH channel, PATCH message, bulk delete, PUT permissions, POST invites, PUT commands."""
    with LiveServer() as live:
        edited = live.call(lambda: live.server.create_channel(live.guild_id, "edited"))
        recent = snowflake_at(int(time.time() * 1000) - 60_000)
        recent_ids = st.integers(min_value=0, max_value=2**30).map(lambda n: str(recent + n))
        app = live.bot.application_id
        option = real_keys(
            {
                "type": (st.sampled_from([3, 4, 5, 6, 7, 8, 10, 11]), st.integers(-1, 13)),
                "name": (st.from_regex(r"[a-z]{1,10}", fullmatch=True), st.text(max_size=33)),
                "description": (st.text(min_size=1, max_size=10), st.sampled_from(["", "x" * 101])),
                "required": (st.booleans(), st.just("yes")),
                "choices": (st.nothing(), st.lists(json_values, max_size=3)),
            },
            required=("type", "name", "description"),
        )
        command = real_keys(
            {
                "name": (st.from_regex(r"[a-z0-9_-]{1,32}", fullmatch=True), st.text(max_size=33)),
                "description": (st.text(min_size=1, max_size=100), st.sampled_from(["", "x" * 101])),
                "type": (st.just(1), st.integers(0, 5)),
                "options": (
                    st.lists(option, max_size=3, unique_by=lambda o: repr(o.get("name"))),
                    st.lists(option),
                ),
                "default_member_permissions": (permission_bits, snowflake_like),
                "nsfw": (st.booleans(), st.just(1)),
            },
            required=("name", "description"),
        )
        routes: list[tuple[str, str, str, st.SearchStrategy[Any]]] = [
            (
                "PATCH",
                "/channels/{channel_id}",
                f"/channels/{edited}",
                channel_bodies(live.guild_id, live.category_id),
            ),
            (
                "PATCH",
                ONE_MSG,
                ONE_MSG.format(channel_id=live.channel_id, message_id=live.message_id),
                message_bodies,
            ),
            (
                "POST",
                "/channels/{channel_id}/messages/bulk-delete",
                f"/channels/{edited}/messages/bulk-delete",
                bodies(
                    real_keys(
                        {
                            "messages": (
                                st.lists(recent_ids, min_size=2, max_size=100, unique=True),
                                st.lists(recent_ids | snowflake_like, max_size=101),
                            )
                        },
                        required=("messages",),
                    )
                ),
            ),
            (
                "PUT",
                "/channels/{channel_id}/permissions/{overwrite_id}",
                f"/channels/{edited}/permissions/{live.guild_id}",
                bodies(
                    real_keys(
                        {
                            "type": (st.just(0), st.integers(-1, 2)),
                            "allow": (permission_bits, snowflake_like),
                            "deny": (permission_bits, snowflake_like),
                        },
                        required=("type",),
                    )
                ),
            ),
            (
                "POST",
                "/channels/{channel_id}/invites",
                f"/channels/{edited}/invites",
                bodies(
                    real_keys(
                        {
                            "max_age": (st.integers(0, 604800), st.sampled_from([-1, 604801])),
                            "max_uses": (st.integers(0, 100), st.sampled_from([-1, 101])),
                            "temporary": (st.booleans(), st.just("no")),
                            "unique": (st.booleans(), st.just(0)),
                            "target_type": (st.nothing(), st.integers(0, 3)),
                            "target_user_id": (st.nothing(), snowflake_like),
                        }
                    )
                ),
            ),
            (
                "PUT",
                "/applications/{application_id}/commands",
                f"/applications/{app}/commands",
                st.one_of(json_values, st.lists(command, max_size=3), st.lists(command, max_size=3)),
            ),
        ]

        for method, template, path, strategy in routes:  # one fuzz run per route
            fuzz_route(live, method, template, path, strategy)


def test_fuzz_people_routes() -> None:
    """POST/PATCH roles, PATCH member, POST DM channel: the routes of people and members."""
    with LiveServer() as live:
        other = live.call(lambda: live.server.create_bot("fuzz-other"))
        live.call(lambda: live.server.add_member(live.guild_id, other))
        role = live.call(lambda: live.server.create_role(live.guild_id, "fuzz role"))
        snowflakes = snowflake_like | st.sampled_from([str(role), str(live.guild_id), str(other.user_id)])
        timestamps = st.sampled_from(["2030-01-01T00:00:00+00:00", "yesterday", "", "9999-99-99"])
        routes: list[tuple[str, str, str, st.SearchStrategy[Any]]] = [
            (
                "POST",
                "/guilds/{guild_id}/roles",
                f"/guilds/{live.guild_id}/roles",
                bodies(
                    real_keys(
                        {
                            "name": (st.text(max_size=100), st.text(min_size=101, max_size=120)),
                            "permissions": (permission_bits, snowflake_like),
                            "color": (st.integers(0, 0xFFFFFF), st.integers(-1, 2**25)),
                            "hoist": (st.booleans(), st.just("yes")),
                            "mentionable": (st.booleans(), st.just(1)),
                        }
                    )
                ),
            ),
            (
                "PATCH",
                "/guilds/{guild_id}/roles",
                f"/guilds/{live.guild_id}/roles",
                st.one_of(
                    json_values,
                    st.lists(
                        real_keys(
                            {"id": (snowflakes, json_values), "position": (st.integers(0, 5), huge_ints)},
                            required=("id",),
                        ),
                        max_size=4,
                    ),
                ),
            ),
            (
                "PATCH",
                "/guilds/{guild_id}/members/{user_id}",
                f"/guilds/{live.guild_id}/members/{other.user_id}",
                bodies(
                    real_keys(
                        {
                            "nick": (st.text(max_size=32), st.text(min_size=33, max_size=40)),
                            "roles": (st.lists(snowflakes, max_size=3), st.lists(json_values, max_size=3)),
                            "communication_disabled_until": (timestamps, json_values),
                        }
                    )
                ),
            ),
            (
                "POST",
                "/users/@me/channels",
                "/users/@me/channels",
                bodies(real_keys({"recipient_id": (snowflakes, json_values)}, required=("recipient_id",))),
            ),
        ]
        for method, template, path, strategy in routes:
            fuzz_route(live, method, template, path, strategy)


def test_fuzz_interaction_callback() -> None:
    """``POST /interactions/{id}/{token}/callback`` with random bodies, each on a fresh
    interaction (a slash command the fuzz bot never answers itself)."""
    with LiveServer() as live:
        interactions = live.server.interactions
        interactions.response_window = 600.0  # the fuzz answers; no interaction times out meanwhile
        pending: list[asyncio.Task[Any]] = []

        async def fresh() -> str:
            before = set(interactions._by_id)
            pending.append(
                asyncio.ensure_future(
                    interactions.start(
                        type=2,
                        application_id=live.bot.application_id,
                        user_id=live.bot.user_id,
                        guild_id=live.guild_id,
                        channel_id=live.channel_id,
                        data={"id": "1", "name": "fuzz", "type": 1},
                    )
                )
            )
            await asyncio.sleep(0)  # start() registers the interaction before its first await
            new = set(interactions._by_id) - before
            assert len(new) == 1
            interaction = interactions._by_id[new.pop()]
            return f"/interactions/{interaction.id}/{interaction.token}/callback"

        data = real_keys(
            {
                "content": (st.text(max_size=50), st.text(min_size=2001, max_size=2010)),
                "flags": (st.sampled_from([0, 64, 1 << 12]), json_values),
                "choices": (st.lists(json_values, max_size=3), json_values),
                "custom_id": (st.text(min_size=1, max_size=20), json_values),
                "title": (st.text(min_size=1, max_size=45), json_values),
                "components": (st.nothing(), st.lists(json_values, max_size=2)),
                "embeds": (st.nothing(), st.lists(json_values, max_size=2)),
            }
        )
        callback = real_keys(
            {
                "type": (st.sampled_from([1, 4, 5, 6, 7, 8, 9, 10, 12]), json_values),
                "data": (data, json_values),
            },
            required=("type",),
        )

        @LIGHT
        @given(body=bodies(callback))
        def run(body: Any) -> None:
            path = live.run(fresh())
            reply = live.request("POST", path, data=dumps(body), headers=JSON)
            check(reply, "POST", "/interactions/{interaction_id}/{interaction_token}/callback", body)

        run()

        async def finish() -> None:
            for task in pending:  # those still waiting for a (deferred) answer
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        live.run(finish())


random_query = (
    st.text(max_size=25) | st.integers(min_value=-(2**70), max_value=2**70).map(str) | huge_ints.map(str)
)


def test_fuzz_query_parameters() -> None:
    with LiveServer() as live:
        anchor = live.message_id
        valid = {
            "limit": st.integers(min_value=1, max_value=100).map(str),
            "before": st.integers(min_value=-(2**22), max_value=2**22).map(lambda d: str(anchor + d)),
            "after": st.integers(min_value=-(2**22), max_value=2**22).map(lambda d: str(anchor + d)),
            "around": st.integers(min_value=-(2**22), max_value=2**22).map(lambda d: str(anchor + d)),
            "with_counts": st.sampled_from(["true", "false", "True", "0", "1"]),
            "pins_before": st.sampled_from(["2024-01-02T03:04:05+00:00", "2030-01-01T00:00:00"]),
        }
        routes = [
            (MSG, MSG.format(channel_id=live.channel_id), ["limit", "before", "after", "around"]),
            (
                "/channels/{channel_id}/messages/pins",
                f"/channels/{live.channel_id}/messages/pins",
                ["limit", "pins_before"],
            ),
            ("/guilds/{guild_id}/members", f"/guilds/{live.guild_id}/members", ["limit", "after"]),
            ("/users/@me/guilds", "/users/@me/guilds", ["limit", "before", "after", "with_counts"]),
            ("/guilds/{guild_id}", f"/guilds/{live.guild_id}", ["with_counts"]),
        ]

        @FUZZ
        @given(data=st.data(), index=st.integers(min_value=0, max_value=len(routes) - 1))
        def run(data: st.DataObject, index: int) -> None:
            template, path, names = routes[index]
            query = {
                name.removeprefix("pins_"): data.draw(
                    st.one_of(valid[name], valid[name], random_query), label=name
                )
                for name in data.draw(st.lists(st.sampled_from(names), unique=True), label="names")
            }
            encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
            reply = live.request("GET", f"{path}?{encoded}" if encoded else path)
            check(reply, "GET", template, query)

        run()


# ------------------------------------------------------------------ paths, headers, CDN, admin, gateway


def check_lenient(reply: Reply, method: str, template: str, what: object) -> Any:
    """Like :func:`check`, for routes or statuses the spec may not describe: the spec's schema is
    checked only where it declares one for the status."""
    where = f"{method} {template} with {what!r:.300}"
    fuzzstats.record(f"{method} {template}", reply.status)
    assert reply.status < 500, f"{where}: {reply.status} {reply.raw[:300]!r}"
    if reply.status == 204:
        assert reply.raw == b"", where
        return None
    assert reply.content_type == "application/json", f"{where}: {reply.status} {reply.content_type}"
    body = strict_json(reply.raw)
    if reply.status >= 300:
        assert 400 <= reply.status < 500, f"{where}: {reply.status}"
        problems = discord_error_shape_problems(body)
        assert not problems, f"{where}: {reply.status} {body!r:.300}\n" + "\n".join(problems)
        return body
    op = operation(method, template)
    if op is not None and (
        str(reply.status) in op["responses"] or f"{reply.status // 100}XX" in op["responses"]
    ):
        checked = body
        if isinstance(body, dict) and "components" in body and "author" in body:
            checked = {**body, "components": []}  # see KNOWN_GAP_COMPONENTS
        if response_schema(method, template, reply.status) is not None:
            problems = validate_response(method, template, reply.status, checked)
            assert not problems, f"{where}: {reply.status} {body!r:.300}\n" + "\n".join(problems)
    return body


#: Path segments for ids: well-formed and not, in range and not, ASCII digits and not.
odd_ids = st.sampled_from(
    [
        "0",
        "1",
        str(2**63 - 1),
        str(2**63),
        str(2**64 - 1),
        str(2**64),
        "9" * 30,
        "9" * 5000,
        "-1",
        "+5",
        "1e3",
        "0x10",
        " 1",
        "\u00b2",
        "\u0661\u0662",
        "\uff11",
        "@me",
        "%00",
        "abc",
        "null",
        "[]",
    ]
) | st.integers(min_value=0, max_value=2**70).map(str)
#: Cases per REST route in the path/header/query fuzz.
PATH_CASES_PER_ROUTE = 30
#: aiohttp answers a request line longer than this with its own 400 (the app never sees it).
MAX_REQUEST_LINE = 8190
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
header_names = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)


def path_routes(live: LiveServer) -> list[tuple[str, str, dict[str, list[str]]]]:
    """Every REST route with the real ids its placeholders can take (none for the destructive
    ``DELETE /channels/{channel_id}``, which would end the run for everything else)."""
    real: dict[str, list[str]] = {
        "channel_id": [str(live.channel_id), str(live.category_id)],
        "guild_id": [str(live.guild_id)],
        "message_id": [str(live.message_id)],
        "application_id": [str(live.bot.application_id)],
        "user_id": [str(live.bot.user_id), "@me"],
        "overwrite_id": [str(live.guild_id), str(live.bot.user_id)],
        "member_id": [str(live.bot.user_id)],
        "role_id": [str(live.guild_id)],
        "command_id": [str(live.bot.application_id)],
        "emoji": ["%F0%9F%91%8D", "name%3A1"],
        "interaction_id": [str(live.message_id)],
        "interaction_token": ["not-a-token"],
        "webhook_id": [str(live.bot.application_id)],
        "webhook_token": ["not-a-token"],
    }
    routes = []
    for method, template, _ in live.server.rest.routes() + live.server.interactions.routes():
        names = re.findall(r"\{(\w+)\}", template)
        ids = {
            name: [] if (method, template) == ("DELETE", "/channels/{channel_id}") else real[name]
            for name in names
        }
        routes.append((method, template, ids))
    return routes


def test_fuzz_paths_headers_and_query_of_every_route() -> None:
    """Every route with odd ids in its path, odd or missing credentials, odd headers, odd query
    strings and odd bodies: answered like Discord (401, 404, 400/50035, ...), never a 5xx."""
    with LiveServer() as live:
        routes = path_routes(live)
        token = live.bot.token
        valid = st.just(f"Bot {token}")
        invalid = st.one_of(
            st.none(),
            st.just(token),
            st.just(f"Bearer {token}"),
            header_text.map(lambda t: "Bot " + t),
            header_text,
        )
        authorization = st.integers(0, 3).flatmap(
            lambda k: valid if k < 3 else invalid
        )  # mostly past the 401
        content_types = st.sampled_from(
            ["application/json", "multipart/form-data", "text/plain", "application/x-www-form-urlencoded", ""]
        )
        query_values = st.one_of(odd_ids, st.integers(min_value=-5, max_value=200).map(str), header_text)
        query_names = st.sampled_from(["limit", "before", "after", "around", "with_counts", "x"])
        bodies_or_none = st.one_of(
            st.none(), json_values.map(dumps), deep_json, st.binary(max_size=60), message_bodies.map(dumps)
        )

        def fuzz_one(index: int) -> None:
            method, template, ids = routes[index]

            @seed(index)  # deterministic, and a different sequence for each route
            @settings(FUZZ, max_examples=PATH_CASES_PER_ROUTE)
            @given(
                data=st.data(),
                auth=authorization,
                extra=st.dictionaries(header_names, header_text, max_size=2),
                reason=st.none() | header_text,
                content_type=content_types,
                query=st.lists(st.tuples(query_names, query_values), max_size=3),
                body=bodies_or_none,
            )
            def run(
                data: st.DataObject,
                auth: str | None,
                extra: dict[str, str],
                reason: str | None,
                content_type: str,
                query: list[tuple[str, str]],
                body: bytes | None,
            ) -> None:
                path = template
                for name, choices in ids.items():
                    segment = data.draw(
                        st.sampled_from(choices) | odd_ids if choices else odd_ids, label=name
                    )
                    path = path.replace("{" + name + "}", quote(segment, safe="@"), 1)
                encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
                headers = {**extra, "Authorization": auth or ""}
                if reason is not None:
                    headers["X-Audit-Log-Reason"] = quote(reason)
                if body is not None:
                    headers["Content-Type"] = content_type
                target = f"{path}?{encoded}" if encoded else path
                reply = live.request(
                    method, target, headers=headers, data=body if method in ("POST", "PUT", "PATCH") else None
                )
                if len("/api/v10" + target) > MAX_REQUEST_LINE:  # refused by aiohttp's parser, before the app
                    fuzzstats.record(f"{method} {template}", reply.status)
                    assert (reply.status, reply.content_type) == (400, "text/plain"), target[:100]
                    return
                check_lenient(reply, method, template, (path, query, headers, body))

            run()

        for index in range(len(routes)):  # every route gets its own run
            fuzz_one(index)


CDN = "/attachments/{channel_id}/{attachment_id}/{filename}"


def test_fuzz_the_attachment_cdn_route() -> None:
    """Signed attachment URLs, mutated: only the genuine one gives the file, every other one is
    404 "This content is no longer available.", whatever the ids, file name or query."""
    with LiveServer() as live:
        form = aiohttp.FormData()
        form.add_field("payload_json", '{"content": "cdn"}', content_type="application/json")
        form.add_field("files[0]", io.BytesIO(b"cdn bytes"), filename="f.bin")
        message = strict_json(live.request("POST", MSG.format(channel_id=live.channel_id), data=form).raw)
        genuine = yarl.URL(message["attachments"][0]["url"])
        channel, attachment, filename = genuine.path.split("/")[2:5]
        signed = dict(genuine.query)
        hexes = st.text("0123456789abcdefABCDEF", max_size=20)

        @settings(FUZZ, max_examples=300)
        @given(
            channel_id=st.just(channel) | odd_ids,
            attachment_id=st.just(attachment) | odd_ids,
            name=st.just(filename) | st.text(min_size=1, max_size=20).filter(lambda t: t not in (".", "..")),
            query=st.fixed_dictionaries(
                {},
                optional={
                    "ex": st.just(signed["ex"]) | hexes | st.text(max_size=10),
                    "is": st.just(signed["is"]) | hexes,
                    "hm": st.just(signed["hm"]) | hexes | st.just(signed["hm"].upper()),
                    "x": header_text,
                },
            ),
            auth=st.booleans(),
        )
        def run(channel_id: str, attachment_id: str, name: str, query: dict[str, str], auth: bool) -> None:
            segments = "/".join(quote(part, safe="") for part in (channel_id, attachment_id, name))
            url = genuine.with_path(f"/attachments/{segments}", encoded=True).with_query(query)
            headers = None if auth else {"Authorization": ""}
            reply = live.request("GET", str(url), headers=headers)
            fuzzstats.record(f"GET {CDN}", reply.status)
            if len(url.raw_path_qs) > MAX_REQUEST_LINE:  # refused by aiohttp's parser, before the app
                assert (reply.status, reply.content_type) == (400, "text/plain"), str(url)[:100]
                return
            exact = (channel_id, attachment_id, name) == (channel, attachment, filename) and all(
                query.get(key) == signed[key] for key in ("ex", "is", "hm")
            )
            if exact:
                assert (reply.status, reply.raw) == (200, b"cdn bytes"), url
            else:
                assert (reply.status, reply.content_type, reply.raw.decode()) == (
                    404,
                    "text/plain",
                    GONE_MESSAGE,
                ), url

        run()


def test_fuzz_the_admin_api() -> None:
    """``/_local/`` with any body: a 2xx, or a 4xx JSON error naming the problem; a fault it
    accepts then works on a REST request without breaking the server."""
    with LiveServer() as live:
        admin = live.server.url + "/_local"
        fault_specs = real_keys(
            {
                "kind": (
                    st.sampled_from(["status", "ratelimit", "latency", "drop", "gateway_close"]),
                    st.text(max_size=10) | st.just(["status"]),
                ),
                "route": (st.sampled_from(["GET /users/@me", "*", "/users/*"]), st.text(max_size=20)),
                "probability": (st.floats(0, 1), st.floats(allow_nan=True) | huge_ints),
                "count": (st.integers(1, 5), st.integers(-2, 0) | huge_ints),
                "status": (st.integers(400, 599), st.integers(0, 1000) | huge_ints | st.just("500")),
                "latency": (st.just(0), st.floats(allow_nan=True, allow_infinity=True) | huge_ints),
                "retry_after": (st.floats(0, 5), st.floats(allow_nan=True, allow_infinity=True) | huge_ints),
                "global": (st.booleans(), st.just("true")),
                "close_code": (st.integers(4000, 4014), st.integers(0, 70000)),
                "resumable": (st.booleans(), st.just(1)),
            },
            required=("kind",),
        )
        actions = st.sampled_from(["close", "reconnect", "invalid_session", "drop"]) | st.text(
            st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=12
        )
        action_bodies = real_keys(
            {
                "code": (
                    st.sampled_from([1000, 4000, 4009]),
                    json_values | huge_ints | st.integers(-5, 70000),
                ),
                "resumable": (st.booleans(), json_values),
            }
        )
        raw_bodies = st.one_of(
            st.none(),
            json_values.map(dumps),
            deep_json,
            st.binary(max_size=40),
            fault_specs.map(dumps),
            fault_specs.map(dumps),
            action_bodies.map(dumps),
        )
        targets = st.sampled_from(
            [
                ("GET", "/_local/info"),
                ("GET", "/_local/stats"),
                ("DELETE", "/_local/stats"),
                ("GET", "/_local/faults"),
                ("POST", "/_local/faults"),
                ("POST", "/_local/faults"),
                ("DELETE", "/_local/faults"),
                ("POST", "/_local/gateway/{action}"),
                ("POST", "/_local/gateway/{action}"),
                ("PUT", "/_local/faults"),
            ]
        )

        @settings(FUZZ, max_examples=300)
        @given(target=targets, action=actions, body=raw_bodies)
        def run(target: tuple[str, str], action: str, body: bytes | None) -> None:
            method, template = target
            path = template.replace("{action}", action)
            reply = live.request(method, admin + path.removeprefix("/_local"), data=body)
            fuzzstats.record(f"{method} {template}", reply.status)
            assert reply.status < 500, (method, path, body, reply.status, reply.raw[:300])
            if reply.status != 204:
                assert reply.content_type == "application/json", (path, reply.status)
                answer = strict_json(reply.raw)
                if reply.status >= 400:
                    assert not discord_error_shape_problems(answer), answer
            if reply.status == 201:  # a fault was added: let it act on one REST request, then remove it
                fault = strict_json(reply.raw)
                if fault["kind"] in ("status", "ratelimit") or (
                    fault["kind"] == "latency" and fault["latency"] < 0.01
                ):
                    after = live.request("GET", "/users/@me")
                    assert after.content_type == "application/json", after
                    if after.status >= 500:
                        assert fault["kind"] == "status", after  # a status fault answers what it was told to
                live.request("DELETE", admin + "/faults")

        run()


async def gateway_case(live: LiveServer, frames: list[str | bytes]) -> tuple[list[int], int | None]:
    """Send ``frames`` after HELLO, then a heartbeat; read until it is acknowledged or the socket
    closes. Returns the opcodes read and the close code (``None``: still open)."""
    ops: list[int] = []
    async with live.session.ws_connect(live.server.gateway_url + "?v=10&encoding=json") as ws:
        hello = await ws.receive_json(timeout=10)
        assert hello["op"] == 10
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        await ws.send_str('{"op":1,"d":null}')
        while True:
            msg = await ws.receive(timeout=10)
            if msg.type is aiohttp.WSMsgType.TEXT:
                ops.append(json.loads(msg.data)["op"])
                if ops[-1] == 11:
                    return ops, None
            elif msg.type is aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"binary frame on a plain connection: {msg.data[:40]!r}")
            else:
                return ops, ws.close_code


def frame_kind(frame: str | bytes) -> str:
    """What a fuzzed frame is, for the figures: ``op N`` for each opcode a client may send,
    ``unknown op``, ``other JSON`` or ``undecodable``."""
    try:
        payload = json.loads(frame)
    except (ValueError, RecursionError):
        return "/gateway undecodable"
    op = payload.get("op") if isinstance(payload, dict) else None
    if isinstance(op, int) and not isinstance(op, bool):
        return f"/gateway op {op}" if op in (1, 2, 3, 4, 6, 8, 31, 43) else "/gateway unknown op"
    return "/gateway other JSON"


#: What a bad frame may end with: Discord's close codes for what a client did wrong. Never
#: 1006 (dropped without a close frame), 1011 or 4000 (the server failed).
CLIENT_FAULT_CLOSE_CODES = {4001, 4002, 4003, 4004, 4005, 4007, 4010, 4013}


def test_fuzz_gateway_frames() -> None:
    """Frames of every shape, alone or after a valid IDENTIFY: answered, or closed with a
    client-fault close code; the server never drops the socket or logs a traceback."""
    with LiveServer() as live:
        token = live.bot.token
        identify = json.dumps({"op": 2, "d": {"token": token, "intents": 1 | 2 | 512, "properties": {}}})
        snowflakes = snowflake_like | st.just(str(live.guild_id)) | st.sampled_from(["\u00b2", "\u0661"])
        payloads = real_keys(
            {
                "op": (st.sampled_from([1, 2, 3, 4, 6, 8, 31, 43]), st.integers(-1, 50) | json_values),
                "d": (
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "token": st.just(token) | st.text(max_size=10) | json_values,
                            "intents": st.integers(0, 1 << 26) | json_values,
                            "shard": st.lists(st.integers(-1, 3), max_size=3) | json_values,
                            "guild_id": snowflakes | st.lists(snowflakes, max_size=3),
                            "user_ids": st.lists(snowflakes, max_size=3) | json_values,
                            "query": st.text(max_size=5) | json_values,
                            "limit": st.integers(-5, 2**70) | json_values,
                            "nonce": st.text(max_size=5) | json_values,
                            "session_id": st.text(max_size=10) | json_values,
                            "seq": st.integers(-5, 2**64) | json_values,
                        },
                    ),
                    json_values,
                ),
                "s": (st.none(), json_values),
                "t": (st.none(), json_values),
            },
            required=("op",),
        )
        frames = st.one_of(
            payloads.map(json.dumps),
            payloads.map(json.dumps),
            json_values.map(lambda v: json.dumps(v, allow_nan=True)),
            deep_json.map(lambda raw: raw.decode()),
            st.text(max_size=60),
            st.binary(max_size=60),
            st.text(min_size=4097, max_size=4200),
        )

        @settings(FUZZ, max_examples=400)
        @given(identified=st.booleans(), frame=frames)
        def run(identified: bool, frame: str | bytes) -> None:
            sent: list[str | bytes] = [identify, frame] if identified else [frame]
            ops, code = live.run(gateway_case(live, sent))
            outcome = "gateway answered" if code is None else f"gateway close {code}"
            fuzzstats.record(frame_kind(frame), None, family="gateway frames", outcome=outcome)
            if code is not None:
                assert code in CLIENT_FAULT_CLOSE_CODES, (sent, ops, code)

        run()
