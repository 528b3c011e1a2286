"""The wire format of discobase's messages: header lines, payload lines, attachments.

Parsing and the small pieces :class:`~discobase.storage.codec.Codec` builds
messages from; the format itself is described in docs/storage.md ("Wire
format"). Everything that goes wrong while decoding raises :class:`CodecError`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple, NoReturn, overload

import zstandard

from discobase.exceptions import DiscobaseError
from discobase.storage.transport import FileData, RawAttachment, RawMessage

__all__ = [
    "FIELD_RE",
    "FORMAT_VERSION",
    "INNER_FIELDS",
    "INNER_HEADER_MAX",
    "KID_RE",
    "KINDS",
    "MARKERS",
    "MAX_PAYLOAD_BYTES",
    "MIN_CONTENT_LIMIT",
    "SID_RE",
    "STEMS",
    "WHAT",
    "CodecError",
    "EncodedMessage",
    "Inserts",
    "MessageKind",
    "Op",
    "OpKind",
    "ReadAttachment",
    "WireHeader",
    "aead_associated_data",
    "decode_errors",
    "empty_data",
    "estimate",
    "has_changes",
    "insert_estimates",
    "insert_lines",
    "join_blobs",
    "landed_key",
    "message_code",
    "parse_header",
    "parse_ops",
    "parse_records",
    "plain_safe",
    "read_all",
    "select_files",
    "utf8",
    "validate_records",
]

#: The wire format version discobase writes and reads.
FORMAT_VERSION: Final = 1
#: The largest payload (uncompressed, unencrypted) the codec writes or reads.
MAX_PAYLOAD_BYTES: Final = 2**31 - 1 - 1024

#: Bytes of the inner header line of an encrypted payload (``s=… n=… u=…\n``), at most.
INNER_HEADER_MAX: Final = 72
MIN_CONTENT_LIMIT: Final = 128

OpKind = Literal["i", "u", "d", "a"]
MessageKind = Literal["batch", "part", "manifest", "keys"]
ReadAttachment = Callable[[RawAttachment], Awaitable[bytes]]

KINDS: Final[dict[str, OpKind]] = {"i": "i", "u": "u", "d": "d", "a": "a"}
MARKERS: Final[dict[str, MessageKind]] = {"B": "batch", "P": "part", "S": "manifest", "K": "keys"}
WHAT: Final[dict[str, str]] = {
    "B": "batch",
    "P": "snapshot part",
    "S": "snapshot manifest",
    "K": "snapshot keys",
}
STEMS: Final[dict[str, str]] = {"B": "ops", "P": "snap", "S": "manifest", "K": "keys"}

MARKER_RE: Final = re.compile(r"d([BPSK])([0-9]{1,6})(?::([a-z]{0,8}))?")
FIELD_RE: Final = re.compile(r"([a-z]{1,8})=([0-9A-Za-z_-]{1,64})")
KID_RE: Final = re.compile(r"[0-9a-f]{8}")
#: Fields that describe the payload; with a key they travel inside the ciphertext.
INNER_FIELDS: Final = ("s", "n", "u")
UINT_RE: Final = re.compile(r"[0-9]{1,19}")
RID_RE: Final = re.compile(r"-?[0-9]{1,40}")
SID_RE: Final = re.compile(r"[0-9a-f]{16}")
FILE_RE: Final = re.compile(r"([a-z]{1,16})-([0-9]{1,5})\.dbz")


class CodecError(DiscobaseError):
    """A message could not be decoded.

    It is foreign, corrupt, truncated, of an unknown format version, or encrypted with another
    key (or none).
    """


class Op(NamedTuple):
    """One record operation: insert (``i``), new version (``u``), tombstone (``d``)
    or atomic change (``a``).

    ``data`` is the record's JSON text (``None`` for a tombstone); for an atomic
    change it is the change as a JSON object (increments, values to set, list
    items to push or pull), which every replica applies to the record's value
    at that point of the message order. Batches without ``a`` lines are
    unchanged, so messages written before the kind existed read as before.
    """

    kind: OpKind
    rid: int
    data: str | None = None


class Inserts(Sequence[Op]):
    """New records as two columns, their ids and JSON texts: read as ``Op("i", rid, data)``.

    A bulk insert's operations without an object per record: each ``Op`` is made
    when it is read and dropped after. A million operations kept as objects while
    their messages are sent would be walked by every garbage collection meanwhile."""

    __slots__ = ("datas", "rids")

    def __init__(self, rids: list[int], datas: list[str]) -> None:
        if len(rids) != len(datas):
            raise ValueError(f"{len(rids)} record ids for {len(datas)} records")
        self.rids = rids
        self.datas = datas

    def __len__(self) -> int:
        return len(self.rids)

    @overload
    def __getitem__(self, index: int) -> Op: ...

    @overload
    def __getitem__(self, index: slice) -> Inserts: ...

    def __getitem__(self, index: int | slice) -> Op | Inserts:
        if isinstance(index, slice):
            return Inserts(self.rids[index], self.datas[index])
        return Op("i", self.rids[index], self.datas[index])

    def __iter__(self) -> Iterator[Op]:
        for rid, data in zip(self.rids, self.datas, strict=True):
            yield Op("i", rid, data)

    def __repr__(self) -> str:
        return f"Inserts({len(self)} records)"


def estimate(op: Op) -> int:
    """An upper bound of the bytes ``op`` adds to a batch payload (before compression)."""
    size = 4 + len(str(op.rid))
    data = op.data
    if isinstance(data, str):
        size += len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    return size


def insert_estimates(inserts: Inserts) -> list[int]:
    """:func:`estimate` of each of ``inserts``' operations.

    With C-level loops for the common case (ASCII records, ids of one length: a bulk
    insert's ids are increasing snowflakes)."""
    rids, datas = inserts.rids, inserts.datas
    if rids and all(map(str.isascii, datas)) and len(str(min(rids))) == len(str(max(rids))):
        return list(map((4 + len(str(rids[0]))).__add__, map(len, datas)))
    return [estimate(op) for op in inserts]


def insert_lines(inserts: Inserts) -> list[str]:
    """The batch lines of ``inserts``, checked as a batch's encoding checks each operation."""
    rids, datas = inserts.rids, inserts.datas
    if not set(map(type, rids)) <= {int}:  # C-level loops: this runs on every bulk insert
        bad = next(rid for rid in rids if type(rid) is not int)
        raise ValueError(f"record id must be an int, not {type(bad).__name__}")
    if not set(map(type, datas)) <= {str} or not all(datas):
        raise ValueError("an insert, update or change needs JSON text as data")
    lines = [f"i {rid} {data}" for rid, data in zip(rids, datas, strict=True)]
    if any("\n" in line for line in lines):  # only the data can hold one
        lines = [line.replace("\n", " ") for line in lines]
    return lines


def has_changes(ops: Sequence[Op]) -> bool:
    """Whether ``ops`` hold an atomic change (``a``), which is applied in message order."""
    return not isinstance(ops, Inserts) and any(op.kind == "a" for op in ops)


def landed_key(ops: Sequence[Op]) -> tuple[int, int, int, int]:
    """A key of a batch's operations by their content, the same however they are held
    (as :class:`Op` objects or as :class:`Inserts`): how a writer whose reply was lost
    finds its message among those applied. Hashes of the kinds, ids and data columns."""
    if isinstance(ops, Inserts):
        kinds, rids, datas = "i" * len(ops), tuple(ops.rids), tuple(ops.datas)
    else:
        kinds = "".join([op.kind for op in ops])
        rids = tuple([op.rid for op in ops])
        datas = tuple([op.data or "" for op in ops])
    return len(ops), hash(kinds), hash(rids), hash(datas)


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """A message to send: content (never empty, never over the limit) and files."""

    content: str
    files: tuple[FileData, ...] = ()


@contextmanager
def decode_errors(what: str) -> Iterator[None]:
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
class WireHeader:
    """A parsed header line."""

    code: str  # B, P or S
    flags: str
    fields: dict[str, str]
    line: str
    body: str

    @property
    def what(self) -> str:
        return WHAT[self.code]

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
        if UINT_RE.fullmatch(raw) is None or int(raw) > maximum:
            raise CodecError(f"{self.what} header has an invalid {key}= field")
        return int(raw)


def parse_header(content: object, code: str) -> WireHeader:
    """Parse the header line of a message that must be of kind ``code``."""
    what = WHAT[code]
    if not isinstance(content, str):
        raise CodecError(f"not a discobase {what}: content is not text")
    line, _, body = content.partition("\n")
    tokens = line.split(" ")
    match = MARKER_RE.fullmatch(tokens[0])
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
        field = FIELD_RE.fullmatch(token)
        if field is None or field.group(1) in fields:
            raise CodecError(f"{what} header has a malformed or repeated field")
        fields[field.group(1)] = field.group(2)
    if "a" in flags and body:
        raise CodecError(f"{what} with attachments has unexpected content after its header")
    return WireHeader(code, flags, fields, line, body)


def aead_associated_data(head: str, context: str) -> bytes:
    """Associated data of an encrypted message: its header line and where it is stored.

    The per-message ``i=``/``f=`` fields of the header are left out.
    """
    tokens = [t for t in head.split(" ") if not t.startswith(("i=", "f="))]
    return " ".join(tokens).encode("utf-8") + b"\x00" + context.encode("utf-8")


def message_code(content: str) -> str | None:
    """``B``, ``P``, ``S`` or ``K`` if ``content`` starts like one of ours (any version), else ``None``."""
    if not isinstance(content, str) or not content.startswith("d"):
        return None
    head = content[:24].split("\n", 1)[0].split(" ", 1)[0]
    match = MARKER_RE.fullmatch(head)
    return match.group(1) if match else None


def utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("record data is not encodable as UTF-8 (lone surrogates?)") from None


def plain_safe(text: str) -> bool:
    """Whether ``text`` survives as message content unchanged.

    Discord trims trailing whitespace and may normalise carriage returns.
    """
    if "\r" in text or (text and text[-1].isspace()):
        return False
    if not text.isascii():
        utf8(text)  # raises ValueError for text Discord could not store
    return True


def validate_records(texts: Iterable[str], what: str) -> None:
    """Check that each text is one JSON value (used for plain-text payloads only)."""
    for number, text in enumerate(texts, 1):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            raise CodecError(f"cannot decode {what}: record {number} is not valid JSON") from None


async def read_all(attachments: Sequence[RawAttachment], read: ReadAttachment) -> list[bytes]:
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


def select_files(message: RawMessage, header: WireHeader) -> list[RawAttachment]:
    """The attachments holding the blob of ``message``, in order."""
    if "a" not in header.flags:
        return []
    count = header.uint("f", maximum=10_000)
    stem = STEMS[header.code]
    found: dict[int, RawAttachment] = {}
    for attachment in message.attachments:
        match = FILE_RE.fullmatch(str(attachment.filename))
        if match is not None and match.group(1) == stem:
            index = int(match.group(2))
            if index in found:
                raise CodecError(f"{header.what} has a repeated attachment")
            found[index] = attachment
    if sorted(found) != list(range(count)):
        raise CodecError(f"{header.what} declares {count} attachment(s) but holds {len(found)}")
    return [found[index] for index in range(count)]


def join_blobs(blobs: Sequence[object]) -> bytes:
    for blob in blobs:
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise CodecError("attachment reader returned something other than bytes")
    if len(blobs) == 1 and isinstance(blobs[0], bytes):
        return blobs[0]
    return b"".join(blobs)  # type: ignore[arg-type]


def empty_data(rid: object) -> NoReturn:
    raise ValueError(f"record {rid} has empty data")


def parse_ops(text: str, count: int, *, validate: bool) -> list[Op]:
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
        kind = KINDS.get(code)
        data: str | None
        if kind == "d":
            rid_text, data = rest, None
        elif kind is not None:
            rid_text, _, data = rest.partition(" ")
            if not data:
                raise CodecError(f"cannot decode batch: op {number} has no data")
        else:
            raise CodecError(f"cannot decode batch: op {number} has an unknown kind")
        if RID_RE.fullmatch(rid_text) is None:
            raise CodecError(f"cannot decode batch: op {number} has an invalid record id")
        append(Op(kind, int(rid_text), data))
    if validate:
        validate_records((op.data for op in ops if op.data is not None), "batch")
    return ops


def parse_records(text: str, count: int) -> list[tuple[int, str]]:
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
