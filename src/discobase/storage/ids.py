"""Record ids: client-generated snowflakes, unique across processes.

``(ms since 2015) << 22 | worker (10 random bits per process) << 12 | counter``
— time-ordered like Discord's, so a record's id also tells when it was made.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["EPOCH_MS", "IdGenerator", "id_time_ms"]

EPOCH_MS = 1_420_070_400_000


def id_time_ms(record_id: int) -> int:
    """Unix milliseconds at which ``record_id`` was made."""
    return (record_id >> 22) + EPOCH_MS


class IdGenerator:
    """Strictly increasing ids; the 10 worker bits are random per generator,
    so two processes collide only if they draw the same worker *and* the same
    millisecond and counter (1 in 1024 per such coincidence, and they would
    also have to target the same table)."""

    def __init__(self, worker: int | None = None) -> None:
        self._worker = (worker if worker is not None else int.from_bytes(os.urandom(2), "big")) & 0x3FF
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            candidate = (max(int(time.time() * 1000) - EPOCH_MS, 0) << 22) | (self._worker << 12)
            if candidate <= self._last:
                counter = (self._last & 0xFFF) + 1
                if counter > 0xFFF:  # counter exhausted in this millisecond: borrow the next one
                    candidate = (((self._last >> 22) + 1) << 22) | (self._worker << 12)
                else:
                    candidate = (self._last & ~0xFFF) | counter
            self._last = candidate
            return candidate
