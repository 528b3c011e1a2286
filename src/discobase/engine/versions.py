"""Database versions, lifecycle status, migrations, and safety decorators for data functions.

- :class:`Version`: Semantic Versioning 2.0.0 (parse, str, precedence).
- :class:`DBStatus`: STARTING → RUNNING → STOPPING → STOPPED, or FAILED.
- Migrations: ``@db.migration("1.3.0")`` functions run in version order when
  the stored version is below theirs; ``@db.on_init`` runs once on a new
  database. The version and every migration run are stored in the
  ``_versions`` and ``_migrations`` system tables (ordinary discobase tables).
- Decorators for users' own data functions: :func:`database_safe`,
  :func:`timed`, :func:`required_argument`.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from loguru import logger

from discobase.model.table import Table

if TYPE_CHECKING:
    from discobase.database import Database

__all__ = [
    "DBStatus",
    "MigrationRecord",
    "Version",
    "VersionRecord",
    "database_safe",
    "required_argument",
    "timed",
]

P = ParamSpec("P")
R = TypeVar("R")

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A Semantic Versioning 2.0.0 version.

    ``Version.parse("1.4.0-rc.1+build.5")`` or ``Version(1, 4, 0, ("rc", 1))``.
    Comparison follows SemVer precedence (§11): build metadata is ignored, a
    pre-release sorts before its release, numeric identifiers compare
    numerically and below alphanumeric ones.
    """

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[str | int, ...] = field(default=())
    build: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, not {value!r}")

    @classmethod
    def parse(cls, text: str | Version) -> Version:
        if isinstance(text, Version):
            return text
        match = _SEMVER.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRE][+BUILD])")
        major, minor, patch, pre, build = match.groups()
        prerelease = tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else ()
        return cls(int(major), int(minor), int(patch), prerelease, tuple(build.split(".")) if build else ())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def _key(self) -> tuple[Any, ...]:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 1 if not self.prerelease else 0, pre)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class DBStatus(enum.Enum):
    """Where a database is in its lifecycle."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class VersionRecord(Table):
    """The ``_versions`` system table: one record, the database's version."""

    version: str
    updated: datetime

    class Settings:
        name = "_versions"


class MigrationRecord(Table):
    """The ``_migrations`` system table: one record per migration run."""

    version: str
    name: str
    started: datetime
    finished: datetime
    duration: float
    outcome: str  # "applied" or "failed: <error>"

    class Settings:
        name = "_migrations"


Migration = Callable[["Database"], Awaitable[object]]


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------- decorators
def database_safe(
    database: Database,
    *,
    fail_value: Any = None,
    fail_with_exception: bool = False,
    timeout: float | None = 30.0,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Make an async data function safe to call at any time.

    The wrapped function first waits until ``database`` is RUNNING (at most
    ``timeout`` seconds). If it (or the wait) raises, the error is logged and
    ``fail_value`` is returned — or, with ``fail_with_exception=True``, the
    exception is raised (never returned).
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                await asyncio.wait_for(database.ensure_ready(), timeout)
                return await func(*args, **kwargs)
            except Exception as error:
                logger.opt(exception=error).error("{} failed: {}", func.__qualname__, error)
                if fail_with_exception:
                    raise
                return cast(R, fail_value)

        return wrapper

    return decorate


def timed(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Log how long each call of an async function takes.

    The time of the last call is also in ``wrapper.last_duration`` (seconds).
    """

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await func(*args, **kwargs)
        finally:
            duration = time.perf_counter() - started
            wrapper.last_duration = duration  # type: ignore[attr-defined]
            logger.debug("{} took {:.1f} ms", func.__qualname__, duration * 1000)

    wrapper.last_duration = None  # type: ignore[attr-defined]
    return wrapper


def required_argument(*names: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Require at least one of the keyword arguments ``names``; calling without any raises ``TypeError``."""
    if not names:
        raise ValueError("required_argument needs at least one argument name")

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if all(kwargs.get(name) is None for name in names):
                raise TypeError(f"{func.__qualname__}() needs at least one of: {', '.join(names)}")
            return await func(*args, **kwargs)

        return wrapper

    return decorate
