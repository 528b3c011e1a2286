"""What the server sent its clients, kept so that a test can wait for what a bot did.

Every gateway event the REST handlers and the interactions dispatch goes through an
:class:`EventRecorder` on its way to the gateway hub. The recorder keeps the latest ones
(:data:`KEEP` by default) and answers :meth:`EventRecorder.wait`: the oldest kept event of
a kind that matches a predicate and that no earlier wait returned, waiting for one if there
is none yet. Counting events that came *before* the call is what makes

```python
await ada.send(channel_id, "!rank")
reply = await server.next_message(channel_id)
```

free of races: the bot may answer before ``send`` returns, and its answer is still found.
Each event is returned once, so two waits in a row get two different events.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from loguru import logger

from discobase.exceptions import LocalServerError
from discobase.local.store import BotAccount

if TYPE_CHECKING:
    from discobase.local.rest.context import Dispatcher

__all__ = [
    "EVENT_NAMES",
    "KEEP",
    "DispatchedEvent",
    "EventRecorder",
    "EventTimeoutError",
    "gateway_event_name",
    "id_of",
    "user_id_of",
]

#: How many events a recorder keeps (older ones are forgotten, returned or not).
KEEP: Final = 10_000

#: discord.py's event names (``on_<name>``) for the gateway events the local server sends
#: (https://discord.com/developers/docs/events/gateway-events#receive-events).
EVENT_NAMES: Final[dict[str, str]] = {
    "message": "MESSAGE_CREATE",
    "message_edit": "MESSAGE_UPDATE",
    "message_delete": "MESSAGE_DELETE",
    "bulk_message_delete": "MESSAGE_DELETE_BULK",
    "reaction_add": "MESSAGE_REACTION_ADD",
    "reaction_remove": "MESSAGE_REACTION_REMOVE",
    "reaction_clear": "MESSAGE_REACTION_REMOVE_ALL",
    "reaction_clear_emoji": "MESSAGE_REACTION_REMOVE_EMOJI",
    "member_join": "GUILD_MEMBER_ADD",
    "member_remove": "GUILD_MEMBER_REMOVE",
    "member_update": "GUILD_MEMBER_UPDATE",
    "interaction": "INTERACTION_CREATE",
    "guild_channel_create": "CHANNEL_CREATE",
    "guild_channel_update": "CHANNEL_UPDATE",
    "guild_channel_delete": "CHANNEL_DELETE",
    "guild_remove": "GUILD_DELETE",
    "guild_update": "GUILD_UPDATE",
    "guild_role_create": "GUILD_ROLE_CREATE",
    "guild_role_update": "GUILD_ROLE_UPDATE",
    "guild_role_delete": "GUILD_ROLE_DELETE",
    "typing": "TYPING_START",
}


def gateway_event_name(name: str) -> str:
    """The gateway name of ``name``, a discord.py event name or a gateway name.

    A discord.py name is one of :data:`EVENT_NAMES` (``"message"``, with or without ``on_``); a
    gateway name is returned as is (``"MESSAGE_CREATE"``).
    """
    if name.isupper() and name.replace("_", "").isalpha():
        return name
    key = name.removeprefix("on_")
    if key in EVENT_NAMES:
        return EVENT_NAMES[key]
    raise ValueError(
        f"unknown event {name!r}: use a gateway event name such as 'MESSAGE_CREATE' or one of "
        f"{', '.join(repr(n) for n in EVENT_NAMES)}"
    )


def id_of(value: Any) -> int:
    """The id of an int, a payload dict with ``"id"`` or an object with ``id``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dict) and "id" in value:
        return int(value["id"])
    if getattr(value, "id", None) is not None:
        return int(value.id)
    raise TypeError(f"expected an id or something with an id, not {value!r}")


def user_id_of(value: Any) -> int:
    """The user id of a bot account, a person, a discord.py client (its ``user``) or user, or an id."""
    if isinstance(value, BotAccount):
        return value.user_id
    user = getattr(value, "user", None)
    if user is not None and getattr(user, "id", None) is not None and not isinstance(value, dict):
        return int(user.id)
    return id_of(value)


class EventTimeoutError(LocalServerError, TimeoutError):
    """Nothing the test waited for happened in time.

    The message says what was waited for and what the server did send meanwhile.
    """


@dataclass(frozen=True, slots=True)
class DispatchedEvent:
    """One gateway event as the server dispatched it.

    ``data`` is its ``d`` (for a message, the message object), ``seq`` its place in the
    recorder's order.
    """

    seq: int
    name: str
    data: dict[str, Any]
    guild_id: int | None
    channel_id: int | None

    def describe(self) -> str:
        """One line for a failure message: the event, where, by whom, and a message's text."""
        parts = [self.name]
        channel = self.data.get("channel_id") if self.channel_id is None else self.channel_id
        if channel is not None:
            parts.append(f"in channel {channel}")
        author = self.data.get("author")
        if isinstance(author, dict):
            kind = "bot" if author.get("bot") else "person"
            parts.append(f"by {author.get('username')} ({kind})")
        user = self.data.get("user")
        if isinstance(user, dict) and self.name.startswith("GUILD_MEMBER"):
            parts.append(f"of {user.get('username')}")
        content = self.data.get("content")
        if isinstance(content, str):
            parts.append(repr(content if len(content) <= 80 else content[:77] + "..."))
        interaction = self.data.get("data")
        if self.name == "INTERACTION_CREATE" and isinstance(interaction, dict):
            parts.append(repr(interaction.get("name") or interaction.get("custom_id")))
        return " ".join(parts)


@dataclass(slots=True)
class _Waiter:
    name: str
    predicate: Callable[[dict[str, Any]], bool]
    future: asyncio.Future[DispatchedEvent]


class EventRecorder:
    """A :class:`~discobase.local.rest.context.Dispatcher` that records each event, then passes it on.

    It hands each event to ``dispatcher`` (the gateway hub). See the module docstring.
    """

    def __init__(self, dispatcher: Dispatcher, *, keep: int = KEEP) -> None:
        self.dispatcher = dispatcher
        self._events: deque[DispatchedEvent] = deque(maxlen=keep)
        self._returned: set[int] = set()
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count(1)

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None = None,
        author_id: int | None = None,
        user_ids: Iterable[int] | None = None,
    ) -> None:
        self.record(event, data, guild_id=guild_id, channel_id=channel_id)
        await self.dispatcher.dispatch(
            event, data, guild_id=guild_id, channel_id=channel_id, author_id=author_id, user_ids=user_ids
        )

    def record(
        self, event: str, data: dict[str, Any], *, guild_id: int | None, channel_id: int | None
    ) -> None:
        """Keep ``event`` and give it to the first waiter it satisfies."""
        recorded = DispatchedEvent(next(self._seq), event, data, guild_id, channel_id)
        if len(self._events) == self._events.maxlen:
            self._returned.discard(self._events[0].seq)
        self._events.append(recorded)
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if waiter.name != event:
                continue
            try:
                matched = waiter.predicate(data)
            except Exception as error:  # the test's check failed: that is the waiter's error
                self._waiters.remove(waiter)
                waiter.future.set_exception(error)
                continue
            if matched:
                self._waiters.remove(waiter)
                self._returned.add(recorded.seq)
                waiter.future.set_result(recorded)
                return

    @property
    def events(self) -> list[DispatchedEvent]:
        """The kept events, oldest first."""
        return list(self._events)

    def clear(self) -> None:
        """Forget every kept event (waits in progress go on waiting)."""
        self._events.clear()
        self._returned.clear()

    async def wait(
        self,
        event: str,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float,
        what: str | None = None,
    ) -> DispatchedEvent:
        """The oldest kept ``event`` not returned before that ``predicate(data)`` accepts.

        Or the next one dispatched within ``timeout`` seconds; otherwise raises
        :class:`EventTimeoutError` describing ``what`` was awaited (default: the event's name)
        and the latest events.
        """
        for recorded in self._events:
            if recorded.name == event and recorded.seq not in self._returned and predicate(recorded.data):
                self._returned.add(recorded.seq)
                return recorded
        future: asyncio.Future[DispatchedEvent] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(event, predicate, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            message = self._timeout_message(what or event, timeout)
            logger.debug("gave up waiting for {} after {} s", what or event, timeout)
            raise EventTimeoutError(message) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def next_message(
        self,
        channel: Any,
        *,
        author: Any | None = None,
        after: Any | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The next MESSAGE_CREATE in ``channel`` by a bot, or by ``author``, that no earlier wait returned.

        See :meth:`LocalDiscord.next_message <discobase.local.server.LocalDiscord.next_message>`.
        """
        channel_id = id_of(channel)
        author_id = None if author is None else user_id_of(author)
        after_id = None if after is None else id_of(after)

        def wanted(data: dict[str, Any]) -> bool:
            sender = data.get("author") or {}
            if int(data["channel_id"]) != channel_id or data.get("interaction_metadata") is not None:
                return False
            if after_id is not None and int(data["id"]) <= after_id:
                return False
            if author_id is not None:
                return int(sender.get("id", 0)) == author_id
            return bool(sender.get("bot"))

        who = "a bot" if author_id is None else f"user {author_id}"
        found = await self.wait(
            "MESSAGE_CREATE", wanted, timeout=timeout, what=f"message by {who} in channel {channel_id}"
        )
        return found.data

    def _timeout_message(self, what: str, timeout: float) -> str:
        latest = list(self._events)[-8:]
        lines = [f"no {what} within {timeout:g} s."]
        if latest:
            lines.append("The latest events the server sent (oldest first):")
            lines.extend(
                f"  {e.describe()}{' (already returned)' if e.seq in self._returned else ''}" for e in latest
            )
        else:
            lines.append("The server has sent no event yet: is the bot running on this server?")
        return "\n".join(lines)
