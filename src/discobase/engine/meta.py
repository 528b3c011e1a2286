"""What a table replica reads about its table besides its records.

Its catalog entry (:class:`TableMeta`), its snapshot manifests (:class:`Manifest`,
and which of them openers may use), and the age of a message from its id."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from discobase._discord.snowflakes import DISCORD_EPOCH as DISCORD_EPOCH_MS

__all__ = ["Manifest", "TableMeta", "age_ms", "mark_valid"]


@dataclass
class TableMeta:
    """A table's entry in the ``_dbmetadata`` catalog."""

    name: str
    data_channels: list[int]
    index_channel: int
    fields: list[str] = field(default_factory=list)
    schema_hash: str = ""
    schema_version: int = 1
    json_schema: dict[str, Any] = field(default_factory=dict)
    message_id: int | None = None
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)  # field summaries (model.schema)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_channels": [str(c) for c in self.data_channels],
            "index_channel": str(self.index_channel),
            "fields": self.fields,
            "schema_hash": self.schema_hash,
            "schema_version": self.schema_version,
            "json_schema": self.json_schema,
            "schema": self.schema,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], message_id: int | None = None) -> TableMeta:
        return cls(
            name=str(data["name"]),
            data_channels=[int(c) for c in data["data_channels"]],
            index_channel=int(data["index_channel"]),
            fields=[str(f) for f in data.get("fields", [])],
            schema_hash=str(data.get("schema_hash", "")),
            schema_version=int(data.get("schema_version", 1)),
            json_schema=dict(data.get("json_schema", {})),
            message_id=message_id,
            schema=dict(data.get("schema", {})),
        )


@dataclass(slots=True)
class Manifest:
    """A snapshot manifest seen in the index channel.

    It holds the snapshot's high-water marks (per data channel, the newest message the
    snapshot covers) and its part messages."""

    id: int
    hw: dict[int, int]
    parts: tuple[int, ...]
    author_id: int = 0
    valid: bool = False
    #: The compaction delay of the snapshot's writer (ms): its compaction deleted
    #: no data message younger than this before the manifest (0 when not stated).
    delay_ms: int = 0
    #: The messages of the snapshot's key index (none in snapshots written without one).
    keys: tuple[int, ...] = ()

    @property
    def start(self) -> int:
        """The oldest message of the snapshot (a part, its key index, or the manifest itself)."""
        return min((*self.parts, *self.keys, self.id))

    @property
    def messages(self) -> set[int]:
        """Every message of the snapshot: its parts, its key index and the manifest."""
        return {self.id, *self.parts, *self.keys}


def mark_valid(manifests: Sequence[Manifest], channels: Sequence[int]) -> None:
    """Mark the manifests (oldest first) that openers may use.

    A manifest is valid when its mark on every data channel is at least that
    of every valid manifest posted before it. Valid manifests therefore cover
    more and more in message order, and the newest valid one covers the most.
    A snapshot whose writer read the channels before another snapshot was
    posted (two processes snapshotting at once) can carry older marks than
    that one although its message is newer: it is not valid, and is never
    read, since compaction may already have deleted data messages it needs.
    """
    frontier = dict.fromkeys(channels, 0)
    for manifest in manifests:
        manifest.valid = all(manifest.hw.get(c, 0) >= frontier[c] for c in channels)
        if manifest.valid:
            frontier = {c: manifest.hw.get(c, 0) for c in channels}


def age_ms(message_id: int) -> int:
    """How old a message is, from its snowflake."""
    return int(time.time() * 1000) - ((message_id >> 22) + DISCORD_EPOCH_MS)
