"""Discord's rules as both transports apply them, so that they behave identically.

Limits checked before a request is made, the routes they count, the
permission a failed route needs, how a deletion is split into bulk and single
requests, and the ordered delivery of message events.

Discord's own facts (limits, epoch, permissions) come from :mod:`discobase._discord`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import Sequence

from loguru import logger

from discobase._discord.limits import (
    BULK_DELETE_MAX,
    BULK_DELETE_MAX_AGE_MS,
    FILENAME_LIMIT,
)
from discobase._discord.permissions import REQUIRED_PERMISSIONS, Permission
from discobase._discord.snowflakes import DISCORD_EPOCH as DISCORD_EPOCH_MS
from discobase.exceptions import DatabaseStorageError, MissingPermissionsError
from discobase.storage.transport import (
    CONTENT_LIMIT,
    FILES_PER_MESSAGE,
    HISTORY_PAGE,
    MESSAGE_FILES_LIMIT,
    UPLOAD_LIMIT,
    FileData,
    MessageEvent,
    MessageListener,
)

__all__ = [
    "BULK_DELETE_MAX",
    "BULK_DELETE_MAX_AGE_MS",
    "DISCORD_EPOCH_MS",
    "FILENAME_LIMIT",
    "REQUEST_FILES_LIMIT",
    "REQUIRED_PERMISSIONS",
    "ROUTE_BULK_DELETE",
    "ROUTE_CDN",
    "ROUTE_CHANNEL",
    "ROUTE_CHANNEL_MESSAGE",
    "ROUTE_CHANNEL_MESSAGES",
    "ROUTE_GUILD_CHANNELS",
    "ROUTE_ME",
    "ROUTE_MY_APPLICATION",
    "EventPump",
    "Perm",
    "attachment_channel",
    "check_edit",
    "check_history",
    "check_send",
    "invite_url",
    "missing_permissions",
    "plan_deletes",
]

#: Bytes of all files of one message together (Discord's request limit).
REQUEST_FILES_LIMIT = MESSAGE_FILES_LIMIT
#: Safety margin so that a message does not turn 14 days old between planning and the request.
_BULK_DELETE_MARGIN_MS = 60_000

# Routes as Discord (and discord.py, and the local server's statistics) name them.
ROUTE_ME = "GET /users/@me"
ROUTE_MY_APPLICATION = "GET /oauth2/applications/@me"
ROUTE_GUILD_CHANNELS = "/guilds/{guild_id}/channels"
ROUTE_CHANNEL = "/channels/{channel_id}"
ROUTE_CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
ROUTE_CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
ROUTE_BULK_DELETE = "POST /channels/{channel_id}/messages/bulk-delete"
ROUTE_CDN = "GET /attachments/{channel_id}/{attachment_id}/{filename}"


class Perm:
    """The permission bits a storage bot uses, as plain ints (the values of :class:`Permission`)."""

    MANAGE_CHANNELS = int(Permission.MANAGE_CHANNELS)
    VIEW_CHANNEL = int(Permission.VIEW_CHANNEL)
    SEND_MESSAGES = int(Permission.SEND_MESSAGES)
    MANAGE_MESSAGES = int(Permission.MANAGE_MESSAGES)
    ATTACH_FILES = int(Permission.ATTACH_FILES)
    READ_MESSAGE_HISTORY = int(Permission.READ_MESSAGE_HISTORY)
    MANAGE_ROLES = int(Permission.MANAGE_ROLES)

    #: What the bot grants itself in a private channel.
    PRIVATE_ALLOW = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | ATTACH_FILES | MANAGE_MESSAGES


def invite_url(application_id: int, permissions: int = REQUIRED_PERMISSIONS) -> str:
    """The OAuth2 URL that adds the bot of ``application_id`` to a guild with ``permissions``."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={permissions}"
    )


def missing_permissions(
    permission: str, *, route: str, channel: int | None, application_id: int | None = None
) -> MissingPermissionsError:
    """The error for a request Discord refused with "Missing Permissions"/"Missing Access"."""
    hint = f"; or re-invite it with {invite_url(application_id)}" if application_id else ""
    return MissingPermissionsError(
        f"the bot lacks the {permission} permission; give the bot's role {permission} "
        f"in the server settings (or in the channel's permissions){hint}",
        permission=permission,
        channel=channel,
        route=route,
    )


def attachment_channel(url: str) -> int | None:
    """The channel id in an attachment URL, if there is one.

    On Discord's CDN the URL is ``.../attachments/<channel>/<id>/<name>``, in memory
    ``memory://<channel>/<id>/<name>``.
    """
    path = url.split("?", 1)[0]
    if path.startswith("memory://"):
        head = path[len("memory://") :]
    elif "/attachments/" in path:
        head = path.split("/attachments/", 1)[1]
    else:
        return None
    first = head.split("/", 1)[0]
    return int(first) if first.isdigit() else None


def _check_content(content: str, *, channel: int, route: str) -> None:
    if len(content) > CONTENT_LIMIT:
        raise DatabaseStorageError(
            f"message content is {len(content)} characters; Discord allows {CONTENT_LIMIT}",
            channel=channel,
            route=route,
        )


def _check_files(files: Sequence[FileData], count: int, *, channel: int, route: str) -> None:
    if count > FILES_PER_MESSAGE:
        raise DatabaseStorageError(
            f"a message would carry {count} files; Discord allows {FILES_PER_MESSAGE}",
            channel=channel,
            route=route,
        )
    total = 0
    for file in files:
        if not 1 <= len(file.filename) <= FILENAME_LIMIT:
            raise DatabaseStorageError(
                f"file name must be 1 to {FILENAME_LIMIT} characters, not {len(file.filename)}",
                channel=channel,
                route=route,
            )
        if len(file.data) > UPLOAD_LIMIT:
            raise DatabaseStorageError(
                f"file {file.filename!r} is {len(file.data)} bytes; Discord allows {UPLOAD_LIMIT} per file",
                channel=channel,
                route=route,
            )
        total += len(file.data)
    if total > REQUEST_FILES_LIMIT:
        raise DatabaseStorageError(
            f"the files of one message are {total} bytes together; Discord allows {REQUEST_FILES_LIMIT}",
            channel=channel,
            route=route,
        )


def check_send(channel_id: int, content: str, files: Sequence[FileData]) -> None:
    """Check Discord's limits on a new message before it is sent.

    Content ≤ 2000 characters, ≤ 10 files of ≤ 10 MiB each (≤ 25 MiB together), and not empty.
    """
    route = "POST " + ROUTE_CHANNEL_MESSAGES
    _check_content(content, channel=channel_id, route=route)
    _check_files(files, len(files), channel=channel_id, route=route)
    if not content and not files:
        raise DatabaseStorageError("cannot send an empty message", channel=channel_id, route=route)


def check_edit(channel_id: int, content: str, files: Sequence[FileData], keep: Sequence[int]) -> None:
    """The same limits for an edit, counting the kept attachments."""
    route = "PATCH " + ROUTE_CHANNEL_MESSAGE
    _check_content(content, channel=channel_id, route=route)
    _check_files(files, len(files) + len(keep), channel=channel_id, route=route)
    if len(set(keep)) != len(keep):
        raise DatabaseStorageError(
            "keep_attachments names an attachment twice", channel=channel_id, route=route
        )
    if not content and not files and not keep:
        raise DatabaseStorageError("an edit cannot leave a message empty", channel=channel_id, route=route)


def check_history(limit: int, after: int | None, before: int | None) -> None:
    """``limit`` is 1..100 (one page); anchors are non-negative."""
    if not 1 <= limit <= HISTORY_PAGE:
        raise ValueError(f"limit must be 1 to {HISTORY_PAGE}, not {limit}")
    if (after is not None and after < 0) or (before is not None and before < 0):
        raise ValueError("after and before must be non-negative snowflakes")


def plan_deletes(message_ids: Sequence[int], now_ms: int | None = None) -> tuple[list[list[int]], list[int]]:
    """Split ids into bulk-delete chunks and single deletions.

    A chunk holds 2 to 100 ids younger than 14 days; the old ones, and a lone young one, are
    deleted singly. Duplicates are dropped; order is kept.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    oldest = now - BULK_DELETE_MAX_AGE_MS + _BULK_DELETE_MARGIN_MS
    young: list[int] = []
    singles: list[int] = []
    for message_id in dict.fromkeys(message_ids):
        if (message_id >> 22) + DISCORD_EPOCH_MS >= oldest:
            young.append(message_id)
        else:
            singles.append(message_id)
    chunks = [young[i : i + BULK_DELETE_MAX] for i in range(0, len(young), BULK_DELETE_MAX)]
    bulk = [chunk for chunk in chunks if len(chunk) >= 2]
    singles.extend(chunk[0] for chunk in chunks if len(chunk) == 1)
    return bulk, singles


class EventPump:
    """Delivers message events to handlers one at a time, in the order they were put.

    :meth:`put` is synchronous and never blocks; a single task (started on
    demand, gone when the queue is empty) calls each handler in turn and awaits
    it if it returns an awaitable. A failing handler is logged and skipped.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.handlers: list[MessageListener] = []
        self._queue: deque[MessageEvent] = deque()
        self._task: asyncio.Task[None] | None = None

    def add(self, handler: MessageListener) -> None:
        self.handlers.append(handler)

    def put(self, event: MessageEvent) -> None:
        """Queue ``event`` (dropped when nobody subscribed, as Discord does)."""
        if not self.handlers:
            return
        self._queue.append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._queue:
            event = self._queue.popleft()
            for handler in list(self.handlers):
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception(
                        "{}: event handler {!r} failed on a {} event in channel {}",
                        self.owner,
                        handler,
                        event.kind,
                        event.channel_id,
                    )

    async def drain(self) -> None:
        """Return once every queued event has been delivered."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Drop undelivered events and stop the delivery task."""
        self._queue.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
