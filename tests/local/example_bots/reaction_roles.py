"""discord.py's ``examples/reaction_roles.py`` (MIT, Rapptz): a reaction on one message gives a role,
removing it takes the role away."""

from __future__ import annotations

import discord


class MyClient(discord.Client):
    def __init__(
        self, role_message_id: int, emoji_to_role: dict[discord.PartialEmoji, int], **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.role_message_id = role_message_id
        self.emoji_to_role = emoji_to_role

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.message_id != self.role_message_id or payload.guild_id is None:
            return
        guild = self.get_guild(payload.guild_id)
        if guild is None:
            return
        try:
            role_id = self.emoji_to_role[payload.emoji]
        except KeyError:
            return
        role = guild.get_role(role_id)
        if role is None:
            return
        assert payload.member is not None
        try:
            await payload.member.add_roles(role)
        except discord.HTTPException:
            pass

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.message_id != self.role_message_id or payload.guild_id is None:
            return
        guild = self.get_guild(payload.guild_id)
        if guild is None:
            return
        try:
            role_id = self.emoji_to_role[payload.emoji]
        except KeyError:
            return
        role = guild.get_role(role_id)
        if role is None:
            return
        member = guild.get_member(payload.user_id)
        if member is None:
            return
        try:
            await member.remove_roles(role)
        except discord.HTTPException:
            pass


def make_client(role_message_id: int, emoji_to_role: dict[discord.PartialEmoji, int]) -> MyClient:
    intents = discord.Intents.default()
    intents.members = True
    return MyClient(role_message_id, emoji_to_role, intents=intents)
