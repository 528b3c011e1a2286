"""Database versions and migrations, run at open under the migrations lock.

The stored version, ``on_init`` functions and the registered migrations.

A mixin of :class:`~discobase.database.Database`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from loguru import logger

from discobase.engine.instrumentation import EventTracker
from discobase.engine.replica import TableReplica
from discobase.engine.versions import Migration, MigrationRecord, Version, VersionRecord, now
from discobase.exceptions import (
    DatabaseVersionError,
    DiscobaseError,
    MigrationError,
)
from discobase.model.table import Table
from discobase.storage.lock import DiscordLock
from discobase.storage.transport import (
    ChannelInfo,
    Transport,
)

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from discobase.database import Database

__all__ = ["MigrationsMixin"]

T = TypeVar("T", bound=type[Table])


class MigrationsMixin:
    """Versions and migrations of a database."""

    name: str
    version: Version | None
    events: EventTracker
    _migrations: dict[Version, list[tuple[str, Migration]]]
    _on_init: list[tuple[str, Migration]]
    _system: dict[str, type[Table]]
    _cursors: dict[str, TableReplica]
    _catalog_channel: ChannelInfo | None

    def _require_transport(self) -> Transport:
        raise NotImplementedError

    def system_table(self, base: T) -> T:
        raise NotImplementedError

    # ------------------------------------------------------------------ versions and migrations
    def migration(self, version: str | Version) -> Callable[[Migration], Migration]:
        """Register an async migration to ``version``, run at open while the stored version is below it.

        Migrations run in version order and are recorded in the ``_migrations`` table.

        ```python
        @db.migration("1.3.0")
        async def add_emails(db: discobase.Database) -> None:
            await User.query(User.email.is_none()).update(email="")
        ```
        """
        target = Version.parse(version)

        def register(func: Migration) -> Migration:
            self._migrations.setdefault(target, []).append((getattr(func, "__qualname__", repr(func)), func))
            return func

        return register

    def on_init(self, func: Migration) -> Migration:
        """Register an async function that runs once, when the database is new.

        For example, to fill in default data.
        """
        self._on_init.append((getattr(func, "__qualname__", repr(func)), func))
        return func

    @property
    def versioned(self) -> bool:
        return self.version is not None or bool(self._migrations) or bool(self._on_init)

    def _register_system_tables(self) -> None:
        if self.versioned:
            for base in (VersionRecord, MigrationRecord):
                self.system_table(base)

    def _target_version(self) -> Version:
        return self.version or max(self._migrations, default=Version(0, 0, 0))

    async def get_version(self) -> Version | None:
        """The stored version of the database (None for a database without one)."""
        versions = self._system.get("_versions")
        if versions is None:
            return None
        records = await versions.find()
        return Version.parse(records[0].version) if records else None  # type: ignore[attr-defined]

    async def update_version(self, version: str | Version) -> None:
        """Store ``version`` as the database's version."""
        if not self._system:
            raise DiscobaseError("this database is not versioned: pass version= to Database()")
        versions = self._system["_versions"]
        records = await versions.find()
        text = str(Version.parse(version))
        if records:
            record = records[0]
            record.version = text  # type: ignore[attr-defined]
            record.updated = now()  # type: ignore[attr-defined]
            await record.update()
        else:
            await versions(version=text, updated=now()).save()

    async def _check_version(self) -> None:
        """New database → on_init; newer stored version → refuse; older → migrate."""
        if not self.versioned:
            return
        target = self._target_version()
        stored = await self.get_version()
        if stored == target:
            return
        if stored is not None and stored > target:
            raise self._too_new(stored, target)
        # Only one process migrates: the others wait for the lock, then find the work done.
        transport = self._require_transport()
        assert self._catalog_channel is not None
        async with DiscordLock(transport, self._catalog_channel.id, "migrations"):
            for cursor in list(self._cursors.values()):
                for channel_id in cursor.meta.data_channels:
                    await cursor.catch_up(channel_id)  # what the previous holder wrote
            await self._migrate(target)

    def _too_new(self, stored: Version, target: Version) -> DatabaseVersionError:
        return DatabaseVersionError(
            f"the database {self.name!r} is at version {stored}, newer than this program's {target}: "
            "upgrade the program (opening it with an older one could lose data)"
        )

    async def _migrate(self, target: Version) -> None:
        stored = await self.get_version()
        if stored is None:
            for name, func in self._on_init:
                await self._run_migration(target, name, func, record=False)
            await self.update_version(target)
            logger.info("new database {} at version {}", self.name, target)
            return
        if stored > target:
            raise self._too_new(stored, target)
        if stored == target:
            return
        migrations = self._system["_migrations"]
        done = {
            (m.version, m.name)  # type: ignore[attr-defined]
            for m in await migrations.find()
            if m.outcome == "applied"  # type: ignore[attr-defined]
        }
        for version in sorted(v for v in self._migrations if stored < v <= target):
            for name, func in self._migrations[version]:
                if (str(version), name) not in done:
                    await self._run_migration(version, name, func)
            await self.update_version(version)
        await self.update_version(target)
        logger.info("database {} migrated from {} to {}", self.name, stored, target)

    async def _run_migration(
        self, version: Version, name: str, func: Migration, *, record: bool = True
    ) -> None:
        started, clock = now(), time.perf_counter()

        async def note(outcome: str) -> None:
            await self._system["_migrations"](
                version=str(version),
                name=name,
                started=started,
                finished=now(),
                duration=time.perf_counter() - clock,
                outcome=outcome[:1000],
            ).save()

        try:
            await self.events.run(
                "migrate", None, func(cast("Database", self)), version=str(version), name=name
            )
        except Exception as error:
            if record:
                await note(f"failed: {error!r}")
            what = "on_init function" if not record else f"migration to {version}"
            raise MigrationError(f"{what} {name} failed: {error}") from error
        if record:
            await note("applied")
