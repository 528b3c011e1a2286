"""``DiscordTransport``: the :class:`~discobase.storage.transport.Transport` protocol on discord.py.

REST calls go through ``client.http`` with raw payload dicts, converted straight
to :class:`~discobase.storage.transport.RawMessage` and friends (no
``discord.Message`` objects on the hot paths). Message events come from the
gateway: ``on_message`` (create), ``on_raw_message_edit`` (update; its ``data``
is the full message), ``on_raw_message_delete`` and ``on_raw_bulk_message_delete``
(delete; the bulk one carries ``extra={"bulk": True}`` and its ids sorted), and
``on_connect`` (a new session that did not resume: ``session``).

Listeners are added with ``add_listener`` on a :class:`discord.ext.commands.Bot`;
on a plain :class:`discord.Client` (which has no listener list) the dispatch
function of its connection state (``client._connection.dispatch``, through which
every gateway event goes) is wrapped, so the user's own ``@client.event``
handlers, set before or after, keep working.
Events reach subscribers in gateway order, one handler call at a time.

Errors become discobase errors with the channel and route in their context:

- 403 "Missing Permissions" / "Missing Access" → :class:`~discobase.exceptions.MissingPermissionsError`
  naming the permission the route needs;
- 404 on a guild, or 403 "Missing Access" on a guild route → :class:`~discobase.exceptions.GuildNotFoundError`
  with the bot's invite URL;
- 404 on a channel, message or attachment → :class:`~discobase.exceptions.DatabaseLookupError`
  (except where the protocol says a missing thing is fine: ``fetch`` → ``None``,
  ``delete_messages`` and ``delete_channel`` ignore it);
- any other HTTP error, a network error or a rate limit too long to wait out →
  :class:`~discobase.exceptions.DatabaseStorageError` with status and code.

Discord's limits (content, files, sizes, empty messages) are checked before a
request is made. :attr:`DiscordTransport.calls` counts method calls and
:attr:`DiscordTransport.requests` the REST requests made, by route template
(the names of the local server's ``stats()``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import discord
from loguru import logger

# every message is sent with SUPPRESS_EMBEDS: Discord must not unfurl URLs in stored content
from discobase._discord.messages import SUPPRESS_EMBEDS as _SUPPRESS_EMBEDS
from discobase.exceptions import (
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseUnavailableError,
    LoginError,
    NotConnectedError,
)
from discobase.storage.discord_errors import gateway_error, http_error
from discobase.storage.discord_events import DiscordEvents
from discobase.storage.discord_payloads import (
    channel_from_payload,
    message_from_discord,
    message_from_payload,
    upload_params,
)
from discobase.storage.discord_rules import (
    REQUIRED_PERMISSIONS,
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
    plan_deletes,
)
from discobase.storage.transport import (
    HISTORY_PAGE,
    ChannelInfo,
    FileData,
    GuildInfo,
    RawAttachment,
    RawMessage,
)

__all__ = [
    "REQUIRED_PERMISSIONS",
    "DiscordTransport",
    "channel_from_payload",
    "invite_url",
    "message_from_discord",
    "message_from_payload",
]

T = TypeVar("T")

#: Stored content must never ping anyone.
_NO_MENTIONS: dict[str, Any] = {"parse": []}


class DiscordTransport(DiscordEvents):
    """The :class:`~discobase.storage.transport.Transport` protocol on a discord.py client.

    Args:
        client: a :class:`discord.Client` (or :class:`discord.ext.commands.Bot`)
            that is not started yet; the transport logs it in, runs its gateway
            connection and closes it.
        token: the bot token (kept private: never logged nor put in an error).
        ready_timeout: seconds :meth:`connect` waits for the gateway to be ready.
    """

    def __init__(self, client: discord.Client, token: str, *, ready_timeout: float = 30.0) -> None:
        self.client = client
        self._token = token
        self.ready_timeout = ready_timeout
        self.calls: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.pump = EventPump("DiscordTransport")
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._listening = False

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        return f"<DiscordTransport client={type(self.client).__name__} {state}>"

    # ------------------------------------------------------------------ identity
    @property
    def user_id(self) -> int:
        """The bot's user id; 0 until :meth:`connect` has logged in.

        So ``isinstance(t, Transport)``, which reads every member on Python 3.11, works before
        connecting.
        """
        user = self.client.user
        return user.id if user is not None else 0

    @property
    def application_id(self) -> int:
        """The bot's application id; 0 until :meth:`connect` has logged in."""
        return self.client.application_id or 0

    def invite_url(self, permissions: int = REQUIRED_PERMISSIONS) -> str | None:
        """The OAuth2 URL that adds this bot to a guild (``None`` before login)."""
        application_id = self.client.application_id
        return invite_url(application_id, permissions) if application_id is not None else None

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Log in, start the gateway connection and wait until it is ready.

        Raises :class:`~discobase.exceptions.LoginError` when Discord rejects the
        token (or the intents), :class:`~discobase.exceptions.NotConnectedError`
        when the gateway fails otherwise or is not ready within ``ready_timeout``.
        On failure the client is closed.
        """
        self.calls["connect"] += 1
        if self._connected:
            return
        client = self.client
        if client.is_ready():
            self._connected = True
            return
        try:
            await self._login()
            await self._start_gateway()
        except BaseException:
            await self._shutdown()
            raise
        self._connected = True
        logger.debug("connected to Discord as {} ({})", client.user, self.user_id)

    async def _login(self) -> None:
        self.requests[ROUTE_ME] += 1
        try:
            await self.client.login(self._token)
        except discord.LoginFailure as error:
            raise LoginError(
                "Discord rejected the bot token (401 Unauthorized); check the token "
                "(Developer Portal → your application → Bot → Reset Token)",
                route=ROUTE_ME,
            ) from error
        except discord.HTTPException as error:
            raise NotConnectedError(
                f"could not log in: Discord answered {error.status} (code {error.code}): {error.text}",
                route=ROUTE_ME,
            ) from error
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise NotConnectedError(
                f"could not reach Discord to log in ({type(error).__name__}: {error})", route=ROUTE_ME
            ) from error
        self.requests[ROUTE_MY_APPLICATION] += 1

    async def _start_gateway(self) -> None:
        client = self.client
        task = asyncio.get_running_loop().create_task(
            client.connect(reconnect=True), name="discobase-gateway"
        )
        self._task = task
        ready = asyncio.ensure_future(client.wait_until_ready())
        arrived = asyncio.ensure_future(self._guilds_arrived())
        try:
            done, _ = await asyncio.wait(
                {ready, arrived, task}, timeout=self.ready_timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            for waiter in (ready, arrived):
                if not waiter.done():
                    waiter.cancel()
            await asyncio.gather(ready, arrived, return_exceptions=True)
        if any(w in done and not w.cancelled() and w.exception() is None for w in (ready, arrived)):
            return
        if task in done:
            error = task.exception() if not task.cancelled() else None
            raise gateway_error(error)
        raise NotConnectedError(f"the Discord gateway was not ready within {self.ready_timeout:g} s")

    def _gateway_complete(self) -> bool:
        """Whether READY has been read and every guild it listed has arrived.

        discord.py's own ready (``on_ready``) comes ``guild_ready_timeout`` after
        the last GUILD_CREATE, in case more guilds follow; discobase needs only
        the guilds READY announced, so it goes on as soon as they are all in
        the cache. ``False`` whenever it cannot tell (for example with an
        ``AutoShardedClient``), which leaves the wait to discord.py's ready.
        """
        client = self.client
        pending = getattr(client._connection, "_ready_state", None)
        if client.user is None or pending is None:
            return False
        return all(not guild.unavailable for guild in client.guilds)

    async def _guilds_arrived(self) -> None:
        """Return once :meth:`_gateway_complete` holds, checked after every gateway event.

        discord.py parses an event right after announcing it.
        """
        while not self._gateway_complete():
            await self.client.wait_for("socket_event_type")

    async def _shutdown(self) -> None:
        try:
            await self.client.close()
        finally:
            task, self._task = self._task, None
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        """Close the client (its gateway connection and HTTP session); idempotent."""
        self.calls["close"] += 1
        self._connected = False
        await self.pump.close()
        await self._shutdown()

    def _require(self, operation: str) -> None:
        self.calls[operation] += 1
        if not self._connected:
            raise NotConnectedError("the Discord transport is not connected; call connect() first")

    # ------------------------------------------------------------------ requests and errors
    async def _request(
        self,
        route: str,
        call: Callable[[], Awaitable[T]],
        *,
        channel: int | None = None,
        permission: str = "",
        guild_id: int | None = None,
    ) -> T:
        """Make one request (counted under ``route``), translating its errors."""
        self.requests[route] += 1
        try:
            return await call()
        except discord.HTTPException as error:
            raise http_error(
                error,
                route=route,
                channel=channel,
                permission=permission,
                guild_id=guild_id,
                application_id=self.client.application_id,
            ) from error
        except discord.RateLimited as error:
            raise DatabaseStorageError(
                f"Discord rate-limits this route for {error.retry_after:.0f} s, longer than discord.py waits",
                channel=channel,
                route=route,
            ) from error
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise DatabaseUnavailableError(
                f"network error talking to Discord ({type(error).__name__}: {error})",
                channel=channel,
                route=route,
            ) from error

    # ------------------------------------------------------------------ guilds and channels
    async def guilds(self) -> list[GuildInfo]:
        """Guilds of the gateway's cache (kept current by GUILD_CREATE/DELETE); no request."""
        self._require("guilds")
        return sorted((GuildInfo(g.id, g.name) for g in self.client.guilds), key=lambda g: g.id)

    async def channels(self, guild_id: int, *, hidden: bool = False) -> list[ChannelInfo]:
        """The guild's channels the bot can see, by position (then id).

        Discord's answer holds hidden channels too; they are left out unless ``hidden``.
        """
        self._require("channels")
        data = await self._request(
            "GET " + ROUTE_GUILD_CHANNELS,
            lambda: self.client.http.get_all_guild_channels(guild_id),
            guild_id=guild_id,
        )
        listed = [(c, self._can_view(guild_id, c)) for c in data]
        channels = [channel_from_payload(c, visible=seen) for c, seen in listed if seen or hidden]
        return sorted(channels, key=lambda c: (c.position, c.id))

    def _can_view(self, guild_id: int, data: Mapping[str, Any]) -> bool:
        """Whether the bot may view a channel, by Discord's permission algorithm.

        Roles come from the gateway's cache, overwrites from the payload: Discord lists every
        channel of a guild, hidden ones included. ``True`` when the cache cannot tell.
        """
        guild = self.client.get_guild(guild_id)
        me = guild.me if guild is not None else None
        if guild is None or me is None or guild.owner_id == me.id:
            return True
        role_ids = {role.id for role in me.roles}
        perms = 0
        for role in me.roles:
            perms |= role.permissions.value
        if perms & (1 << 3):  # ADMINISTRATOR
            return True
        overwrites = data.get("permission_overwrites") or []
        allow = deny = 0
        for overwrite in overwrites:  # @everyone first, then roles, then the member
            if int(overwrite["id"]) == guild_id and int(overwrite.get("type", 0)) == 0:
                perms = (perms & ~int(overwrite.get("deny", 0))) | int(overwrite.get("allow", 0))
        for overwrite in overwrites:
            target = int(overwrite["id"])
            if int(overwrite.get("type", 0)) == 0 and target != guild_id and target in role_ids:
                allow |= int(overwrite.get("allow", 0))
                deny |= int(overwrite.get("deny", 0))
        perms = (perms & ~deny) | allow
        for overwrite in overwrites:
            if int(overwrite.get("type", 0)) == 1 and int(overwrite["id"]) == me.id:
                perms = (perms & ~int(overwrite.get("deny", 0))) | int(overwrite.get("allow", 0))
        return bool(perms & Perm.VIEW_CHANNEL)

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
        """Create a channel; ``private`` hides it from @everyone and keeps the bot's access.

        A private channel allows the bot what it needs: View, Send, Read History, Attach, Manage
        Messages.
        """
        self._require("create_channel")
        options: dict[str, Any] = {"name": name, "parent_id": parent_id, "topic": topic}
        if private:
            options["permission_overwrites"] = [
                {"id": str(guild_id), "type": 0, "allow": "0", "deny": str(Perm.VIEW_CHANNEL)},
                {"id": str(self.user_id), "type": 1, "allow": str(Perm.PRIVATE_ALLOW), "deny": "0"},
            ]
        data = await self._request(
            "POST " + ROUTE_GUILD_CHANNELS,
            lambda: self.client.http.create_channel(guild_id, type, **options),  # type: ignore[arg-type]
            permission="Manage Channels and Manage Roles" if private else "Manage Channels",
            guild_id=guild_id,
        )
        info = channel_from_payload(data)
        logger.debug("created channel {} ({}) in guild {}", info.id, info.name, guild_id)
        return info

    async def edit_channel(
        self, channel_id: int, *, topic: str | None = None, name: str | None = None
    ) -> None:
        """Change a channel's topic and/or name (no request when both are ``None``)."""
        self._require("edit_channel")
        options = {key: value for key, value in (("topic", topic), ("name", name)) if value is not None}
        if not options:
            return
        await self._request(
            "PATCH " + ROUTE_CHANNEL,
            lambda: self.client.http.edit_channel(channel_id, **options),
            channel=channel_id,
            permission="Manage Channels",
        )

    async def delete_channel(self, channel_id: int) -> None:
        self._require("delete_channel")
        try:
            await self._request(
                "DELETE " + ROUTE_CHANNEL,
                lambda: self.client.http.delete_channel(channel_id),
                channel=channel_id,
                permission="Manage Channels",
            )
        except DatabaseLookupError:
            return  # already gone
        logger.debug("deleted channel {}", channel_id)

    # ------------------------------------------------------------------ messages
    async def send(
        self, channel_id: int, content: str, files: Sequence[FileData] = (), *, nonce: str | None = None
    ) -> RawMessage:
        """Post a message; a retry with the same ``nonce`` returns the message the first one stored.

        That is Discord's ``enforce_nonce``.
        """
        self._require("send")
        check_send(channel_id, content, files)
        payload: dict[str, Any] = {
            "content": content,
            "allowed_mentions": _NO_MENTIONS,
            "flags": _SUPPRESS_EMBEDS,
        }
        if nonce is not None:
            payload["nonce"] = nonce
            payload["enforce_nonce"] = True
        if files:
            payload["attachments"] = [{"id": i, "filename": f.filename} for i, f in enumerate(files)]
        params = upload_params(payload, files)
        data = await self._request(
            "POST " + ROUTE_CHANNEL_MESSAGES,
            lambda: self.client.http.send_message(channel_id, params=params),
            channel=channel_id,
            permission="Send Messages and Attach Files" if files else "Send Messages",
        )
        message = message_from_payload(data)
        logger.debug("sent {} to {}", message.id, channel_id)
        return message

    async def edit(
        self,
        channel_id: int,
        message_id: int,
        content: str,
        files: Sequence[FileData] = (),
        keep_attachments: Sequence[int] = (),
    ) -> RawMessage:
        """Replace the content; the attachments become ``keep_attachments`` then ``files``."""
        self._require("edit")
        check_edit(channel_id, content, files, keep_attachments)
        attachments: list[dict[str, Any]] = [{"id": str(a)} for a in keep_attachments]
        attachments += [{"id": i, "filename": f.filename} for i, f in enumerate(files)]
        payload: dict[str, Any] = {
            "content": content,
            "attachments": attachments,
            "allowed_mentions": _NO_MENTIONS,
        }
        params = upload_params(payload, files)
        data = await self._request(
            "PATCH " + ROUTE_CHANNEL_MESSAGE,
            lambda: self.client.http.edit_message(channel_id, message_id, params=params),
            channel=channel_id,
            permission="Attach Files" if files else "Send Messages",
        )
        message = message_from_payload(data)
        logger.debug("edited {} in {}", message_id, channel_id)
        return message

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        """Delete messages: bulk deletes where Discord allows them, single deletes for the rest.

        Bulk deletes take chunks of 2 to 100 messages younger than 14 days. Messages (or a
        channel) already gone are ignored.
        """
        self._require("delete_messages")
        bulk, singles = plan_deletes(message_ids)
        http = self.client.http
        for chunk in bulk:
            try:
                await self._request(
                    ROUTE_BULK_DELETE,
                    lambda chunk=chunk: http.delete_messages(channel_id, chunk),  # type: ignore[misc]
                    channel=channel_id,
                    permission="Manage Messages",
                )
            except DatabaseLookupError:
                continue
            logger.debug("bulk-deleted {} messages in {}", len(chunk), channel_id)
        for message_id in singles:
            try:
                await self._request(
                    "DELETE " + ROUTE_CHANNEL_MESSAGE,
                    lambda message_id=message_id: http.delete_message(channel_id, message_id),  # type: ignore[misc]
                    channel=channel_id,
                    permission="Manage Messages",
                )
            except DatabaseLookupError:
                continue
            logger.debug("deleted {} in {}", message_id, channel_id)

    async def fetch(self, channel_id: int, message_id: int) -> RawMessage | None:
        """The message, or ``None`` when it does not exist (an unknown channel is an error)."""
        self._require("fetch")
        try:
            data = await self._request(
                "GET " + ROUTE_CHANNEL_MESSAGE,
                lambda: self.client.http.get_message(channel_id, message_id),
                channel=channel_id,
                permission="Read Message History",
            )
        except DatabaseLookupError as error:
            cause = error.__cause__
            if isinstance(cause, discord.NotFound) and cause.code == 10008:
                return None
            raise
        return message_from_payload(data)

    async def history(
        self,
        channel_id: int,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = HISTORY_PAGE,
    ) -> list[RawMessage]:
        """One page of a channel's messages (one request), oldest first.

        The ``limit`` oldest messages after ``after`` (and before ``before`` if both are given),
        else the ``limit`` newest before ``before`` (or overall). ``limit`` is 1 to 100.
        """
        self._require("history")
        check_history(limit, after, before)
        http = self.client.http
        if after is not None:
            data = await self._request(
                "GET " + ROUTE_CHANNEL_MESSAGES,
                lambda: http.logs_from(channel_id, limit, after=after),
                channel=channel_id,
                permission="Read Message History",
            )
        else:
            data = await self._request(
                "GET " + ROUTE_CHANNEL_MESSAGES,
                lambda: http.logs_from(channel_id, limit, before=before),
                channel=channel_id,
                permission="Read Message History",
            )
        messages = sorted((message_from_payload(m) for m in data), key=lambda m: m.id)
        if after is not None and before is not None:
            messages = [m for m in messages if m.id < before]
        return messages

    async def read_attachment(self, attachment: RawAttachment) -> bytes:
        """The attachment's bytes from Discord's CDN.

        Its URL is signed and expires after about a day: fetch the message again for a fresh
        one.
        """
        self._require("read_attachment")
        channel = attachment_channel(attachment.url)
        try:
            return await self._request(
                ROUTE_CDN, lambda: self.client.http.get_from_cdn(attachment.url), channel=channel
            )
        except DatabaseLookupError as error:
            raise DatabaseLookupError(
                f"attachment {attachment.id} ({attachment.filename}) no longer exists (or its URL expired)",
                channel=channel,
                route=ROUTE_CDN,
            ) from error.__cause__

    # ------------------------------------------------------------------ events
