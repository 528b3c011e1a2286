"""Discord's interaction types, callback types, contexts and clocks.

See https://discord.com/developers/docs/interactions/receiving-and-responding.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPLICATION_COMMAND",
    "AUTOCOMPLETE",
    "CALLBACK_TYPES",
    "CONTEXT_BOT_DM",
    "CONTEXT_GUILD",
    "CONTEXT_PRIVATE_CHANNEL",
    "MAX_CHOICES",
    "MESSAGE_COMPONENT",
    "MODAL_SUBMIT",
    "PING",
    "RESPONSE_WINDOW",
    "TOKEN_LIFETIME",
]

#: Interaction types.
PING: Final = 1
APPLICATION_COMMAND: Final = 2
MESSAGE_COMPONENT: Final = 3
AUTOCOMPLETE: Final = 4
MODAL_SUBMIT: Final = 5
#: Interaction callback types ("Interaction Callback Type").
CALLBACK_TYPES: Final = (1, 4, 5, 6, 7, 8, 9, 10, 12)
#: Interaction context types: in a guild, in the DM with the app's bot, in another private channel.
CONTEXT_GUILD: Final = 0
CONTEXT_BOT_DM: Final = 1
CONTEXT_PRIVATE_CHANNEL: Final = 2
#: Autocomplete choices in one answer.
MAX_CHOICES: Final = 25
#: Seconds an app has to answer an interaction before it is invalid (404/10062).
RESPONSE_WINDOW: Final = 3.0
#: Seconds an interaction's token works for follow-ups and edits (15 minutes; then 401/50027).
TOKEN_LIFETIME: Final = 900.0
