"""Discord snowflakes: ``(ms - DISCORD_EPOCH) << 22 | worker << 17 | process << 12 | increment``."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

__all__ = [
    "DISCORD_EPOCH",
    "MAX_ID",
    "SnowflakeGenerator",
    "coerce_snowflake",
    "is_object_id",
    "iso_timestamp",
    "snowflake_at",
    "snowflake_datetime",
    "snowflake_ms",
]

DISCORD_EPOCH = 1_420_070_400_000
#: The largest id: Discord's ids are signed 64-bit integers, like SQLite's INTEGER.
MAX_ID = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,64}")


def coerce_snowflake(value: object) -> int | None:
    """``value`` as a snowflake: a JSON integer or a string of ASCII digits in ``0..MAX_ID``.

    Anything else (signs, spaces, non-ASCII digits such as ``"١٢"`` or ``"²"``, booleans,
    floats, values above :data:`MAX_ID`) gives ``None``. ``0`` is well-formed but names
    nothing (see :func:`is_object_id`).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ASCII_DIGITS.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if 0 <= number <= MAX_ID else None


def is_object_id(value: int) -> bool:
    """Whether ``value`` could be the id of something (``0 < value <= MAX_ID``)."""
    return 0 < value <= MAX_ID


def snowflake_ms(snowflake: int) -> int:
    """Unix time in milliseconds at which ``snowflake`` was made."""
    return (snowflake >> 22) + DISCORD_EPOCH


def snowflake_datetime(snowflake: int) -> datetime:
    """The aware UTC datetime at which ``snowflake`` was made."""
    return datetime.fromtimestamp(snowflake_ms(snowflake) / 1000, tz=UTC)


def snowflake_at(unix_ms: int) -> int:
    """The smallest snowflake of the given Unix millisecond."""
    return max(unix_ms - DISCORD_EPOCH, 0) << 22


def iso_timestamp(snowflake: int) -> str:
    """ISO 8601 timestamp of a snowflake, formatted as Discord does."""
    return snowflake_datetime(snowflake).isoformat(timespec="microseconds")


class SnowflakeGenerator:
    """Makes real, strictly increasing snowflakes (thread-safe).

    ``floor`` is a snowflake already in use (e.g. the largest id in a
    restarted store); every new id is greater than it.
    """

    def __init__(self, worker: int = 1, process: int = 0, floor: int = 0) -> None:
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._last = floor
        self._lock = threading.Lock()

    def bump(self, floor: int) -> None:
        """Make sure every later id is greater than ``floor``."""
        with self._lock:
            self._last = max(self._last, floor)

    def next(self) -> int:
        with self._lock:
            now = int(time.time() * 1000)
            candidate = (max(now - DISCORD_EPOCH, 0) << 22) | (self._worker << 17) | (self._process << 12)
            if candidate <= self._last:
                # Same millisecond (or a clock step back): count up in the increment bits,
                # carrying into the timestamp when they overflow; ids stay unique and ordered.
                candidate = self._last + 1
            self._last = candidate
            return candidate
