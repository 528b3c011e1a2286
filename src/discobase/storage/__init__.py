"""Storage: the only layer that talks to Discord (the transports), the wire codec, crypto, locks and ids.

``Database(transport=...)`` takes any :class:`Transport`; :class:`MemoryTransport`
(over a :class:`MemoryDiscord`) is the one for fast unit tests.
"""

from discobase.storage.discord_transport import DiscordTransport
from discobase.storage.memory import MemoryDiscord, MemoryTransport
from discobase.storage.transport import MessageEvent, Transport

__all__ = ["DiscordTransport", "MemoryDiscord", "MemoryTransport", "MessageEvent", "Transport"]
