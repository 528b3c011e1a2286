"""``MemoryTransport``: Discord in memory, for fast and deterministic unit tests.

It follows Discord's semantics as :class:`~discobase.storage.discord_transport.DiscordTransport`
sees them (the contract suite ``tests/storage/test_transport_contract.py`` runs
the same checks on both): real, strictly increasing snowflakes; channels with
permission overwrites (a private channel is hidden from @everyone and from other
bots); messages with attachments whose bytes are kept; Discord's limits; history
pages oldest first; bulk deletion of young messages; message events.

```python
transport = MemoryTransport(guilds=["db"])
await transport.connect()
channel = await transport.create_channel(transport.guild_id("db"), "users")
await transport.send(channel.id, "hello")
assert transport.calls["send"] == 1
assert transport.requests["POST /channels/{channel_id}/messages"] == 1
```

Two transports on one :class:`MemoryDiscord` act like two processes (the same
bot by default, or different bots with ``bot=``); each receives the message
events of the other.

**Events** are queued synchronously when a message is created, edited or deleted,
for every connected transport whose bot can see the channel and that has
subscribers, and delivered by one task per transport, in order, one handler
call at a time (an ``async`` handler is awaited before the next event).
``await transport.drain()`` returns once every queued event was delivered, so
a test can write ``await a.send(...); await b.drain()`` and then assert.

**Counters**: :attr:`MemoryTransport.calls` counts calls per method name (every
call, failed or not); :attr:`MemoryTransport.requests` counts the Discord
requests :class:`~discobase.storage.discord_transport.DiscordTransport` would
make, by route (``"POST /channels/{channel_id}/messages"``), the keys of the
local server's ``stats()``. A request refused by the limits checked beforehand
is not made, so not counted.

**Faults**: ``transport.fail_next("send", DatabaseStorageError("boom"))`` makes the
next ``send`` raise that error (after counting it, before changing anything).
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Sequence

from loguru import logger

from discobase._discord.channels import MESSAGE_CHANNEL_TYPES, normalize_channel_name
from discobase._discord.limits import MAX_TOPIC
from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    GuildNotFoundError,
    LoginError,
    NotConnectedError,
)
from discobase.storage.discord_rules import (
    ROUTE_BULK_DELETE,
    ROUTE_CDN,
    ROUTE_CHANNEL,
    ROUTE_CHANNEL_MESSAGE,
    ROUTE_CHANNEL_MESSAGES,
    ROUTE_GUILD_CHANNELS,
    ROUTE_ME,
    ROUTE_MY_APPLICATION,
    EventPump,
    Perm,
    attachment_channel,
    check_edit,
    check_history,
    check_send,
    invite_url,
    missing_permissions,
    plan_deletes,
)
from discobase.storage.memory_discord import (
    MemoryBot,
    MemoryChannel,
    MemoryDiscord,
    MemoryGuild,
)
from discobase.storage.transport import (
    HISTORY_PAGE,
    ChannelInfo,
    FileData,
    GuildInfo,
    MessageEvent,
    MessageListener,
    RawAttachment,
    RawMessage,
)

__all__ = ["OPERATIONS", "MemoryBot", "MemoryDiscord", "MemoryTransport"]

#: The operation names of :attr:`MemoryTransport.calls` and :meth:`MemoryTransport.fail_next`.
OPERATIONS = frozenset(
    {
        "connect",
        "close",
        "guilds",
        "channels",
        "create_channel",
        "edit_channel",
        "delete_channel",
        "send",
        "edit",
        "delete_messages",
        "fetch",
        "history",
        "read_attachment",
    }
)


class MemoryTransport:
    """The :class:`~discobase.storage.transport.Transport` protocol in memory.

    Args:
        server: the shared :class:`MemoryDiscord`; a new one when omitted.
        guilds: guild names; without ``server``, the new server's guilds;
            with one, those missing on it are created.
        bot: the bot this transport logs in as (a name, created on demand with
            the default permissions, or a :class:`MemoryBot`).
        token: log in with this token instead (an unknown one makes
            :meth:`connect` raise :class:`~discobase.exceptions.LoginError`).
    """

    def __init__(
        self,
        server: MemoryDiscord | None = None,
        *,
        guilds: Sequence[str] | None = None,
        bot: str | MemoryBot = "discobase",
        token: str | None = None,
    ) -> None:
        if server is None:
            server = MemoryDiscord(guilds if guilds is not None else ("discobase",))
        else:
            known = {g.name for g in server.guilds.values()}
            for name in guilds or ():
                if name not in known:
                    server.create_guild(name)
        self.server = server
        self._bot_name = bot.name if isinstance(bot, MemoryBot) else bot
        self._token = token
        self._bot: MemoryBot | None = None
        self.calls: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.pump = EventPump(f"MemoryTransport({self._bot_name})")
        self._faults: dict[str, deque[BaseException]] = {}
        self._lost_replies: dict[str, deque[BaseException]] = {}
        #: Whether this transport's gateway session is lost (see :meth:`lose_session`).
        self.gateway_down = False

    def __repr__(self) -> str:
        state = "connected" if self._bot is not None else "not connected"
        return f"<MemoryTransport bot={self._bot_name!r} {state}>"

    # ------------------------------------------------------------------ test hooks
    def fail_next(self, operation: str, exc: BaseException, *, times: int = 1, after: bool = False) -> None:
        """Make the next ``times`` calls of ``operation`` (a method name) raise ``exc``:
        before anything changes, or with ``after`` once the call took effect
        (a reply lost on its way back; only ``send`` supports it)."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        if after and operation != "send":
            raise ValueError("after=True is supported for 'send' only")
        faults = self._lost_replies if after else self._faults
        faults.setdefault(operation, deque()).extend([exc] * times)

    def lose_session(self) -> None:
        """Simulate a gateway session that ends without resuming.

        From now on this transport receives no event until :meth:`new_session`.
        """
        self.pump.put(MessageEvent("gap", 0, ()))
        self.gateway_down = True

    def new_session(self) -> None:
        """Start a new gateway session (not a resume), announced by a ``session`` event.

        Events flow again; those sent meanwhile are lost, as on Discord.
        """
        self.gateway_down = False
        self.pump.put(MessageEvent("session", 0, ()))

    async def drain(self) -> None:
        """Wait until every queued event has been delivered to the subscribers."""
        await self.pump.drain()

    def guild_id(self, name: str) -> int:
        """The id of the guild named ``name`` (a test convenience)."""
        return self.server.guild_id(name)

    @property
    def bot(self) -> MemoryBot:
        """The bot this transport is logged in as."""
        if self._bot is None:
            raise NotConnectedError("the memory transport is not connected; call connect() first")
        return self._bot

    def _enter(self, operation: str) -> MemoryBot:
        """Count a call, check the connection and raise an injected fault."""
        self.calls[operation] += 1
        bot = self.bot
        self._fault(operation)
        return bot

    def _fault(self, operation: str) -> None:
        queue = self._faults.get(operation)
        if queue:
            raise queue.popleft()

    # ------------------------------------------------------------------ lifecycle
    @property
    def user_id(self) -> int:
        """The bot's user id; 0 until :meth:`connect`.

        So ``isinstance(t, Transport)``, which reads every member on Python 3.11, works before
        connecting.
        """
        return self._bot.user_id if self._bot is not None else 0

    @property
    def application_id(self) -> int:
        """The bot's application id; 0 until :meth:`connect`."""
        return self._bot.application_id if self._bot is not None else 0

    async def connect(self) -> None:
        """Log in: with ``token``, the bot that has it; else the bot named ``bot``."""
        self.calls["connect"] += 1
        if self._bot is not None:
            return
        self._fault("connect")
        self.requests[ROUTE_ME] += 1
        if self._token is not None:
            bot = next((b for b in self.server.bots.values() if b.token == self._token), None)
            if bot is None:
                raise LoginError("Discord rejected the bot token (401 Unauthorized); check the token")
        else:
            bot = self.server.bot(self._bot_name)
        self.requests[ROUTE_MY_APPLICATION] += 1
        self._bot = bot
        self._bot_name = bot.name
        self.server.transports.append(self)
        logger.debug("memory transport logged in as {} ({})", bot.name, bot.user_id)

    async def close(self) -> None:
        self.calls["close"] += 1
        if self._bot is None:
            return
        self._bot = None
        if self in self.server.transports:
            self.server.transports.remove(self)
        await self.pump.close()

    # ------------------------------------------------------------------ guilds and channels
    async def guilds(self) -> list[GuildInfo]:
        self._enter("guilds")
        return [GuildInfo(g.id, g.name) for g in sorted(self.server.guilds.values(), key=lambda g: g.id)]

    def _guild(self, guild_id: int, route: str) -> MemoryGuild:
        guild = self.server.guilds.get(guild_id)
        if guild is None:
            url = invite_url(self.application_id)
            raise GuildNotFoundError(
                f"the bot is not a member of guild {guild_id}; add it with {url}",
                guild_id=guild_id,
                invite_url=url,
                route=route,
            )
        return guild

    def _sorted_channels(self, guild_id: int) -> list[MemoryChannel]:
        channels = [c for c in self.server.channels.values() if c.guild_id == guild_id]
        return sorted(channels, key=lambda c: (c.position, c.id))

    async def channels(self, guild_id: int, *, hidden: bool = False) -> list[ChannelInfo]:
        bot = self._enter("channels")
        route = "GET " + ROUTE_GUILD_CHANNELS
        self.requests[route] += 1
        self._guild(guild_id, route)
        listed = [(c, self.server.can_see(bot, c)) for c in self._sorted_channels(guild_id)]
        return [c.info(visible=seen) for c, seen in listed if seen or hidden]

    async def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,
        parent_id: int | None = None,
        topic: str | None = None,
        private: bool = False,
    ) -> ChannelInfo:
        bot = self._enter("create_channel")
        route = "POST " + ROUTE_GUILD_CHANNELS
        self.requests[route] += 1
        self._guild(guild_id, route)
        channel = self.server.new_channel(
            bot,
            guild_id,
            name,
            type=type,
            parent_id=parent_id,
            topic=topic,
            private=private,
            route=route,
        )
        logger.debug("created channel {} ({}) in guild {}", channel.id, channel.name, guild_id)
        return channel.info()

    def _channel(
        self, channel_id: int, route: str, bot: MemoryBot, need: int = 0, permission: str = ""
    ) -> MemoryChannel:
        """The channel after Discord's checks: it exists, the bot sees it and has ``need``."""
        channel = self.server.channels.get(channel_id)
        if channel is None:
            raise DatabaseLookupError(f"channel {channel_id} does not exist", channel=channel_id, route=route)
        perms = self.server.permissions(bot, channel, channel.guild_id)
        if not perms & Perm.VIEW_CHANNEL:
            raise missing_permissions(
                "View Channel", route=route, channel=channel_id, application_id=self.application_id
            )
        if need and perms & need != need:
            raise missing_permissions(
                permission, route=route, channel=channel_id, application_id=self.application_id
            )
        return channel

    async def edit_channel(
        self, channel_id: int, *, topic: str | None = None, name: str | None = None
    ) -> None:
        bot = self._enter("edit_channel")
        if topic is None and name is None:
            return
        route = "PATCH " + ROUTE_CHANNEL
        self.requests[route] += 1
        channel = self._channel(channel_id, route, bot, Perm.MANAGE_CHANNELS, "Manage Channels")
        if name is not None:
            if not 1 <= len(name) <= 100:
                raise DatabaseStorageError(
                    "a channel name must be 1 to 100 characters", channel=channel_id, route=route
                )
            channel.name = normalize_channel_name(name, channel.type)
        if topic is not None:
            if len(topic) > MAX_TOPIC:
                raise DatabaseStorageError(
                    f"a channel topic must be at most {MAX_TOPIC} characters",
                    channel=channel_id,
                    route=route,
                )
            channel.topic = topic

    async def delete_channel(self, channel_id: int) -> None:
        bot = self._enter("delete_channel")
        route = "DELETE " + ROUTE_CHANNEL
        self.requests[route] += 1
        if channel_id not in self.server.channels:
            return
        channel = self._channel(channel_id, route, bot, Perm.MANAGE_CHANNELS, "Manage Channels")
        del self.server.channels[channel_id]
        for message in channel.messages.values():
            for attachment in message.attachments:
                self.server.files.pop(attachment.id, None)
        for child in self.server.channels.values():
            if child.parent_id == channel_id:  # deleting a category keeps its channels, unparented
                child.parent_id = None
        logger.debug("deleted channel {}", channel_id)

    # ------------------------------------------------------------------ messages
    def _attach(self, channel_id: int, files: Sequence[FileData]) -> list[RawAttachment]:
        attachments = []
        for file in files:
            attachment_id = self.server.ids.next()
            self.server.files[attachment_id] = bytes(file.data)
            attachments.append(
                RawAttachment(
                    id=attachment_id,
                    filename=file.filename,
                    size=len(file.data),
                    url=f"memory://{channel_id}/{attachment_id}/{file.filename}",
                )
            )
        return attachments

    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        bot = self._enter("send")
        check_send(channel_id, content, files)
        route = "POST " + ROUTE_CHANNEL_MESSAGES
        self.requests[route] += 1
        need = Perm.SEND_MESSAGES | (Perm.ATTACH_FILES if files else 0)
        permission = "Send Messages and Attach Files" if files else "Send Messages"
        channel = self._channel(channel_id, route, bot, need, permission)
        if channel.type not in MESSAGE_CHANNEL_TYPES:
            raise DatabaseStorageError(
                "cannot send messages in a non-text channel", channel=channel_id, route=route
            )
        if nonce is not None:
            if not 1 <= len(nonce) <= 25:
                raise DatabaseStorageError("a nonce is 1 to 25 characters", channel=channel_id, route=route)
            known = self.server.nonces.get((bot.user_id, nonce))
            if known is not None and known in channel.messages:
                self._lose_reply()
                return channel.messages[known]
        message_id = self.server.ids.next()
        if nonce is not None:
            self.server.nonces[(bot.user_id, nonce)] = message_id
        message = RawMessage(
            id=message_id,
            channel_id=channel_id,
            author_id=bot.user_id,
            content=content,
            attachments=tuple(self._attach(channel_id, files)),
        )
        channel.messages[message_id] = message
        channel.last_message_id = message_id
        channel.order.append(message_id)
        logger.debug("sent {} to {}", message_id, channel_id)
        self.server.dispatch(channel, MessageEvent("create", channel_id, (message_id,), message))
        self._lose_reply()
        return message

    def _lose_reply(self) -> None:
        """Raise the fault of a reply lost after ``send`` took effect, if one is due."""
        queue = self._lost_replies.get("send")
        if queue:
            raise queue.popleft()

    async def edit(
        self,
        channel_id: int,
        message_id: int,
        content: str,
        files: Sequence[FileData] = (),
        keep_attachments: Sequence[int] = (),
    ) -> RawMessage:
        bot = self._enter("edit")
        check_edit(channel_id, content, files, keep_attachments)
        route = "PATCH " + ROUTE_CHANNEL_MESSAGE
        self.requests[route] += 1
        channel = self._channel(channel_id, route, bot)
        old = channel.messages.get(message_id)
        if old is None:
            raise DatabaseLookupError(f"message {message_id} does not exist", channel=channel_id, route=route)
        if old.author_id != bot.user_id:
            raise DatabaseStorageError(
                f"cannot edit message {message_id}: another user wrote it", channel=channel_id, route=route
            )
        existing = {a.id: a for a in old.attachments}
        missing = [aid for aid in keep_attachments if aid not in existing]
        if missing:
            raise DatabaseStorageError(
                f"message {message_id} has no attachment {missing[0]}", channel=channel_id, route=route
            )
        kept = [existing[aid] for aid in keep_attachments]
        for attachment in old.attachments:
            if attachment.id not in keep_attachments:
                self.server.files.pop(attachment.id, None)
        message = RawMessage(
            id=message_id,
            channel_id=channel_id,
            author_id=old.author_id,
            content=content,
            attachments=tuple(kept + self._attach(channel_id, files)),
            edited=True,
        )
        channel.messages[message_id] = message
        logger.debug("edited {} in {}", message_id, channel_id)
        self.server.dispatch(channel, MessageEvent("update", channel_id, (message_id,), message))
        return message

    def _remove(self, channel: MemoryChannel, message_ids: Sequence[int]) -> list[int]:
        removed = []
        for message_id in message_ids:
            message = channel.messages.pop(message_id, None)
            if message is None:
                continue
            index = bisect.bisect_left(channel.order, message_id)
            del channel.order[index]
            for attachment in message.attachments:
                self.server.files.pop(attachment.id, None)
            removed.append(message_id)
        return removed

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        """Bulk-delete chunks of young messages, delete the others one by one.

        Missing messages (and a missing channel) are ignored.
        """
        bot = self._enter("delete_messages")
        bulk, singles = plan_deletes(message_ids)
        for chunk in bulk:
            self.requests[ROUTE_BULK_DELETE] += 1
            if channel_id not in self.server.channels:
                continue
            channel = self._channel(
                channel_id, ROUTE_BULK_DELETE, bot, Perm.MANAGE_MESSAGES, "Manage Messages"
            )
            removed = self._remove(channel, chunk)
            if removed:
                logger.debug("bulk-deleted {} messages in {}", len(removed), channel_id)
                event = MessageEvent("delete", channel_id, tuple(sorted(removed)), extra={"bulk": True})
                self.server.dispatch(channel, event)
        route = "DELETE " + ROUTE_CHANNEL_MESSAGE
        for message_id in singles:
            self.requests[route] += 1
            if channel_id not in self.server.channels:
                continue
            channel = self._channel(channel_id, route, bot)
            message = channel.messages.get(message_id)
            if message is None:
                continue
            if message.author_id != bot.user_id and not (
                self.server.permissions(bot, channel, channel.guild_id) & Perm.MANAGE_MESSAGES
            ):
                raise missing_permissions(
                    "Manage Messages", route=route, channel=channel_id, application_id=self.application_id
                )
            self._remove(channel, [message_id])
            logger.debug("deleted {} in {}", message_id, channel_id)
            self.server.dispatch(channel, MessageEvent("delete", channel_id, (message_id,)))

    async def fetch(self, channel_id: int, message_id: int) -> RawMessage | None:
        bot = self._enter("fetch")
        route = "GET " + ROUTE_CHANNEL_MESSAGE
        self.requests[route] += 1
        channel = self._channel(channel_id, route, bot, Perm.READ_MESSAGE_HISTORY, "Read Message History")
        return channel.messages.get(message_id)

    async def history(
        self,
        channel_id: int,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = HISTORY_PAGE,
    ) -> list[RawMessage]:
        """One page of a channel's messages, oldest first.

        The ``limit`` oldest messages after ``after`` (and before ``before`` if both are given),
        else the ``limit`` newest before ``before`` (or overall). ``limit`` is 1 to 100.
        """
        bot = self._enter("history")
        check_history(limit, after, before)
        route = "GET " + ROUTE_CHANNEL_MESSAGES
        self.requests[route] += 1
        channel = self._channel(channel_id, route, bot)
        if not self.server.permissions(bot, channel, channel.guild_id) & Perm.READ_MESSAGE_HISTORY:
            return []  # Discord answers with no messages, not an error
        order = channel.order
        if after is not None:
            start = bisect.bisect_right(order, after)
            end = len(order) if before is None else max(start, bisect.bisect_left(order, before))
            ids = order[start : min(end, start + limit)]
        else:
            end = len(order) if before is None else bisect.bisect_left(order, before)
            ids = order[max(0, end - limit) : end]
        return [channel.messages[i] for i in ids]

    async def read_attachment(self, attachment: RawAttachment) -> bytes:
        self._enter("read_attachment")
        self.requests[ROUTE_CDN] += 1
        data = self.server.files.get(attachment.id)
        if data is None:
            raise DatabaseLookupError(
                f"attachment {attachment.id} ({attachment.filename}) no longer exists",
                channel=attachment_channel(attachment.url),
                route=ROUTE_CDN,
            )
        return data

    def subscribe(self, handler: MessageListener) -> None:
        """Receive message events of every channel the bot can see (see the module docs)."""
        self.calls["subscribe"] += 1
        self.pump.add(handler)
