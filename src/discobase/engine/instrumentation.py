"""Event handlers around discobase's work: every ORM call and the Discord requests inside it.

A **request** is a public ORM call (``save``, ``update``, ``delete``, ``find``,
a query, ``insert_many``, a migration); an **event** is each Discord request
made inside it (route, channel, status, duration, bytes). For every
registered handler:

1. ``request_start(RequestStart)`` — may return a request context;
2. for each Discord request: ``event_start(event, request_context)`` — may
   return an event context — then ``event_end(event, request_context,
   event_context)``;
3. ``request_end(RequestEnd, request_context)``.

``event_end`` and ``request_end`` always run, also when the operation raises.
A handler that raises is logged and never breaks the operation or the other
handlers. Writes are packed by group commit, so a Discord request is reported
inside the request that started the table's writer.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from loguru import logger

from discobase.exceptions import DiscobaseError
from discobase.storage.transport import (
    ChannelInfo,
    FileData,
    GuildInfo,
    MessageListener,
    RawAttachment,
    RawMessage,
    Transport,
)

if TYPE_CHECKING:
    from discobase.database import Database

__all__ = [
    "BufferEventHandler",
    "DiscordEvent",
    "EventHandler",
    "EventTracker",
    "LoguruEventHandler",
    "RequestEnd",
    "RequestStart",
    "TrackedTransport",
    "quietly",
]

RequestCtx = TypeVar("RequestCtx")
EventCtx = TypeVar("EventCtx")
T = TypeVar("T")

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class RequestStart:
    """A public ORM call begins."""

    request_id: int
    operation: str
    table: str | None
    started: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestEnd:
    """A public ORM call ended: ``error`` is set when it raised."""

    request_id: int
    operation: str
    table: str | None
    duration: float
    error: BaseException | None = None
    output: Any = None


@dataclass(slots=True)
class DiscordEvent:
    """One Discord request made inside an ORM call.

    ``status``/``duration``/``error`` are filled in before ``event_end``.
    """

    request_id: int | None
    route: str
    channel_id: int | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    status: str = "pending"
    duration: float | None = None
    error: str | None = None


class EventHandler(ABC, Generic[RequestCtx, EventCtx]):
    """Base class of event handlers.

    A handler that stores its rows in a system table names it in ``system_table``;
    :meth:`EventTracker.register` then binds it to the database before it opens."""

    system_table: str | None = None

    def bind(self, database: Any) -> None:
        """Called once by :meth:`EventTracker.register` for a handler with a ``system_table``."""

    @abstractmethod
    async def request_start(self, user_request: RequestStart) -> RequestCtx | None: ...

    @abstractmethod
    async def event_start(
        self, event: DiscordEvent, request_context: RequestCtx | None
    ) -> EventCtx | None: ...

    @abstractmethod
    async def event_end(
        self, event: DiscordEvent, request_context: RequestCtx | None, event_context: EventCtx | None
    ) -> None: ...

    @abstractmethod
    async def request_end(self, output: RequestEnd, request_context: RequestCtx | None) -> None: ...


@dataclass(slots=True)
class _Request:
    start: RequestStart
    contexts: dict[int, Any]


_current: contextvars.ContextVar[_Request | None] = contextvars.ContextVar("discobase_request", default=None)
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("discobase_events_quiet", default=False)


@contextmanager
def quietly() -> Iterator[None]:
    """Run the block without reporting its requests (a handler's own writes)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


async def _call(handler: EventHandler[Any, Any], hook: str, *args: Any) -> Any:
    try:
        return await getattr(handler, hook)(*args)
    except Exception as error:
        logger.opt(exception=error).error(
            "event handler {}.{} failed: {}", type(handler).__name__, hook, error
        )
        return None


class EventTracker:
    """The handlers of one database, and the request/event bookkeeping."""

    def __init__(
        self, handlers: Sequence[EventHandler[Any, Any]] = (), *, database: Database | None = None
    ) -> None:
        self.database = database
        self.handlers: list[EventHandler[Any, Any]] = []
        for handler in handlers:
            self.register(handler)

    def register(self, handler: EventHandler[Any, Any]) -> None:
        """Add a handler; a :class:`TableEventHandler` must be added before the database opens."""
        if not isinstance(handler, EventHandler):
            raise TypeError(f"{handler!r} is not a discobase.events.EventHandler")
        if handler.system_table is not None:
            kind = type(handler).__name__
            if self.database is None:
                raise TypeError(f"a {kind} needs a database: register it with db.events.register()")
            if self.database.open and handler.system_table not in self.database.system_tables:
                raise DiscobaseError(
                    f"register a {kind} before the database opens (Database(..., event_handlers=[...])), "
                    f"so that its {handler.system_table} table is built"
                )
            handler.bind(self.database)
        self.handlers.append(handler)

    def unregister(self, handler: EventHandler[Any, Any]) -> None:
        self.handlers.remove(handler)

    @property
    def active(self) -> bool:
        return bool(self.handlers) and not _quiet.get()

    async def run(self, operation: str, table: str | None, work: Awaitable[T], **details: Any) -> T:
        """Run ``work`` as a request (nested requests belong to the outer one)."""
        if not self.active or _current.get() is not None:
            return await work
        start = RequestStart(next(_ids), operation, table, datetime.now(UTC), details)
        request = _Request(start, {})
        token = _current.set(request)
        clock = time.perf_counter()
        for handler in list(self.handlers):
            request.contexts[id(handler)] = await _call(handler, "request_start", start)
        error: BaseException | None = None
        output: Any = None
        try:
            result: T = await work
            output = result
            return result
        except BaseException as raised:
            error = raised
            raise
        finally:
            _current.reset(token)
            end = RequestEnd(start.request_id, operation, table, time.perf_counter() - clock, error, output)
            for handler in list(self.handlers):
                await _call(handler, "request_end", end, request.contexts.get(id(handler)))

    @asynccontextmanager
    async def event(
        self, route: str, channel_id: int | None = None, sent: int = 0
    ) -> AsyncIterator[DiscordEvent]:
        request = _current.get()
        event = DiscordEvent(request.start.request_id if request else None, route, channel_id, sent)
        if not self.active:
            yield event
            return
        contexts = {}
        for handler in list(self.handlers):
            request_context = request.contexts.get(id(handler)) if request else None
            contexts[id(handler)] = await _call(handler, "event_start", event, request_context)
        clock = time.perf_counter()
        try:
            yield event
            event.status = "ok"
        except BaseException as error:
            event.status = "error"
            event.error = f"{type(error).__name__}: {error}"
            raise
        finally:
            event.duration = time.perf_counter() - clock
            for handler in list(self.handlers):
                request_context = request.contexts.get(id(handler)) if request else None
                await _call(handler, "event_end", event, request_context, contexts.get(id(handler)))


def _size(files: Sequence[FileData]) -> int:
    return sum(len(f.data) for f in files)


class TrackedTransport:
    """A :class:`~discobase.storage.transport.Transport` that reports every call as an event."""

    def __init__(self, inner: Transport, tracker: EventTracker) -> None:
        self.inner = inner
        self.tracker = tracker

    def __getattr__(self, name: str) -> Any:  # test hooks of the wrapped transport (calls, requests, ...)
        return getattr(self.inner, name)

    @property
    def user_id(self) -> int:
        return self.inner.user_id

    @property
    def application_id(self) -> int:
        return self.inner.application_id

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    def subscribe(self, handler: MessageListener) -> None:
        self.inner.subscribe(handler)

    async def guilds(self) -> list[GuildInfo]:
        async with self.tracker.event("GET /users/@me/guilds"):
            return await self.inner.guilds()

    async def channels(self, guild_id: int, *, hidden: bool = False) -> list[ChannelInfo]:
        async with self.tracker.event("GET /guilds/{guild_id}/channels"):
            return await self.inner.channels(guild_id, hidden=hidden)

    async def create_channel(self, guild_id: int, name: str, **options: Any) -> ChannelInfo:
        async with self.tracker.event("POST /guilds/{guild_id}/channels"):
            return await self.inner.create_channel(guild_id, name, **options)

    async def edit_channel(self, channel_id: int, **options: Any) -> None:
        async with self.tracker.event("PATCH /channels/{channel_id}", channel_id):
            await self.inner.edit_channel(channel_id, **options)

    async def delete_channel(self, channel_id: int) -> None:
        async with self.tracker.event("DELETE /channels/{channel_id}", channel_id):
            await self.inner.delete_channel(channel_id)

    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        sent = len(content.encode()) + _size(files)
        async with self.tracker.event("POST /channels/{channel_id}/messages", channel_id, sent):
            return await self.inner.send(channel_id, content, files, nonce=nonce)

    async def edit(
        self,
        channel_id: int,
        message_id: int,
        content: str,
        files: Sequence[FileData] = (),
        keep_attachments: Sequence[int] = (),
    ) -> RawMessage:
        sent = len(content.encode()) + _size(files)
        async with self.tracker.event("PATCH /channels/{channel_id}/messages/{message_id}", channel_id, sent):
            return await self.inner.edit(channel_id, message_id, content, files, keep_attachments)

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        async with self.tracker.event("DELETE /channels/{channel_id}/messages", channel_id):
            await self.inner.delete_messages(channel_id, message_ids)

    async def fetch(self, channel_id: int, message_id: int) -> RawMessage | None:
        async with self.tracker.event("GET /channels/{channel_id}/messages/{message_id}", channel_id):
            return await self.inner.fetch(channel_id, message_id)

    async def history(
        self, channel_id: int, *, after: int | None = None, before: int | None = None, limit: int = 100
    ) -> list[RawMessage]:
        async with self.tracker.event("GET /channels/{channel_id}/messages", channel_id) as event:
            page = await self.inner.history(channel_id, after=after, before=before, limit=limit)
            event.bytes_received = sum(len(m.content.encode()) for m in page)
            return page

    async def read_attachment(self, attachment: RawAttachment) -> bytes:
        async with self.tracker.event("GET /attachments/{channel_id}/{attachment_id}/{filename}") as event:
            data = await self.inner.read_attachment(attachment)
            event.bytes_received = len(data)
            return data


# ---------------------------------------------------------------------- built-in handlers
class LoguruEventHandler(EventHandler[float, None]):
    """Logs requests and Discord requests through loguru (at ``level``)."""

    def __init__(self, level: str = "DEBUG") -> None:
        self.level = level

    async def request_start(self, user_request: RequestStart) -> float:
        logger.log(
            self.level,
            "request {} {} on {}",
            user_request.request_id,
            user_request.operation,
            user_request.table,
        )
        return time.perf_counter()

    async def event_start(self, event: DiscordEvent, request_context: float | None) -> None:
        return None

    async def event_end(
        self, event: DiscordEvent, request_context: float | None, event_context: None
    ) -> None:
        logger.log(
            self.level,
            "  {} {} in {:.1f} ms ({} B out, {} B in)",
            event.route,
            event.status,
            (event.duration or 0) * 1000,
            event.bytes_sent,
            event.bytes_received,
        )

    async def request_end(self, output: RequestEnd, request_context: float | None) -> None:
        outcome = "failed: " + repr(output.error) if output.error else "ok"
        logger.log(
            self.level,
            "request {} {} {} in {:.1f} ms",
            output.request_id,
            output.operation,
            outcome,
            output.duration * 1000,
        )


class BufferEventHandler(EventHandler[int, int]):
    """Keeps every hook call in :attr:`calls` (for tests and debugging)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def request_start(self, user_request: RequestStart) -> int:
        self.calls.append(("request_start", user_request))
        return user_request.request_id

    async def event_start(self, event: DiscordEvent, request_context: int | None) -> int:
        self.calls.append(("event_start", event))
        return len(self.calls)

    async def event_end(
        self, event: DiscordEvent, request_context: int | None, event_context: int | None
    ) -> None:
        self.calls.append(("event_end", event))

    async def request_end(self, output: RequestEnd, request_context: int | None) -> None:
        self.calls.append(("request_end", output))

    @property
    def events(self) -> list[DiscordEvent]:
        return [e for kind, e in self.calls if kind == "event_end"]
