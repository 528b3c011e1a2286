"""Discord's limits and constants, in one place for the ORM's transports and the local server.

Message flags and caps are in :mod:`~discobase._discord.messages`, channel types in
:mod:`~discobase._discord.channels`, the epoch is :data:`discobase._discord.snowflakes.DISCORD_EPOCH`."""

from __future__ import annotations

from typing import Final

__all__ = [
    "AUTO_ARCHIVE_DURATIONS",
    "BULK_DELETE_MAX",
    "BULK_DELETE_MAX_AGE_MS",
    "BULK_DELETE_MIN",
    "CHANNEL_TYPE_CATEGORY",
    "CHANNEL_TYPE_TEXT",
    "COMMAND_TYPES",
    "CONTENT_LIMIT",
    "FILENAME_LIMIT",
    "FILES_PER_MESSAGE",
    "GUILD_NAME_MAX",
    "GUILD_NAME_MIN",
    "HISTORY_DEFAULT",
    "HISTORY_PAGE",
    "INVITE_TARGET_TYPES",
    "MAX_ATTACHMENT_TEXT",
    "MAX_AUTHOR_NAME",
    "MAX_CHANNELS_PER_CATEGORY",
    "MAX_CHANNELS_PER_GUILD",
    "MAX_CHANNEL_NAME",
    "MAX_COLOR",
    "MAX_COMMANDS_PER_REQUEST",
    "MAX_COMMANDS_PER_TYPE",
    "MAX_COMMAND_DESCRIPTION",
    "MAX_COMMAND_NAME",
    "MAX_COMMAND_OPTIONS",
    "MAX_COMPONENTS",
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
    "MAX_MEMBERS_PAGE",
    "MAX_MEMBER_QUERY",
    "MAX_MENTION_IDS",
    "MAX_NONCE_LENGTH",
    "MAX_OPTION_CHOICES",
    "MAX_OVERWRITES",
    "MAX_PERMISSIONS",
    "MAX_ROLES",
    "MAX_SLOWMODE",
    "MAX_STICKERS",
    "MAX_TOPIC",
    "MAX_URL",
    "MAX_WAVEFORM",
    "MESSAGE_FILES_LIMIT",
    "MESSAGE_REFERENCE_TYPES",
    "MY_GUILDS_PAGE",
    "OPTION_TYPES",
    "OVERWRITE_TYPES",
    "PINS_PAGE",
    "REACTION_USERS_DEFAULT",
    "REACTION_USERS_PAGE",
    "SUBCOMMAND_TYPES",
    "UPLOAD_LIMIT",
    "VIDEO_QUALITY_MODES",
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
#: Channel types discobase uses.
CHANNEL_TYPE_TEXT: Final = 0
CHANNEL_TYPE_CATEGORY: Final = 4

# ---------------------------------------------------------------------- request bodies
# What the local server validates requests against. [DOC]: Discord's docs
# (https://discord.com/developers/docs/reference and the resource pages); [SPEC]: its OpenAPI spec.
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
#: An attachment's filename (at least 1), description and title share the file-name limit.
MAX_ATTACHMENT_TEXT: Final = FILENAME_LIMIT
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
MAX_PERMISSIONS: Final = 2**64 - 1
MAX_INVITE_AGE: Final = 604800  # [DOC] 7 days (the spec says 5184000)
MAX_INVITE_USES: Final = 100
MAX_COMMANDS_PER_REQUEST: Final = 130  # [SPEC] bulk overwrite maxItems (100 chat + 15 user + 15 message)
MAX_COMMANDS_PER_TYPE: Final = {1: 100, 2: 15, 3: 15}  # [DOC] application commands "Registering a Command"
MAX_COMMAND_NAME: Final = 32
MAX_COMMAND_DESCRIPTION: Final = 100
MAX_COMMAND_OPTIONS: Final = 25
#: Choices of a command option, and of an autocomplete answer.
MAX_OPTION_CHOICES: Final = 25
MAX_LOCALIZATIONS: Final = 34  # [SPEC] name_localizations.maxProperties

# ---------------------------------------------------------------------- enumerations
OVERWRITE_TYPES: Final = (0, 1)  # role, member
VIDEO_QUALITY_MODES: Final = (1, 2)
AUTO_ARCHIVE_DURATIONS: Final = (60, 1440, 4320, 10080)
MESSAGE_REFERENCE_TYPES: Final = (0, 1)  # DEFAULT (reply), FORWARD [DOC MSG]
INVITE_TARGET_TYPES: Final = (1, 2)
COMMAND_TYPES: Final = (1, 2, 3)  # CHAT_INPUT, USER, MESSAGE
OPTION_TYPES: Final = tuple(range(1, 12))  # SUB_COMMAND … ATTACHMENT
SUBCOMMAND_TYPES: Final = (1, 2)

# ---------------------------------------------------------------------- guilds, members, pages
#: A guild's name: 2 to 100 characters.
GUILD_NAME_MIN: Final = 2
GUILD_NAME_MAX: Final = 100
#: Roles in one guild (30005).
MAX_ROLES: Final = 250
#: ``GET /guilds/{id}/members/search``: ``query`` 1 to 100 characters; ``limit`` up to 1000,
#: like ``GET /guilds/{id}/members`` (both default to 1).
MAX_MEMBER_QUERY: Final = 100
MAX_MEMBERS_PAGE: Final = 1000
#: Default history page (``limit`` defaults to 50, at most :data:`HISTORY_PAGE`).
HISTORY_DEFAULT: Final = 50
#: Pins in one page of ``GET /channels/{id}/messages/pins`` (and all the old route returns).
PINS_PAGE: Final = 50
#: Users of one ``GET .../reactions/{emoji}`` page: 25 unless ``limit`` (at most 100) says otherwise.
REACTION_USERS_DEFAULT: Final = 25
REACTION_USERS_PAGE: Final = 100
#: Guilds of one ``GET /users/@me/guilds`` page.
MY_GUILDS_PAGE: Final = 200
