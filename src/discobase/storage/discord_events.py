"""The gateway's message events, from a discord.py client into the transport's event pump."""

from __future__ import annotations

from collections import Counter
from typing import Any

import discord
from discord.ext import commands

from discobase.storage.discord_payloads import message_from_discord, message_from_payload
from discobase.storage.discord_rules import EventPump
from discobase.storage.transport import MessageEvent, MessageListener, RawMessage

__all__ = ["DiscordEvents"]


class DiscordEvents:
    """The event side of :class:`~discobase.storage.discord_transport.DiscordTransport`.

    It sets the attributes declared here; listeners are added once, on the first
    :meth:`subscribe`.
    """

    client: discord.Client
    pump: EventPump
    calls: Counter[str]
    _listening: bool

    def subscribe(self, handler: MessageListener) -> None:
        """Receive message events of every channel the bot can see (the caller filters)."""
        self.calls["subscribe"] += 1
        self.pump.add(handler)
        if self._listening:
            return
        self._listening = True
        client = self.client
        if isinstance(client, commands.Bot):
            client.add_listener(self._on_message, "on_message")
            client.add_listener(self._on_raw_message_edit, "on_raw_message_edit")
            client.add_listener(self._on_raw_message_delete, "on_raw_message_delete")
            client.add_listener(self._on_raw_bulk_message_delete, "on_raw_bulk_message_delete")
            client.add_listener(self._on_connect, "on_connect")
            client.add_listener(self._on_disconnect, "on_disconnect")
            client.add_listener(self._on_resumed, "on_resumed")
            return
        # A plain Client has no listener list. Its gateway events all go through the
        # ConnectionState's ``dispatch`` (a bound ``client.dispatch`` captured at
        # construction), so that is what is wrapped: the user's handlers still run first.
        state = client._connection
        original = state.dispatch

        def dispatch(event: str, /, *args: Any, **kwargs: Any) -> None:
            original(event, *args, **kwargs)
            if args:
                self._on_event(event, args[0])
            elif event == "connect":
                self._put_session()
            elif event == "disconnect":
                self.pump.put(MessageEvent("gap", 0, ()))
            elif event == "resumed":
                self.pump.put(MessageEvent("resumed", 0, ()))

        state.dispatch = dispatch

    def _on_event(self, event: str, payload: Any) -> None:
        if event == "message":
            self._put_message(payload)
        elif event == "raw_message_edit":
            self._put_edit(payload)
        elif event == "raw_message_delete":
            self._put_delete(payload)
        elif event == "raw_bulk_message_delete":
            self._put_bulk_delete(payload)

    async def _on_connect(self) -> None:
        self._put_session()

    async def _on_disconnect(self) -> None:
        self.pump.put(MessageEvent("gap", 0, ()))

    async def _on_resumed(self) -> None:
        self.pump.put(MessageEvent("resumed", 0, ()))

    def _put_session(self) -> None:
        """Announce a new session: discord.py dispatches ``connect`` for every READY.

        A resumed session sends RESUMED instead.
        """
        self.pump.put(MessageEvent("session", 0, ()))

    async def _on_message(self, message: discord.Message) -> None:
        self._put_message(message)

    async def _on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self._put_edit(payload)

    async def _on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self._put_delete(payload)

    async def _on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        self._put_bulk_delete(payload)

    def _put_message(self, message: discord.Message) -> None:
        raw = message_from_discord(message)
        self.pump.put(MessageEvent("create", raw.channel_id, (raw.id,), raw))

    def _put_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        try:
            raw: RawMessage | None = message_from_payload(payload.data)
            extra: dict[str, object] = {}
        except (KeyError, TypeError, ValueError):
            raw, extra = None, {"partial": True}  # an update without the whole message
        self.pump.put(MessageEvent("update", payload.channel_id, (payload.message_id,), raw, extra))

    def _put_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.pump.put(MessageEvent("delete", payload.channel_id, (payload.message_id,)))

    def _put_bulk_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        ids = tuple(sorted(payload.message_ids))
        self.pump.put(MessageEvent("delete", payload.channel_id, ids, extra={"bulk": True}))
