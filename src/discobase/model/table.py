"""``Table``: a Pydantic model whose instances are records in a Discord server."""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, ClassVar, Literal, Self, TypeVar, overload

from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic import Field as PydanticField
from pydantic._internal._model_construction import ModelMetaclass
from pydantic_core import PydanticUndefined

from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseTableError,
    DiscobaseError,
    QueryError,
    UniqueViolationError,
)
from discobase.model.binding import Binding, TableOwner, TableStore, binding_of
from discobase.model.changes import build_changes
from discobase.model.query import Condition, FieldExpr, Query
from discobase.model.tasks import WriteTask, spawn

__all__ = ["Field", "Table", "TableOptions", "WriteTask"]

T = TypeVar("T")

#: Times ``upsert``/``get_or_create`` look again after another process won a race.
UPSERT_ATTEMPTS = 5


class _BindingView:
    """The 1.0.0 attributes ``__disco_database__`` and ``__disco_cursor__``, read from the binding.

    Readable on the class and on instances; the binding is what ``@db.table`` and opening set."""

    def __init__(self, what: Literal["owner", "store"]) -> None:
        self.what = what

    def __get__(self, instance: object, owner: type[Table]) -> Any:
        binding = owner.__disco_binding__
        if binding is None:
            return None
        return binding.owner if self.what == "owner" else binding.store


#: Saves in flight, by ``id()`` of the instance being saved: a second
#: ``save()`` of the same instance joins the first instead of storing the
#: record twice. (Keyed by id because models are not hashable; the task holds
#: the instance, so the id cannot be reused while the entry exists.)
_saving: dict[int, WriteTask[Any]] = {}


def _all_unsaved(instances: Sequence[Table]) -> bool:
    """Whether none of ``instances`` is a stored record (read without Pydantic's ``__getattr__``,
    with C-level loops: this runs on every bulk insert)."""
    try:
        ids = set(map(_DISCO_ID, map(_PRIVATE, instances)))
    except (TypeError, KeyError):  # no private attributes (``model_construct`` skipped them)
        return False
    return ids <= {-1}


_PRIVATE = operator.attrgetter("__pydantic_private__")
_DISCO_ID = operator.itemgetter("_disco_id")


def Field(
    default: Any = PydanticUndefined,
    *,
    unique: bool = False,
    index: bool = False,
    **kwargs: Any,
) -> Any:
    """``pydantic.Field`` plus discobase's options.

    Args:
        unique: no two records may have the same value of this field; a write
            that would break it raises
            :class:`~discobase.exceptions.UniqueViolationError` before any
            request is sent.
        index: keep a sorted index on this field (fast ranges and ordering).
            Every field has a hash index (fast equality) anyway.
        **kwargs: anything ``pydantic.Field`` takes.
    """
    extra = kwargs.pop("json_schema_extra", None)
    marks = {"unique": unique, "index": index}
    if extra is None:
        extra = {"discobase": marks}
    elif isinstance(extra, dict):
        extra = {**extra, "discobase": marks}
    else:
        raise TypeError("discobase.Field takes json_schema_extra only as a dict")
    return PydanticField(default, json_schema_extra=extra, **kwargs)


class TableOptions:
    """A table's storage options, from ``discobase.Field`` marks and its ``Settings`` class.

    ``Settings`` (an inner class) may define ``name`` (the
    table's name), ``indexes`` (fields with a sorted index) and ``unique``
    (tuples of fields whose combination is unique).
    """

    def __init__(self, model: type[BaseModel]) -> None:
        settings = getattr(model, "Settings", None)
        name = getattr(settings, "name", None)
        self.name: str = str(name) if name else model.__name__.lower()
        fields = model.model_fields
        indexes = [str(f) for f in getattr(settings, "indexes", ()) or ()]
        unique: list[tuple[str, ...]] = []
        for raw in getattr(settings, "unique", ()) or ():
            unique.append((raw,) if isinstance(raw, str) else tuple(str(f) for f in raw))
        for field_name, info in fields.items():
            extra = info.json_schema_extra
            marks = extra.get("discobase") if isinstance(extra, dict) else None
            if isinstance(marks, dict):
                if marks.get("unique") and (field_name,) not in unique:
                    unique.append((field_name,))
                if marks.get("index") and field_name not in indexes:
                    indexes.append(field_name)
        for field_name in [*indexes, *(f for group in unique for f in group)]:
            if field_name not in fields:
                raise DatabaseTableError(
                    f"{model.__name__}.Settings names {field_name!r}, which is not a field",
                    table=self.name,
                    field=field_name,
                )
        self.indexes: tuple[str, ...] = tuple(indexes)
        self.unique: tuple[tuple[str, ...], ...] = tuple(unique)


@cache
def _reserved_field_names() -> frozenset[str]:
    """Names a field may not take: the public attributes :class:`Table` adds.

    These are the attributes it adds to Pydantic's ``BaseModel`` (``save``, ``find``,
    ``record_id``...). A field of that name would hide the method on instances (or be
    hidden by the property), and ``Model.<name>`` would not be a field expression.
    Names ``BaseModel`` itself has are left to Pydantic, which warns about them."""
    return frozenset(name for name in dir(Table) if not name.startswith("_") and not hasattr(BaseModel, name))


def _refuse_reserved_fields(cls: type) -> None:
    """Raise if ``cls`` declares a field (any annotated name) that shadows the Table API."""
    reserved = _reserved_field_names()
    for name in inspect.get_annotations(cls):
        if name in reserved:
            settings = cls.__dict__.get("Settings")
            table = getattr(settings, "name", None) or cls.__name__.lower()
            raise DatabaseTableError(
                f"{cls.__name__} declares a field {name!r}, which shadows Table.{name} "
                f"(reserved: {', '.join(sorted(reserved))}); rename the field",
                table=str(table),
                field=name,
            )


class TableMetaclass(ModelMetaclass):
    """The metaclass of :class:`Table`: makes ``User.age`` a :class:`~discobase.model.query.FieldExpr`.

    Pydantic keeps fields off the class, so the attribute lookup reaches here."""

    def __getattr__(cls, name: str) -> Any:
        fields = cls.__dict__.get("__pydantic_fields__")
        if fields is not None and name in fields:
            return FieldExpr(cls, (name,), fields[name].annotation)  # type: ignore[arg-type]
        return ModelMetaclass.__getattr__(cls, name)  # type: ignore[attr-defined]


class Table(BaseModel, metaclass=TableMetaclass):
    """Base class of the models stored by discobase.

    Subclass it, decorate the subclass with ``@db.table``, then ``save()``,
    ``find()``, ``update()`` and ``delete()`` its records. Every type Pydantic
    can serialize round-trips exactly (floats' ``inf``/``nan`` and ``bytes``
    included: the model is configured to serialize them losslessly).
    """

    model_config = ConfigDict(ser_json_inf_nan="constants", ser_json_bytes="base64", val_json_bytes="base64")

    __disco_binding__: ClassVar[Binding | None] = None
    """The table's place in its database (see :mod:`discobase.model.binding`); set by ``@db.table``."""
    __disco_database__: ClassVar[TableOwner | None] = _BindingView("owner")  # type: ignore[assignment]
    """The attached ``Database`` (None before ``@db.table``), from the binding."""
    __disco_cursor__: ClassVar[TableStore | None] = _BindingView("store")  # type: ignore[assignment]
    """The replica holding the records while the database is open (None otherwise), from the binding."""
    __disco_keys__: ClassVar[set[str]] = set()
    """All keys of the table, set by `table()`."""
    __disco_name__: ClassVar[str] = "_notset"
    """Internal name of the table. Set by the `table()` decorator."""
    __disco_record_migrations__: ClassVar[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}
    """Record migrations by the schema version they convert from."""
    __disco_json_reads_back__: ClassVar[bool] = False
    """Whether every instance's JSON is known to validate again, so that saving
    skips the check (for discobase's own tables, whose values it makes itself)."""

    _disco_id: int = PrivateAttr(default=-1)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _refuse_reserved_fields(cls)
        super().__init_subclass__(**kwargs)
        cls.__disco_binding__ = None  # a subclass of an attached table is not attached
        cls.__disco_keys__ = set()
        cls.__disco_name__ = "_notset"
        cls.__disco_record_migrations__ = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__disco_json_reads_back__ and "__disco_json_reads_back__" not in cls.__dict__:
            # Inherited: it holds only while the subclass keeps its parent's fields.
            parent = next(b for b in cls.__mro__[1:] if issubclass(b, Table))
            mine = {name: f.annotation for name, f in cls.model_fields.items()}
            if mine != {name: f.annotation for name, f in parent.model_fields.items()}:
                cls.__disco_json_reads_back__ = False

    # ------------------------------------------------------------------ identity
    @property
    def __disco_id__(self) -> int:
        """The record's id (-1 until saved).

        Stable for the record's life, and independent of the Discord message storing it."""
        return self._disco_id

    @__disco_id__.setter
    def __disco_id__(self, value: int) -> None:
        self._disco_id = value

    @property
    def record_id(self) -> int | None:
        """The record's id, or None while it is not saved."""
        return None if self._disco_id == -1 else self._disco_id

    # ------------------------------------------------------------------ checks
    @classmethod
    def _store(cls) -> tuple[Binding, TableStore]:
        """The binding and the store, or the error that says why the table cannot be used now."""
        binding = binding_of(cls)
        return binding, binding.require_store()

    def _ensure_written(self) -> None:
        if self._disco_id == -1:
            if id(self) in _saving:
                raise DatabaseStorageError(
                    "this entry is still being saved: await its save() first", table=self.__disco_name__
                )
            raise DatabaseStorageError(
                "this entry has not been written, did you mean to call save()?", table=self.__disco_name__
            )

    # ------------------------------------------------------------------ writes
    def save(self) -> WriteTask[Self]:
        """Save the entry to the database as a new record.

        Returns a task: ``await user.save()`` waits until Discord acknowledged
        the write (and returns the model); without ``await`` it completes in
        the background, and ``db.close()`` waits for it.

        Calling it again while the first save is in flight returns the same
        task (the record is stored once); after a failed save, it tries again.
        """
        binding, store = self._store()
        key = id(self)
        pending = _saving.get(key)
        if pending is not None and not pending.done():
            return pending
        if self._disco_id != -1:
            raise DatabaseStorageError(
                "this entry has already been written, did you mean to call update()?",
                table=self.__disco_name__,
            )
        task = spawn(binding.track("save", store.insert(self)), binding.owner)
        _saving[key] = task
        task.add_done_callback(lambda _done: _saving.pop(key, None))
        return task

    def update(self) -> WriteTask[Self]:
        """Write the entry's current values as a new version of its record."""
        binding, store = self._store()
        self._ensure_written()
        return spawn(binding.track("update", store.update(self)), binding.owner)

    def commit(self) -> WriteTask[Self]:
        """Save the current entry, or update it if it already exists in the database."""
        if self._disco_id == -1:
            return self.save()
        return self.update()

    def inc(self, **amounts: int | float) -> WriteTask[Self]:
        """Add to number fields atomically: ``await user.inc(xp=5, coins=-2)``.

        The increment is applied in message order to the record's value at that
        point, in every process alike: two processes incrementing the same
        record at once both count. The entry gets the values the increment
        produced (changes by others ordered before it included). See
        :meth:`modify`.
        """
        return self.modify(inc=amounts)

    def modify(
        self,
        *,
        inc: Mapping[str, int | float] | None = None,
        set: Mapping[str, Any] | None = None,
        unset: Iterable[str] | None = None,
        push: Mapping[str, Iterable[Any]] | None = None,
        pull: Mapping[str, Iterable[Any]] | None = None,
    ) -> WriteTask[Self]:
        """Change the record atomically, in message order.

        Unlike :meth:`update`, this does not write the entry's values whole.

        Args:
            inc: amounts to add to ``int``/``float`` fields (``None`` counts as 0).
            set: values to give fields.
            unset: fields to reset to their default.
            push: items to append to list fields.
            pull: items to remove from list fields (every equal item).

        The change is checked against the model before anything is sent
        (:class:`~discobase.exceptions.QueryError`). A result the model rejects
        (``inc`` past a field's bound) leaves the record unchanged everywhere and
        raises :class:`~discobase.exceptions.DatabaseStorageError`; a record
        deleted meanwhile raises :class:`~discobase.exceptions.DatabaseLookupError`.
        The entry's other fields are refreshed too (to the stored record).
        """
        binding, store = self._store()
        self._ensure_written()
        changes = build_changes(type(self), inc=inc, set=set, unset=unset, push=push, pull=pull)
        return spawn(
            binding.track("modify", store.change(self, changes), fields=changes.fields), binding.owner
        )

    def delete(self) -> WriteTask[None]:
        """Delete the current entry from the database."""
        binding, store = self._store()
        self._ensure_written()
        return spawn(binding.track("delete", store.delete(self)), binding.owner)

    # ------------------------------------------------------------------ reads
    @classmethod
    async def find(cls, **kwargs: Any) -> list[Self]:
        """Find the entries whose fields equal all of ``kwargs`` (an AND).

        ``find()`` with no arguments returns every entry. Served from memory:
        a warm ``find`` sends no request to Discord.

        Each value is validated as the field's stored values are (type,
        constraints, field validators): an unknown field or a value the field
        refuses raises :class:`~discobase.exceptions.QueryError` naming the
        table and the field, with Pydantic's error as its ``__cause__``. A
        stored record the model rejects is skipped and listed in
        ``Database.problems``.
        """
        binding, store = cls._store()
        if not binding.tracked:
            return store.find(cls, kwargs)  # no wrapper coroutine: it would be a tenth of a warm find

        async def run() -> list[Self]:
            return store.find(cls, kwargs)

        return await binding.track("find", run(), filters=sorted(kwargs))

    @classmethod
    async def get(cls, record_id: int) -> Self | None:
        """The record with this id (its :attr:`record_id`), or None when there is none.

        Served from memory like :meth:`find`, in constant time. A stored record
        the model rejects is None here too, and listed in ``Database.problems``.
        """
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            raise TypeError(f"get() takes a record id (an int), not {record_id!r}")
        binding, store = cls._store()

        async def run() -> Self | None:
            return store.get(cls, record_id)

        return await binding.track("get", run())

    @classmethod
    def _unique_group(cls, names: Iterable[str], what: str) -> tuple[str, ...]:
        """The unique constraint made of exactly ``names`` (or contained in them, for lookups).

        Without one, two processes could both create a record."""
        wanted = frozenset(names)
        for group in TableOptions(cls).unique:
            if frozenset(group) == wanted or (what == "get_or_create" and frozenset(group) <= wanted):
                return group
        raise QueryError(
            f"{what}() on {cls.__name__} needs {sorted(wanted)} to be a unique field (or unique "
            "combination): without it, two processes could both create the record",
            table=cls.__disco_name__,
        )

    @classmethod
    async def get_or_create(
        cls, defaults: Mapping[str, Any] | None = None, **lookup: Any
    ) -> tuple[Self, bool]:
        """The record whose fields equal ``lookup``, or a new one; and whether it was created.

        The new record is made of ``lookup`` and ``defaults``. ``lookup`` must include a
        unique field (or unique combination): that is what makes it safe across
        processes. When another process creates the same record first, its record is
        returned (``created`` is False).
        """
        group = cls._unique_group(lookup, "get_or_create")
        _binding, store = cls._store()
        last: UniqueViolationError | None = None
        for _attempt in range(UPSERT_ATTEMPTS):
            found = await cls.find(**lookup)
            if found:
                return found[0], False
            try:
                return await cls(**{**(defaults or {}), **lookup}).save(), True
            except UniqueViolationError as error:
                if error.fields != group:
                    raise
                last = error  # created meanwhile (here or elsewhere): read it once written
                await store.flush()
        assert last is not None
        raise last

    @classmethod
    async def upsert(cls, instance: Self, *, on: str | Sequence[str]) -> Self:
        """Store ``instance`` as the record whose ``on`` field(s) equal its own.

        Updates that record (all fields) if there is one, else inserts it. ``on`` names a
        unique field (or unique combination). Concurrent upserts of the same value from
        several processes converge: one inserts, the others update that record, in message
        order. Returns ``instance``, saved.
        """
        group = cls._unique_group([on] if isinstance(on, str) else on, "upsert")
        if not isinstance(instance, cls):
            raise DatabaseTableError(f"upsert() takes a {cls.__name__} instance, not {instance!r}")
        if instance._disco_id != -1:
            raise DatabaseStorageError(
                f"{instance!r} is already saved, did you mean update()?", table=cls.__disco_name__
            )
        _binding, store = cls._store()
        key = {name: getattr(instance, name) for name in group}
        error: DiscobaseError | None = None
        for _attempt in range(UPSERT_ATTEMPTS):
            found = await cls.find(**key)
            try:
                if not found:
                    return await instance.save()
                instance._disco_id = found[0]._disco_id
                return await instance.update()
            except UniqueViolationError as violation:
                if violation.fields != group:
                    raise
                error = violation  # inserted meanwhile (here or elsewhere): update that one
                await store.flush()
            except DatabaseLookupError as missing:
                error = missing  # deleted meanwhile: insert again
            instance._disco_id = -1
        assert error is not None
        raise error

    @classmethod
    def migrate(
        cls, *, from_schema: int
    ) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Callable[[dict[str, Any]], dict[str, Any]]]:
        """Register a record migration (a decorator) from schema version ``from_schema``.

        The function turns a record stored with that schema version (a dict)
        into one of the next version.

        ```python
        @User.migrate(from_schema=1)
        def split_name(old: dict) -> dict:
            first, _, last = old.pop("name").partition(" ")
            return {**old, "first": first, "last": last}
        ```

        At ``build_tables``, a table whose stored schema is incompatible with
        the model is rewritten through its migrations (in bulk, with progress).
        """

        def register(
            func: Callable[[dict[str, Any]], dict[str, Any]],
        ) -> Callable[[dict[str, Any]], dict[str, Any]]:
            cls.__disco_record_migrations__[from_schema] = func
            return func

        return register

    @classmethod
    def query(cls, *conditions: Condition) -> Query[Self]:
        """A lazy query: ``User.query(User.age >= 18).sort(-User.age).limit(10)``.

        Conditions are ANDed; await the query (or call ``to_list()``,
        ``count()``, ``first()``, ``page()``, ``delete()``, ``update()``...).
        """
        return Query(cls, conditions)

    @classmethod
    async def insert_many(
        cls,
        models: Iterable[Self],
        *,
        progress: bool | Callable[[int, int], object] = False,
    ) -> list[Self]:
        """Save many new records, packed into as few messages as Discord's limits allow.

        Args:
            models: unsaved instances of this table.
            progress: ``True`` shows a rich progress bar; a callable is called
                with ``(done, total)`` as batches are acknowledged.
        """
        binding, store = cls._store()
        items = cls._new_records(models)
        errors = await binding.track(
            "insert_many", store.insert_each(items, progress=progress), count=len(items)
        )
        for error in errors:
            if error is not None:
                raise error
        return items

    @classmethod
    async def insert_each(cls, models: Iterable[Self]) -> list[DiscobaseError | None]:
        """Save new records like :meth:`insert_many`; per record, ``None`` or the error that kept it out.

        Nothing is raised for a record that failed: for callers that send failed
        records elsewhere (the log sink's fallback)."""
        binding, store = cls._store()
        items = cls._new_records(models)
        return await binding.track("insert_many", store.insert_each(items), count=len(items))

    @classmethod
    def _new_records(cls, models: Iterable[Self]) -> list[Self]:
        """``models`` as a list, after checking that each is a new record of this table, given once.

        Checked as columns (one pass per check); the record-by-record walk that names
        the first offender runs only when one of them fails."""
        items = list(models)
        if (
            (set(map(type, items)) <= {cls} or all(isinstance(item, cls) for item in items))
            and _all_unsaved(items)
            and len(set(map(id, items))) == len(items)
            and (not _saving or _saving.keys().isdisjoint(map(id, items)))
        ):
            return items
        seen: set[int] = set()
        for item in items:
            if not isinstance(item, cls):
                raise DatabaseTableError(f"insert_many() takes {cls.__name__} instances, not {item!r}")
            if item._disco_id != -1:
                raise DatabaseStorageError(
                    f"{item!r} is already saved, did you mean update()?", table=cls.__disco_name__
                )
            if id(item) in _saving:
                raise DatabaseStorageError(
                    f"{item!r} is being saved already (its save() is in flight)", table=cls.__disco_name__
                )
            if id(item) in seen:
                raise DatabaseStorageError(
                    f"{item!r} is given more than once; each instance is one record",
                    table=cls.__disco_name__,
                )
            seen.add(id(item))
        return items

    @overload
    @classmethod
    async def find_unique(cls, *, strict: Literal[True] = True, **kwargs: Any) -> Self: ...

    @overload
    @classmethod
    async def find_unique(cls, *, strict: Literal[False], **kwargs: Any) -> Self | None: ...

    @classmethod
    async def find_unique(cls, *, strict: bool = True, **kwargs: Any) -> Self | None:
        """Find a unique entry in the database.

        With ``strict`` (the default), no match or more than one match raises
        :class:`~discobase.exceptions.DatabaseLookupError`; otherwise no match
        returns None and the first match is returned.
        """
        if not kwargs:
            raise ValueError("a query must be passed to find_unique")
        values = await cls.find(**kwargs)
        if not values:
            if strict:
                raise DatabaseLookupError(f"no entry found with query {kwargs}", table=cls.__disco_name__)
            return None
        if strict and len(values) > 1:
            raise DatabaseLookupError(
                f"more than one entry was found with find_unique ({len(values)} match {kwargs})",
                table=cls.__disco_name__,
            )
        return values[0]
