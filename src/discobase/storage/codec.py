"""Record operations and snapshots <-> Discord messages: compact text, zstd, AES-GCM.

The codec is pure: it turns record operations into message contents and files
and back. The only I/O is reading attachment bytes while decoding, which the
caller supplies as an async ``read`` callback (normally
:meth:`Transport.read_attachment <discobase.storage.transport.Transport.read_attachment>`).
Exceptions raised by ``read`` propagate unchanged; everything else that goes
wrong while decoding raises :class:`CodecError`, whatever the input.

Wire format, version 1
======================

Every message starts with a **header line**::

    d<K><V>[:<flags>][ <key>=<value>]...

``K``
    ``B`` a batch of record operations (data channels), ``P`` a snapshot
    part, ``S`` a snapshot manifest (index channel).
``V``
    The format version, ``1``. Readers refuse other versions. Readers ignore
    ``key=value`` fields they do not know; a change that old readers cannot
    ignore bumps ``V``.
``flags`` (any order, each at most once)
    ``z``  the payload is zstd-compressed (one frame, with content size and checksum);
    ``e``  the payload is encrypted: ``nonce(12) || AES-256-GCM ciphertext || tag(16)``,
           with the header line minus its ``i=`` and ``f=`` fields, a zero byte and
           the message's *context* (table, channel and author, given by the caller)
           as associated data. The header names the key (``k=``, see :func:`key_id`);
           the fields ``s``, ``n`` and ``u`` are not in it but on a first line inside
           the plaintext, before the (maybe compressed) payload;
    ``b``  the blob is base64 text in the content, after the header line;
    ``a``  the blob is in the attachments ``<stem>-<j>.dbz`` (``j`` = 0 .. ``f``-1),
           concatenated in that order (stems: ``ops``, ``snap``, ``manifest``).
    No flags: the payload is plain UTF-8 text in the content after the header
    line (human-readable in Discord). Encrypted codecs never write plain text.
Fields (decimal integers unless noted)
    ``s`` schema version of the records (batches); ``n`` number of operations or
    records; ``u`` payload length in bytes before compression and encryption;
    ``f`` number of attachments of this message; ``sid`` (16 hex digits),
    ``i``, ``of``: snapshot id, index of this part, number of parts.

Payloads are UTF-8 text, lines separated by ``\\n`` (no trailing newline):

* batch (``dB1``): ``<kind> <rid> <data>`` for insert (``i``) and new version
  (``u``), ``d <rid>`` for a tombstone;
* snapshot part (``dP1``): ``<rid> <data>``; a snapshot too large for one
  message is one blob split over several part messages (all with ``a``);
* manifest (``dS1``): the JSON object ``{"meta": {...}, "parts": [ids]}``.

``<data>`` is the record's JSON text **verbatim** (a JSON value, not a string
inside a string). Valid compact JSON never contains a raw newline, and a
newline in indented JSON is insignificant whitespace, so the codec replaces any
``\\n`` in ``data`` by a space and decoding is a split: no JSON is parsed or
re-serialised on the hot path (parsing 100k records with :mod:`json` costs
~0.6 s on the reference machine, splitting ~0.1 s). Plain-text payloads, the
only ones not protected by a zstd checksum, an AES-GCM tag or an exact
length, have their records validated as JSON when decoded (they are at most
one message's content long). Text that Discord would alter (a carriage
return, trailing whitespace) is never sent as plain text.

A small batch, as it appears in Discord::

    dB1 s=1 n=2
    i 7301234567890123 {"name":"Ann","age":31}
    d 7301234567890001

Larger ones: ``dB1:zb s=1 n=40 u=5120`` + base64 (compressed, still inline),
``dB1:za s=1 n=5000 u=612000 f=1`` + ``ops-0.dbz``; with a key ``dB1:eb ...`` or
``dB1:zea ...``. A payload goes to attachments only when it does not fit in the
content, so most messages are read without a download.

Keys
====

``key`` is 32 random bytes (AES-256-GCM), or a passphrase from which 32 bytes
are derived with scrypt (n=2**15, r=8, p=1, ~0.1 s, 32 MiB) and the salt
``b"discobase/v1"`` (+ ``b"/" + salt`` when ``salt`` is given). The salt is fixed
because every process must derive the same key from the passphrase alone,
before it can read anything from the guild; the namespace keeps the key apart
from other uses of the same passphrase, scrypt's cost slows guessing, and
``salt`` (e.g. the guild id) makes an attacker start over for each database. Nonces are
12 random bytes per message (random 96-bit nonces stay safe for up to ~2**32
messages per key, NIST SP 800-38D).
A codec with a key refuses unencrypted messages (unless ``accept_plaintext``:
reading a database written before it had a key, to encrypt it), and reads
messages of its ``old_keys`` (after a key rotation). Messages encrypted before
key ids existed (no ``k=``, only the header authenticated) are still read.
The key never appears in ``repr``, ``str`` or exceptions.

Thread safety: zstd contexts are per thread, so large encodes and decodes can
be moved to a worker thread (:func:`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal, NoReturn

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from loguru import logger

from discobase.exceptions import DiscobaseError
from discobase.storage.transport import (
    CONTENT_LIMIT,
    FILES_PER_MESSAGE,
    MESSAGE_FILES_LIMIT,
    UPLOAD_LIMIT,
    FileData,
    RawAttachment,
    RawMessage,
)

__all__ = [
    "FORMAT_VERSION",
    "KDF_SALT",
    "MAX_PAYLOAD_BYTES",
    "Codec",
    "CodecError",
    "EncodedMessage",
    "MessageKind",
    "Op",
    "OpKind",
    "ReadAttachment",
    "derive_key",
    "key_id",
]

#: The wire format version this module writes and reads.
FORMAT_VERSION: Final = 1
#: The scrypt salt namespace for passphrase keys (part of the format: changing it changes keys).
KDF_SALT: Final = b"discobase/v1"
#: The largest payload (uncompressed, unencrypted) the codec writes or reads.
MAX_PAYLOAD_BYTES: Final = 2**31 - 1 - 1024

_SCRYPT_N: Final = 2**15
_NONCE: Final = 12
_TAG: Final = 16
_AEAD_OVERHEAD: Final = _NONCE + _TAG
#: Bytes of the inner header line of an encrypted payload (``s=… n=… u=…\n``), at most.
_INNER_HEADER_MAX: Final = 72
_MIN_CONTENT_LIMIT: Final = 128

OpKind = Literal["i", "u", "d"]
MessageKind = Literal["batch", "part", "manifest"]
ReadAttachment = Callable[[RawAttachment], Awaitable[bytes]]

_KINDS: Final[dict[str, OpKind]] = {"i": "i", "u": "u", "d": "d"}
_MARKERS: Final[dict[str, MessageKind]] = {"B": "batch", "P": "part", "S": "manifest"}
_WHAT: Final[dict[str, str]] = {"B": "batch", "P": "snapshot part", "S": "snapshot manifest"}
_STEMS: Final[dict[str, str]] = {"B": "ops", "P": "snap", "S": "manifest"}

_MARKER_RE: Final = re.compile(r"d([BPS])([0-9]{1,6})(?::([a-z]{0,8}))?")
_FIELD_RE: Final = re.compile(r"([a-z]{1,8})=([0-9A-Za-z_-]{1,64})")
_KID_RE: Final = re.compile(r"[0-9a-f]{8}")
#: Fields that describe the payload; with a key they travel inside the ciphertext.
_INNER_FIELDS: Final = ("s", "n", "u")
_UINT_RE: Final = re.compile(r"[0-9]{1,19}")
_RID_RE: Final = re.compile(r"-?[0-9]{1,40}")
_SID_RE: Final = re.compile(r"[0-9a-f]{16}")
_FILE_RE: Final = re.compile(r"([a-z]{1,16})-([0-9]{1,5})\.dbz")


class CodecError(DiscobaseError):
    """A message could not be decoded: foreign, corrupt, truncated, of an unknown
    format version, or encrypted with another key (or none)."""


@dataclass(frozen=True, slots=True)
class Op:
    """One record operation: insert (``i``), new version (``u``) or tombstone (``d``).

    ``data`` is the record's JSON text (``None`` for a tombstone).
    """

    kind: OpKind
    rid: int
    data: str | None = None


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """A message to send: content (never empty, never over the limit) and files."""

    content: str
    files: tuple[FileData, ...] = ()


def derive_key(passphrase: str, *, salt: bytes | str | None = None) -> bytes:
    """Derive a 32-byte AES-256 key from a passphrase (scrypt, see the module docs)."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("the passphrase must be a non-empty string")
    full_salt = KDF_SALT
    if salt:
        full_salt += b"/" + (salt.encode("utf-8") if isinstance(salt, str) else bytes(salt))
    kdf = Scrypt(salt=full_salt, length=32, n=_SCRYPT_N, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


def _key_bytes(key: bytes | str, salt: bytes | str | None) -> bytes:
    if isinstance(key, str):
        return derive_key(key, salt=salt)
    if isinstance(key, bytes | bytearray | memoryview):
        if len(key) != 32:
            raise ValueError("a bytes key must be exactly 32 bytes (AES-256); pass a str to use a passphrase")
        return bytes(key)
    raise TypeError("key must be 32 bytes, a passphrase string or None")


def key_id(key: bytes) -> str:
    """A short public name of a 32-byte key (8 hex digits of an HMAC of a constant):
    it tells which key encrypted a message without revealing anything of the key."""
    return hmac.new(key, b"discobase key id", hashlib.sha256).hexdigest()[:8]


@contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Turn any failure while decoding into a :class:`CodecError` (without echoing data)."""
    try:
        yield
    except CodecError:
        raise
    except zstandard.ZstdError as exc:
        raise CodecError(f"cannot decode {what}: corrupt compressed data ({exc})") from None
    except UnicodeDecodeError:
        raise CodecError(f"cannot decode {what}: payload is not valid UTF-8") from None
    except Exception as exc:
        raise CodecError(f"cannot decode {what}: {type(exc).__name__}") from None


@dataclass(frozen=True, slots=True)
class _Header:
    """A parsed header line."""

    code: str  # B, P or S
    flags: str
    fields: dict[str, str]
    line: str
    body: str

    @property
    def what(self) -> str:
        return _WHAT[self.code]

    @property
    def plain(self) -> bool:
        return not self.flags

    @property
    def associated_data(self) -> bytes:
        """The header line without the per-message fields ``i=`` and ``f=``."""
        tokens = [t for t in self.line.split(" ") if not t.startswith(("i=", "f="))]
        return " ".join(tokens).encode("utf-8")

    def uint(self, key: str, *, maximum: int = 2**63 - 1, default: int | None = None) -> int:
        raw = self.fields.get(key)
        if raw is None:
            if default is not None:
                return default
            raise CodecError(f"{self.what} header lacks its {key}= field")
        if _UINT_RE.fullmatch(raw) is None or int(raw) > maximum:
            raise CodecError(f"{self.what} header has an invalid {key}= field")
        return int(raw)


def _parse_header(content: object, code: str) -> _Header:
    """Parse the header line of a message that must be of kind ``code``."""
    what = _WHAT[code]
    if not isinstance(content, str):
        raise CodecError(f"not a discobase {what}: content is not text")
    line, _, body = content.partition("\n")
    tokens = line.split(" ")
    match = _MARKER_RE.fullmatch(tokens[0])
    if match is None or match.group(1) != code:
        raise CodecError(f"not a discobase {what} (no 'd{code}{FORMAT_VERSION}' header)")
    version = int(match.group(2))
    if version != FORMAT_VERSION:
        raise CodecError(
            f"unsupported format version {version} of a discobase {what} "
            f"(this version reads {FORMAT_VERSION})"
        )
    flags = match.group(3) or ""
    if len(set(flags)) != len(flags) or not set(flags) <= set("zeab"):
        raise CodecError(f"{what} header has unknown or repeated flags")
    if ("a" in flags) + ("b" in flags) != (1 if flags else 0):
        raise CodecError(f"{what} header has inconsistent flags")
    fields: dict[str, str] = {}
    for token in tokens[1:]:
        field = _FIELD_RE.fullmatch(token)
        if field is None or field.group(1) in fields:
            raise CodecError(f"{what} header has a malformed or repeated field")
        fields[field.group(1)] = field.group(2)
    if "a" in flags and body:
        raise CodecError(f"{what} with attachments has unexpected content after its header")
    return _Header(code, flags, fields, line, body)


def _associated(head: str, context: str) -> bytes:
    """Associated data of an encrypted message: its header line minus the
    per-message ``i=``/``f=`` fields, and where it is stored."""
    tokens = [t for t in head.split(" ") if not t.startswith(("i=", "f="))]
    return " ".join(tokens).encode("utf-8") + b"\x00" + context.encode("utf-8")


def _message_code(content: str) -> str | None:
    """``B``, ``P`` or ``S`` if ``content`` starts like one of ours (any version), else ``None``."""
    if not isinstance(content, str) or not content.startswith("d"):
        return None
    head = content[:24].split("\n", 1)[0].split(" ", 1)[0]
    match = _MARKER_RE.fullmatch(head)
    return match.group(1) if match else None


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("record data is not encodable as UTF-8 (lone surrogates?)") from None


def _plain_safe(text: str) -> bool:
    """Whether ``text`` survives as message content unchanged (Discord trims trailing
    whitespace and may normalise carriage returns)."""
    if "\r" in text or (text and text[-1].isspace()):
        return False
    if not text.isascii():
        _utf8(text)  # raises ValueError for text Discord could not store
    return True


def _validate_records(texts: Iterable[str], what: str) -> None:
    """Check that each text is one JSON value (used for plain-text payloads only)."""
    for number, text in enumerate(texts, 1):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            raise CodecError(f"cannot decode {what}: record {number} is not valid JSON") from None


async def _read_all(attachments: Sequence[RawAttachment], read: ReadAttachment) -> list[bytes]:
    """Read attachments concurrently; on failure cancel the rest and re-raise unchanged."""
    if len(attachments) == 1:
        return [await read(attachments[0])]
    tasks = [asyncio.ensure_future(read(attachment)) for attachment in attachments]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _select_files(message: RawMessage, header: _Header) -> list[RawAttachment]:
    """The attachments holding the blob of ``message``, in order."""
    if "a" not in header.flags:
        return []
    count = header.uint("f", maximum=10_000)
    stem = _STEMS[header.code]
    found: dict[int, RawAttachment] = {}
    for attachment in message.attachments:
        match = _FILE_RE.fullmatch(str(attachment.filename))
        if match is not None and match.group(1) == stem:
            index = int(match.group(2))
            if index in found:
                raise CodecError(f"{header.what} has a repeated attachment")
            found[index] = attachment
    if sorted(found) != list(range(count)):
        raise CodecError(f"{header.what} declares {count} attachment(s) but holds {len(found)}")
    return [found[index] for index in range(count)]


def _join_blobs(blobs: Sequence[object]) -> bytes:
    for blob in blobs:
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise CodecError("attachment reader returned something other than bytes")
    if len(blobs) == 1 and isinstance(blobs[0], bytes):
        return blobs[0]
    return b"".join(blobs)  # type: ignore[arg-type]


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
        "_aead",
        "_compress_threshold",
        "_content_limit",
        "_file_limit",
        "_files_per_message",
        "_keyring",
        "_kid",
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
        if content_limit < _MIN_CONTENT_LIMIT:
            raise ValueError(f"content_limit must be at least {_MIN_CONTENT_LIMIT}")
        if file_limit < 1 or files_per_message < 1:
            raise ValueError("file_limit and files_per_message must be positive")
        if min(files_per_message * file_limit, message_limit) <= _AEAD_OVERHEAD + _INNER_HEADER_MAX:
            raise ValueError("file_limit or message_limit is too small")
        if compress_threshold < 0:
            raise ValueError("compress_threshold must not be negative")
        if not -(1 << 17) <= level <= zstandard.MAX_COMPRESSION_LEVEL:
            raise ValueError("level is not a valid zstd compression level")
        self._aead: AESGCM | None = None
        self._kid = ""
        self._keyring: dict[str, AESGCM] = {}
        for number, given in enumerate([key, *old_keys] if key is not None else list(old_keys)):
            raw = _key_bytes(given, salt)
            kid = key_id(raw)
            self._keyring.setdefault(kid, AESGCM(raw))
            if number == 0 and key is not None:
                self._aead, self._kid = self._keyring[kid], kid
        self._accept_plaintext = key is None if accept_plaintext is None else accept_plaintext
        self._compress_threshold = compress_threshold
        self._level = level
        self._content_limit = content_limit
        self._file_limit = file_limit
        self._files_per_message = files_per_message
        self._message_limit = message_limit
        self._local = threading.local()

    def __repr__(self) -> str:
        key = "***" if self._aead is not None else "None"
        return (
            f"Codec(key={key}, compress_threshold={self._compress_threshold}, level={self._level}, "
            f"content_limit={self._content_limit}, file_limit={self._file_limit}, "
            f"files_per_message={self._files_per_message}, message_limit={self._message_limit})"
        )

    __str__ = __repr__

    @property
    def encrypted(self) -> bool:
        """Whether this codec encrypts what it writes."""
        return self._aead is not None

    @property
    def key_id(self) -> str:
        """The id of the key this codec encrypts with ("" without a key)."""
        return self._kid

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key this codec reads."""
        return tuple(self._keyring)

    def check_value(self) -> str:
        """A value that proves knowledge of the write key (for the catalog's key
        record): the key's id encrypted under itself, base64."""
        if self._aead is None:
            raise ValueError("a codec without a key has no check value")
        return self.seal_text(self._kid, "discobase key check")

    def verify_check(self, kid: str, check: str) -> bool:
        """Whether this codec holds the key ``kid`` whose check value is ``check``."""
        aead = self._keyring.get(kid)
        if aead is None:
            return False
        try:
            return self.open_text(check, "discobase key check", kid=kid) == kid
        except CodecError:
            return False

    def seal_text(self, text: str, context: str) -> str:
        """``text`` encrypted with the write key, bound to ``context``: ``kid:base64``."""
        if self._aead is None:
            raise ValueError("a codec without a key cannot seal")
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, _utf8(text), context.encode("utf-8"))
        return f"{self._kid}:{base64.b64encode(sealed).decode('ascii')}"

    def open_text(self, sealed: str, context: str, *, kid: str | None = None) -> str:
        """The text of :meth:`seal_text`'s output, bound to ``context``."""
        with _decoding("sealed text"):
            given_kid, _, body = sealed.partition(":")
            aead = self._keyring.get(kid or given_kid)
            if aead is None:
                raise CodecError(f"cannot decrypt: encrypted with key {given_kid!r}, which this codec lacks")
            blob = base64.b64decode(body.encode("ascii"), validate=True)
            if len(blob) < _AEAD_OVERHEAD:
                raise CodecError("cannot decrypt: truncated data")
            try:
                data = aead.decrypt(blob[:_NONCE], blob[_NONCE:], context.encode("utf-8"))
            except InvalidTag:
                raise CodecError("cannot decrypt: wrong key or tampered data") from None
            return data.decode("utf-8")

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
        """The largest batch payload (sum of :meth:`estimate`) that always fits in one message,
        assuming it does not compress at all: within the files of one message and
        Discord's limit on the size of one request."""
        inner = _INNER_HEADER_MAX if self._aead is not None else 0
        return self._bytes_per_message - _AEAD_OVERHEAD - inner

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
        code = _message_code(content)
        return _MARKERS[code] if code is not None else None

    def is_batch(self, content: str) -> bool:
        """Whether ``content`` looks like a batch message (cheap marker check)."""
        return _message_code(content) == "B"

    def is_snapshot_part(self, content: str) -> bool:
        """Whether ``content`` looks like a snapshot part."""
        return _message_code(content) == "P"

    def is_snapshot_manifest(self, content: str) -> bool:
        """Whether ``content`` looks like a snapshot manifest."""
        return _message_code(content) == "S"

    def needs_attachments(self, message: RawMessage) -> bool:
        """Whether decoding ``message`` reads attachments (``False`` for foreign messages)."""
        code = _message_code(message.content)
        if code is None:
            return False
        try:
            return "a" in _parse_header(message.content, code).flags
        except CodecError:
            return False

    # -- encoding ------------------------------------------------------------------------

    def estimate(self, op: Op) -> int:
        """An upper bound of the bytes ``op`` adds to a batch payload (before compression)."""
        size = 4 + len(str(op.rid))
        data = op.data
        if isinstance(data, str):
            size += len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
        return size

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
        lines: list[str] = []
        append = lines.append
        for op in ops:
            rid = op.rid
            if isinstance(rid, bool) or not isinstance(rid, int):
                raise ValueError(f"record id must be an int, not {type(rid).__name__}")
            kind = op.kind
            if kind == "d":
                if op.data is not None:
                    raise ValueError(f"a tombstone carries no data (record {rid})")
                append(f"d {rid}")
            elif kind == "i" or kind == "u":
                data = op.data
                if not isinstance(data, str) or not data:
                    raise ValueError(f"an insert or update needs JSON text as data (record {rid})")
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
            lines = [f"{rid:d} {data:s}" if data else _empty_data(rid) for rid, data in records]
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
        if self._aead is not None:
            inner = [f for f in fields if f.split("=", 1)[0] in _INNER_FIELDS]
            fields = [f"k={self._kid}", *(f for f in fields if f not in inner)]
        # 1. plain text in the content
        if self._aead is None and _plain_safe(text):
            head = " ".join([marker, *fields, *(["of=1", "i=0"] if multipart else [])])
            content = f"{head}\n{text}" if text else head
            if len(content) <= limit:
                return [EncodedMessage(content)]
        # 2. a blob: maybe compressed, maybe encrypted
        payload = _utf8(text)
        size = len(payload)
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload of {size} bytes exceeds the codec's maximum of {MAX_PAYLOAD_BYTES}")
        data: bytes = payload
        flags = ""
        if size > self._compress_threshold:
            packed: bytes = self._compressor().compress(payload)
            if len(packed) < size:
                data, flags = packed, "z"
        if self._aead is not None:
            flags += "e"
        if self._aead is not None:
            data = " ".join([*inner, f"u={size}"]).encode("ascii") + b"\n" + data
            tail = fields
        else:
            tail = [*fields, f"u={size}"]
        blob_size = len(data) + (_AEAD_OVERHEAD if self._aead is not None else 0)
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
                f"{_WHAT[code]} payload of {blob_size} bytes does not fit in one message "
                f"({self._files_per_message} file(s) of {per_file} bytes, {self._message_limit} bytes "
                "in all); split it (see Codec.fits)"
            )
        common = [f"{marker}:{flags}a", *tail, *([f"of={n_parts}"] if multipart else [])]
        blob = self._seal(data, " ".join(common), context)
        view = memoryview(blob)
        stem = _STEMS[code]
        messages: list[EncodedMessage] = []
        for part in range(n_parts):
            piece = view[part * per_part : (part + 1) * per_part]
            files = [bytes(piece[k : k + per_file]) for k in range(0, len(piece), per_file)] or [b""]
            content = " ".join([*common, *([f"i={part}"] if multipart else []), f"f={len(files)}"])
            if len(content) > limit:
                raise ValueError(f"{_WHAT[code]} header does not fit in {limit} characters")
            named = tuple(FileData(f"{stem}-{j}.dbz", chunk) for j, chunk in enumerate(files))
            messages.append(EncodedMessage(content, named))
        return messages

    def _seal(self, data: bytes, head: str, context: str) -> bytes:
        """Encrypt ``data`` (if there is a key), authenticating ``head`` minus
        ``i=``/``f=`` and ``context``."""
        if self._aead is None:
            return data
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data, _associated(head, context))

    # -- decoding ------------------------------------------------------------------------

    def _refuse_plaintext(self, header: _Header) -> None:
        if "e" not in header.flags and not self._accept_plaintext:
            raise CodecError(
                f"unencrypted {header.what} refused: this database has a key, so data that is not "
                "encrypted and authenticated with it is not read (was it posted by someone else?)"
            )

    def _open(self, header: _Header, blob: bytes, context: str = "") -> tuple[_Header, str]:
        """The header (with the fields that were inside the ciphertext) and the
        payload text of a non-plain message, from its blob."""
        data = blob
        if "e" in header.flags:
            data, header = self._decrypt(header, blob, context)
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

    def _decrypt(self, header: _Header, blob: bytes, context: str) -> tuple[bytes, _Header]:
        if not self._keyring:
            raise CodecError(f"cannot decrypt {header.what}: it is encrypted and this codec has no key")
        if len(blob) < _AEAD_OVERHEAD:
            raise CodecError(f"cannot decrypt {header.what}: wrong key or tampered data")
        view = memoryview(blob)
        kid = header.fields.get("k")
        if kid is None:  # written before key ids: any key, the header alone authenticated
            for candidate in self._keyring.values():
                try:
                    return candidate.decrypt(view[:_NONCE], view[_NONCE:], header.associated_data), header
                except InvalidTag:
                    continue
            raise CodecError(f"cannot decrypt {header.what}: wrong key or tampered data")
        if _KID_RE.fullmatch(kid) is None:
            raise CodecError(f"{header.what} header has an invalid k= field")
        aead = self._keyring.get(kid)
        if aead is None:
            raise CodecError(
                f"cannot decrypt {header.what}: it was encrypted with key {kid}, which this database "
                f"was not given (wrong key? it has {', '.join(self._keyring)})"
            )
        try:
            plain = aead.decrypt(view[:_NONCE], view[_NONCE:], _associated(header.line, context))
        except InvalidTag:
            raise CodecError(
                f"cannot decrypt {header.what}: tampered data, or a message moved from where it was written"
            ) from None
        line, sep, data = plain.partition(b"\n")
        if not sep:
            raise CodecError(f"cannot decode {header.what}: missing inner header")
        fields = dict(header.fields)
        for token in line.decode("ascii").split(" "):
            match = _FIELD_RE.fullmatch(token)
            if match is None or match.group(1) not in _INNER_FIELDS or match.group(1) in fields:
                raise CodecError(f"cannot decode {header.what}: malformed inner header")
            fields[match.group(1)] = match.group(2)
        return data, dataclasses.replace(header, fields=fields)

    def _blob_from_body(self, header: _Header) -> bytes:
        try:
            return base64.b64decode(header.body.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise CodecError(f"cannot decode {header.what}: invalid base64 content") from None

    async def _payload(
        self, message: RawMessage, code: str, read: ReadAttachment, context: str
    ) -> tuple[_Header, str]:
        """Header and payload text of a single message of kind ``code``."""
        with _decoding(_WHAT[code]):
            header = _parse_header(message.content, code)
            self._refuse_plaintext(header)
            attachments = _select_files(message, header)
        if not header.flags:
            return header, header.body
        blobs = await _read_all(attachments, read) if attachments else []
        with _decoding(header.what):
            blob = _join_blobs(blobs) if attachments else self._blob_from_body(header)
            return self._open(header, blob, context)

    async def decode_batch(
        self, message: RawMessage, read: ReadAttachment, *, context: str = ""
    ) -> tuple[int, list[Op]]:
        """``(schema_version, ops)`` of a batch message; ``context`` must be the one
        it was encoded with (where it is stored).

        Raises:
            CodecError: the message is not a valid batch this codec can read.
        """
        header, text = await self._payload(message, "B", read, context)
        with _decoding("batch"):
            schema = header.uint("s")
            count = header.uint("n")
            return schema, _parse_ops(text, count, validate=header.plain)

    async def decode_manifest(
        self, message: RawMessage, read: ReadAttachment, *, context: str = ""
    ) -> tuple[dict[str, Any], list[int]]:
        """``(meta, part message ids)`` of a snapshot manifest."""
        _, text = await self._payload(message, "S", read, context)
        with _decoding("snapshot manifest"):
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
        """The records ``(rid, data JSON text)`` of a snapshot, from all its part messages
        (in any order)."""
        with _decoding("snapshot part"):
            if not parts:
                raise CodecError("cannot decode snapshot: no parts")
            headers = [_parse_header(part.content, "P") for part in parts]
            first = headers[0]
            total = first.uint("of", maximum=1_000_000)
            sid = first.fields.get("sid")
            if sid is None or _SID_RE.fullmatch(sid) is None:
                raise CodecError("cannot decode snapshot part: missing or invalid sid=")
            descriptor = first.associated_data
            indexed: dict[int, tuple[RawMessage, _Header]] = {}
            for part, header in zip(parts, headers, strict=True):
                if header.associated_data != descriptor:
                    raise CodecError("cannot decode snapshot: parts belong to different snapshots")
                index = header.uint("i", maximum=1_000_000)
                if index in indexed:
                    raise CodecError("cannot decode snapshot: repeated part")
                indexed[index] = (part, header)
            if sorted(indexed) != list(range(total)):
                raise CodecError(f"cannot decode snapshot: {len(indexed)} of {total} part(s) given")
            if total > 1 and "a" not in first.flags:
                raise CodecError("cannot decode snapshot: a multi-part snapshot must use attachments")
            attachments = [a for i in range(total) for a in _select_files(*indexed[i])]
        with _decoding("snapshot part"):
            self._refuse_plaintext(first)
        if first.plain:
            text = first.body
        else:
            blobs = await _read_all(attachments, read) if attachments else []
            with _decoding("snapshot"):
                blob = _join_blobs(blobs) if attachments else self._blob_from_body(first)
                first, text = self._open(first, blob, context)
        with _decoding("snapshot"):
            count = first.uint("n")
            records = _parse_records(text, count)
            if first.plain:
                _validate_records((data for _, data in records), "snapshot part")
            logger.debug("decoded snapshot of {} records from {} part(s)", len(records), total)
            return records


def _empty_data(rid: object) -> NoReturn:
    raise ValueError(f"record {rid} has empty data")


def _parse_ops(text: str, count: int, *, validate: bool) -> list[Op]:
    """The ops of a batch payload (``validate``: check each record is JSON)."""
    if count == 0:
        if text:
            raise CodecError("cannot decode batch: it declares no ops but has a payload")
        return []
    lines = text.split("\n")
    if len(lines) != count:
        raise CodecError(f"cannot decode batch: it declares {count} op(s) but holds {len(lines)}")
    ops: list[Op] = []
    append = ops.append
    for number, line in enumerate(lines, 1):
        code, _, rest = line.partition(" ")
        kind = _KINDS.get(code)
        data: str | None
        if kind == "d":
            rid_text, data = rest, None
        elif kind is not None:
            rid_text, _, data = rest.partition(" ")
            if not data:
                raise CodecError(f"cannot decode batch: op {number} has no data")
        else:
            raise CodecError(f"cannot decode batch: op {number} has an unknown kind")
        if _RID_RE.fullmatch(rid_text) is None:
            raise CodecError(f"cannot decode batch: op {number} has an invalid record id")
        append(Op(kind, int(rid_text), data))
    if validate:
        _validate_records((op.data for op in ops if op.data is not None), "batch")
    return ops


def _parse_records(text: str, count: int) -> list[tuple[int, str]]:
    """The ``(rid, data)`` records of a snapshot payload."""
    if count == 0:
        if text:
            raise CodecError("cannot decode snapshot: it declares no records but has a payload")
        return []
    lines = text.split("\n")
    if len(lines) != count:
        raise CodecError(f"cannot decode snapshot: it declares {count} record(s) but holds {len(lines)}")
    try:
        records = [(int(rid), data) for rid, _, data in (line.partition(" ") for line in lines)]
    except ValueError:
        raise CodecError("cannot decode snapshot: a record has an invalid id") from None
    if not all(data for _, data in records):
        raise CodecError("cannot decode snapshot: a record has no data")
    return records
