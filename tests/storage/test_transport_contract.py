"""One contract for both transports: every test runs on :class:`MemoryTransport`
and on :class:`DiscordTransport` against the local server, and checks the same
observable behaviour (results, errors, events and request counts)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import discord
import pytest
from discord.ext import commands

from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    GuildNotFoundError,
    LoginError,
    MissingPermissionsError,
    NotConnectedError,
)
from discobase.local import LocalDiscord, Permission
from discobase.local.snowflake import snowflake_at
from discobase.local.store import Message
from discobase.storage.discord_rules import plan_deletes
from discobase.storage.discord_transport import DiscordTransport
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.transport import (
    CONTENT_LIMIT,
    UPLOAD_LIMIT,
    ChannelInfo,
    FileData,
    MessageEvent,
    RawAttachment,
    RawMessage,
    Transport,
)
from tests.conftest import default_intents

MiB = 1024 * 1024
SEND = "POST /channels/{channel_id}/messages"
EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"
FETCH = "GET /channels/{channel_id}/messages/{message_id}"
HISTORY = "GET /channels/{channel_id}/messages"
DELETE = "DELETE /channels/{channel_id}/messages/{message_id}"
BULK = "POST /channels/{channel_id}/messages/bulk-delete"
CHANNELS = "GET /guilds/{guild_id}/channels"
CREATE_CHANNEL = "POST /guilds/{guild_id}/channels"
CDN = "GET /attachments/{channel_id}/{attachment_id}/{filename}"


class Harness(Protocol):
    """What a test needs from one implementation."""

    kind: str
    primary: MemoryTransport | DiscordTransport
    guild_id: int

    async def peer(self) -> Transport:
        """Another connected transport of the same bot (a second process)."""
        ...

    async def outsider(self) -> Transport:
        """A connected transport of another bot that is a plain member of the guild."""
        ...

    async def restricted(self, permissions: int) -> Transport:
        """A connected transport of a bot that joined with only ``permissions``."""
        ...

    def bad_token(self) -> Transport:
        """A transport whose token Discord rejects (not connected)."""
        ...

    def reset_requests(self) -> None: ...

    def server_requests(self) -> Counter[str]:
        """REST requests the server saw since :meth:`reset_requests` (all transports)."""
        ...

    async def settle(self, transports: list[Transport], done: Callable[[], bool]) -> None:
        """Wait until ``done()`` (events arrived), then a little longer for strays."""
        ...


@dataclass
class MemoryHarness:
    kind: str
    primary: MemoryTransport
    guild_id: int
    shared: MemoryDiscord
    extra: list[MemoryTransport] = field(default_factory=list)

    async def _make(self, **kwargs: Any) -> MemoryTransport:
        transport = MemoryTransport(server=self.shared, **kwargs)
        await transport.connect()
        self.extra.append(transport)
        return transport

    async def peer(self) -> Transport:
        return await self._make(bot="primary")

    async def outsider(self) -> Transport:
        return await self._make(bot="outsider")

    async def restricted(self, permissions: int) -> Transport:
        self.shared.create_bot("restricted", permissions=permissions)
        return await self._make(bot="restricted")

    def bad_token(self) -> Transport:
        return MemoryTransport(server=self.shared, token="not-a-token")

    def reset_requests(self) -> None:
        for transport in [self.primary, *self.extra]:
            transport.requests.clear()

    def server_requests(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for transport in [self.primary, *self.extra]:
            total.update(transport.requests)
        return +total

    async def settle(self, transports: list[Transport], done: Callable[[], bool]) -> None:
        for transport in transports:
            assert isinstance(transport, MemoryTransport)
            await transport.drain()
        assert done()


@dataclass
class DiscordHarness:
    kind: str
    primary: DiscordTransport
    guild_id: int
    server: LocalDiscord
    extra: list[DiscordTransport] = field(default_factory=list)

    async def _make(
        self, token: str, *, client_class: type[discord.Client] = discord.Client
    ) -> DiscordTransport:
        client = make_client(self.server, client_class)
        transport = DiscordTransport(client, token, ready_timeout=10)
        self.extra.append(transport)
        await transport.connect()
        return transport

    async def peer(self) -> Transport:
        bot = self.server.bot("primary")
        assert bot is not None
        return await self._make(bot.token)  # a plain discord.Client: events through the wrapped dispatch

    async def outsider(self) -> Transport:
        bot = self.server.create_bot("outsider")
        self.server.add_member(self.guild_id, bot)
        return await self._make(bot.token)

    async def restricted(self, permissions: int) -> Transport:
        bot = self.server.create_bot("restricted")
        self.server.add_member(self.guild_id, bot, permissions=permissions)
        return await self._make(bot.token, client_class=commands.Bot)

    def bad_token(self) -> Transport:
        transport = DiscordTransport(make_client(self.server), "not-a-token", ready_timeout=10)
        self.extra.append(transport)
        return transport

    def reset_requests(self) -> None:
        self.server.reset_stats()
        for transport in [self.primary, *self.extra]:
            transport.requests.clear()

    def server_requests(self) -> Counter[str]:
        return Counter({k: v for k, v in self.server.stats().items() if not k.startswith("GATEWAY")})

    async def settle(self, transports: list[Transport], done: Callable[[], bool]) -> None:
        for _ in range(500):
            if done():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # strays would arrive within this
        assert done()


def make_client(server: LocalDiscord, client_class: type[discord.Client] = discord.Client) -> discord.Client:
    kwargs: dict[str, Any] = {"intents": default_intents(), "guild_ready_timeout": 0.05}
    if issubclass(client_class, commands.Bot):
        kwargs["command_prefix"] = "!"
    client = client_class(**kwargs)
    server.attach(client)
    return client


@pytest.fixture(params=["memory", "discord"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        shared = MemoryDiscord(guilds=["db"])
        primary = MemoryTransport(server=shared, bot="primary")
        await primary.connect()
        memory = MemoryHarness("memory", primary, shared.guild_id("db"), shared)
        yield memory
        for transport in [primary, *memory.extra]:
            await transport.close()
        return
    async with LocalDiscord(rate_limits="off", heartbeat_interval=5.0) as server:
        bot = server.create_bot("primary")
        guild_id = server.create_guild("db", owner=bot)
        transport = DiscordTransport(make_client(server, commands.Bot), bot.token, ready_timeout=10)
        await transport.connect()
        remote = DiscordHarness("discord", transport, guild_id, server)
        try:
            yield remote
        finally:
            for each in [transport, *remote.extra]:
                await each.close()


async def new_channel(h: Harness, name: str = "table", **kwargs: Any) -> ChannelInfo:
    return await h.primary.create_channel(h.guild_id, name, **kwargs)


def shape(channels: list[ChannelInfo]) -> list[tuple[str, int, str | None, str | None]]:
    """Channels without their ids: name, type, parent's name, topic."""
    names = {c.id: c.name for c in channels}
    return [(c.name, c.type, names.get(c.parent_id) if c.parent_id else None, c.topic) for c in channels]


# ---------------------------------------------------------------------- lifecycle and identity
async def test_identity_and_guilds(harness: Harness) -> None:
    t = harness.primary
    assert t.user_id > 0
    assert t.application_id > 0
    assert await t.guilds() == [g for g in await t.guilds() if g.name == "db"]
    assert [g.name for g in await t.guilds()] == ["db"]
    assert (await t.guilds())[0].id == harness.guild_id


async def test_bad_token_is_a_login_error(harness: Harness) -> None:
    transport = harness.bad_token()
    with pytest.raises(LoginError) as error:
        await transport.connect()
    assert "token" in str(error.value)
    assert "not-a-token" not in str(error.value)
    assert isinstance(error.value, NotConnectedError)
    with pytest.raises(NotConnectedError):
        await transport.send(1, "x")
    await transport.close()


async def test_operations_before_connect_raise_not_connected(harness: Harness) -> None:
    transport = harness.bad_token()
    with pytest.raises(NotConnectedError):
        await transport.history(1)
    assert (transport.user_id, transport.application_id) == (0, 0)  # unknown until connected
    assert isinstance(transport, Transport)


# ---------------------------------------------------------------------- channels
async def test_channels_create_list_edit_delete(harness: Harness) -> None:
    t = harness.primary
    default = await t.channels(harness.guild_id)
    assert shape(default) == [("Text Channels", 4, None, None), ("general", 0, "Text Channels", None)]
    category = await new_channel(harness, "Discobase", type=4)
    table = await new_channel(harness, "My Table", parent_id=category.id, topic="users v1")
    assert (table.name, table.type, table.parent_id, table.topic) == ("my-table", 0, category.id, "users v1")
    assert category.id < table.id
    listed = await t.channels(harness.guild_id)
    assert table in listed
    assert category in listed
    assert shape(listed)[-2:] == [("Discobase", 4, None, None), ("my-table", 0, "Discobase", "users v1")]

    await t.edit_channel(table.id, topic="users v2")
    await t.edit_channel(table.id, name="Renamed Table")
    await t.edit_channel(table.id)  # nothing to change: no request
    edited = next(c for c in await t.channels(harness.guild_id) if c.id == table.id)
    assert (edited.name, edited.topic) == ("renamed-table", "users v2")

    await t.delete_channel(table.id)
    await t.delete_channel(table.id)  # already gone: fine
    assert table.id not in {c.id for c in await t.channels(harness.guild_id)}
    with pytest.raises(DatabaseLookupError) as error:
        await t.send(table.id, "into the void")
    assert error.value.channel == table.id
    with pytest.raises(DatabaseLookupError):
        await t.history(table.id)


async def test_the_channel_list_gives_each_channel_s_last_message_id(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness, "last-id")

    async def last_id() -> int | None:
        listed = next(c for c in await t.channels(harness.guild_id) if c.id == channel.id)
        return listed.last_message_id

    assert channel.last_message_id is None
    assert await last_id() is None  # never a message
    await t.send(channel.id, "one")
    second = await t.send(channel.id, "two")
    assert await last_id() == second.id
    await t.delete_messages(channel.id, [second.id])
    assert await last_id() == second.id  # Discord keeps it after the message is deleted


async def test_unknown_guild_is_guild_not_found(harness: Harness) -> None:
    with pytest.raises(GuildNotFoundError) as error:
        await harness.primary.channels(harness.guild_id + 12345)
    assert error.value.guild_id == harness.guild_id + 12345
    assert error.value.invite_url is not None
    assert f"client_id={harness.primary.application_id}" in error.value.invite_url
    with pytest.raises(GuildNotFoundError):
        await harness.primary.create_channel(harness.guild_id + 12345, "x")


async def test_private_channels_are_hidden_from_other_members(harness: Harness) -> None:
    t = harness.primary
    public = await new_channel(harness, "public")
    private = await new_channel(harness, "private", private=True)
    category = await new_channel(harness, "hidden", type=4, private=True)
    synced = await new_channel(harness, "in-hidden", parent_id=category.id)  # synced with its category
    message = await t.send(private.id, "secret")

    mine = {c.id for c in await t.channels(harness.guild_id)}
    assert {public.id, private.id, category.id, synced.id} <= mine
    await t.send(synced.id, "writable by the bot")

    other = await harness.outsider()
    theirs = {c.id for c in await other.channels(harness.guild_id)}
    assert public.id in theirs
    assert not theirs & {private.id, category.id, synced.id}
    if isinstance(other, DiscordTransport) and isinstance(t, DiscordTransport):
        # Discord lists hidden channels too; the transport's own filter agrees with the server's
        everything = await t.client.http.get_all_guild_channels(harness.guild_id)  # the owner sees all
        assert {int(c["id"]) for c in everything if other._can_view(harness.guild_id, c)} == theirs
        assert {int(c["id"]) for c in everything} == mine
    with pytest.raises(MissingPermissionsError) as error:
        await other.fetch(private.id, message.id)
    assert error.value.permission == "View Channel"
    assert error.value.channel == private.id
    with pytest.raises(MissingPermissionsError):
        await other.history(private.id)
    with pytest.raises(MissingPermissionsError):
        await other.send(private.id, "let me in")

    same_bot = await harness.peer()
    assert private.id in {c.id for c in await same_bot.channels(harness.guild_id)}
    assert await same_bot.fetch(private.id, message.id) == message


# ---------------------------------------------------------------------- messages
async def test_send_fetch_edit_delete(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness)
    sent = await t.send(channel.id, "hello @everyone")
    assert (sent.channel_id, sent.author_id, sent.content, sent.attachments, sent.edited) == (
        channel.id,
        t.user_id,
        "hello @everyone",
        (),
        False,
    )
    assert await t.fetch(channel.id, sent.id) == sent
    second = await t.send(channel.id, "second")
    assert second.id > sent.id

    edited = await t.edit(channel.id, sent.id, "hello again")
    assert (edited.id, edited.content, edited.edited) == (sent.id, "hello again", True)
    assert await t.fetch(channel.id, sent.id) == edited

    await t.delete_messages(channel.id, [sent.id])
    assert await t.fetch(channel.id, sent.id) is None
    await t.delete_messages(channel.id, [sent.id])  # already gone: ignored
    with pytest.raises(DatabaseLookupError):
        await t.edit(channel.id, sent.id, "too late")
    assert [m.id for m in await t.history(channel.id)] == [second.id]


async def test_bulk_delete(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness)
    messages = [await t.send(channel.id, str(i)) for i in range(5)]
    ids = [m.id for m in messages]
    harness.reset_requests()
    await t.delete_messages(channel.id, [*ids[:4], ids[0], ids[-1] + 1])  # a duplicate and an unknown id
    assert [m.content for m in await t.history(channel.id)] == ["4"]
    await t.delete_messages(channel.id, [])
    await t.delete_messages(channel.id, [ids[4]])
    assert await t.history(channel.id) == []
    expected = Counter({BULK: 1, DELETE: 1, HISTORY: 2})
    assert t.requests == expected
    assert harness.server_requests() == expected


def unsigned_file(attachment: RawAttachment) -> RawAttachment:
    """``attachment`` without its URL's query: Discord signs attachment URLs with the time
    they were handed out (``ex``, ``is``), so two reads a second apart differ there."""
    return dataclasses.replace(attachment, url=attachment.url.split("?", 1)[0])


def unsigned(message: RawMessage) -> RawMessage:
    return dataclasses.replace(message, attachments=tuple(map(unsigned_file, message.attachments)))


async def test_attachments_round_trip_and_edit_keeps_or_replaces(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness)
    big = os.urandom(MiB)
    sent = await t.send(channel.id, "", [FileData("a.bin", big), FileData("b.txt", b"bee")])
    assert [(a.filename, a.size) for a in sent.attachments] == [("a.bin", MiB), ("b.txt", 3)]
    assert await t.read_attachment(sent.attachments[0]) == big
    fetched = await t.fetch(channel.id, sent.id)
    assert fetched is not None
    assert unsigned(fetched) == unsigned(sent)
    assert await t.read_attachment(fetched.attachments[1]) == b"bee"

    kept, dropped = sent.attachments
    edited = await t.edit(channel.id, sent.id, "v2", [FileData("c.txt", b"sea")], keep_attachments=[kept.id])
    assert [a.filename for a in edited.attachments] == ["a.bin", "c.txt"]
    assert unsigned_file(edited.attachments[0]) == unsigned_file(kept)
    assert await t.read_attachment(edited.attachments[0]) == big
    assert await t.read_attachment(edited.attachments[1]) == b"sea"
    with pytest.raises(DatabaseLookupError) as error:
        await t.read_attachment(dropped)
    assert error.value.channel == channel.id

    cleared = await t.edit(channel.id, sent.id, "v3")
    assert (cleared.content, cleared.attachments) == ("v3", ())
    with pytest.raises(DatabaseStorageError):
        await t.edit(channel.id, sent.id, "v4", keep_attachments=[kept.id])  # no longer there
    with pytest.raises(DatabaseStorageError):
        await t.edit(channel.id, sent.id, "")  # would leave the message empty


async def test_limits_are_storage_errors(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness)
    harness.reset_requests()
    cases: list[tuple[str, list[FileData]]] = [
        ("x" * (CONTENT_LIMIT + 1), []),
        ("", []),
        ("x", [FileData(f"{i}.txt", b"x") for i in range(11)]),
        ("x", [FileData("big.bin", b"\0" * (UPLOAD_LIMIT + 1))]),
        ("x", [FileData("", b"x")]),
    ]
    for content, files in cases:
        with pytest.raises(DatabaseStorageError) as error:
            await t.send(channel.id, content, files)
        assert error.value.channel == channel.id
        assert error.value.route == SEND
    assert harness.server_requests() == Counter()  # refused before any request
    at_limit = await t.send(channel.id, "x" * CONTENT_LIMIT, [FileData(f"{i}.txt", b"x") for i in range(10)])
    assert len(at_limit.attachments) == 10
    with pytest.raises(DatabaseStorageError):
        await t.edit(
            channel.id, at_limit.id, "y", [FileData("11.txt", b"x")], [a.id for a in at_limit.attachments]
        )
    full = await t.send(channel.id, "max", [FileData("max.bin", b"\1" * UPLOAD_LIMIT)])
    assert full.attachments[0].size == UPLOAD_LIMIT
    general = next(c for c in await t.channels(harness.guild_id) if c.type == 4)
    with pytest.raises(DatabaseStorageError):
        await t.send(general.id, "into a category")


# ---------------------------------------------------------------------- history
async def test_history_pages_oldest_first(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness, "history")
    assert await t.history(channel.id) == []
    ids = [(await t.send(channel.id, str(i))).id for i in range(250)]
    assert ids == sorted(ids)

    def page(messages: list[RawMessage]) -> list[int]:
        return [m.id for m in messages]

    assert page(await t.history(channel.id)) == ids[150:]
    assert page(await t.history(channel.id, limit=1)) == ids[-1:]
    assert page(await t.history(channel.id, before=ids[0])) == []
    assert page(await t.history(channel.id, before=ids[1])) == ids[:1]
    assert page(await t.history(channel.id, before=ids[100])) == ids[:100]
    assert page(await t.history(channel.id, before=ids[50], limit=100)) == ids[:50]
    assert page(await t.history(channel.id, before=ids[200], limit=10)) == ids[190:200]
    assert page(await t.history(channel.id, before=ids[-1] + 1, limit=3)) == ids[-3:]
    assert page(await t.history(channel.id, after=0)) == ids[:100]
    assert page(await t.history(channel.id, after=ids[99])) == ids[100:200]
    assert page(await t.history(channel.id, after=ids[199])) == ids[200:]
    assert page(await t.history(channel.id, after=ids[-1])) == []
    assert page(await t.history(channel.id, after=ids[10], before=ids[20])) == ids[11:20]
    assert page(await t.history(channel.id, after=ids[10], before=ids[200], limit=5)) == ids[11:16]
    assert page(await t.history(channel.id, after=ids[20], before=ids[10])) == []

    forward: list[int] = []
    after = 0
    while batch := await t.history(channel.id, after=after):
        forward += page(batch)
        after = batch[-1].id
    assert forward == ids
    backward: list[int] = []
    before: int | None = None
    while batch := await t.history(channel.id, before=before):
        backward = page(batch) + backward
        before = batch[0].id
    assert backward == ids
    await t.delete_messages(channel.id, [ids[100]])  # anchors need not be messages
    assert page(await t.history(channel.id, after=ids[100], limit=2)) == ids[101:103]
    assert page(await t.history(channel.id, before=ids[100], limit=2)) == ids[98:100]
    with pytest.raises(ValueError, match="limit"):
        await t.history(channel.id, limit=0)
    with pytest.raises(ValueError, match="limit"):
        await t.history(channel.id, limit=101)


# ---------------------------------------------------------------------- events
async def test_events_reach_other_processes_and_bots(harness: Harness) -> None:
    t = harness.primary
    public = await new_channel(harness, "public")
    private = await new_channel(harness, "private", private=True)
    peer = await harness.peer()
    other = await harness.outsider()
    seen: dict[str, list[MessageEvent]] = {"self": [], "peer": [], "other": []}
    t.subscribe(seen["self"].append)
    peer.subscribe(seen["peer"].append)

    async def other_handler(event: MessageEvent) -> None:
        await asyncio.sleep(0)  # async handlers are awaited, one event at a time
        seen["other"].append(event)

    other.subscribe(other_handler)

    a = await t.send(public.id, "a", [FileData("a.txt", b"a")])
    b = await peer.send(public.id, "b")
    hidden = await t.send(private.id, "hidden")
    a2 = await t.edit(public.id, a.id, "a2", keep_attachments=[a.attachments[0].id])
    batch = [await t.send(public.id, f"bulk{i}") for i in range(3)]
    await t.delete_messages(public.id, [b.id])
    await t.delete_messages(public.id, [m.id for m in reversed(batch)])
    await t.delete_messages(private.id, [hidden.id])

    public_events = [
        MessageEvent("create", public.id, (a.id,), a),
        MessageEvent("create", public.id, (b.id,), b),
        MessageEvent("update", public.id, (a.id,), a2),
        *[MessageEvent("create", public.id, (m.id,), m) for m in batch],
        MessageEvent("delete", public.id, (b.id,)),
        MessageEvent("delete", public.id, tuple(m.id for m in batch), extra={"bulk": True}),
    ]
    everything = [
        *public_events[:2],
        MessageEvent("create", private.id, (hidden.id,), hidden),
        *public_events[2:],
        MessageEvent("delete", private.id, (hidden.id,)),
    ]
    await harness.settle(
        [t, peer, other],
        lambda: (
            len(seen["self"]) >= len(everything)
            and len(seen["peer"]) >= len(everything)
            and len(seen["other"]) >= len(public_events)
        ),
    )
    assert seen["self"] == everything
    assert seen["peer"] == everything
    assert seen["other"] == public_events  # the other bot cannot see the private channel


# ---------------------------------------------------------------------- requests and permissions
async def test_request_counts(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness)
    harness.reset_requests()
    sent = await t.send(channel.id, "one", [FileData("f.txt", b"f")])
    second = await t.send(channel.id, "two")
    await t.fetch(channel.id, sent.id)
    await t.history(channel.id)
    await t.edit(channel.id, sent.id, "one v2", keep_attachments=[sent.attachments[0].id])
    await t.read_attachment(sent.attachments[0])
    await t.channels(harness.guild_id)
    await t.guilds()  # from the gateway's cache
    await t.delete_messages(channel.id, [sent.id, second.id])
    expected = Counter({SEND: 2, FETCH: 1, HISTORY: 1, EDIT: 1, CDN: 1, CHANNELS: 1, BULK: 1})
    assert t.requests == expected
    assert harness.server_requests() == expected
    assert t.calls["send"] == 2
    assert t.calls["guilds"] >= 1

    harness.reset_requests()
    peer = await harness.peer()
    login = Counter({"GET /users/@me": 1, "GET /oauth2/applications/@me": 1})
    assert peer.requests == login  # type: ignore[attr-defined]
    assert harness.server_requests() == login


async def test_missing_permissions(harness: Harness) -> None:
    t = harness.primary
    channel = await new_channel(harness)
    restricted = await harness.restricted(int(Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES))
    with pytest.raises(MissingPermissionsError) as error:
        await restricted.create_channel(harness.guild_id, "nope")
    assert error.value.permission == "Manage Channels"
    assert error.value.route == CREATE_CHANNEL
    assert "Manage Channels" in str(error.value)
    assert "role" in str(error.value)
    with pytest.raises(MissingPermissionsError) as error:
        await restricted.edit_channel(channel.id, topic="mine now")
    assert (error.value.permission, error.value.channel) == ("Manage Channels", channel.id)
    with pytest.raises(MissingPermissionsError):
        await restricted.delete_channel(channel.id)
    # @everyone may write and read; bulk deletion needs Manage Messages, a single own message does not
    own = [await restricted.send(channel.id, str(i)) for i in range(2)]
    with pytest.raises(MissingPermissionsError) as error:
        await restricted.delete_messages(channel.id, [m.id for m in own])
    assert (error.value.permission, error.value.route) == ("Manage Messages", BULK)
    await restricted.delete_messages(channel.id, [own[0].id])
    theirs = await t.send(channel.id, "not yours")
    with pytest.raises(MissingPermissionsError) as error:
        await restricted.delete_messages(channel.id, [theirs.id])
    assert (error.value.permission, error.value.route) == ("Manage Messages", DELETE)
    with pytest.raises(DatabaseStorageError) as edit_error:
        await restricted.edit(channel.id, theirs.id, "hijacked")
    assert not isinstance(edit_error.value, MissingPermissionsError)
    assert [m.id for m in await t.history(channel.id)] == [own[1].id, theirs.id]


# ---------------------------------------------------------------------- discord only
async def test_discord_old_messages_are_deleted_one_by_one() -> None:
    """Messages older than 14 days cannot be bulk-deleted: single DELETEs for those."""
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("primary")
        guild_id = server.create_guild("db", owner=bot)
        t = DiscordTransport(make_client(server), bot.token, ready_timeout=10)
        await t.connect()
        try:
            channel = await t.create_channel(guild_id, "old")
            old = []
            for i in range(2):  # seeded straight into the store, with 15 and 16 days old ids
                message_id = snowflake_at(int(time.time() * 1000) - (15 + i) * 86_400_000)
                server.store.insert_message(
                    Message(
                        id=message_id,
                        channel_id=channel.id,
                        guild_id=guild_id,
                        author_id=t.user_id,
                        content="old",
                    )
                )
                old.append(message_id)
            young = [(await t.send(channel.id, str(i))).id for i in range(3)]
            server.reset_stats()
            await t.delete_messages(channel.id, [*old, *young])
            assert {k: v for k, v in server.stats().items() if not k.startswith("GATEWAY")} == {
                BULK: 1,
                DELETE: 2,
            }
            assert await t.history(channel.id) == []
        finally:
            await t.close()


class _SlowGatewayClient(discord.Client):
    """A client whose gateway connection starts only after 5 s."""

    async def connect(self, *, reconnect: bool = True) -> None:
        await asyncio.sleep(5)
        await super().connect(reconnect=reconnect)


async def test_discord_ready_timeout_closes_the_client() -> None:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("slow")
        server.create_guild("db", owner=bot)
        client = _SlowGatewayClient(intents=default_intents())  # READY comes late
        server.attach(client)
        transport = DiscordTransport(client, bot.token, ready_timeout=0.2)
        with pytest.raises(NotConnectedError, match="not ready within"):
            await transport.connect()
        assert client.is_closed()
        await transport.close()


async def test_discord_connect_does_not_wait_for_guild_ready_timeout() -> None:
    """connect() returns once READY's guilds have arrived, not after discord.py's
    ``guild_ready_timeout`` (which delays ``on_ready`` in case more guilds follow)."""
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("quick")
        guild_id = server.create_guild("db", owner=bot)
        client = discord.Client(intents=default_intents(), guild_ready_timeout=60)
        server.attach(client)
        transport = DiscordTransport(client, bot.token, ready_timeout=30)
        try:
            await transport.connect()
            assert not client.is_ready()  # discord.py's ready is still 60 s away
            assert [g.id for g in await transport.guilds()] == [guild_id]
            made = await transport.create_channel(guild_id, "tables")
            assert made.id in [c.id for c in await transport.channels(guild_id)]
        finally:
            await transport.close()


def test_plan_deletes_splits_by_age_and_chunks() -> None:
    now = int(time.time() * 1000)
    young = [snowflake_at(now - 1000) + i for i in range(201)]
    old = [snowflake_at(now - 15 * 86_400_000) + i for i in range(2)]
    bulk, singles = plan_deletes([*old, *young, young[0]], now)
    assert [len(chunk) for chunk in bulk] == [100, 100]
    assert bulk[0][0] == young[0]
    assert singles == [*old, *young[200:]]
    assert plan_deletes([young[0]], now) == ([], [young[0]])
    assert plan_deletes([], now) == ([], [])
