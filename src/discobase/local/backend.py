"""The gateway's view of the local server: who a token is, which guilds a user sees, and what."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from discobase._discord.gateway import LARGE_THRESHOLD
from discobase.local.gateway import GatewayIdentity

if TYPE_CHECKING:
    from discobase.local.server import LocalDiscord

__all__ = ["StoreGatewayBackend"]


class StoreGatewayBackend:
    """The gateway's :class:`~discobase.local.gateway.GatewayBackend` over the server's store:
    who a token is, which guilds a user sees, and their GUILD_CREATE payloads."""

    def __init__(self, server: LocalDiscord) -> None:
        self.server = server

    def authenticate(self, token: str) -> GatewayIdentity | None:
        bot = self.server.store.bot_for_token(token)
        if bot is None or not bot.bot:
            return None
        return GatewayIdentity(
            user_id=bot.user_id,
            application_id=bot.application_id,
            user=self.server.payloads.me(bot),  # READY's user has the private fields, as /users/@me
        )

    def guild_ids_for(self, user_id: int) -> list[int]:
        return self.server.store.guilds_of(user_id)

    def guild_create_payload(
        self, guild_id: int, user_id: int, *, presences: bool = False, large_threshold: int = LARGE_THRESHOLD
    ) -> dict[str, Any]:
        store = self.server.store
        channels = [c for c in store.guild_channels(guild_id) if self.can_see(user_id, guild_id, c.id)]
        return self.server.payloads.guild_create(
            store.guilds[guild_id],
            channels,
            viewer_id=user_id,
            presences=presences,
            large_threshold=large_threshold,
        )

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        return self.server.rest.can_see(user_id, guild_id, channel_id)

    def member_chunk(
        self, guild_id: int, user_id: int, query: str | None, limit: int, user_ids: list[int] | None
    ) -> list[dict[str, Any]]:
        store = self.server.store
        if store.member(guild_id, user_id) is None:
            return []
        members = store.guild_members(guild_id)
        if user_ids:
            wanted = set(user_ids)
            members = [m for m in members if m.user_id in wanted]
        elif query:
            members = [
                m for m in members if self.server.payloads.user(m.user_id)["username"].startswith(query)
            ]
        if limit:
            members = members[:limit]
        return [self.server.payloads.member(m) for m in members]
