"""What only :class:`MemoryTransport` has: fault injection, ``drain``, shared
servers, counters; the behaviour both transports share is in the contract suite."""

from __future__ import annotations

import pytest

from discobase.exceptions import DatabaseStorageError, NotConnectedError
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.transport import MessageEvent, Transport


async def test_defaults_one_guild_and_satisfies_the_protocol() -> None:
    transport = MemoryTransport(guilds=["db"])
    assert isinstance(transport, Transport)
    with pytest.raises(NotConnectedError):
        await transport.guilds()
    await transport.connect()
    assert [g.name for g in await transport.guilds()] == ["db"]
    guild_id = transport.guild_id("db")
    channel = await transport.create_channel(guild_id, "t")
    message = await transport.send(channel.id, "x")
    assert message.attachments == ()
    assert transport.calls["send"] == 1
    assert transport.calls["create_channel"] == 1
    await transport.close()
    await transport.close()
    with pytest.raises(NotConnectedError):
        await transport.send(channel.id, "y")


async def test_fail_next_injects_one_failure() -> None:
    transport = MemoryTransport()
    await transport.connect()
    channel = await transport.create_channel(transport.guild_id("discobase"), "t")
    transport.fail_next("send", DatabaseStorageError("injected", channel=channel.id), times=2)
    for _ in range(2):
        with pytest.raises(DatabaseStorageError, match="injected"):
            await transport.send(channel.id, "x")
    assert await transport.history(channel.id) == []  # the failed sends changed nothing
    await transport.send(channel.id, "x")
    assert transport.calls["send"] == 3
    with pytest.raises(ValueError, match="unknown operation"):
        transport.fail_next("sned", RuntimeError())
    transport.fail_next("connect", ConnectionError("down"))
    other = MemoryTransport(server=transport.server)
    other.fail_next("connect", ConnectionError("down"))
    with pytest.raises(ConnectionError):
        await other.connect()
    await other.connect()
    await transport.close()
    await other.close()


async def test_shared_server_events_are_ordered_and_drained() -> None:
    shared = MemoryDiscord(guilds=["db"], default_channels=False)
    a = MemoryTransport(server=shared)
    b = MemoryTransport(server=shared)
    await a.connect()
    await b.connect()
    assert a.user_id == b.user_id  # the same bot, two processes
    channel = await a.create_channel(shared.guild_id("db"), "t")
    seen: list[tuple[str, int]] = []

    def broken(event: MessageEvent) -> None:
        raise RuntimeError("a broken handler does not stop delivery")

    async def record(event: MessageEvent) -> None:
        seen.append((event.kind, event.message_ids[0]))

    b.subscribe(broken)
    b.subscribe(record)
    first = await a.send(channel.id, "1")
    second = await b.send(channel.id, "2")
    await a.delete_messages(channel.id, [first.id])
    assert seen == []  # delivered by a task, not inside the call
    await b.drain()
    assert seen == [("create", first.id), ("create", second.id), ("delete", first.id)]
    await b.close()
    await a.send(channel.id, "3")  # a closed transport gets nothing
    await b.drain()
    assert len(seen) == 3
    await a.close()
