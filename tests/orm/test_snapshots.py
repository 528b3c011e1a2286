"""Snapshots, compaction and replay on the in-memory transport."""

from __future__ import annotations

import asyncio

import discobase
from discobase.storage.memory import MemoryDiscord, MemoryTransport


def make(
    server: MemoryDiscord, **options: object
) -> tuple[discobase.Database, type[discobase.Table], MemoryTransport]:
    transport = MemoryTransport(server)
    options.setdefault("compaction_delay", 0)  # compact at once: these tests look at what is deleted
    db = discobase.Database("db", transport=transport, **options)  # type: ignore[arg-type]

    @db.table
    class Item(discobase.Table):
        n: int
        label: str = ""

    return db, Item, transport


async def message_counts(server: MemoryDiscord, db: discobase.Database) -> tuple[int, int]:
    cursor = next(iter(db._cursors.values()))
    probe = MemoryTransport(server)
    await probe.connect()
    try:
        data = 0
        for channel_id in cursor.meta.data_channels:
            data += len(await probe.history(channel_id, limit=100))
        index = len(await probe.history(cursor.meta.index_channel, limit=100))
    finally:
        await probe.close()
    return data, index


async def test_snapshots_compaction_and_reopen() -> None:
    server = MemoryDiscord(["db"])
    db, Item, _ = make(server, snapshot_every=40)
    async with db.conn():
        items = []
        for n in range(200):  # one message per save: 200 data messages
            items.append(await Item(n=n).save())
        for item in items[::2]:
            item.label = "even"
            await item.update()
        for item in items[:50]:
            await item.delete()
        await asyncio.sleep(0)
        cursor = Item.__disco_cursor__
        assert cursor is not None
        await cursor.flush()
        if cursor._snapshot_task is not None:
            await cursor._snapshot_task
        data, index = await message_counts(server, db)
        # 400 operations were written; compaction leaves at most two snapshot intervals of them
        assert data <= 2 * 40 + 10, data
        assert 1 <= index <= 6, index
    db2, Item2, transport = make(server)
    async with db2.conn():
        assert transport.requests["GET /channels/{channel_id}/messages"] <= 4
        remaining = await Item2.find()
        assert [i.n for i in remaining] == list(range(50, 200))
        assert {i.n for i in await Item2.find(label="even")} == set(range(50, 200, 2))


async def test_writes_of_another_process_during_a_snapshot_are_kept() -> None:
    server = MemoryDiscord(["db"])
    a, ItemA, _ = make(server, snapshot_every=10_000)
    b, ItemB, _ = make(server, snapshot_every=10_000)
    async with a.conn(), b.conn():
        for n in range(120):
            await ItemA(n=n).save()
        cursor_a = ItemA.__disco_cursor__
        assert cursor_a is not None
        # b writes while a snapshots; a's snapshot scans the channel first, so nothing is skipped
        writes = asyncio.gather(*(ItemB(n=1000 + n).save() for n in range(30)))
        await asyncio.gather(cursor_a.snapshot(), writes)
    c, ItemC, _ = make(server)
    async with c.conn():
        numbers = {i.n for i in await ItemC.find()}
        assert numbers == set(range(120)) | set(range(1000, 1030))


async def test_small_tail_is_replayed_not_snapshotted() -> None:
    server = MemoryDiscord(["db"])
    db, Item, transport = make(server)
    async with db.conn():
        for n in range(5):
            await Item(n=n).save()
        transport.requests.clear()
    # close wrote no snapshot: five messages are cheaper to replay than to snapshot
    assert transport.requests.get("POST /channels/{channel_id}/messages", 0) == 0
    db2, Item2, _ = make(server)
    async with db2.conn():
        assert len(await Item2.find()) == 5
