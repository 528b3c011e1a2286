"""Record operations and snapshots <-> Discord messages: compact text, zstd, AES-GCM.

The codec is pure: it turns record operations into message contents and files
and back. The only I/O is reading attachment bytes while decoding, which the
caller supplies as an async ``read`` callback (normally
:meth:`Transport.read_attachment <discobase.storage.transport.Transport.read_attachment>`).
Exceptions raised by ``read`` propagate unchanged; everything else that goes
wrong while decoding raises :class:`CodecError`, whatever the input.

The wire format (header lines, payloads, attachments) and the keys are
described in docs/storage.md; :mod:`~discobase.storage.wire` parses it and
:mod:`~discobase.storage.crypto` derives keys.

Thread safety: zstd contexts are per thread, so large encodes and decodes can
be moved to a worker thread (:func:`asyncio.to_thread`).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import zstandard
from loguru import logger

from discobase.storage.crypto import AEAD_OVERHEAD, KDF_SALT, Keyring, derive_key, key_id
from discobase.storage.transport import (
    CONTENT_LIMIT,
    FILES_PER_MESSAGE,
    MESSAGE_FILES_LIMIT,
    UPLOAD_LIMIT,
    FileData,
    RawMessage,
)
from discobase.storage.wire import (
    FORMAT_VERSION,
    INNER_FIELDS,
    INNER_HEADER_MAX,
    MARKERS,
    MAX_PAYLOAD_BYTES,
    MIN_CONTENT_LIMIT,
    SID_RE,
    STEMS,
    WHAT,
    CodecError,
    EncodedMessage,
    Inserts,
    MessageKind,
    Op,
    OpKind,
    ReadAttachment,
    WireHeader,
    aead_associated_data,
    decode_errors,
    empty_data,
    estimate,
    insert_estimates,
    insert_lines,
    join_blobs,
    message_code,
    parse_header,
    parse_ops,
    parse_records,
    plain_safe,
    read_all,
    select_files,
    utf8,
    validate_records,
)

__all__ = [
    "FORMAT_VERSION",
    "KDF_SALT",
    "MAX_PAYLOAD_BYTES",
    "Codec",
    "CodecError",
    "EncodedMessage",
    "Inserts",
    "MessageKind",
    "Op",
    "OpKind",
    "ReadAttachment",
    "derive_key",
    "key_id",
]


class Codec:
    """Encodes record operations and snapshots as Discord messages and decodes them.

    Args:
        key: 32 bytes for AES-256-GCM, or a passphrase (see :func:`derive_key`);
            ``None`` for no encryption.
        salt: extra scrypt salt for a passphrase key (e.g. the guild id).
        compress_threshold: payloads larger than this many bytes are zstd-compressed.
        level: the zstd level.
        content_limit: characters in a message's content.
        file_limit: bytes in one attachment.
        files_per_message: attachments in one message.
        message_limit: bytes of all attachments of one message together.
        old_keys: keys that are still read but no longer written (after a key
            rotation, until every message they encrypted is compacted away).
        accept_plaintext: read unencrypted messages; by default only a codec
            without a key does (with a key, unauthenticated data is refused).
    """

    __slots__ = (
        "_accept_plaintext",
        "_compress_threshold",
        "_content_limit",
        "_file_limit",
        "_files_per_message",
        "_keys",
        "_level",
        "_local",
        "_message_limit",
    )

    def __init__(
        self,
        *,
        key: bytes | str | None = None,
        salt: bytes | str | None = None,
        compress_threshold: int = 1024,
        level: int = 3,
        content_limit: int = CONTENT_LIMIT,
        file_limit: int = UPLOAD_LIMIT,
        files_per_message: int = FILES_PER_MESSAGE,
        message_limit: int = MESSAGE_FILES_LIMIT,
        old_keys: Sequence[bytes | str] = (),
        accept_plaintext: bool | None = None,
    ) -> None:
        if content_limit < MIN_CONTENT_LIMIT:
            raise ValueError(f"content_limit must be at least {MIN_CONTENT_LIMIT}")
        if file_limit < 1 or files_per_message < 1:
            raise ValueError("file_limit and files_per_message must be positive")
        if min(files_per_message * file_limit, message_limit) <= AEAD_OVERHEAD + INNER_HEADER_MAX:
            raise ValueError("file_limit or message_limit is too small")
        if compress_threshold < 0:
            raise ValueError("compress_threshold must not be negative")
        if not -(1 << 17) <= level <= zstandard.MAX_COMPRESSION_LEVEL:
            raise ValueError("level is not a valid zstd compression level")
        self._keys = Keyring(key, old_keys, salt=salt)
        self._accept_plaintext = key is None if accept_plaintext is None else accept_plaintext
        self._compress_threshold = compress_threshold
        self._level = level
        self._content_limit = content_limit
        self._file_limit = file_limit
        self._files_per_message = files_per_message
        self._message_limit = message_limit
        self._local = threading.local()

    def __repr__(self) -> str:
        key = "***" if self._keys.aead is not None else "None"
        return (
            f"Codec(key={key}, compress_threshold={self._compress_threshold}, level={self._level}, "
            f"content_limit={self._content_limit}, file_limit={self._file_limit}, "
            f"files_per_message={self._files_per_message}, message_limit={self._message_limit})"
        )

    __str__ = __repr__

    @property
    def encrypted(self) -> bool:
        """Whether this codec encrypts what it writes."""
        return self._keys.aead is not None

    @property
    def key_id(self) -> str:
        """The id of the key this codec encrypts with ("" without a key)."""
        return self._keys.kid

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key this codec reads."""
        return self._keys.ids

    def check_value(self) -> str:
        """A value that proves knowledge of the write key (see :meth:`Keyring.check_value`)."""
        return self._keys.check_value()

    def verify_check(self, kid: str, check: str) -> bool:
        """Whether this codec holds the key ``kid`` whose check value is ``check``."""
        return self._keys.verify_check(kid, check)

    def seal_text(self, text: str, context: str) -> str:
        """``text`` encrypted with the write key, bound to ``context``: ``kid:base64``."""
        return self._keys.seal_text(text, context)

    def open_text(self, sealed: str, context: str, *, kid: str | None = None) -> str:
        """The text of :meth:`seal_text`'s output, bound to ``context``."""
        return self._keys.open_text(sealed, context, kid=kid)

    @property
    def content_limit(self) -> int:
        """Characters in a message's content."""
        return self._content_limit

    @property
    def file_limit(self) -> int:
        """Bytes in one attachment."""
        return self._file_limit

    @property
    def files_per_message(self) -> int:
        """Attachments in one message."""
        return self._files_per_message

    @property
    def max_batch_bytes(self) -> int:
        """The largest batch payload (sum of :meth:`estimate`) that always fits in one message.

        It assumes the payload does not compress at all, and stays within the files of one
        message and Discord's limit on the size of one request.
        """
        inner = INNER_HEADER_MAX if self._keys.aead is not None else 0
        return self._bytes_per_message - AEAD_OVERHEAD - inner

    @property
    def _bytes_per_message(self) -> int:
        return min(self._files_per_message * self._file_limit, self._message_limit)

    # -- zstd contexts (per thread) ------------------------------------------------

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self._level, write_checksum=True)
            self._local.compressor = compressor
        return compressor

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = zstandard.ZstdDecompressor()
            self._local.decompressor = decompressor
        return decompressor

    # -- classification --------------------------------------------------------------

    def message_kind(self, content: str) -> MessageKind | None:
        """``"batch"``, ``"part"`` or ``"manifest"`` if ``content`` looks like ours, else ``None``.

        Only the marker is checked: a message of an unknown format version is still
        recognised (decoding it then raises :class:`CodecError`)."""
        code = message_code(content)
        return MARKERS[code] if code is not None else None

    def is_batch(self, content: str) -> bool:
        """Whether ``content`` looks like a batch message (cheap marker check)."""
        return message_code(content) == "B"

    def is_snapshot_part(self, content: str) -> bool:
        """Whether ``content`` looks like a snapshot part."""
        return message_code(content) == "P"

    def is_snapshot_manifest(self, content: str) -> bool:
        """Whether ``content`` looks like a snapshot manifest."""
        return message_code(content) == "S"

    def needs_attachments(self, message: RawMessage) -> bool:
        """Whether decoding ``message`` reads attachments (``False`` for foreign messages)."""
        code = message_code(message.content)
        if code is None:
            return False
        try:
            return "a" in parse_header(message.content, code).flags
        except CodecError:
            return False

    # -- encoding ------------------------------------------------------------------------

    def estimate(self, op: Op) -> int:
        """An upper bound of the bytes ``op`` adds to a batch payload (before compression)."""
        return estimate(op)

    def estimate_inserts(self, inserts: Inserts) -> list[int]:
        """:meth:`estimate` of each of ``inserts``' operations."""
        return insert_estimates(inserts)

    def fits(self, ops: Iterable[Op]) -> bool:
        """Whether ``ops`` always fit in one batch message (whatever the compression)."""
        return sum(map(self.estimate, ops)) <= self.max_batch_bytes

    def encode_batch(
        self, ops: Sequence[Op], *, schema_version: int = 1, context: str = ""
    ) -> EncodedMessage:
        """Encode record operations as one message.

        Raises:
            ValueError: an op is malformed, or the batch does not fit in one message
                (split batches with :meth:`fits` / :meth:`estimate`).
        """
        if not ops:
            raise ValueError("a batch needs at least one operation")
        if isinstance(schema_version, bool) or not isinstance(schema_version, int) or schema_version < 0:
            raise ValueError("schema_version must be a non-negative int")
        columns = isinstance(ops, Inserts)  # a run of inserts: its lines are made at once
        lines: list[str] = insert_lines(ops) if isinstance(ops, Inserts) else []
        append = lines.append
        for op in () if columns else ops:
            rid = op.rid
            if isinstance(rid, bool) or not isinstance(rid, int):
                raise ValueError(f"record id must be an int, not {type(rid).__name__}")
            kind = op.kind
            if kind == "d":
                if op.data is not None:
                    raise ValueError(f"a tombstone carries no data (record {rid})")
                append(f"d {rid}")
            elif kind == "i" or kind == "u" or kind == "a":
                data = op.data
                if not isinstance(data, str) or not data:
                    raise ValueError(f"an insert, update or change needs JSON text as data (record {rid})")
                if "\n" in data:
                    data = data.replace("\n", " ")
                append(f"{kind} {rid} {data}")
            else:
                raise ValueError(f"unknown op kind {kind!r} (record {rid})")
        text = "\n".join(lines)
        fields = [f"s={schema_version}", f"n={len(lines)}"]
        (message,) = self._encode("B", fields, text, multipart=False, context=context)
        return message

    def encode_snapshot(
        self, records: Iterable[tuple[int, str]], *, meta: Mapping[str, Any] | None = None, context: str = ""
    ) -> list[EncodedMessage]:
        """Encode a table state (``(rid, data JSON text)`` pairs) as snapshot part messages.

        Post the parts in order, then :meth:`manifest` with their message ids.
        Small snapshots are one part without attachments. ``meta`` is not stored
        in the parts (it goes into the manifest); it is accepted so that callers
        can pass the same arguments to both.

        Raises:
            ValueError: a record is not an ``(int, non-empty str)`` pair, or the
                snapshot exceeds :data:`MAX_PAYLOAD_BYTES`.
        """
        try:
            lines = [f"{rid:d} {data:s}" if data else empty_data(rid) for rid, data in records]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"snapshot records must be (int, non-empty str) pairs: {exc}") from None
        text = "\n".join(lines)
        if lines and text.count("\n") != len(lines) - 1:
            text = "\n".join(line.replace("\n", " ") for line in lines)
        fields = [f"sid={secrets.token_hex(8)}", f"n={len(lines)}"]
        messages = self._encode("P", fields, text, multipart=True, context=context)
        logger.debug(
            "encoded snapshot of {} records into {} part(s), {} file(s)",
            len(lines),
            len(messages),
            sum(len(m.files) for m in messages),
        )
        return messages

    def manifest(
        self, meta: Mapping[str, Any], part_ids: Sequence[int], *, context: str = ""
    ) -> EncodedMessage:
        """The manifest message of a snapshot whose parts were posted as ``part_ids``.

        ``meta`` must be JSON-serialisable (TypeError otherwise)."""
        ids = [int(part_id) for part_id in part_ids]
        text = json.dumps({"meta": dict(meta), "parts": ids}, separators=(",", ":"), ensure_ascii=False)
        (message,) = self._encode("S", [], text, multipart=False, context=context)
        return message

    def _encode(
        self, code: str, fields: list[str], text: str, *, multipart: bool, context: str = ""
    ) -> list[EncodedMessage]:
        """Wrap a payload in one message (or, if ``multipart``, several part messages).

        With a key, the fields that describe the payload (``s``, ``n``, ``u``)
        travel inside the ciphertext, the header names the key (``k=``), and
        ``context`` (where the message is stored) is authenticated with it."""
        marker = f"d{code}{FORMAT_VERSION}"
        limit = self._content_limit
        inner: list[str] = []
        if self._keys.aead is not None:
            inner = [f for f in fields if f.split("=", 1)[0] in INNER_FIELDS]
            fields = [f"k={self._keys.kid}", *(f for f in fields if f not in inner)]
        # 1. plain text in the content
        if self._keys.aead is None and plain_safe(text):
            head = " ".join([marker, *fields, *(["of=1", "i=0"] if multipart else [])])
            content = f"{head}\n{text}" if text else head
            if len(content) <= limit:
                return [EncodedMessage(content)]
        # 2. a blob: maybe compressed, maybe encrypted
        payload = utf8(text)
        size = len(payload)
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload of {size} bytes exceeds the codec's maximum of {MAX_PAYLOAD_BYTES}")
        data: bytes = payload
        flags = ""
        if size > self._compress_threshold:
            packed: bytes = self._compressor().compress(payload)
            if len(packed) < size:
                data, flags = packed, "z"
        if self._keys.aead is not None:
            flags += "e"
        if self._keys.aead is not None:
            data = " ".join([*inner, f"u={size}"]).encode("ascii") + b"\n" + data
            tail = fields
        else:
            tail = [*fields, f"u={size}"]
        blob_size = len(data) + (AEAD_OVERHEAD if self._keys.aead is not None else 0)
        if multipart:
            head = " ".join([f"{marker}:{flags}b", *tail, "of=1", "i=0"])
        else:
            head = " ".join([f"{marker}:{flags}b", *tail])
        # 3. the blob as base64 in the content
        if len(head) + 1 + 4 * ((blob_size + 2) // 3) <= limit:
            blob = self._seal(data, head, context)
            return [EncodedMessage(f"{head}\n{base64.b64encode(blob).decode('ascii')}")]
        # 4. the blob in attachments, over several messages if allowed
        per_file, per_part = self._file_limit, self._bytes_per_message
        n_parts = max(1, -(-blob_size // per_part))
        if n_parts > 1 and not multipart:
            raise ValueError(
                f"{WHAT[code]} payload of {blob_size} bytes does not fit in one message "
                f"({self._files_per_message} file(s) of {per_file} bytes, {self._message_limit} bytes "
                "in all); split it (see Codec.fits)"
            )
        common = [f"{marker}:{flags}a", *tail, *([f"of={n_parts}"] if multipart else [])]
        blob = self._seal(data, " ".join(common), context)
        view = memoryview(blob)
        stem = STEMS[code]
        messages: list[EncodedMessage] = []
        for part in range(n_parts):
            piece = view[part * per_part : (part + 1) * per_part]
            files = [bytes(piece[k : k + per_file]) for k in range(0, len(piece), per_file)] or [b""]
            content = " ".join([*common, *([f"i={part}"] if multipart else []), f"f={len(files)}"])
            if len(content) > limit:
                raise ValueError(f"{WHAT[code]} header does not fit in {limit} characters")
            named = tuple(FileData(f"{stem}-{j}.dbz", chunk) for j, chunk in enumerate(files))
            messages.append(EncodedMessage(content, named))
        return messages

    def _seal(self, data: bytes, head: str, context: str) -> bytes:
        """Encrypt ``data`` (if there is a key), authenticating ``head`` and ``context``.

        The per-message ``i=``/``f=`` fields of ``head`` are not authenticated.
        """
        if self._keys.aead is None:
            return data
        return self._keys.seal(data, aead_associated_data(head, context))

    # -- decoding ------------------------------------------------------------------------

    def _refuse_plaintext(self, header: WireHeader) -> None:
        if "e" not in header.flags and not self._accept_plaintext:
            raise CodecError(
                f"unencrypted {header.what} refused: this database has a key, so data that is not "
                "encrypted and authenticated with it is not read (was it posted by someone else?)"
            )

    def _open(self, header: WireHeader, blob: bytes, context: str = "") -> tuple[WireHeader, str]:
        """The header and payload text of a non-plain message, from its blob.

        The header includes the fields that were inside the ciphertext.
        """
        data = blob
        if "e" in header.flags:
            data, header = self._keys.open_payload(header, blob, context)
        size = header.uint("u", maximum=MAX_PAYLOAD_BYTES)
        if "z" in header.flags:
            if zstandard.frame_content_size(data) != size:
                raise CodecError(f"cannot decode {header.what}: compressed data does not match its header")
            decompressor = self._decompressor().decompressobj()
            data = decompressor.decompress(data)
            if not decompressor.eof or decompressor.unused_data:
                raise CodecError(f"cannot decode {header.what}: truncated or corrupt compressed data")
        if len(data) != size:
            raise CodecError(f"cannot decode {header.what}: payload is truncated or corrupt")
        return header, data.decode("utf-8")

    def _blob_from_body(self, header: WireHeader) -> bytes:
        try:
            return base64.b64decode(header.body.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise CodecError(f"cannot decode {header.what}: invalid base64 content") from None

    async def _payload(
        self, message: RawMessage, code: str, read: ReadAttachment, context: str
    ) -> tuple[WireHeader, str]:
        """Header and payload text of a single message of kind ``code``."""
        with decode_errors(WHAT[code]):
            header = parse_header(message.content, code)
            self._refuse_plaintext(header)
            attachments = select_files(message, header)
        if not header.flags:
            return header, header.body
        blobs = await read_all(attachments, read) if attachments else []
        with decode_errors(header.what):
            blob = join_blobs(blobs) if attachments else self._blob_from_body(header)
            return self._open(header, blob, context)

    async def decode_batch(
        self, message: RawMessage, read: ReadAttachment, *, context: str = ""
    ) -> tuple[int, list[Op]]:
        """``(schema_version, ops)`` of a batch message.

        ``context`` must be the one it was encoded with (where it is stored).

        Raises:
            CodecError: the message is not a valid batch this codec can read.
        """
        header, text = await self._payload(message, "B", read, context)
        with decode_errors("batch"):
            schema = header.uint("s")
            count = header.uint("n")
            return schema, parse_ops(text, count, validate=header.plain)

    async def decode_manifest(
        self, message: RawMessage, read: ReadAttachment, *, context: str = ""
    ) -> tuple[dict[str, Any], list[int]]:
        """``(meta, part message ids)`` of a snapshot manifest."""
        _, text = await self._payload(message, "S", read, context)
        with decode_errors("snapshot manifest"):
            document = json.loads(text)
            if not isinstance(document, dict):
                raise CodecError("cannot decode snapshot manifest: not a JSON object")
            meta, parts = document.get("meta"), document.get("parts")
            if not isinstance(meta, dict) or not isinstance(parts, list):
                raise CodecError("cannot decode snapshot manifest: meta or parts missing")
            if not all(type(part) is int for part in parts):
                raise CodecError("cannot decode snapshot manifest: part ids must be integers")
            return meta, parts

    async def decode_snapshot_parts(
        self, parts: Sequence[RawMessage], read: ReadAttachment, *, context: str = ""
    ) -> list[tuple[int, str]]:
        """The records ``(rid, data JSON text)`` of a snapshot, from all its part messages.

        The parts may come in any order.
        """
        first, text = await self._multipart(parts, "P", read, context)
        with decode_errors("snapshot"):
            count = first.uint("n")
            records = parse_records(text, count)
            if first.plain:
                validate_records((data for _, data in records), "snapshot part")
            logger.debug("decoded snapshot of {} records from {} part(s)", len(records), len(parts))
            return records

    def encode_snapshot_keys(self, text: str, *, count: int, context: str = "") -> list[EncodedMessage]:
        """Encode a snapshot's key index (JSON ``text`` about its ``count`` records) as part messages.

        Post them after the snapshot's parts and name them in its manifest; an opener then
        fills its unique maps without decoding every record (docs/storage.md)."""
        fields = [f"sid={secrets.token_hex(8)}", f"n={count}"]
        return self._encode("K", fields, text, multipart=True, context=context)

    async def decode_snapshot_keys(
        self, parts: Sequence[RawMessage], read: ReadAttachment, *, context: str = ""
    ) -> tuple[int, str]:
        """``(record count, JSON text)`` of a snapshot's key index, from all its part messages."""
        first, text = await self._multipart(parts, "K", read, context)
        with decode_errors("snapshot keys"):
            return first.uint("n"), text

    async def _multipart(
        self, parts: Sequence[RawMessage], code: str, read: ReadAttachment, context: str
    ) -> tuple[WireHeader, str]:
        """The header (with the encrypted fields) and payload text of a multi-part ``code`` message."""
        what = WHAT[code]
        with decode_errors(what):
            if not parts:
                raise CodecError(f"cannot decode {what}: no parts")
            headers = [parse_header(part.content, code) for part in parts]
            first = headers[0]
            total = first.uint("of", maximum=1_000_000)
            sid = first.fields.get("sid")
            if sid is None or SID_RE.fullmatch(sid) is None:
                raise CodecError(f"cannot decode {what}: missing or invalid sid=")
            descriptor = first.associated_data
            indexed: dict[int, tuple[RawMessage, WireHeader]] = {}
            for part, header in zip(parts, headers, strict=True):
                if header.associated_data != descriptor:
                    raise CodecError(f"cannot decode {what}: parts belong to different snapshots")
                index = header.uint("i", maximum=1_000_000)
                if index in indexed:
                    raise CodecError(f"cannot decode {what}: repeated part")
                indexed[index] = (part, header)
            if sorted(indexed) != list(range(total)):
                raise CodecError(f"cannot decode {what}: {len(indexed)} of {total} part(s) given")
            if total > 1 and "a" not in first.flags:
                raise CodecError(f"cannot decode {what}: a multi-part {what} must use attachments")
            attachments = [a for i in range(total) for a in select_files(*indexed[i])]
            self._refuse_plaintext(first)
        if first.plain:
            return first, first.body
        blobs = await read_all(attachments, read) if attachments else []
        with decode_errors(what):
            blob = join_blobs(blobs) if attachments else self._blob_from_body(first)
            return self._open(first, blob, context)
