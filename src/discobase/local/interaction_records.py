"""What an interaction is and what its invoker sees of the answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from discobase._discord.messages import EPHEMERAL, LOADING
from discobase.exceptions import LocalServerError
from discobase.local.store import Message

__all__ = ["Interaction", "InteractionRefused", "InteractionResult"]


class InteractionRefused(LocalServerError):
    """What a person tried cannot be done on Discord.

    An unknown command or component, a command their permissions hide, a value a select does not
    offer.
    """


@dataclass(slots=True)
class InteractionResult:
    """What the person sees of an interaction's answer.

    ``messages`` are the response and the follow-ups as message payloads (ephemeral ones
    included: the invoker sees them), in the order they came, each replaced by its latest
    edit; ``updated`` is the component's message after a type 7 update; ``modal`` the modal
    that opened; ``choices`` the autocomplete choices. ``failed`` means the application did
    not answer in the response window ("The application did not respond").
    """

    interaction_id: int
    callback_type: int | None = None
    failed: bool = False
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    updated: dict[str, Any] | None = None
    _messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message the person sees, in the order they came."""
        return list(self._messages.values())

    @property
    def message(self) -> dict[str, Any] | None:
        """The first message the person sees (the response), if any."""
        return next(iter(self._messages.values()), None)

    @property
    def content(self) -> str | None:
        """The content of :attr:`message`."""
        message = self.message
        return None if message is None else str(message["content"])

    @property
    def ephemeral(self) -> bool:
        message = self.message
        return message is not None and bool(message["flags"] & EPHEMERAL)

    @property
    def deferred(self) -> bool:
        """Whether the response is still "thinking" (a type 5 not yet followed up)."""
        message = self.message
        return message is not None and bool(message["flags"] & LOADING)

    def show(self, payload: dict[str, Any]) -> None:
        """Make a message visible to the invoker (or replace it with its edit)."""
        self._messages[int(payload["id"])] = payload
        self._changed.set()

    def hide(self, message_id: int) -> None:
        """Take a deleted message out of the invoker's view."""
        self._messages.pop(message_id, None)
        self._changed.set()

    async def wait_for_messages(self, count: int = 1, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages (not "thinking") are visible; returns them.

        Raises :class:`TimeoutError` after ``timeout`` seconds (a safety bound, not a test of speed).
        """
        async with asyncio.timeout(timeout):
            while sum(1 for m in self._messages.values() if not m["flags"] & LOADING) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages


@dataclass(slots=True)
class Interaction:
    """One interaction and the state of its answer."""

    id: int
    token: str
    type: int
    application_id: int
    bot_id: int
    user_id: int
    #: ``None`` for an interaction in a DM with the application's bot.
    guild_id: int | None
    channel_id: int
    payload: dict[str, Any]
    created: float
    result: InteractionResult
    message_id: int | None = None
    callback_type: int | None = None
    original_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    ephemeral: dict[int, Message] = field(default_factory=dict)
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
