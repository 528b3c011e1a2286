"""Discord's limits and enumerations for request bodies: lengths, counts, allowed types.

A pure data table; sources are noted per value ([DOC] Discord's docs, [SPEC] its OpenAPI spec)."""

from __future__ import annotations

from typing import Final

from discobase._discord.channels import CHANNEL_TYPES
from discobase._discord.limits import (
    BULK_DELETE_MAX,
    BULK_DELETE_MAX_AGE_MS,
    BULK_DELETE_MIN,
    CONTENT_LIMIT,
    FILES_PER_MESSAGE,
)
from discobase._discord.snowflakes import MAX_ID

__all__ = [
    "ALLOWED_MENTION_TYPES",
    "AUTO_ARCHIVE_DURATIONS",
    "BULK_DELETE_MAX",
    "BULK_DELETE_MAX_AGE_MS",
    "BULK_DELETE_MIN",
    "CHANNEL_TYPES",
    "COMMAND_TYPES",
    "FORUM_TYPES",
    "INVITE_TARGET_TYPES",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_TEXT",
    "MAX_AUTHOR_NAME",
    "MAX_CHANNEL_NAME",
    "MAX_COLOR",
    "MAX_COMMANDS_PER_REQUEST",
    "MAX_COMMANDS_PER_TYPE",
    "MAX_COMMAND_DESCRIPTION",
    "MAX_COMMAND_NAME",
    "MAX_COMMAND_OPTIONS",
    "MAX_COMPONENTS",
    "MAX_CONTENT_LENGTH",
    "MAX_EMBEDS",
    "MAX_EMBED_DESCRIPTION",
    "MAX_EMBED_FIELDS",
    "MAX_EMBED_TITLE",
    "MAX_EMBED_TOTAL",
    "MAX_FIELD_NAME",
    "MAX_FIELD_VALUE",
    "MAX_FOOTER_TEXT",
    "MAX_FORUM_TOPIC",
    "MAX_INT32",
    "MAX_INT64",
    "MAX_INVITE_AGE",
    "MAX_INVITE_USES",
    "MAX_LOCALIZATIONS",
    "MAX_MENTION_IDS",
    "MAX_NONCE_LENGTH",
    "MAX_OPTION_CHOICES",
    "MAX_OVERWRITES",
    "MAX_PERMISSIONS",
    "MAX_SLOWMODE",
    "MAX_SNOWFLAKE",
    "MAX_STICKERS",
    "MAX_TOPIC",
    "MAX_URL",
    "MAX_WAVEFORM",
    "MESSAGE_REFERENCE_TYPES",
    "OPTION_TYPES",
    "OVERWRITE_TYPES",
    "SUBCOMMAND_TYPES",
    "VIDEO_QUALITY_MODES",
]

# ---------------------------------------------------------------------------------------------- limits
# [DOC]: Discord's docs (https://docs.discord.com/developers/reference); [SPEC]: its OpenAPI spec.
MAX_CONTENT_LENGTH: Final = CONTENT_LIMIT  # [DOC MSG] (the spec's 4000 is the Nitro user limit)
MAX_EMBEDS: Final = 10
MAX_EMBED_TOTAL: Final = 6000
MAX_EMBED_TITLE: Final = 256
MAX_EMBED_DESCRIPTION: Final = 4096
MAX_EMBED_FIELDS: Final = 25
MAX_FIELD_NAME: Final = 256
MAX_FIELD_VALUE: Final = 1024
MAX_FOOTER_TEXT: Final = 2048
MAX_AUTHOR_NAME: Final = 256
MAX_URL: Final = 2048
MAX_COLOR: Final = 0xFFFFFF
MAX_ATTACHMENTS: Final = FILES_PER_MESSAGE
MAX_ATTACHMENT_TEXT: Final = 1024  # filename (min 1), description, title
MAX_WAVEFORM: Final = 400  # [SPEC] MessageAttachmentRequest.waveform
MAX_NONCE_LENGTH: Final = 25
MAX_STICKERS: Final = 3
MAX_COMPONENTS: Final = 40  # [SPEC]
MAX_MENTION_IDS: Final = 100  # [SPEC] MessageAllowedMentionsRequest.users/roles
MAX_CHANNEL_NAME: Final = 100
MAX_TOPIC: Final = 1024
MAX_FORUM_TOPIC: Final = 4096  # GUILD_FORUM (15) and GUILD_MEDIA (16)
MAX_SLOWMODE: Final = 21600
MAX_OVERWRITES: Final = 100  # [SPEC] permission_overwrites.maxItems
MAX_INT32: Final = 2**31 - 1
MAX_INT64: Final = 2**63 - 1
MAX_SNOWFLAKE: Final = MAX_ID  # ids are signed 64-bit (see the module docstring)
MAX_PERMISSIONS: Final = 2**64 - 1
MAX_INVITE_AGE: Final = 604800  # [DOC] 7 days (the spec says 5184000)
MAX_INVITE_USES: Final = 100
MAX_COMMANDS_PER_REQUEST: Final = 130  # [SPEC] bulk overwrite maxItems (100 chat + 15 user + 15 message)
MAX_COMMANDS_PER_TYPE: Final = {1: 100, 2: 15, 3: 15}  # [DOC] application commands "Registering a Command"
MAX_COMMAND_NAME: Final = 32
MAX_COMMAND_DESCRIPTION: Final = 100
MAX_COMMAND_OPTIONS: Final = 25
MAX_OPTION_CHOICES: Final = 25
MAX_LOCALIZATIONS: Final = 34  # [SPEC] name_localizations.maxProperties

FORUM_TYPES: Final = frozenset({15, 16})
OVERWRITE_TYPES: Final = (0, 1)  # role, member
VIDEO_QUALITY_MODES: Final = (1, 2)
AUTO_ARCHIVE_DURATIONS: Final = (60, 1440, 4320, 10080)
MESSAGE_REFERENCE_TYPES: Final = (0, 1)  # DEFAULT (reply), FORWARD [DOC MSG]
ALLOWED_MENTION_TYPES: Final = ("users", "roles", "everyone")
INVITE_TARGET_TYPES: Final = (1, 2)
COMMAND_TYPES: Final = (1, 2, 3)  # CHAT_INPUT, USER, MESSAGE
OPTION_TYPES: Final = tuple(range(1, 12))  # SUB_COMMAND … ATTACHMENT
SUBCOMMAND_TYPES: Final = (1, 2)
