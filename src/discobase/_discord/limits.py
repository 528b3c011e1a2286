"""Discord's limits and constants, in one place for the ORM's transports and the local server.

The epoch is :data:`discobase._discord.snowflakes.DISCORD_EPOCH`."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BULK_DELETE_MAX",
    "BULK_DELETE_MAX_AGE_MS",
    "BULK_DELETE_MIN",
    "CONTENT_LIMIT",
    "FILENAME_LIMIT",
    "FILES_PER_MESSAGE",
    "HISTORY_PAGE",
    "MAX_CHANNELS_PER_CATEGORY",
    "MAX_CHANNELS_PER_GUILD",
    "MESSAGE_FILES_LIMIT",
    "UPLOAD_LIMIT",
]

#: Characters in a message's content.
CONTENT_LIMIT: Final = 2000
#: Files in one message.
FILES_PER_MESSAGE: Final = 10
#: Bytes in one file (Discord's default for bots since 2025).
UPLOAD_LIMIT: Final = 10 * 1024 * 1024
#: Bytes of all files of one message together: Discord refuses a larger
#: create-message request with 413 / 40005 "Request entity too large".
MESSAGE_FILES_LIMIT: Final = 25 * 1024 * 1024
#: Characters of an attachment's file name.
FILENAME_LIMIT: Final = 1024
#: Messages in one history page.
HISTORY_PAGE: Final = 100
#: Ids in one bulk-delete request.
BULK_DELETE_MIN: Final = 2
BULK_DELETE_MAX: Final = 100
#: Bulk delete refuses messages older than two weeks.
BULK_DELETE_MAX_AGE_MS: Final = 14 * 86_400_000
#: Channels in one guild, and in one category.
MAX_CHANNELS_PER_GUILD: Final = 500
MAX_CHANNELS_PER_CATEGORY: Final = 50
