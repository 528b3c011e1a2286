"""JSON payloads of the local server, shaped as Discord's.

As discord.py's ``discord/types/`` and Discord's OpenAPI spec require (every required field present).

Snowflakes are strings, as on Discord.
"""

from __future__ import annotations

from typing import Any

from discobase._discord.gateway import LARGE_THRESHOLD
from discobase._discord.permissions import Overwrite
from discobase._discord.snowflakes import iso_timestamp
from discobase.local.cdn import AttachmentSigner
from discobase.local.store import (
    Attachment,
    BotAccount,
    Channel,
    Command,
    Guild,
    Invite,
    Member,
    Message,
    Role,
    Store,
)

__all__ = ["Payloads"]


def _sf(value: int | None) -> str | None:
    return None if value is None else str(value)


def with_component_ids(components: list[Any]) -> list[Any]:
    """A copy of message ``components`` where each component has its numeric ``id``.

    Discord fills in the ids a request leaves out, sequentially in depth-first order and
    skipping the ones already used [DOC components reference "id"]; the spec requires
    ``id`` on every ``*ComponentResponse``. Nested components are ``components`` lists
    and a section's ``accessory``.
    """
    used: set[int] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("id"), int) and not isinstance(node.get("id"), bool):
                used.add(node["id"])
            collect(node.get("components"))
            collect(node.get("accessory"))
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(components)
    counter = 0

    def assign(node: Any) -> Any:
        nonlocal counter
        if isinstance(node, list):
            return [assign(item) for item in node]
        if not isinstance(node, dict) or "type" not in node:
            return node
        result = dict(node)
        if "id" not in result:
            counter += 1
            while counter in used:
                counter += 1
            result["id"] = counter
        for key in ("components", "accessory"):
            if key in result:
                result[key] = assign(result[key])
        return result

    return [assign(component) for component in components]


class Payloads:
    """Builds Discord's payloads from the store.

    ``base_url`` is the server's http URL and ``signer`` signs the attachment URLs (see
    :mod:`~discobase.local.cdn`).
    """

    def __init__(self, store: Store, signer: AttachmentSigner, base_url: str = "") -> None:
        self.store = store
        self.signer = signer
        self.base_url = base_url

    # ------------------------------------------------------------------ users
    def user(self, user_id: int) -> dict[str, Any]:
        """A user object: a bot with its discriminator, a person with ``"0"`` and a ``global_name``.

        See https://discord.com/developers/docs/resources/user#user-object.
        """
        account = self.store.bots.get(user_id)
        name = account.name if account is not None else f"user-{user_id}"
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": account.discriminator if account is not None else "0",
            "global_name": account.global_name if account is not None else None,
            "avatar": account.avatar if account is not None else None,
            "bot": account is not None and account.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }

    def me(self, bot: BotAccount) -> dict[str, Any]:
        """``GET /users/@me``: the user with its private fields."""
        payload = self.user(bot.user_id)
        payload.update({"mfa_enabled": False, "locale": "en-US", "verified": True, "email": None})
        return payload

    def application(self, bot: BotAccount) -> dict[str, Any]:
        """``GET /oauth2/applications/@me`` (what discord.py's AppInfo needs, and the spec's fields)."""
        owner = self.user(bot.owner_id or bot.user_id)
        return {
            "id": str(bot.application_id),
            "name": bot.name,
            "icon": None,
            "description": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": owner,
            "approximate_guild_count": len(self.store.guilds_of(bot.user_id)),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": ["bot", "applications.commands"],
            "bot": self.user(bot.user_id),
            "summary": "",
            "tags": [],
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
        }

    # ------------------------------------------------------------------ guilds
    def role(self, role: Role) -> dict[str, Any]:
        tags: dict[str, Any] | None = {"bot_id": str(role.bot_id)} if role.bot_id is not None else None
        payload: dict[str, Any] = {
            "id": str(role.id),
            "name": role.name,
            "description": None,
            "permissions": str(role.permissions),
            "position": role.position,
            "color": role.color,
            "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
            "hoist": role.hoist,
            "managed": role.managed,
            "mentionable": role.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if tags is not None:
            payload["tags"] = tags
        return payload

    def member(self, member: Member) -> dict[str, Any]:
        return {
            "user": self.user(member.user_id),
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.roles],
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": member.communication_disabled_until,
        }

    def guild(self, guild: Guild, *, with_counts: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "description": guild.description,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "features": [],
            "banner": None,
            "owner_id": str(guild.owner_id),
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": _sf(guild.system_channel_id),
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "roles": [self.role(r) for r in self.store.guild_roles(guild.id)],
            "default_message_notifications": 0,
            "mfa_level": 0,
            "explicit_content_filter": 0,
            "max_presences": None,
            "max_members": 25_000_000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "premium_progress_bar_enabled": False,
            "nsfw": False,
            "nsfw_level": 0,
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
        }
        if with_counts:
            count = len(self.store.guild_members(guild.id))
            payload["approximate_member_count"] = count
            payload["approximate_presence_count"] = 0
        return payload

    def guild_create(
        self,
        guild: Guild,
        channels: list[Channel],
        *,
        joined: bool = False,
        viewer_id: int | None = None,
        presences: bool = True,
        large_threshold: int = LARGE_THRESHOLD,
    ) -> dict[str, Any]:
        """The ``d`` of a GUILD_CREATE dispatch (``channels`` already filtered by visibility).

        ``members`` lists every member only for a session with the GUILD_PRESENCES intent
        (``presences``) in a guild of at most ``large_threshold`` members; in a larger
        ("large") guild Discord leaves out offline members without a role or nickname (the
        local server's people are all offline); without the intent it sends only the receiving
        user's own member (``viewer_id``) and members in voice channels, of which the local
        server has none (https://discord.com/developers/docs/events/gateway-events#guild-create).

        ``joined``: the GUILD_CREATE of joining a guild, which has no ``unavailable`` key (that
        key marks a lazy-loaded or recovered guild; discord.py fires ``on_guild_join`` only
        without it and ``on_guild_available`` with ``unavailable: false``).
        """
        members = self.store.guild_members(guild.id)
        large = len(members) > large_threshold

        def listed(member: Member) -> bool:
            if viewer_id is None or member.user_id == viewer_id:
                return True
            if not presences:
                return False
            return not large or bool(member.roles) or member.nick is not None

        payload = self.guild(guild)
        payload.update(
            {
                "joined_at": members[0].joined_at if members else iso_timestamp(guild.id),
                "large": large,
                "unavailable": False,
                "member_count": len(members),
                "voice_states": [],
                "members": [self.member(m) for m in members if listed(m)],
                "channels": [self.channel(c) for c in channels],
                "threads": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        if joined:
            del payload["unavailable"]
        return payload

    # ------------------------------------------------------------------ channels
    @staticmethod
    def overwrite(ow: Overwrite) -> dict[str, Any]:
        return {"id": str(ow.id), "type": ow.type, "allow": str(ow.allow), "deny": str(ow.deny)}

    def dm_channel(self, channel: Channel, viewer_id: int) -> dict[str, Any]:
        """A DM channel as ``viewer_id`` sees it: ``recipients`` are the other users.

        See
        https://discord.com/developers/docs/resources/channel#channel-object-example-dm-channel.
        """
        others = [u for u in channel.recipients if u != viewer_id] or [viewer_id]
        return {
            "id": str(channel.id),
            "type": 1,
            "last_message_id": _sf(channel.last_message_id),
            "flags": 0,
            "recipients": [self.user(u) for u in others],
        }

    def channel(self, channel: Channel) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "flags": channel.flags,
            "parent_id": _sf(channel.parent_id),
            "permission_overwrites": [self.overwrite(ow) for ow in channel.overwrites],
            "nsfw": channel.nsfw,
        }
        if channel.type != 4:
            payload["last_message_id"] = _sf(channel.last_message_id)
            payload["rate_limit_per_user"] = channel.rate_limit_per_user
        if channel.type in (0, 5, 15, 16):
            payload["topic"] = channel.topic
            payload["last_pin_timestamp"] = channel.last_pin_timestamp
        if channel.type in (2, 13):
            payload["bitrate"] = channel.bitrate or 64000
            payload["user_limit"] = channel.user_limit or 0
            payload["rtc_region"] = None
        return payload

    # ------------------------------------------------------------------ messages
    def attachment_url(self, channel_id: int, attachment: Attachment) -> str:
        """A freshly signed URL (``?ex=…&is=…&hm=…&``), as every message payload carries on Discord."""
        return self.signer.url(self.base_url, channel_id, attachment.id, attachment.filename)

    def attachment(self, channel_id: int, attachment: Attachment) -> dict[str, Any]:
        url = self.attachment_url(channel_id, attachment)
        payload: dict[str, Any] = {
            "id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "url": url,
            "proxy_url": url,
            "content_type": attachment.content_type,
            "flags": attachment.flags,
        }
        if attachment.description is not None:
            payload["description"] = attachment.description
        return payload

    def message(
        self,
        message: Message,
        *,
        gateway: bool = False,
        viewer_id: int | None = None,
        referenced: bool = True,
    ) -> dict[str, Any]:
        """A message object, as REST returns it or (with ``gateway``) as MESSAGE_CREATE sends it.

        ``gateway`` adds MESSAGE_CREATE's ``guild_id``, ``member`` and ``mentions[].member``;
        ``viewer_id`` decides the reactions' ``me``; ``referenced`` adds a reply's
        ``referenced_message`` (the message, or ``null`` once deleted).
        """
        payload: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": self.user(message.author_id),
            "content": message.content,
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "tts": message.tts,
            "mention_everyone": message.mention_everyone,
            "mentions": [self.user(u) for u in message.mentions],
            "mention_roles": [str(r) for r in message.mention_roles],
            "attachments": [self.attachment(message.channel_id, a) for a in message.attachments],
            "embeds": message.embeds,
            "pinned": message.pinned,
            "type": message.type,
            "flags": message.flags,
            "components": with_component_ids(message.components),
        }
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if message.reactions:
            payload["reactions"] = [self.reaction(r, viewer_id) for r in message.reactions]
        if message.application_id is not None:
            payload["application_id"] = str(message.application_id)
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
        if message.interaction_metadata is not None:
            payload["interaction_metadata"] = message.interaction_metadata
        if message.message_reference is not None:
            payload["message_reference"] = self.message_reference(message)
            if referenced and message.type in (19, 21, 23):
                target = self._referenced(message)
                payload["referenced_message"] = (
                    None if target is None else self.message(target, viewer_id=viewer_id, referenced=False)
                )
        if gateway and message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
            member = self.store.member(message.guild_id, message.author_id)
            if member is not None:
                payload["member"] = self.partial_member(member)
            for mentioned in payload["mentions"]:
                other = self.store.member(message.guild_id, int(mentioned["id"]))
                if other is not None:
                    mentioned["member"] = self.partial_member(other)
        return payload

    def partial_member(self, member: Member) -> dict[str, Any]:
        """A member without its ``user`` (as in MESSAGE_CREATE's ``member``)."""
        partial = self.member(member)
        del partial["user"]
        return partial

    def _referenced(self, message: Message) -> Message | None:
        reference = message.message_reference or {}
        target_id = reference.get("message_id")
        channel_id = reference.get("channel_id", message.channel_id)
        if target_id is None:
            return None
        try:
            return self.store.get_message(int(channel_id), int(target_id))
        except (TypeError, ValueError):
            return None

    @staticmethod
    def reaction(reaction: dict[str, Any], viewer_id: int | None) -> dict[str, Any]:
        """One entry of a message's ``reactions`` (normal reactions only: no burst)."""
        users: list[int] = reaction["users"]
        return {
            "emoji": dict(reaction["emoji"]),
            "count": len(users),
            "count_details": {"burst": 0, "normal": len(users)},
            "burst_colors": [],
            "me_burst": False,
            "me": viewer_id is not None and viewer_id in users,
        }

    @staticmethod
    def message_reference(message: Message) -> dict[str, Any]:
        """``message_reference`` as Discord returns it, always with ``type`` and ``channel_id``.

        The spec requires both; a request may omit ``channel_id``, meaning this channel.
        """
        given = message.message_reference or {}
        reference: dict[str, Any] = {"type": 0, "channel_id": str(message.channel_id)}
        if "channel_id" not in given and message.guild_id is not None:
            reference["guild_id"] = str(message.guild_id)
        reference.update(given)
        return reference

    # ------------------------------------------------------------------ commands and invites
    def command(self, command: Command) -> dict[str, Any]:
        data = dict(command.data)
        data.update(
            {
                "id": str(command.id),
                "application_id": str(command.application_id),
                "version": str(command.version),
                "type": data.get("type", 1),
                "description": data.get("description", ""),
                "default_member_permissions": data.get("default_member_permissions"),
                "dm_permission": data.get("dm_permission", True),
                "nsfw": data.get("nsfw", False),
            }
        )
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return data

    def invite(self, invite: Invite) -> dict[str, Any]:
        guild = self.store.guilds[invite.guild_id]
        channel = self.store.channels.get(invite.channel_id)
        return {
            "type": 0,
            "code": invite.code,
            "guild_id": str(guild.id),
            "guild": {  # the spec's InviteGuildResponse (all of its required fields)
                "id": str(guild.id),
                "name": guild.name,
                "splash": None,
                "banner": None,
                "description": guild.description,
                "icon": None,
                "features": [],
                "verification_level": 0,
                "vanity_url_code": None,
                "nsfw_level": 0,
                "nsfw": False,
                "premium_subscription_count": 0,
            },
            "channel": {
                "id": str(invite.channel_id),
                "name": channel.name if channel else "",
                "type": channel.type if channel else 0,
            },
            "inviter": self.user(invite.inviter_id),
            "uses": invite.uses,
            "max_uses": invite.max_uses,
            "max_age": invite.max_age,
            "temporary": invite.temporary,
            "created_at": invite.created_at,
            "expires_at": None,
        }
