"""Discord's channel types and channel-name rules."""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CHANNEL_TYPES",
    "CHANNEL_TYPE_CATEGORY",
    "CHANNEL_TYPE_TEXT",
    "MESSAGE_CHANNEL_TYPES",
    "TEXT_NAME_TYPES",
    "normalize_channel_name",
]

#: A text channel, and a category (the two types discobase's own channels have).
CHANNEL_TYPE_TEXT: Final = 0
CHANNEL_TYPE_CATEGORY: Final = 4
#: Guild channel types a bot can create: text, voice, category, announcement, stage, forum.
CHANNEL_TYPES: Final = frozenset({0, 2, 4, 5, 13, 15})
#: Guild channel types that hold messages: text, voice, announcement and stage channels.
MESSAGE_CHANNEL_TYPES: Final = frozenset({0, 2, 5, 13})
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
