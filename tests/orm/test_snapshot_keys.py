"""A snapshot's key index: an opener fills its unique maps without decoding every record.

The index is optional. Snapshots written without one (by earlier versions) open as
they always did, and so does a snapshot whose index is missing, unreadable or does
not fit its records; versions that do not know the index ignore it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import discobase
from discobase.engine.indexes import KEY_FORMAT, TableIndexes
from discobase.engine.meta import Manifest
from discobase.engine.replica import TableReplica
from discobase.exceptions import UniqueViolationError
from discobase.local import LocalDiscord
from discobase.storage.codec import Codec, CodecError
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.transport import RawAttachment, RawMessage

ROOT = Path(__file__).resolve().parents[2]


class Account(discobase.Table):
    email: str = discobase.Field(unique=True)
    number: int = discobase.Field(0, unique=True)
    ratio: float = 0.0
    flag: bool | None = None
    tags: set[str] = set()
    note: str = ""

    class Settings:
        unique = [("ratio", "flag"), ("tags",)]


def cursor_of(table: type[discobase.Table]) -> TableReplica:
    cursor = table.__disco_cursor__
    assert isinstance(cursor, TableReplica)
    return cursor


def filled(records: dict[int, str]) -> TableIndexes:
    indexes = TableIndexes(Account, "account", (), [("email",), ("number",), ("ratio", "flag"), ("tags",)])
    indexes.load_unique(records)
    return indexes


def rows() -> dict[int, str]:
    """Records whose keys take every form: bare strings and ints, tagged floats and bools, JSON."""
    ratios = [-0.0, math.inf, math.nan, 1e-300]
    found = {}
    for n in range(60):
        account = Account(
            email=f"user{n}@example.org",
            number=n * 7 - 100,
            ratio=ratios[n] if n < len(ratios) else n / 2,
            flag=[True, False, None][n % 3],
            tags={f"t{n}", f"x{n % 5}", "common"},
        )
        found[1000 + n * 3] = account.model_dump_json()
    # JSON can escape a lone surrogate, which no UTF-8 text can carry: the index escapes it too.
    found[5000] = '{"email":"\\ud800","number":12345,"ratio":99.5,"flag":null,"tags":["lone"],"note":""}'
    return found


# ---------------------------------------------------------------------------- the index itself


def test_the_key_index_gives_back_the_maps_decoding_the_records_gives() -> None:
    records = rows()
    written = filled(records)
    text = written.export_keys(list(records))
    assert text is not None
    assert json.loads(text)["v"] == KEY_FORMAT
    read = TableIndexes(Account, "account", (), [("email",), ("number",), ("ratio", "flag"), ("tags",)])
    assert read.load_keys(text, list(records))
    assert read.unique_maps == written.unique_maps
    assert read.unique_maps[("ratio", "flag")]  # tuple keys, tagged floats (nan too) among them
    assert read.unique_maps[("email",)]["\ud800"] == 5000
    text.encode("utf-8")  # it can be sent


def test_keys_follow_the_records_order_whatever_order_the_maps_hold_them_in() -> None:
    records = rows()
    written = filled(records)
    first = next(iter(records))
    email = json.loads(records[first])["email"]
    holders = written.unique_maps[("email",)]
    del holders[email]
    holders[email] = first  # re-inserted: last in the map, still first among the records
    text = written.export_keys(list(records))
    assert text is not None
    read = filled({})
    assert read.load_keys(text, list(records))
    assert read.unique_maps == filled(records).unique_maps


def test_an_index_that_does_not_fit_is_not_used() -> None:
    records = rows()
    ids = list(records)
    text = filled(records).export_keys(ids)
    assert text is not None
    document = json.loads(text)

    def refused(changed: Any, ids: list[int] = ids) -> bool:
        indexes = filled({})
        before = {fields: dict(m) for fields, m in indexes.unique_maps.items()}
        ok = indexes.load_keys(changed if isinstance(changed, str) else json.dumps(changed), ids)
        return not ok and indexes.unique_maps == before

    assert refused({**document, "v": KEY_FORMAT + 1})  # another key format
    assert refused(text, ids[:-1])  # another number of records
    assert refused({**document, "unique": document["unique"][:-1]})  # a constraint missing
    duplicated = json.loads(text)
    duplicated["unique"][0]["keys"][1] = duplicated["unique"][0]["keys"][0]
    assert refused(duplicated)  # two records with one key
    floats = json.loads(text)
    floats["unique"][0]["keys"][0] = 1.5  # not a key index_key makes
    assert refused(floats)
    assert refused("not json")
    assert refused({"v": KEY_FORMAT})


def test_no_index_when_a_map_does_not_hold_one_key_per_record() -> None:
    records = rows()
    indexes = filled(records)
    assert filled({}).export_keys([]) is not None  # an empty table has an (empty) index
    assert indexes.export_keys([*records, 99]) is None
    plain = TableIndexes(Account, "account", (), [])
    assert plain.export_keys(list(records)) is None  # no unique constraint: nothing to index


# ---------------------------------------------------------------------------- on the wire


class Store:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.next = 100

    def post(self, content: str, files: Any) -> RawMessage:
        self.next += 1
        attachments = []
        for file in files:
            url = f"mem://{self.next}/{file.filename}"
            self.blobs[url] = file.data
            attachments.append(RawAttachment(self.next, file.filename, len(file.data), url))
        return RawMessage(self.next, 1, 2, content, tuple(attachments))

    async def read(self, attachment: RawAttachment) -> bytes:
        return self.blobs[attachment.url]


@pytest.mark.parametrize("key", [None, bytes(range(32))], ids=["no-key", "key"])
async def test_the_key_index_round_trips_through_the_codec(key: bytes | None) -> None:
    codec = Codec(key=key, file_limit=4096, files_per_message=2)
    noise = random.Random(3)
    text = json.dumps({"v": KEY_FORMAT, "keys": [noise.randbytes(9).hex() for _ in range(3000)]})
    store = Store()
    parts = [
        store.post(m.content, m.files) for m in codec.encode_snapshot_keys(text, count=3000, context="t")
    ]
    assert len(parts) > 1
    assert codec.message_kind(parts[0].content) == "keys"
    assert not codec.is_snapshot_manifest(parts[0].content)
    assert not codec.is_snapshot_part(parts[0].content)
    assert await codec.decode_snapshot_keys(parts[::-1], store.read, context="t") == (3000, text)
    with pytest.raises(CodecError, match="snapshot keys"):
        await codec.decode_snapshot_keys(parts[1:], store.read, context="t")
    if key is not None:
        with pytest.raises(CodecError):  # posted elsewhere: it does not decrypt
            await codec.decode_snapshot_keys(parts, store.read, context="other")
    small = codec.encode_snapshot_keys("[]", count=0)
    assert len(small) == 1
    assert not small[0].files
    assert await codec.decode_snapshot_keys([store.post(small[0].content, ())], store.read) == (0, "[]")


# ---------------------------------------------------------------------------- opening a table


def make(
    server: MemoryDiscord, key: bytes | None = None
) -> tuple[discobase.Database, type[Account], MemoryTransport]:
    transport = MemoryTransport(server)
    db = discobase.Database("db", transport=transport, snapshot_every=10_000, compaction_delay=0, key=key)

    @db.table
    class Stored(Account):
        class Settings:
            name = "account"
            unique = [("ratio", "flag"), ("tags",)]

    return db, Stored, transport


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records each open decoded to fill its unique maps."""
    calls: list[int] = []
    original = TableIndexes.load_unique

    def spy(self: TableIndexes, records: dict[int, str]) -> None:
        if self.unique:
            calls.append(len(records))
        original(self, records)

    monkeypatch.setattr(TableIndexes, "load_unique", spy)
    return calls


async def fill(Stored: type[Account], count: int) -> list[Account]:
    return await Stored.insert_many(
        [Stored(email=f"u{n}@example.org", number=n, ratio=n / 2, tags={f"t{n}"}) for n in range(count)]
    )


async def newest_manifest(table: type[discobase.Table]) -> Manifest:
    _, manifests = await cursor_of(table)._manifests()
    return [m for m in manifests if m.valid][-1]


@pytest.mark.parametrize("key", [None, bytes(range(32))], ids=["no-key", "key"])
async def test_an_opener_reads_the_key_index_instead_of_decoding_the_records(
    decoded: list[int], key: bytes | None
) -> None:
    server = MemoryDiscord(["db"])
    writer, Stored, _ = make(server, key)
    async with writer.conn():
        saved = await fill(Stored, 40)
        await cursor_of(Stored).snapshot()
        assert (await newest_manifest(Stored)).keys
    decoded.clear()
    reader, Again, _ = make(server, key)
    async with reader.conn():
        assert decoded == [], "the unique maps were filled by decoding the records"
        cursor = cursor_of(Again)
        assert cursor.indexes.unique_maps == filled(cursor.records).unique_maps
        (found,) = await Again.find(email="u7@example.org")
        assert found.record_id == saved[7].record_id
        with pytest.raises(UniqueViolationError):
            await Again(email="u7@example.org", number=1000).save()
        with pytest.raises(UniqueViolationError):
            await Again(email="new@example.org", number=1000, ratio=3.5).save()  # (3.5, None) is taken
        await Again(email="new@example.org", number=1000, ratio=3.5, flag=True).save()


async def test_a_snapshot_without_a_key_index_opens_as_before(
    decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MemoryDiscord(["db"])
    writer, Stored, _ = make(server)
    with monkeypatch.context() as patch:  # what earlier versions write: no key index
        patch.setattr(TableIndexes, "export_keys", lambda self, ids: None)
        async with writer.conn():
            await fill(Stored, 30)
            await cursor_of(Stored).snapshot()
            assert not (await newest_manifest(Stored)).keys
    decoded.clear()
    reader, Again, _ = make(server)
    async with reader.conn():
        assert decoded == [30]
        cursor = cursor_of(Again)
        assert cursor.indexes.unique_maps == filled(cursor.records).unique_maps
        with pytest.raises(UniqueViolationError):
            await Again(email="u3@example.org", number=1000).save()


async def test_a_missing_or_unfitting_key_index_costs_time_not_correctness(
    decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MemoryDiscord(["db"])
    writer, Stored, transport = make(server)
    async with writer.conn():
        await fill(Stored, 30)
        await cursor_of(Stored).snapshot()
        manifest = await newest_manifest(Stored)
        await transport.delete_messages(cursor_of(Stored).meta.index_channel, list(manifest.keys))
    decoded.clear()
    reader, Again, _ = make(server)
    async with reader.conn():
        assert decoded == [30]
        assert not cursor_of(Again).problems  # a snapshot without its key index is still whole
        with pytest.raises(UniqueViolationError):
            await Again(email="u3@example.org", number=1000).save()
    monkeypatch.setattr(TableIndexes, "load_keys", lambda self, text, ids: False)
    decoded.clear()
    third, Third, _ = make(server)
    async with third.conn():
        await cursor_of(Third).snapshot()
        assert (await newest_manifest(Third)).keys
    fourth, Fourth, _ = make(server)
    async with fourth.conn():
        assert decoded == [30, 30]  # the third found no key index, the fourth one that does not fit
        assert cursor_of(Fourth).indexes.unique_maps == filled(cursor_of(Fourth).records).unique_maps


async def test_compaction_deletes_the_key_index_of_the_snapshots_it_deletes() -> None:
    server = MemoryDiscord(["db"])
    db, Stored, transport = make(server)
    async with db.conn():
        cursor = cursor_of(Stored)
        for round_ in range(4):
            await Stored.insert_many(
                [
                    Stored(
                        email=f"r{round_}-{n}@example.org",
                        number=round_ * 100 + n,
                        ratio=round_ * 100 + n,
                        tags={f"r{round_}-{n}"},
                    )
                    for n in range(12)
                ]
            )
            await cursor.snapshot()
        page = await transport.history(cursor.meta.index_channel, limit=100)
        _, manifests = await cursor._manifests()
        kept = {m for manifest in manifests for m in manifest.messages}
        key_messages = {m.id for m in page if cursor.codec.message_kind(m.content) == "keys"}
        assert len(manifests) == 2  # older snapshots were compacted away...
        assert key_messages == {k for manifest in manifests for k in manifest.keys}  # ...with their key index
        assert {m.id for m in page} == kept


# ---------------------------------------------------------------------------- two processes

WRITER = textwrap.dedent(
    """
    import asyncio, os, sys
    sys.path.insert(0, os.environ["ROOT"])
    import discobase
    from discobase.engine.indexes import TableIndexes
    from tests.orm.test_snapshot_keys import Account

    if os.environ["FORMAT"] == "previous":  # what earlier versions write: no key index
        TableIndexes.export_keys = lambda self, ids: None

    async def main():
        db = discobase.Database(os.environ["GUILD"], server_url=os.environ["URL"], snapshot_every=50)

        @db.table
        class Stored(Account):
            class Settings:
                name = "account"
                unique = [("ratio", "flag"), ("tags",)]

        async with db.conn(os.environ["TOKEN"]):
            start = int(os.environ["START"])
            await Stored.insert_many(
                [
                    Stored(email=f"u{n}@example.org", number=n, ratio=n, tags={f"t{n}"})
                    for n in range(start, start + 300)
                ]
            )
            await Stored.find(email="u0@example.org")

    asyncio.run(main())
    """
)


async def write_in_another_process(server: LocalDiscord, token: str, start: int, fmt: str) -> None:
    env = {**os.environ, "ROOT": str(ROOT), "GUILD": "keys db", "URL": server.url, "TOKEN": token}
    env.update(START=str(start), FORMAT=fmt)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(child.communicate(), timeout=60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()


async def test_a_snapshot_another_process_wrote_opens_from_its_key_index_or_without(
    tmp_path: Path, decoded: list[int]
) -> None:
    async with LocalDiscord(tmp_path / "local.sqlite3", rate_limits="off") as server:
        bot = server.create_bot("keys")
        server.create_guild("keys db", members=[bot])
        for start, fmt, expected in ((0, "previous", [300]), (300, "current", [])):
            await write_in_another_process(server, bot.token, start, fmt)
            db = discobase.Database("keys db", server_url=server.url)

            @db.table
            class Stored(Account):
                class Settings:
                    name = "account"
                    unique = [("ratio", "flag"), ("tags",)]

            decoded.clear()
            async with db.conn(bot.token):
                assert decoded == expected  # the newest snapshot's records decoded, or its key index read
                cursor = cursor_of(Stored)
                assert len(cursor.records) == start + 300
                assert cursor.indexes.unique_maps == filled(cursor.records).unique_maps
                assert [s.number for s in await Stored.find(email=f"u{start + 5}@example.org")] == [start + 5]
                with pytest.raises(UniqueViolationError):
                    await Stored(email=f"u{start + 9}@example.org", number=-1).save()
                with pytest.raises(UniqueViolationError):
                    await Stored(email="fresh@example.org", number=-1, tags={"t1"}).save()
