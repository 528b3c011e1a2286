"""The Gateway v10 websocket side of the local Discord-compatible server.

:class:`GatewayHub` is an aiohttp handler (mounted at ``GET /gateway``) that
speaks the Discord gateway protocol well enough for an unmodified discord.py
2.7 client (the protocol: https://docs.discord.com/developers/events/gateway and
https://docs.discord.com/developers/topics/opcodes-and-status-codes#gateway):

* HELLO / heartbeat / ACK, with a zombie check that closes silent connections;
* IDENTIFY -> READY + one GUILD_CREATE per guild, RESUME with a bounded replay
  buffer, INVALID_SESSION, RECONNECT and Discord's close codes;
* REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK;
* transport compression (``zlib-stream`` and ``zstd-stream``) or plain text;
* intent and visibility filtering of dispatched events, including the
  MESSAGE_CONTENT blanking rules.

The data itself lives elsewhere: the hub asks a :class:`GatewayBackend` who a
token belongs to, which guilds a user is in and what they may see.  The REST
side calls :meth:`GatewayHub.dispatch` to fan events out.

Every connection has one writer task fed by a queue, so frames leave in the
order they were queued (which keeps the streaming compressors and sequence
numbers consistent) and a slow client never blocks the others.
"""

from discobase.local.gateway.frames import (
    FrameEncoder,
    PlainEncoder,
    ZlibStreamEncoder,
    ZstdStreamEncoder,
    make_encoder,
)
from discobase.local.gateway.hub import GatewayHub
from discobase.local.gateway.session import (
    GatewayBackend,
    GatewayFaultSource,
    GatewayIdentity,
    GatewaySession,
)

__all__ = [
    "FrameEncoder",
    "GatewayBackend",
    "GatewayFaultSource",
    "GatewayHub",
    "GatewayIdentity",
    "GatewaySession",
    "PlainEncoder",
    "ZlibStreamEncoder",
    "ZstdStreamEncoder",
    "make_encoder",
]
