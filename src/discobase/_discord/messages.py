"""Discord's message flags and per-message and per-channel caps.

See https://discord.com/developers/docs/resources/message.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALLOWED_MENTION_TYPES",
    "CREATE_MESSAGE_FLAGS",
    "EDIT_MESSAGE_FLAGS",
    "ENFORCE_NONCE_WINDOW",
    "EPHEMERAL",
    "IS_COMPONENTS_V2",
    "IS_VOICE_MESSAGE",
    "LOADING",
    "MAX_PINS",
    "MAX_REACTIONS",
    "RESPONSE_FLAGS",
    "SUPPRESS_EMBEDS",
    "SUPPRESS_NOTIFICATIONS",
]

#: Message flags ("Message Flags").
SUPPRESS_EMBEDS: Final = 1 << 2
EPHEMERAL: Final = 1 << 6
#: A deferred interaction response still "thinking".
LOADING: Final = 1 << 7
SUPPRESS_NOTIFICATIONS: Final = 1 << 12
IS_VOICE_MESSAGE: Final = 1 << 13
IS_COMPONENTS_V2: Final = 1 << 15
#: The flags a create may set (others are dropped) ("Create Message" flags).
CREATE_MESSAGE_FLAGS: Final = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_VOICE_MESSAGE | IS_COMPONENTS_V2
#: The flags an edit may set or unset: SUPPRESS_EMBEDS only ("Edit Message" flags).
EDIT_MESSAGE_FLAGS: Final = SUPPRESS_EMBEDS
#: The flags an interaction response may set
#: (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-messages).
RESPONSE_FLAGS: Final = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

#: What ``allowed_mentions.parse`` may name; all of it is parsed when a message has no
#: ``allowed_mentions`` (interaction responses and webhooks parse ``users`` only).
ALLOWED_MENTION_TYPES: Final = ("users", "roles", "everyone")

#: Pinned messages per channel (30003; raised from 50 in 2026).
MAX_PINS: Final = 250
#: Distinct emoji on one message (30010).
MAX_REACTIONS: Final = 20
#: Seconds in which ``enforce_nonce`` returns the earlier message: Discord says "in the past
#: few minutes" (change log 2024-02-12); five minutes here.
ENFORCE_NONCE_WINDOW: Final = 300.0
