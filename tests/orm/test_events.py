"""Event handlers around ORM calls and the Discord requests inside them."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

import discobase
from discobase.events import (
    BufferEventHandler,
    DiscordEvent,
    EventHandler,
    LoguruEventHandler,
    RequestEnd,
    RequestStart,
    TableEventHandler,
)
from discobase.exceptions import DatabaseStorageError, DiscobaseError
from discobase.local import LocalDiscord
from discobase.storage.memory import MemoryDiscord, MemoryTransport


def make(
    *handlers: EventHandler[Any, Any],
) -> tuple[discobase.Database, type[discobase.Table], MemoryTransport]:
    transport = MemoryTransport(MemoryDiscord(["db"]))
    db = discobase.Database("db", transport=transport, event_handlers=list(handlers))

    @db.table
    class Note(discobase.Table):
        text: str

    return db, Note, transport


def kinds(buffer: BufferEventHandler) -> list[str]:
    return [kind for kind, _ in buffer.calls]


async def test_hooks_run_in_order_around_a_save_and_a_find() -> None:
    buffer = BufferEventHandler()
    db, Note, _ = make(buffer, LoguruEventHandler())
    async with db.conn():
        buffer.calls.clear()
        await Note(text="x").save()
        assert kinds(buffer) == ["request_start", "event_start", "event_end", "request_end"]
        start, event, end = buffer.calls[0][1], buffer.calls[2][1], buffer.calls[3][1]
        assert isinstance(start, RequestStart)
        assert (start.operation, start.table) == ("save", "note")
        assert isinstance(event, DiscordEvent)
        assert (event.route, event.status, event.request_id) == (
            "POST /channels/{channel_id}/messages",
            "ok",
            start.request_id,
        )
        assert event.bytes_sent > 0
        assert isinstance(end, RequestEnd)
        assert end.error is None
        buffer.calls.clear()
        await Note.find(text="x")  # served from memory: a request without events
        assert kinds(buffer) == ["request_start", "request_end"]
        buffer.calls.clear()
        assert await Note.query(Note.text == "x").count() == 1  # count is not a request of its own
        await Note.query(Note.text == "x").to_list()
        assert [c[1].operation for c in buffer.calls if c[0] == "request_start"] == ["query"]


async def test_end_hooks_run_when_the_operation_fails() -> None:
    buffer = BufferEventHandler()
    db, Note, transport = make(buffer)
    async with db.conn():
        buffer.calls.clear()
        transport.fail_next("send", RuntimeError("discord is down"))
        with pytest.raises(DatabaseStorageError):
            await Note(text="lost").save()
        assert kinds(buffer) == ["request_start", "event_start", "event_end", "request_end"]
        event, end = buffer.calls[2][1], buffer.calls[3][1]
        assert event.status == "error"
        assert "discord is down" in event.error
        assert isinstance(end.error, DatabaseStorageError)


class Broken(EventHandler[None, None]):
    async def request_start(self, user_request: RequestStart) -> None:
        raise RuntimeError("handler bug")

    async def event_start(self, event: DiscordEvent, request_context: None) -> None:
        raise RuntimeError("handler bug")

    async def event_end(self, event: DiscordEvent, request_context: None, event_context: None) -> None:
        raise RuntimeError("handler bug")

    async def request_end(self, output: RequestEnd, request_context: None) -> None:
        raise RuntimeError("handler bug")


async def test_a_raising_handler_breaks_nothing() -> None:
    buffer = BufferEventHandler()
    db, Note, _ = make(Broken(), buffer)
    async with db.conn():
        buffer.calls.clear()
        saved = await Note(text="kept").save()
        assert saved.record_id is not None
        assert [n.text for n in await Note.find()] == ["kept"]
        assert kinds(buffer)[:4] == ["request_start", "event_start", "event_end", "request_end"]


async def test_table_handler_rows_match_the_servers_counts() -> None:
    async with LocalDiscord(rate_limits="off") as server:
        bot = server.create_bot("events-bot")
        server.create_guild("events guild", members=[bot])
        db = discobase.Database("events guild", server_url=server.url, event_handlers=[TableEventHandler()])

        @db.table
        class Note(discobase.Table):
            text: str

        async with db.conn(bot.token):
            events_table = db.system_tables["_events"]
            events_channel = events_table.__disco_cursor__.meta.data_channels[0]  # type: ignore[union-attr]
            before = server.store.message_count(events_channel)
            server.reset_stats()
            note = await Note(text="a").save()
            note.text = "b"
            await note.update()
            await Note.find(text="b")
            await Note.insert_many([Note(text=str(i)) for i in range(10)])
            await Note.query(Note.text == "3").delete()
            await asyncio.sleep(0.05)
            rows = [row for row in await events_table.find() if row.operation != "open"]  # type: ignore[attr-defined]
            counted = {k: v for k, v in server.stats().items() if not k.startswith("GATEWAY")}
            own = server.store.message_count(events_channel) - before  # the handler's own writes
        by_route = Counter(row.route for row in rows)  # type: ignore[attr-defined]
        assert (
            by_route["POST /channels/{channel_id}/messages"] + own
            == counted["POST /channels/{channel_id}/messages"]
        )
        assert sum(by_route.values()) + own == sum(counted.values())
        assert {row.operation for row in rows} == {"save", "update", "insert_many", "query.delete"}  # type: ignore[attr-defined]
        assert all(row.status == "ok" for row in rows)  # type: ignore[attr-defined]


async def test_sampling_and_registration_rules() -> None:
    db, Note, _ = make(TableEventHandler(sample_rate=0.0))
    async with db.conn():
        await Note(text="x").save()
        assert await db.system_tables["_events"].find() == []
        other = discobase.Database("db", transport=MemoryTransport(MemoryDiscord(["db"])))
        other.open = True
        with pytest.raises(DiscobaseError, match="before the database opens"):
            other.events.register(TableEventHandler())
    with pytest.raises(ValueError, match="sample_rate"):
        TableEventHandler(sample_rate=2)
    with pytest.raises(TypeError, match=r"not a discobase\.events\.EventHandler"):
        db.events.register(object())  # type: ignore[arg-type]
