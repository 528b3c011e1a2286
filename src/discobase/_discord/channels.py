"""Channel-name rules of Discord."""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CREATABLE_CHANNEL_TYPES",
    "DM_CHANNEL_TYPE",
    "FORUM_TYPES",
    "MESSAGE_CHANNEL_TYPES",
    "TEXT_NAME_TYPES",
    "normalize_channel_name",
]

#: The guild channel types the local server creates and the ORM's memory transport accepts:
#: text, voice, category, announcement, stage, forum
#: (https://discord.com/developers/docs/resources/channel#channel-object-channel-types).
CREATABLE_CHANNEL_TYPES: Final = frozenset({0, 2, 4, 5, 13, 15})
#: Guild channel types that hold messages: text, voice (its text chat), announcement, stage.
MESSAGE_CHANNEL_TYPES: Final = frozenset({0, 2, 5, 13})
#: Forum and media channels (their topic may be 4096 characters).
FORUM_TYPES: Final = frozenset({15, 16})
#: A DM between two users.
DM_CHANNEL_TYPE: Final = 1

#: Channel types whose names Discord normalises (text and announcement channels).
TEXT_NAME_TYPES: Final = frozenset({0, 5})
_WHITESPACE_RUN: Final = re.compile(r"\s+")


def normalize_channel_name(name: str, type: int) -> str:
    """The name Discord stores for a channel of ``type``.

    For text and announcement channels (0, 5) the name is lowercased, each run of whitespace
    becomes ``-`` and leading/trailing ``-`` are removed; other characters (most of Unicode)
    are kept. Other types keep the name as given. This is OBSERVED behaviour, not documented
    (discord-api-docs issue #1646): clients should read back the returned ``name``. If nothing would
    be left (e.g. ``"---"``) the dashed name is kept unstripped so it is never empty.
    """
    if type not in TEXT_NAME_TYPES:
        return name
    dashed = _WHITESPACE_RUN.sub("-", name.lower())
    return dashed.strip("-") or dashed
