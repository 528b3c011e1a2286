"""No acknowledged write is lost with several processes: snapshot choice and
compaction, catch-up after a lost gateway session, record ids, idempotent
retries, request sizes, and the catalog's access checks.

Each "process" is a :class:`~discobase.Database` with its own transport on one
in-memory Discord; the same scenarios run over real sockets in tests/soak.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import pytest

import discobase
from discobase.engine import sender as writer_module
from discobase.engine.replica import TableCursor
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseStorageError,
    DatabaseUnavailableError,
    MissingPermissionsError,
    UniqueViolationError,
)
from discobase.local.permissions import Overwrite
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.transport import FileData, MessageEvent, RawMessage


class GatedTransport(MemoryTransport):
    """A memory transport whose sends to ``gated`` channels wait for ``gate``."""

    def __init__(self, server: MemoryDiscord) -> None:
        super().__init__(server)
        self.gate = asyncio.Event()
        self.gate.set()
        self.gated: set[int] = set()

    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        if channel_id in self.gated:
            await self.gate.wait()
        return await super().send(channel_id, content, files, nonce=nonce)


def make(
    server: MemoryDiscord, transport: MemoryTransport | None = None, **options: Any
) -> tuple[discobase.Database, type[discobase.Table], MemoryTransport]:
    transport = transport or MemoryTransport(server)
    options.setdefault("compaction_delay", 0)  # compact at once: these tests look at what is deleted
    db = discobase.Database("db", transport=transport, snapshot_every=10**9, **options)

    @db.table
    class Item(discobase.Table):
        name: str = discobase.Field(unique=True)
        blob: str = ""

    return db, Item, transport


def cursor_of(table: type[discobase.Table]) -> TableCursor:
    cursor = table.__disco_cursor__
    assert cursor is not None
    return cursor


async def wait_caught_up(table: type[discobase.Table]) -> None:
    await cursor_of(table).wait_caught_up()


async def names(db: discobase.Database, table: type[discobase.Table]) -> list[str]:
    return sorted(item.name for item in await table.find())  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETRY_DELAY", 0.0)


# ---------------------------------------------------------------------- snapshots and compaction
async def test_an_opener_ignores_a_snapshot_posted_late_with_older_marks() -> None:
    """A and B both see r1, r2, r3; A's snapshot, computed before B wrote r2
    and r3 but posted after B's two snapshots (whose compaction deleted r2's
    message), must not be what a fresh process opens from."""
    server = MemoryDiscord(["db"])
    a, ItemA, slow = make(server, GatedTransport(server))
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        assert isinstance(slow, GatedTransport)
        await ItemA(name="r1").save()
        await slow.drain()
        cursor_a = cursor_of(ItemA)
        slow.gated.add(cursor_a.meta.index_channel)
        slow.gate.clear()
        stale = asyncio.ensure_future(cursor_a.snapshot())  # marks fixed now, posted later
        await asyncio.sleep(0)
        await ItemB(name="r2").save()
        await cursor_of(ItemB).snapshot()
        await ItemB(name="r3").save()
        await cursor_of(ItemB).snapshot()  # compacts: r2's message is gone
        slow.gate.set()
        await stale
        await slow.drain()
        assert await names(a, ItemA) == await names(b, ItemB) == ["r1", "r2", "r3"]
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert await names(fresh, ItemF) == ["r1", "r2", "r3"]


async def test_writers_that_snapshot_often_lose_nothing() -> None:
    """Two processes writing with snapshots every few operations: every
    acknowledged record is there for a fresh process, and both converge."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, tb = make(server)
    rng = random.Random(12)
    saved: set[str] = set()
    async with a.conn(), b.conn():
        for cursor in (cursor_of(ItemA), cursor_of(ItemB)):
            cursor.snapshot_every = 3
        for step in range(120):
            table = ItemA if rng.random() < 0.5 else ItemB
            await table(name=f"n{step}").save()
            saved.add(f"n{step}")
            if rng.random() < 0.2:
                await asyncio.sleep(0)  # let background snapshots interleave
        for cursor in (cursor_of(ItemA), cursor_of(ItemB)):
            await cursor.flush()
            if cursor._snapshot_task is not None:
                await cursor._snapshot_task
        await ta.drain()
        await tb.drain()
        assert set(await names(a, ItemA)) == set(await names(b, ItemB)) == saved
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert set(await names(fresh, ItemF)) == saved


# ---------------------------------------------------------------------- lost gateway sessions
async def test_a_new_gateway_session_catches_up_what_was_missed() -> None:
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        ta.lose_session()
        for n in range(5):
            await ItemB(name=f"b{n}").save()
        await ta.drain()
        assert await names(a, ItemA) == []  # not delivered: the session is down
        ta.new_session()
        await ta.drain()
        await wait_caught_up(ItemA)
        assert await names(a, ItemA) == [f"b{n}" for n in range(5)]
        with pytest.raises(UniqueViolationError):  # a value the other process holds
            await ItemA(name="b3").save()


async def test_a_process_whose_missed_messages_were_compacted_reads_the_table_again() -> None:
    """While A's session is down, B writes and snapshots twice: the messages A
    missed are compacted away before A's new session, so A reads the snapshot."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        await ItemB(name="before").save()
        await ta.drain()
        ta.lose_session()
        gone = await ItemB(name="gone").save()
        for n in range(3):
            await ItemB(name=f"b{n}").save()
            await cursor_of(ItemB).snapshot()
        await gone.delete()
        await cursor_of(ItemB).snapshot()
        data = server.channels[cursor_of(ItemB).meta.data_channels[0]]
        assert len(data.messages) < 6  # compacted: what A missed is no longer in the channel
        ta.new_session()
        await ta.drain()
        await wait_caught_up(ItemA)
        assert await names(a, ItemA) == await names(b, ItemB) == ["b0", "b1", "b2", "before"]
        await ItemA(name="after").save()  # and A keeps working
        assert "after" in await names(a, ItemA)


async def test_missed_messages_younger_than_the_compaction_delay_are_caught_up_not_reloaded() -> None:
    """B's snapshots cover what A missed, but compaction keeps messages for
    compaction_delay (stated in each manifest): A catches up from history
    instead of reading the whole table again."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server, compaction_delay=120)
    b, ItemB, _ = make(server, compaction_delay=120)
    async with a.conn(), b.conn():
        await ItemB(name="before").save()
        await ta.drain()
        ta.lose_session()
        for n in range(3):
            await ItemB(name=f"b{n}").save()
            await cursor_of(ItemB).snapshot()
        ta.new_session()
        await ta.drain()
        await wait_caught_up(ItemA)
        assert cursor_of(ItemA)._reloads == 0
        assert await names(a, ItemA) == ["b0", "b1", "b2", "before"]


async def test_a_process_without_events_writes_no_snapshot() -> None:
    """While A's gateway is down, B's writes reach A only through history, and
    B's compaction may delete them first: a snapshot of A's state would then
    claim to cover records it lacks. A writes none until a new session."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        await ta.drain()
        ta.lose_session()
        await ta.drain()
        for n in range(4):
            await ItemB(name=f"b{n}").save()
            await cursor_of(ItemB).snapshot()  # compacts what A never saw
        await ItemA(name="a0").save()
        index = server.channels[cursor_of(ItemA).meta.index_channel]
        before = set(index.messages)
        await cursor_of(ItemA).snapshot()
        assert set(index.messages) == before  # no snapshot from a state with a gap
        ta.new_session()
        await ta.drain()
        await wait_caught_up(ItemA)
        await cursor_of(ItemA).snapshot()  # after the catch-up, snapshots again
        assert set(index.messages) != before
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert await names(fresh, ItemF) == ["a0", "b0", "b1", "b2", "b3"]


async def test_a_unique_write_during_a_lost_session_is_ordered_after_what_it_missed() -> None:
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        ta.lose_session()
        await ItemB(name="taken").save()
        save = asyncio.ensure_future(ItemA(name="taken").save())
        await asyncio.sleep(0.05)
        ta.new_session()  # its echo arrives on the new session, after the catch-up
        with pytest.raises(UniqueViolationError):
            await save
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert await names(fresh, ItemF) == ["taken"]


async def test_a_catch_up_that_fails_is_tried_again_and_holds_snapshots_meanwhile() -> None:
    """The history read after a new session fails (Discord unavailable): the
    table keeps trying, writes no snapshot, and a later resumed connection does
    not count as caught up (the events lost before it are still missing)."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        await ta.drain()
        ta.lose_session()
        for n in range(3):
            await ItemB(name=f"b{n}").save()
        ta.fail_next("history", DatabaseUnavailableError("503"), times=3)
        ta.new_session()
        await ta.drain()
        ta.pump.put(MessageEvent("gap", 0, ()))  # a short disconnect that resumes
        ta.pump.put(MessageEvent("resumed", 0, ()))
        await ta.drain()
        cursor = cursor_of(ItemA)
        assert cursor.gap  # still catching up
        index = server.channels[cursor.meta.index_channel]
        before = set(index.messages)
        await cursor.snapshot()
        assert set(index.messages) == before  # no snapshot of a state that misses b0..b2
        await wait_caught_up(ItemA)
        assert not cursor.gap
        assert await names(a, ItemA) == ["b0", "b1", "b2"]
        with pytest.raises(UniqueViolationError):
            await ItemA(name="b1").save()


async def test_events_during_a_catch_up_are_applied_after_it_in_order() -> None:
    """What B writes while A catches up reaches A after the missed messages:
    an update of a record A missed the insert of is not lost."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        await ta.drain()
        ta.lose_session()
        item = await ItemB(name="first").save()
        ta.fail_next("history", DatabaseUnavailableError("503"), times=2)
        ta.new_session()
        await ta.drain()
        item.blob = "updated"
        await item.update()  # its event arrives while A still catches up
        await ta.drain()
        await wait_caught_up(ItemA)
        assert [(i.name, i.blob) for i in await ItemA.find()] == [("first", "updated")]


async def test_a_retry_meets_its_first_copy_although_another_process_compacted() -> None:
    """The reply of A's write is lost; before A retries, B snapshots and compacts.
    Data messages younger than compaction_delay are kept, so the retry finds
    the first copy (nonce) instead of storing the batch a second time, which
    would replay an old value over newer ones."""
    server = MemoryDiscord(["db"])
    a, ItemA, ta = make(server, compaction_delay=120)
    b, ItemB, _ = make(server, compaction_delay=120)
    async with a.conn(), b.conn():
        item = await ItemA(name="x").save()
        ta.fail_next("send", DatabaseUnavailableError("reset"), after=True)
        item.blob = "v1"
        update = asyncio.ensure_future(item.update())
        for _ in range(3):
            await cursor_of(ItemB).snapshot()
        await update
        data = server.channels[cursor_of(ItemA).meta.data_channels[0]]
        assert sum('"v1"' in m.content for m in data.messages.values()) == 1
        assert len(data.messages) == 2  # covered by snapshots, but too young to delete


async def test_compaction_deletes_data_messages_once_older_than_the_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = MemoryDiscord(["db"])
    db, Item, _ = make(server, compaction_delay=60)
    async with db.conn():
        for n in range(3):
            await Item(name=f"i{n}").save()
        cursor = cursor_of(Item)
        data = server.channels[cursor.meta.data_channels[0]]
        await cursor.snapshot()
        await cursor.snapshot()
        assert len(data.messages) == 3  # covered, but younger than 60 s
        later = time.time() + 61
        monkeypatch.setattr("time.time", lambda: later)  # the server's clock: new snowflakes
        await cursor.snapshot()
        await cursor.snapshot()
        assert not data.messages


async def test_a_write_without_an_answer_fails_within_the_send_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_module, "SEND_WINDOW", 0.2)

    class HangingTransport(MemoryTransport):
        hang = False

        async def send(
            self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
        ) -> RawMessage:
            if self.hang:
                await asyncio.Event().wait()
            return await super().send(channel_id, content, files, nonce=nonce)

    server = MemoryDiscord(["db"])
    transport = HangingTransport(server)
    db, Item, _ = make(server, transport)
    async with db.conn():
        transport.hang = True
        with pytest.raises(DatabaseUnavailableError, match="no answer"):
            await Item(name="hangs").save()
        transport.hang = False
        assert await Item.find() == []


# ---------------------------------------------------------------------- record ids
async def test_record_ids_do_not_collide_across_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both processes draw the same worker number and write in the same
    millisecond: the lease gives the second another number."""
    monkeypatch.setattr(random, "randrange", lambda n: 7)
    server = MemoryDiscord(["db"])
    a, ItemA, _ = make(server)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        assert a.worker_id != b.worker_id
        monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)
        first = [await ItemA(name=f"a{n}").save() for n in range(3)]
        second = [await ItemB(name=f"b{n}").save() for n in range(3)]
        ids = {item.record_id for item in first + second}
        assert len(ids) == 6
    monkeypatch.undo()
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert len(await ItemF.find()) == 6


async def test_worker_claims_are_withdrawn_and_expired_ones_cleaned() -> None:
    server = MemoryDiscord(["db"])
    a, _, _ = make(server)
    async with a.conn():
        catalog_id = a.metadata_channel_id
        assert catalog_id is not None
        lease = a._lease
        assert lease is not None
        lease_message = lease._claim
    channel = server.channels[catalog_id]
    assert lease_message not in channel.messages  # withdrawn at close
    # A crashed process's claim: expired long ago, deleted by the next opener.
    probe = MemoryTransport(server)
    await probe.connect()
    old = await probe.send(catalog_id, 'dbW1 {"w":3,"owner":"dead","expires":1.0}')
    await probe.close()
    b, _, _ = make(server)
    async with b.conn():
        assert old.id not in channel.messages


# ---------------------------------------------------------------------- idempotent writes
async def test_a_write_whose_reply_is_lost_is_stored_once() -> None:
    server = MemoryDiscord(["db"])
    db, Item, transport = make(server)
    async with db.conn():
        transport.fail_next("send", DatabaseUnavailableError("connection reset"), after=True)
        item = await Item(name="once").save()
        assert item.record_id is not None
        assert [i.record_id for i in await Item.find()] == [item.record_id]
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert [i.record_id for i in await ItemF.find()] == [item.record_id]


async def test_a_write_whose_every_reply_is_lost_is_found_in_the_history() -> None:
    server = MemoryDiscord(["db"])
    db, Item, transport = make(server)
    async with db.conn():
        attempts = writer_module.SEND_ATTEMPTS
        transport.fail_next("send", DatabaseUnavailableError("reset"), times=attempts, after=True)
        item = await Item(name="landed").save()
        assert item.record_id is not None
    fresh, ItemF, _ = make(server)
    async with fresh.conn():
        assert [i.record_id for i in await ItemF.find()] == [item.record_id]


async def test_a_write_that_never_landed_fails_and_stores_nothing() -> None:
    server = MemoryDiscord(["db"])
    db, Item, transport = make(server)
    async with db.conn():
        attempts = writer_module.SEND_ATTEMPTS
        transport.fail_next("send", DatabaseUnavailableError("down"), times=attempts)
        with pytest.raises(DatabaseUnavailableError):
            await Item(name="lost").save()
        assert await Item.find() == []


# ---------------------------------------------------------------------- request sizes
def big(mib: float) -> str:
    """``mib`` MiB of hex text, which compresses to about half."""
    return os.urandom(int(mib * 1024 * 1024) // 2).hex()


async def test_group_commit_stays_within_the_request_size() -> None:
    server = MemoryDiscord(["db"])
    db, Item, _ = make(server)
    async with db.conn():
        # 9 MiB each even compressed: together over the 25 MiB of one request
        saved = await asyncio.gather(*(Item(name=f"big{n}", blob=big(18)).save() for n in range(3)))
        assert all(item.record_id is not None for item in saved)
        assert len(await Item.find()) == 3


async def test_an_oversized_record_fails_alone() -> None:
    server = MemoryDiscord(["db"])
    db, Item, _ = make(server)
    async with db.conn():
        small = [Item(name=f"s{n}").save() for n in range(5)]
        results = await asyncio.gather(
            *small[:2], Item(name="huge", blob=big(60)).save(), *small[2:], return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1
        assert isinstance(errors[0], DatabaseStorageError)
        assert "too large" in str(errors[0])
        assert await names(db, Item) == [f"s{n}" for n in range(5)]


# ---------------------------------------------------------------------- the catalog
async def stored(server: MemoryDiscord) -> tuple[discobase.Database, type[discobase.Table]]:
    db, Item, _ = make(server)
    async with db.conn():
        for n in range(3):
            await Item(name=f"k{n}").save()
    return db, Item


def catalog_channel(server: MemoryDiscord) -> Any:
    return next(c for c in server.channels.values() if c.name == "_dbmetadata")


async def test_a_hidden_catalog_is_refused_not_replaced() -> None:
    server = MemoryDiscord(["db"])
    await stored(server)
    catalog = catalog_channel(server)
    channels_before = len(server.channels)
    bot = server.bots["discobase"]
    catalog.overwrites = [Overwrite(catalog.guild_id, 0, 0, 1 << 10), Overwrite(bot.user_id, 1, 0, 1 << 10)]
    db, _, _ = make(server)
    with pytest.raises(MissingPermissionsError) as error:
        async with db.conn():
            pass
    assert error.value.channel == catalog.id
    assert len(server.channels) == channels_before  # no second catalog


async def test_a_renamed_catalog_is_still_found() -> None:
    server = MemoryDiscord(["db"])
    await stored(server)
    catalog_channel(server).name = "renamed-by-an-admin"
    db, Item, _ = make(server)
    async with db.conn():
        assert await names(db, Item) == ["k0", "k1", "k2"]


async def test_a_deleted_catalog_with_tables_left_is_refused() -> None:
    server = MemoryDiscord(["db"])
    await stored(server)
    catalog = catalog_channel(server)
    del server.channels[catalog.id]
    channels_before = len(server.channels)
    db, _, _ = make(server)
    with pytest.raises(DatabaseCorruptionError, match="catalog"):
        async with db.conn():
            pass
    assert len(server.channels) == channels_before


def test_ids_after_a_new_lease_carry_the_new_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst runs the generator ahead of the clock; a new lease (a reopen)
    must not go on making ids with the old worker number, which another
    process may hold by then."""
    from discobase.storage.ids import IdGenerator

    monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)
    ids = IdGenerator(worker=5)
    burst = [ids.next() for _ in range(10_000)]  # more than 4096 in one millisecond
    assert len(set(burst)) == len(burst)
    assert all((rid >> 12) & 0x3FF == 5 for rid in burst)
    assert ids.last_time_ms > 1_800_000_000_000  # ahead of the (frozen) clock
    ids.lease(9, None)
    after = [ids.next() for _ in range(100)]
    assert all((rid >> 12) & 0x3FF == 9 for rid in after)
    assert min(after) > max(burst)


class CompactingTransport(MemoryTransport):
    """The reply of the next send is lost, and its message is deleted right away
    (as compaction by another process may do before the writer retries)."""

    lose_next = False
    sent: list[str]

    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        message = await super().send(channel_id, content, files, nonce=nonce)
        self.sent.append(content)
        if self.lose_next:
            self.lose_next = False
            await self.delete_messages(channel_id, [message.id])
            raise DatabaseUnavailableError("connection reset after the message was stored")
        return message


async def test_a_retry_does_not_store_again_a_batch_compacted_meanwhile() -> None:
    server = MemoryDiscord(["db"])
    transport = CompactingTransport(server)
    transport.sent = []
    db, Item, _ = make(server, transport)
    async with db.conn():
        item = await Item(name="x").save()
        transport.lose_next = True
        item.blob = "changed"
        await item.update()  # acknowledged from its gateway echo, not sent twice
        assert sum("changed" in content for content in transport.sent) == 1


class HoldingTransport(MemoryTransport):
    """A memory transport whose events can be held back, then delivered late."""

    def __init__(self, server: MemoryDiscord) -> None:
        super().__init__(server)
        self.held: list[MessageEvent] | None = None
        deliver = self.pump.put

        def put(event: MessageEvent) -> None:
            if self.held is not None:
                self.held.append(event)
            else:
                deliver(event)

        self.pump.put = put  # type: ignore[method-assign]

    def release(self) -> None:
        held, self.held = self.held or [], None
        for event in held:
            self.pump.put(event)


async def test_a_message_compacted_before_its_event_is_read_makes_the_table_read_again() -> None:
    """A batch in an attachment is deleted (compacted) before another process
    downloads it for its gateway event: that process reads the table again
    from the snapshot that holds it, and writes no snapshot meanwhile."""
    server = MemoryDiscord(["db"])
    slow = HoldingTransport(server)
    a, ItemA, _ = make(server, slow)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        await slow.drain()
        slow.held = []  # A's events arrive late
        for n in range(3):
            await ItemB(name=f"b{n}", blob=big(0.01)).save()  # in attachments
        for _ in range(3):
            await cursor_of(ItemB).snapshot()  # compacts the three data messages
        data = server.channels[cursor_of(ItemB).meta.data_channels[0]]
        assert not data.messages  # what A has not read yet is gone
        slow.release()
        await slow.drain()
        await wait_caught_up(ItemA)  # the events' attachments were gone: it read the snapshot
        assert await names(a, ItemA) == ["b0", "b1", "b2"]
        assert not cursor_of(ItemA).gap


async def test_a_late_event_of_a_message_in_the_snapshot_read_is_not_applied_again() -> None:
    """A process reads the table again from a snapshot in which record x was
    inserted and deleted; the insert's event, held back, arrives afterwards
    (the delete's was lost). The snapshot covers that message: applying it
    again would bring x back."""
    server = MemoryDiscord(["db"])
    slow = HoldingTransport(server)
    a, ItemA, _ = make(server, slow)
    b, ItemB, _ = make(server)
    async with a.conn(), b.conn():
        await ItemB(name="kept").save()
        await slow.drain()
        slow.held = []
        x = await ItemB(name="x").save()
        await x.delete()
        for _ in range(3):
            await cursor_of(ItemB).snapshot()
        assert slow.held is not None
        data = cursor_of(ItemA).meta.data_channels[0]
        _insert, delete = [e for e in slow.held if e.kind == "create" and e.channel_id == data]
        slow.held.remove(delete)  # the delete's event is lost
        await cursor_of(ItemA)._reload()
        slow.release()
        await slow.drain()
        assert await names(a, ItemA) == ["kept"]
