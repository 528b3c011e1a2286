"""Writers' journals: one JSON line per event, appended, flushed and fsync'd.

Every operation is journaled **before** it is sent (``intent``) and after it
settles: ``ack`` (acknowledged: it took effect), ``reject`` (refused for sure,
e.g. a unique violation: it did not take effect) or ``fail`` (an error after
which the write may or may not be stored). An ``intent`` without an outcome
(a writer killed while it was in flight) is as ambiguous as a ``fail``.

Times are ``time.monotonic_ns()``: CLOCK_MONOTONIC, comparable across the
processes of one machine.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["Journal", "read_journal"]


class Journal:
    """Append-only journal of one writer (all its incarnations)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            os.write(self._fd, b"\n")  # end the line a kill -9 tore, so that ours stay whole

    def write(self, ev: str, **fields: Any) -> int:
        """Append one event and make it durable; returns its time."""
        stamp = time.monotonic_ns()
        line = json.dumps({"ev": ev, "t": stamp, **fields}, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode())
        os.fsync(self._fd)
        return stamp

    def close(self) -> None:
        os.close(self._fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The events of a journal; a torn last line (kill -9 while writing) is skipped."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
