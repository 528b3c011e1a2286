"""Tests of the wire codec: batches, snapshots, manifests, compression, encryption, robustness."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discobase.exceptions import DiscobaseError
from discobase.storage.codec import (
    KDF_SALT,
    Codec,
    CodecError,
    EncodedMessage,
    Op,
    OpKind,
    derive_key,
)
from discobase.storage.transport import CONTENT_LIMIT, FileData, RawAttachment, RawMessage

T = TypeVar("T")

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

with_and_without_key = pytest.mark.parametrize("key", [None, KEY], ids=["no-key", "key"])


# ---------------------------------------------------------------------------- helpers


class Store:
    """Turns encoded messages into RawMessages and serves their attachment bytes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.reads = 0
        self._next = 1000

    def post(self, encoded: EncodedMessage) -> RawMessage:
        self._next += 1
        mid = self._next
        attachments = []
        for index, file in enumerate(encoded.files):
            url = f"https://cdn.test/{mid}/{index}/{file.filename}"
            self.blobs[url] = file.data
            attachments.append(
                RawAttachment(id=mid * 100 + index, filename=file.filename, size=len(file.data), url=url)
            )
        return RawMessage(
            id=mid, channel_id=1, author_id=2, content=encoded.content, attachments=tuple(attachments)
        )

    async def read(self, attachment: RawAttachment) -> bytes:
        self.reads += 1
        await asyncio.sleep(0)
        return self.blobs[attachment.url]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def check_message(encoded: EncodedMessage, codec_limit: int = CONTENT_LIMIT) -> None:
    """What Discord requires of every message we send."""
    assert encoded.content
    assert len(encoded.content) <= codec_limit
    assert encoded.content == encoded.content.rstrip()  # Discord trims trailing whitespace
    assert "\r" not in encoded.content


async def roundtrip_batch(codec: Codec, ops: Sequence[Op], schema_version: int = 1) -> EncodedMessage:
    encoded = codec.encode_batch(ops, schema_version=schema_version)
    store = Store()
    message = store.post(encoded)
    assert codec.is_batch(message.content)
    assert codec.needs_attachments(message) == bool(encoded.files)
    version, decoded = await codec.decode_batch(message, store.read)
    assert version == schema_version
    assert decoded == list(ops)
    return encoded


def record(i: int, size: int = 60) -> str:
    return json.dumps({"id": i, "name": f"user {i}", "blob": "x" * size}, separators=(",", ":"))


def noise(i: int, size: int) -> str:
    """Incompressible JSON text of about ``size`` characters."""
    return json.dumps({"i": i, "n": base64.b85encode(random.Random(i).randbytes(size * 4 // 5)).decode()})


# ---------------------------------------------------------------------------- batches


async def test_small_batch_is_readable_plain_content() -> None:
    codec = Codec()
    ops = [Op("i", 7301234567890123, '{"name":"Ann","age":31}'), Op("d", 7301234567890001)]
    encoded = await roundtrip_batch(codec, ops)
    assert encoded.files == ()
    assert encoded.content == 'dB1 s=1 n=2\ni 7301234567890123 {"name":"Ann","age":31}\nd 7301234567890001'


async def test_every_op_kind_and_schema_version() -> None:
    codec = Codec()
    ops = [Op("i", 1, '{"a":1}'), Op("u", 1, '{"a":2}'), Op("d", 1), Op("i", -5, "[1,2]"), Op("u", 2, "null")]
    await roundtrip_batch(codec, ops, schema_version=42)
    await roundtrip_batch(Codec(key=KEY), ops, schema_version=0)


async def test_medium_batch_is_compressed_inline_without_attachments() -> None:
    codec = Codec()
    ops = [Op("u", i, record(i)) for i in range(40)]
    encoded = await roundtrip_batch(codec, ops)
    assert encoded.files == ()
    assert encoded.content.startswith("dB1:zb ")
    check_message(encoded)


async def test_large_batch_goes_to_attachments_split_over_files() -> None:
    codec = Codec(file_limit=1000, files_per_message=10)
    ops = [Op("i", i, noise(i, 200)) for i in range(30)]
    encoded = await roundtrip_batch(codec, ops)
    assert 2 <= len(encoded.files) <= 10
    assert all(len(f.data) <= 1000 for f in encoded.files)
    assert [f.filename for f in encoded.files] == [f"ops-{j}.dbz" for j in range(len(encoded.files))]
    assert re.fullmatch(r"dB1:z?a s=1 n=30 u=\d+ f=\d+", encoded.content)
    check_message(encoded)


async def test_attachments_may_arrive_in_any_order() -> None:
    codec = Codec(file_limit=500)
    ops = [Op("i", i, noise(i, 200)) for i in range(20)]
    encoded = codec.encode_batch(ops)
    store = Store()
    message = store.post(encoded)
    shuffled = RawMessage(
        id=message.id,
        channel_id=1,
        author_id=2,
        content=message.content,
        attachments=tuple(reversed(message.attachments)),
    )
    assert (await codec.decode_batch(shuffled, store.read))[1] == ops


async def test_batch_too_large_raises_value_error_and_fits_agrees() -> None:
    codec = Codec(file_limit=1000, files_per_message=2)
    ops = [Op("i", i, noise(i, 400)) for i in range(10)]
    assert not codec.fits(ops)
    with pytest.raises(ValueError, match="split"):
        codec.encode_batch(ops)


@with_and_without_key
async def test_batches_up_to_the_budget_always_fit(key: bytes | None) -> None:
    codec = Codec(key=key, file_limit=2000, files_per_message=3)
    ops: list[Op] = []
    i = 0
    while True:
        op = Op("i", 10**18 + i, noise(i, 150))
        if not codec.fits([*ops, op]):
            break
        ops.append(op)
        i += 1
    assert sum(map(codec.estimate, ops)) <= codec.max_batch_bytes
    encoded = await roundtrip_batch(codec, ops)
    assert len(encoded.files) <= 3


def test_estimate_is_an_upper_bound_of_the_payload() -> None:
    codec = Codec()
    ops = [Op("i", 12345, '{"s":"héllo ✓ 😀"}'), Op("d", 99), Op("u", 1, "{}")]
    payload = "\n".join(
        f"{op.kind} {op.rid}" if op.data is None else f"{op.kind} {op.rid} {op.data}" for op in ops
    ).encode()
    assert sum(map(codec.estimate, ops)) >= len(payload)
    assert codec.estimate(ops[0]) == len(f"i 12345 {ops[0].data}\n".encode())


@with_and_without_key
async def test_unicode_round_trips_exactly(key: bytes | None) -> None:
    codec = Codec(key=key)
    texts = [
        "héllo wörld",
        "日本語のテキスト",
        "emoji 😀🎉👩‍👩‍👧",
        "sep \u2028 \u2029 \x85 nel",
        "zero\u200bwidth",
        "tab\there",
    ]
    small = [Op("i", i, json.dumps({"t": t}, ensure_ascii=False)) for i, t in enumerate(texts)]
    await roundtrip_batch(codec, small)
    big = [Op("u", i, json.dumps({"t": texts[i % len(texts)] * 30}, ensure_ascii=False)) for i in range(200)]
    await roundtrip_batch(codec, big)


@with_and_without_key
async def test_five_megabyte_record(key: bytes | None) -> None:
    codec = Codec(key=key)
    data = json.dumps({"blob": base64.b85encode(os.urandom(4_000_000)).decode()})
    assert len(data) > 5_000_000
    encoded = await roundtrip_batch(codec, [Op("i", 1, data), Op("d", 2)])
    assert len(encoded.files) == 1
    # and split over several files when the upload limit is smaller
    small_files = Codec(key=key, file_limit=1_000_000)
    encoded = await roundtrip_batch(small_files, [Op("i", 1, data)])
    assert len(encoded.files) >= 5


async def test_newlines_in_data_become_spaces() -> None:
    codec = Codec()
    data = json.dumps({"a": [1, 2], "b": "line\nbreak"}, indent=2)
    _, (op,) = await codec.decode_batch(Store().post(codec.encode_batch([Op("i", 1, data)])), Store().read)
    assert op.data is not None
    assert "\n" not in op.data
    assert json.loads(op.data) == json.loads(data)


@pytest.mark.parametrize("data", ['{"a":1} ', '{"a":\r1}', "[1]\t"])
async def test_data_discord_would_alter_is_not_sent_as_plain_text(data: str) -> None:
    codec = Codec()
    encoded = await roundtrip_batch(codec, [Op("i", 1, data)])
    check_message(encoded)
    assert encoded.content.startswith("dB1:b ")


@pytest.mark.parametrize(
    ("ops", "error"),
    [
        ([], ValueError),
        ([Op("x", 1, "{}")], ValueError),  # type: ignore[arg-type]
        ([Op("d", 1, "{}")], ValueError),
        ([Op("i", 1, None)], ValueError),
        ([Op("i", 1, "")], ValueError),
        ([Op("i", True, "{}")], ValueError),
        ([Op("i", "1", "{}")], ValueError),  # type: ignore[arg-type]
        ([Op("i", 1, '{"a":"\ud800"}')], ValueError),
    ],
)
def test_encode_batch_rejects_malformed_ops(ops: list[Op], error: type[Exception]) -> None:
    with pytest.raises(error):
        Codec().encode_batch(ops)


def test_encode_batch_rejects_bad_schema_version() -> None:
    with pytest.raises(ValueError, match="schema_version"):
        Codec().encode_batch([Op("d", 1)], schema_version=-1)


# ---------------------------------------------------------------------------- encryption


async def test_encrypted_batches_never_show_plain_text() -> None:
    codec = Codec(key=KEY)
    ops = [Op("i", 1, '{"secret":"hunter2"}')]
    encoded = await roundtrip_batch(codec, ops)
    assert "hunter2" not in encoded.content
    assert encoded.content.startswith("dB1:eb ")
    big = [Op("i", i, json.dumps({"secret": "hunter2", "i": i})) for i in range(5000)]
    encoded = await roundtrip_batch(codec, big)
    assert encoded.content.startswith("dB1:zea ")
    assert all(b"hunter2" not in f.data for f in encoded.files)


@pytest.mark.parametrize("count", [1, 50, 5000])
async def test_wrong_key_and_missing_key(count: int) -> None:
    ops = [Op("u", i, record(i)) for i in range(count)]
    store = Store()
    message = store.post(Codec(key=KEY).encode_batch(ops))
    with pytest.raises(CodecError, match=r"cannot decrypt.*wrong key"):
        await Codec(key=OTHER_KEY).decode_batch(message, store.read)
    with pytest.raises(CodecError, match=r"cannot decrypt.*no key"):
        await Codec().decode_batch(message, store.read)


async def test_tampered_ciphertext_inline_and_attached() -> None:
    codec = Codec(key=KEY)
    store = Store()
    inline = store.post(codec.encode_batch([Op("i", 1, '{"a":1}')]))
    head, body = inline.content.split("\n")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    forged = RawMessage(id=1, channel_id=1, author_id=2, content=f"{head}\n{base64.b64encode(raw).decode()}")
    with pytest.raises(CodecError, match="tampered data"):
        await codec.decode_batch(forged, store.read)

    attached = store.post(codec.encode_batch([Op("i", i, noise(i, 300)) for i in range(100)]))
    url = attached.attachments[0].url
    data = bytearray(store.blobs[url])
    data[len(data) // 2] ^= 0x40
    store.blobs[url] = bytes(data)
    with pytest.raises(CodecError, match="tampered data"):
        await codec.decode_batch(attached, store.read)


async def test_header_and_place_are_authenticated() -> None:
    codec = Codec(key=KEY)
    store = Store()
    message = store.post(codec.encode_batch([Op("i", 1, '{"a":1}')], schema_version=1, context="t/1/2"))
    assert "s=1" not in message.content
    assert "n=1" not in message.content
    assert (await codec.decode_batch(message, store.read, context="t/1/2"))[1] == [Op("i", 1, '{"a":1}')]
    forged = RawMessage(id=1, channel_id=1, author_id=2, content=message.content.replace("dB1:eb", "dB1:zeb"))
    with pytest.raises(CodecError, match="tampered data"):
        await codec.decode_batch(forged, store.read, context="t/1/2")
    with pytest.raises(CodecError, match="moved from where it was written"):  # copied to another table
        await codec.decode_batch(message, store.read, context="other/1/2")


async def test_codec_with_key_refuses_unencrypted_messages() -> None:
    store = Store()
    ops = [Op("i", i, record(i)) for i in range(300)]
    for batch in (ops, ops[:1]):  # in attachments, and plain text in the content
        message = store.post(Codec().encode_batch(batch))
        with pytest.raises(CodecError, match="unencrypted batch refused"):
            await Codec(key=KEY).decode_batch(message, store.read)
        # Reading a database written before it had a key is opt-in.
        assert (await Codec(key=KEY, accept_plaintext=True).decode_batch(message, store.read))[1] == batch


async def test_passphrase_keys() -> None:
    key = derive_key("correct horse battery staple")
    assert len(key) == 32
    assert derive_key("correct horse battery staple") == key
    assert derive_key("correct horse battery staple", salt="guild-1") != key
    assert KDF_SALT == b"discobase/v1"
    store = Store()
    ops = [Op("i", 1, '{"a":1}')]
    message = store.post(Codec(key="correct horse battery staple").encode_batch(ops))
    assert (await Codec(key=key).decode_batch(message, store.read))[1] == ops
    with pytest.raises(CodecError, match="wrong key"):
        await Codec(key="Correct horse battery staple").decode_batch(message, store.read)
    with pytest.raises(ValueError, match="passphrase"):
        derive_key("")


def test_key_never_in_repr_str_or_errors() -> None:
    secret = b"S3CRET-KEY-0123456789abcdefghijk"
    assert len(secret) == 32
    codec = Codec(key=secret)
    for text in (repr(codec), str(codec)):
        assert "key=***" in text
        assert "S3CRET" not in text
        assert secret.hex() not in text
    assert "key=None" in repr(Codec())
    with pytest.raises(ValueError, match="32 bytes") as info:
        Codec(key=b"S3CRET-too-short")
    assert "S3CRET" not in str(info.value)
    with pytest.raises(CodecError) as decoding:
        run(codec.decode_batch(RawMessage(1, 1, 1, "dB1:eb s=1 n=1 u=3\nAAAA"), Store().read))
    assert "S3CRET" not in str(decoding.value)
    assert "S3CRET" not in repr(decoding.value)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="content_limit"):
        Codec(content_limit=10)
    with pytest.raises(ValueError, match="file_limit"):
        Codec(file_limit=0)
    with pytest.raises(ValueError, match="compress_threshold"):
        Codec(compress_threshold=-1)
    with pytest.raises(ValueError, match="level"):
        Codec(level=99)
    with pytest.raises(TypeError):
        Codec(key=1234)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- decoding errors

FOREIGN = [
    "hello",
    "",
    "dB",
    "dB1",
    "dBx s=1 n=1",
    "dB1 s=1 n=1",
    "dB1 s=1 n=1\n",
    'dB1 s=1 n=1\ni 1 {"a":',  # truncated JSON
    'dB1 s=1 n=2\ni 1 {"a":1}',  # count mismatch
    'dB1 s=1 n=1\nx 1 {"a":1}',  # unknown kind
    'dB1 s=1 n=1\ni one {"a":1}',  # bad id
    "dB1 s=1 n=1\ni 1",  # no data
    'dB1 s=1 n=1 n=1\ni 1 {"a":1}',  # repeated field
    'dB1:q s=1 n=1\ni 1 {"a":1}',  # unknown flag
    'dB1:z s=1 n=1\ni 1 {"a":1}',  # compressed but not placed
    "dB1:zb s=1 n=1 u=10\n!!!notbase64",
    "dB1:zb s=1 n=1 u=10\nAAAAAAAA",
    "dB1:b s=1 n=1 u=99\nAAAA",
    "dB1:a s=1 n=1 u=10 f=1",  # attachment missing
    "dB1:a s=1 n=1 u=10",  # no f=
    "dB1:b s=1 n=1 u=99999999999999999999999\nAAAA",
    "dS1\n{}",
    "dP1 sid=0123456789abcdef n=0 of=1 i=0",
    "dB1 s=1 n=1\n" + "[" * 10000,
]


@pytest.mark.parametrize("content", FOREIGN)
async def test_foreign_or_corrupt_content_raises_codec_error(content: str) -> None:
    with pytest.raises(CodecError):
        await Codec().decode_batch(RawMessage(1, 1, 1, content), Store().read)


async def test_unknown_version_is_recognised_but_refused() -> None:
    codec = Codec()
    content = 'dB2 s=1 n=1\ni 1 {"a":1}'
    assert codec.is_batch(content)
    with pytest.raises(CodecError, match="unsupported format version 2"):
        await codec.decode_batch(RawMessage(1, 1, 1, content), Store().read)


async def test_codec_error_is_a_discobase_error() -> None:
    with pytest.raises(DiscobaseError):
        await Codec().decode_batch(RawMessage(1, 1, 1, "hello"), Store().read)


async def test_corrupt_compressed_attachment() -> None:
    codec = Codec()
    store = Store()
    message = store.post(codec.encode_batch([Op("i", i, record(i)) for i in range(3000)]))
    url = message.attachments[0].url
    good = store.blobs[url]
    for bad in (good[:-10], good + b"junk", good[:100] + bytes([good[100] ^ 1]) + good[101:], b"", b"x" * 50):
        store.blobs[url] = bad
        with pytest.raises(CodecError):
            await codec.decode_batch(message, store.read)


async def test_reader_errors_propagate_unchanged() -> None:
    codec = Codec(file_limit=300)
    message = Store().post(codec.encode_batch([Op("i", i, noise(i, 100)) for i in range(20)]))
    assert len(message.attachments) > 1

    class Boom(Exception):
        pass

    async def failing(attachment: RawAttachment) -> bytes:
        await asyncio.sleep(0)
        raise Boom(attachment.filename)

    with pytest.raises(Boom):
        await codec.decode_batch(message, failing)

    async def wrong_type(attachment: RawAttachment) -> bytes:
        return "text"  # type: ignore[return-value]

    with pytest.raises(CodecError, match="bytes"):
        await codec.decode_batch(message, wrong_type)


def test_classification() -> None:
    codec = Codec()
    batch = codec.encode_batch([Op("d", 1)]).content
    parts = codec.encode_snapshot([(1, "{}")])
    manifest = codec.manifest({"count": 1}, [5]).content
    assert codec.is_batch(batch)
    assert not codec.is_batch(manifest)
    assert not codec.is_batch("hello dB1")
    assert not codec.is_batch("dB1x")
    assert codec.is_snapshot_manifest(manifest)
    assert not codec.is_snapshot_manifest(parts[0].content)
    assert codec.is_snapshot_part(parts[0].content)
    assert codec.message_kind(batch) == "batch"
    assert codec.message_kind(parts[0].content) == "part"
    assert codec.message_kind(manifest) == "manifest"
    assert codec.message_kind("hi") is None
    assert not codec.needs_attachments(RawMessage(1, 1, 1, "hello"))
    assert not codec.needs_attachments(RawMessage(1, 1, 1, "dB1:a garbage!"))


# ---------------------------------------------------------------------------- snapshots


async def decode_snapshot(
    codec: Codec, parts: list[EncodedMessage], meta: dict[str, Any]
) -> list[tuple[int, str]]:
    store = Store()
    posted = [store.post(part) for part in parts]
    manifest = store.post(codec.manifest(meta, [m.id for m in posted]))
    assert codec.is_snapshot_manifest(manifest.content)
    got_meta, part_ids = await codec.decode_manifest(manifest, store.read)
    assert got_meta == meta
    by_id = {m.id: m for m in posted}
    return await codec.decode_snapshot_parts([by_id[i] for i in part_ids], store.read)


@pytest.fixture(scope="module")
def records_100k() -> list[tuple[int, str]]:
    return [
        (7 * 10**17 + i, f'{{"id":{i},"name":"user {i}","email":"u{i}@example.com","age":{i % 90}}}')
        for i in range(100_000)
    ]


@with_and_without_key
async def test_snapshot_of_100k_records(key: bytes | None, records_100k: list[tuple[int, str]]) -> None:
    codec = Codec(key=key)
    records = records_100k
    parts = codec.encode_snapshot(records, meta={"count": len(records)})
    assert len(parts) == 1
    for part in parts:
        check_message(part)
    meta = {"hw": {"1": "2"}, "count": len(records), "schema": 1}
    assert await decode_snapshot(codec, parts, meta) == records


@with_and_without_key
async def test_snapshot_split_across_parts(key: bytes | None) -> None:
    codec = Codec(key=key, file_limit=4096, files_per_message=2)
    records = [(i, noise(i, 100)) for i in range(500)]
    parts = codec.encode_snapshot(records)
    assert len(parts) > 3
    for part in parts:
        check_message(part)
        assert 1 <= len(part.files) <= 2
        assert all(len(f.data) <= 4096 for f in part.files)
    assert await decode_snapshot(codec, parts, {"n": 1}) == records
    # parts in any order
    store = Store()
    posted = [store.post(part) for part in parts]
    random.Random(1).shuffle(posted)
    assert await codec.decode_snapshot_parts(posted, store.read) == records
    # a missing part
    with pytest.raises(CodecError, match="part"):
        await codec.decode_snapshot_parts(posted[1:], store.read)
    # parts of two different snapshots
    other = [store.post(part) for part in codec.encode_snapshot(records)]
    with pytest.raises(CodecError, match="different snapshots"):
        await codec.decode_snapshot_parts([*posted[:-1], other[0]], store.read)
    with pytest.raises(CodecError):
        await codec.decode_snapshot_parts([], store.read)


async def test_small_and_empty_snapshots_need_no_attachments() -> None:
    codec = Codec()
    records = [(1, '{"a":1}'), (2, '{"b":"ü"}')]
    parts = codec.encode_snapshot(records)
    assert len(parts) == 1
    assert parts[0].files == ()
    assert parts[0].content.startswith("dP1 sid=")
    assert await decode_snapshot(codec, parts, {}) == records
    empty = codec.encode_snapshot([])
    assert len(empty) == 1
    check_message(empty[0])
    assert await decode_snapshot(codec, empty, {"count": 0}) == []
    assert await decode_snapshot(Codec(key=KEY), Codec(key=KEY).encode_snapshot([]), {}) == []


async def test_snapshot_records_with_newlines_and_unicode() -> None:
    codec = Codec()
    records = [
        (i, json.dumps({"t": "日本 😀 \u2028", "i": i}, indent=1, ensure_ascii=False)) for i in range(50)
    ]
    decoded = await decode_snapshot(codec, codec.encode_snapshot(records), {})
    assert [rid for rid, _ in decoded] == [rid for rid, _ in records]
    assert all(json.loads(a) == json.loads(b) for (_, a), (_, b) in zip(decoded, records, strict=True))


async def test_snapshot_wrong_key_and_no_key() -> None:
    parts = Codec(key=KEY, file_limit=1024, files_per_message=2).encode_snapshot(
        [(i, noise(i, 100)) for i in range(100)]
    )
    store = Store()
    posted = [store.post(part) for part in parts]
    with pytest.raises(CodecError, match="wrong key"):
        await Codec(key=OTHER_KEY).decode_snapshot_parts(posted, store.read)
    with pytest.raises(CodecError, match="no key"):
        await Codec().decode_snapshot_parts(posted, store.read)


@pytest.mark.parametrize(
    "records",
    [[(1, "")], [("x", "{}")], [(1.5, "{}")], [(1, None)], [(1, {"a": 1})], [(1, "{}", 3)]],
)
def test_encode_snapshot_rejects_malformed_records(records: list[Any]) -> None:
    with pytest.raises(ValueError, match="snapshot records"):
        Codec().encode_snapshot(records)


async def test_manifest_plain_large_and_encrypted() -> None:
    codec = Codec()
    meta = {"hw": {"123": "456"}, "count": 3, "schema": 1}
    manifest = codec.manifest(meta, [11, 12])
    assert manifest.content == 'dS1\n{"meta":{"hw":{"123":"456"},"count":3,"schema":1},"parts":[11,12]}'
    store = Store()
    assert await codec.decode_manifest(store.post(manifest), store.read) == (meta, [11, 12])

    big_meta = {"hw": {str(10**18 + i): noise(i, 20) for i in range(500)}, "count": 1}
    for big_codec in (Codec(), Codec(key=KEY)):
        big = big_codec.manifest(big_meta, list(range(10**18, 10**18 + 300)))
        check_message(big)
        assert big.files
        message = store.post(big)
        assert big_codec.needs_attachments(message)
        assert await big_codec.decode_manifest(message, store.read) == (
            big_meta,
            list(range(10**18, 10**18 + 300)),
        )

    secret = Codec(key=KEY).manifest({"table": "secret-table"}, [1])
    assert "secret-table" not in secret.content
    assert await Codec(key=KEY).decode_manifest(store.post(secret), store.read) == (
        {"table": "secret-table"},
        [1],
    )
    with pytest.raises(CodecError, match="no key"):
        await codec.decode_manifest(store.post(secret), store.read)
    with pytest.raises(TypeError):
        codec.manifest({"x": object()}, [])


@pytest.mark.parametrize(
    "content",
    [
        "hello",
        "dS1",
        "dS1\n[]",
        'dS1\n{"meta":{}}',
        'dS1\n{"meta":{},"parts":[true]}',
        "dS1\n{bad",
        "dB1 s=1 n=0",
    ],
)
async def test_decode_manifest_rejects_garbage(content: str) -> None:
    with pytest.raises(CodecError):
        await Codec().decode_manifest(RawMessage(1, 1, 1, content), Store().read)


async def test_encoding_in_threads_is_safe() -> None:
    codec = Codec()
    records = [(i, record(i, 30)) for i in range(20_000)]
    results = await asyncio.gather(*(asyncio.to_thread(codec.encode_snapshot, records) for _ in range(4)))
    for parts in results:
        assert await decode_snapshot(codec, parts, {}) == records
    assert threading.active_count() >= 1


# ---------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=8,
)


@st.composite
def op_lists(draw: st.DrawFn, values: st.SearchStrategy[Any] = json_values) -> list[Op]:
    count = draw(st.integers(min_value=1, max_value=15))
    ops = []
    kinds: list[OpKind] = ["i", "u", "d"]
    for _ in range(count):
        kind = draw(st.sampled_from(kinds))
        rid = draw(st.integers(min_value=-(2**63), max_value=2**64))
        if kind == "d":
            ops.append(Op("d", rid))
        else:
            ascii_only = draw(st.booleans())
            ops.append(Op(kind, rid, json.dumps(draw(values), ensure_ascii=ascii_only)))
    return ops


codecs = st.sampled_from(
    [
        Codec(),
        Codec(key=KEY),
        Codec(content_limit=200, file_limit=64, files_per_message=10, compress_threshold=0),
        Codec(key=KEY, content_limit=150, file_limit=128, files_per_message=8),
        Codec(compress_threshold=10**9, content_limit=300, file_limit=256),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codec=codecs, ops=op_lists(), schema=st.integers(min_value=0, max_value=10**6))
def test_property_random_batches_round_trip(codec: Codec, ops: list[Op], schema: int) -> None:
    if not codec.fits(ops):
        return
    encoded = codec.encode_batch(ops, schema_version=schema)
    check_message(encoded, codec_limit=codec.content_limit)
    store = Store()
    version, decoded = run(codec.decode_batch(store.post(encoded), store.read))
    assert version == schema
    assert decoded == ops


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codec=codecs,
    records=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2**63), json_values.map(json.dumps)), max_size=30
    ),
)
def test_property_random_snapshots_round_trip(codec: Codec, records: list[tuple[int, str]]) -> None:
    parts = codec.encode_snapshot(records)
    for part in parts:
        check_message(part, codec_limit=codec.content_limit)
    store = Store()
    posted = [store.post(part) for part in parts]
    assert run(codec.decode_snapshot_parts(posted, store.read)) == records


names = st.sampled_from(["ops-0.dbz", "ops-1.dbz", "ops-2.dbz", "snap-0.dbz", "manifest-0.dbz", "x.txt"])
prefixes = st.sampled_from(
    ["", "dB1", "dB1:", "dB1:a", "dB1:za", "dB1:zea", "dB1:eb", "dB1:zb", "dS1", "dS1:a", "dP1:za"]
)
headers = st.builds(
    lambda prefix, fields, body: prefix + "".join(f" {k}={v}" for k, v in fields) + body,
    prefixes,
    st.lists(
        st.tuples(
            st.sampled_from(["s", "n", "u", "f", "i", "of", "sid"]), st.integers(min_value=0, max_value=40)
        ),
        max_size=5,
    ),
    st.one_of(st.just(""), st.text().map(lambda t: "\n" + t)),
)
fuzz_contents = st.one_of(st.text(), headers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=fuzz_contents,
    files=st.lists(st.tuples(names, st.binary(max_size=200)), max_size=4),
    key=st.sampled_from([None, KEY]),
)
def test_fuzz_decoding_raises_only_codec_error(
    content: str, files: list[tuple[str, bytes]], key: bytes | None
) -> None:
    codec = Codec(key=key)
    store = Store()
    message = store.post(EncodedMessage(content, tuple(FileData(n, d) for n, d in files)))
    codec.needs_attachments(message)
    codec.message_kind(content)

    async def attempt() -> None:
        for decode in (codec.decode_batch, codec.decode_manifest):
            try:
                await decode(message, store.read)
            except CodecError:
                pass
        try:
            await codec.decode_snapshot_parts([message, message], store.read)
        except CodecError:
            pass
        try:
            await codec.decode_snapshot_parts([message], store.read)
        except CodecError:
            pass

    run(attempt())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codec=codecs,
    ops=op_lists(st.dictionaries(st.text(max_size=5), st.text(max_size=40) | st.integers(), max_size=6)),
    flips=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1, max_size=3
    ),
    where=st.sampled_from(["content", "files"]),
)
def test_fuzz_mutated_messages_raise_only_codec_error(
    codec: Codec, ops: list[Op], flips: list[tuple[int, int]], where: str
) -> None:
    if not codec.fits(ops):
        return
    encoded = codec.encode_batch(ops)
    store = Store()
    message = store.post(encoded)
    if where == "files" and message.attachments:
        url = message.attachments[0].url
        data = bytearray(store.blobs[url])
        for position, mask in flips:
            if data:
                data[position % len(data)] ^= mask
        store.blobs[url] = bytes(data)
    else:
        content = list(message.content)
        for position, mask in flips:
            index = position % len(content)
            content[index] = chr((ord(content[index]) ^ mask) % 0x110000)
        message = RawMessage(message.id, 1, 2, "".join(content), message.attachments)
    try:
        run(codec.decode_batch(message, store.read))
    except CodecError:
        pass
