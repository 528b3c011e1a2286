"""What ties a table class to a database: the protocols both sides meet, and the binding.

A :class:`~discobase.model.table.Table` subclass knows nothing of the engine
or of the facade. ``@db.table`` gives it a :class:`Binding` (its name and the
database that owns it, a :class:`TableOwner`); while the database is open, the
binding also holds the replica that stores its records (a :class:`TableStore`,
the engine's ``TableReplica``). The model reaches both only through these
protocols, and the engine, the facade and ``discobase.system`` reach a table
class only through :func:`binding_of`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from discobase.exceptions import DatabaseTableError, DiscobaseError, NotConnectedError

if TYPE_CHECKING:
    from discobase.model.changes import Changes
    from discobase.model.query import Condition
    from discobase.model.table import Table

__all__ = ["Binding", "RequestTracker", "TableOwner", "TableStore", "bind", "binding_of"]

T = TypeVar("T")
M = TypeVar("M", bound="Table")


class RequestTracker(Protocol):
    """Reports ORM calls to the database's event handlers."""

    @property
    def active(self) -> bool:
        """Whether any handler listens (if not, a call runs without a wrapper)."""
        ...

    def run(
        self, operation: str, table: str | None, work: Awaitable[T], **details: Any
    ) -> Coroutine[Any, Any, T]:
        """Run ``work`` as one reported request."""
        ...


class TableOwner(Protocol):
    """What a table class needs from the database it is attached to."""

    @property
    def open(self) -> bool:
        """Whether the database is connected."""
        ...

    @property
    def events(self) -> RequestTracker:
        """The event handlers told about every call."""
        ...

    def track_write(self, task: asyncio.Task[Any]) -> None:
        """Keep a write nobody may await until it ends (``close()`` waits for it)."""
        ...


class TableStore(Protocol):
    """What a table class needs from the replica that holds its records while the database is open."""

    async def insert(self, instance: M) -> M: ...

    async def update(self, instance: M) -> M: ...

    async def delete(self, instance: Table) -> None: ...

    async def insert_each(
        self, instances: Sequence[Table], *, progress: bool | Callable[[int, int], object] = False
    ) -> list[DiscobaseError | None]: ...

    async def delete_many(self, instances: Sequence[Table]) -> int: ...

    async def update_many(self, instances: Sequence[M], values: dict[str, Any]) -> int: ...

    async def change(self, instance: M, changes: Changes) -> M:
        """Apply an atomic change in message order; ``instance`` gets the resulting values."""
        ...

    async def change_many(self, instances: Sequence[Table], changes: Changes) -> int:
        """Apply one atomic change to each record; how many it changed."""
        ...

    async def flush(self) -> None:
        """Wait until every write queued so far has landed."""
        ...

    def find(self, model: type[M], filters: dict[str, Any]) -> list[M]: ...

    def get(self, model: type[M], record_id: int) -> M | None: ...

    def select(
        self, model: type[M], conditions: Sequence[Condition], stop_after: int | None = None
    ) -> list[M]: ...

    def select_window(
        self,
        model: type[M],
        conditions: Sequence[Condition],
        order: tuple[str, bool] | None,
        skip: int,
        limit: int,
    ) -> list[M] | None:
        """Matches ``skip`` to ``skip + limit`` ordered by ``(field, descending)`` or by record id.

        Read off a sorted index; None when no sorted index can answer."""
        ...

    def count(self, model: type[Table], conditions: Sequence[Condition]) -> int: ...


class Binding:
    """A table class's place in a database: its name, its owner and, while open, its store."""

    def __init__(self, table: type[Table], owner: TableOwner, name: str) -> None:
        self.table = table
        self.owner = owner
        self.name = name
        self.store: TableStore | None = None
        """The replica holding the records; set when the table is built, None once closed."""

    def __repr__(self) -> str:
        return f"Binding({self.table.__name__}, name={self.name!r}, open={self.store is not None})"

    @property
    def ready(self) -> bool:
        """Whether the table is built: its records can be read and written."""
        return self.store is not None

    def require_store(self) -> TableStore:
        """The store, or an error that says why there is none (closed database, table not built)."""
        if not self.owner.open:
            raise NotConnectedError(
                "database is not connected! did you forget to open it (async with db.conn(...))?",
                table=self.name,
            )
        if self.store is None:
            raise DatabaseTableError(
                f"{self.table.__name__} is not ready, you might want to add a call to build_tables()",
                table=self.name,
            )
        return self.store

    @property
    def tracked(self) -> bool:
        """Whether calls are reported to event handlers (see :meth:`track`): someone listens."""
        return self.owner.events.active

    def track(self, operation: str, work: Coroutine[Any, Any, T], **details: Any) -> Coroutine[Any, Any, T]:
        """``work`` reported to the owner's event handlers as one request (as is when nobody listens)."""
        events = self.owner.events
        if not events.active:
            return work  # no wrapper coroutine per operation
        return events.run(operation, self.name, work, **details)


def bind(table: type[Table], owner: TableOwner, name: str) -> Binding:
    """Attach ``table`` to ``owner`` under ``name`` (what ``@db.table`` does); a class is attached once."""
    if table.__disco_binding__ is not None:
        raise DatabaseTableError(f"{table!r} can only be attached to one database", table=name)
    binding = Binding(table, owner, name)
    table.__disco_binding__ = binding
    table.__disco_name__ = name
    table.__disco_keys__ = set(table.model_fields)
    return binding


def binding_of(table: type[Table]) -> Binding:
    """The binding of an attached table class; raises if ``@db.table`` was not applied."""
    binding = table.__disco_binding__
    if binding is None:
        raise DatabaseTableError(
            f"{table.__name__} has no attached database, did you forget to call @db.table?",
            table=table.__name__,
        )
    return binding
