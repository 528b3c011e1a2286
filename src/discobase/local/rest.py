"""REST v10 routes of the local server.

Each handler checks what Discord checks (existence, membership, permissions,
limits) and raises :class:`~discobase.local.errors.HTTPError` with Discord's
code otherwise; it dispatches the matching gateway event *before* answering,
so a client sees ``CHANNEL_CREATE``/``MESSAGE_CREATE`` in its cache as soon
as the REST call returns.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from loguru import logger

from discobase._discord.permissions import Overwrite, Permission, compute_permissions
from discobase._discord.snowflakes import snowflake_at
from discobase.local import jsonbody, validation
from discobase.local.errors import (
    FormErrors,
    HTTPError,
    bad_request,
    forbidden_access,
    forbidden_permissions,
    unknown_channel,
    unknown_guild,
    unknown_message,
)
from discobase.local.mentions import ALL_TYPES, Mentions, resolve_mentions
from discobase.local.payloads import TEXT_CHANNEL_TYPES
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
)

if TYPE_CHECKING:
    from discobase.local.server import LocalDiscord

__all__ = ["API_PREFIXES", "BOT_KEY", "RestAPI", "json_response"]

#: The API versions served; discord.py 2.7 uses v10.
API_PREFIXES = ("/api/v10", "/api/v9")
MAX_CHANNELS_PER_GUILD = 500
MAX_CHANNELS_PER_CATEGORY = 50
MAX_PINS = 250
#: Discord dedupes ``enforce_nonce`` creates "in the past few minutes".
NONCE_WINDOW = 300.0
BULK_DELETE_MAX_AGE_MS = 14 * 86_400_000
#: The message flags a create may set (others are dropped): SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS,
#: IS_VOICE_MESSAGE, IS_COMPONENTS_V2 [DOC MSG "Create Message" flags].
CREATE_MESSAGE_FLAGS = 1 << 2 | 1 << 12 | 1 << 13 | 1 << 15
#: Distinct emoji on one message (https://discord.com/developers/docs/topics/opcodes-and-status-codes, 30010).
MAX_REACTIONS = 20
#: What ``GET /soundboard-default-sounds`` lists: the sounds every user may play
#: (https://discord.com/developers/docs/resources/soundboard#list-default-soundboard-sounds).
DEFAULT_SOUNDS: list[dict[str, Any]] = [
    {
        "name": name,
        "sound_id": str(index),
        "volume": 1.0,
        "emoji_id": None,
        "emoji_name": emoji,
        "available": True,
    }
    for index, (name, emoji) in enumerate(
        [
            ("quack", "🦆"),
            ("airhorn", "🔊"),
            ("cricket", "🦗"),
            ("golf clap", "⛳"),
            ("sad horn", "🎺"),
            ("ba dum tss", "🥁"),
        ],
        start=1,
    )
]
#: What a user may do in a DM channel (there are no roles or overwrites there).
DM_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
)
#: The flags an edit may set or unset: SUPPRESS_EMBEDS only [DOC MSG "Edit Message" flags].
EDIT_MESSAGE_FLAGS = 1 << 2

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The authenticated bot of a request, set by the server's middleware.
BOT_KEY = web.RequestKey("discobase_bot", BotAccount)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with ``Content-Type: application/json`` exactly (discord.py compares the string)."""
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def invalid_json() -> HTTPError:
    """Malformed JSON (a JSON body or ``payload_json``): 400/50109 [DOC OP "JSON Error Codes"]."""
    return HTTPError(400, 50109, "The request body contains invalid JSON.")


def decode_body(raw: bytes) -> Any:
    """A JSON request body (or ``payload_json``); undecodable or nested deeper than
    :data:`~discobase.local.jsonbody.MAX_JSON_DEPTH` → 400/50109 (see :mod:`~discobase.local.jsonbody`)."""
    try:
        return jsonbody.decode(raw)
    except jsonbody.UndecodableJSON:
        raise invalid_json() from None


def no_content() -> web.Response:
    return web.Response(status=204)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(slots=True)
class Upload:
    """One ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    content_type: str | None
    data: bytes


class RestAPI:
    """The route handlers, bound to one :class:`~discobase.local.server.LocalDiscord`."""

    def __init__(self, server: LocalDiscord) -> None:
        self.server = server
        self.store = server.store
        self.payloads = server.payloads
        self._nonces: dict[tuple[int, str], tuple[int, int, float]] = {}

    # ------------------------------------------------------------------ routing
    def routes(self) -> list[tuple[str, str, Handler]]:
        """``(method, template, handler)``; templates are discord.py's route paths.

        Order matters where templates overlap: literal segments (``pins``,
        ``bulk-delete``) come before ``{message_id}``.
        """
        return [
            ("GET", "/users/@me", self.get_me),
            ("GET", "/users/@me/guilds", self.get_my_guilds),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/soundboard-default-sounds", self.get_default_sounds),
            ("DELETE", "/users/@me/guilds/{guild_id}", self.leave_guild),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/applications/{application_id}/commands", self.get_commands),
            ("PUT", "/applications/{application_id}/commands", self.put_commands),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands),
            ("POST", "/guilds", self.create_guild),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            ("POST", "/guilds/{guild_id}/channels", self.create_channel),
            ("GET", "/guilds/{guild_id}/roles", self.get_roles),
            ("POST", "/guilds/{guild_id}/roles", self.create_role),
            ("PATCH", "/guilds/{guild_id}/roles", self.move_roles),
            ("GET", "/guilds/{guild_id}/members", self.get_members),
            ("GET", "/guilds/{guild_id}/members/search", self.search_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            ("PATCH", "/guilds/{guild_id}/members/{user_id}", self.edit_member),
            ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role),
            ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_member_role),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("PATCH", "/channels/{channel_id}", self.edit_channel),
            ("DELETE", "/channels/{channel_id}", self.delete_channel),
            ("PUT", "/channels/{channel_id}/permissions/{overwrite_id}", self.put_overwrite),
            ("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}", self.delete_overwrite),
            ("POST", "/channels/{channel_id}/invites", self.create_invite),
            ("GET", "/channels/{channel_id}/invites", self.get_invites),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/channels/{channel_id}/messages/pins", self.get_pins),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self.pin),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self.unpin),
            ("GET", "/channels/{channel_id}/pins", self.get_pins_deprecated),
            ("PUT", "/channels/{channel_id}/pins/{message_id}", self.pin),
            ("DELETE", "/channels/{channel_id}/pins/{message_id}", self.unpin),
            ("POST", "/channels/{channel_id}/messages/bulk-delete", self.bulk_delete),
            ("GET", "/channels/{channel_id}/messages", self.get_messages),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.add_reaction,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.remove_own_reaction,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{member_id}",
                self.remove_user_reaction,
            ),
            ("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}", self.get_reactions),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
                self.clear_emoji_reactions,
            ),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions", self.clear_reactions),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
        ]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def bot(request: web.Request) -> BotAccount:
        return request[BOT_KEY]

    @staticmethod
    def path_id(request: web.Request, name: str) -> int:
        """A snowflake from the path; not a snowflake → 400/50035 as Discord."""
        raw = request.match_info[name]
        errors = FormErrors()
        value = validation.parse_snowflake(raw, (name,), errors)
        errors.raise_if_any()
        if value is None:  # pragma: no cover - parse_snowflake reports an error instead
            raise bad_request(50035, "Invalid Form Body")
        return value

    async def read_json(self, request: web.Request, *, optional: bool = False) -> Any:
        """The JSON body: a wrong content type is 400/50035; malformed or too deeply nested
        JSON is 400/50109 (:func:`decode_body`)."""
        raw = await request.read()
        if not raw.strip():
            if optional:
                return {}
            return None
        ctype = request.content_type
        if ctype not in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data", ""):
            raise HTTPError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "_errors": [
                        {
                            "code": "CONTENT_TYPE_INVALID",
                            "message": 'Expected "Content-Type" header to be one of {"application/json", '
                            '"application/x-www-form-urlencoded", "multipart/form-data"}.',
                        }
                    ]
                },
            )
        return decode_body(raw)

    async def read_message_body(self, request: web.Request) -> tuple[Any, list[Upload]]:
        """JSON or multipart (``payload_json`` + ``files[n]``) message body, with size limits."""
        if request.content_type != "multipart/form-data":
            return await self.read_json(request), []
        try:
            return await self._read_multipart(request)
        except (ValueError, HttpProcessingError):
            # aiohttp's reader: no boundary, no starting boundary, truncated parts, bad part headers.
            # Discord's exact answer is UNCONFIRMED; a 400/50035 whole-request form error like its
            # other unreadable bodies (not a 500).
            raise HTTPError(
                400,
                50035,
                "Invalid Form Body",
                {"_errors": [{"code": "MULTIPART_INVALID", "message": "The multipart body is malformed."}]},
            ) from None

    async def _read_multipart(self, request: web.Request) -> tuple[Any, list[Upload]]:
        limit = self.server.upload_limit
        total = 0
        body: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = bytearray()
            while chunk := await part.read_chunk(1 << 16):
                data.extend(chunk)
                total += len(chunk)
                if len(data) > limit or total > self.server.request_limit:
                    raise HTTPError(413, 40005, "Request entity too large")
            if name == "payload_json":
                body = decode_body(bytes(data))
            elif name.startswith("files[") and name.endswith("]") and name[6:-1].isdigit():
                uploads.append(
                    Upload(
                        index=int(name[6:-1]),
                        filename=part.filename or f"file{name[6:-1]}",
                        content_type=part.headers.get("Content-Type"),
                        data=bytes(data),
                    )
                )
            elif name in ("file", "files") or name.startswith("file"):
                uploads.append(
                    Upload(
                        len(uploads), part.filename or "file", part.headers.get("Content-Type"), bytes(data)
                    )
                )
        if body is None:
            body = {}
        return body, uploads

    def member_of(self, guild_id: int, user_id: int) -> Member:
        member = self.store.member(guild_id, user_id)
        if member is None:
            raise forbidden_access()
        return member

    def guild_for(self, request: web.Request) -> Guild:
        guild_id = self.path_id(request, "guild_id")
        guild = self.store.guilds.get(guild_id)
        if guild is None:
            raise unknown_guild()
        self.member_of(guild_id, self.bot(request).user_id)
        return guild

    def permissions(self, user_id: int, guild_id: int, channel: Channel | None) -> int:
        guild = self.store.guilds[guild_id]
        member = self.store.member(guild_id, user_id)
        if member is None:
            return 0
        roles = {role.id: role.permissions for role in self.store.guild_roles(guild_id)}
        return compute_permissions(
            user_id=user_id,
            owner_id=guild.owner_id,
            guild_id=guild_id,
            role_permissions=roles,
            member_roles=member.roles,
            overwrites=channel.overwrites if channel is not None else (),
        )

    def can_see(self, user_id: int, guild_id: int, channel_id: int | None) -> bool:
        if guild_id not in self.store.guilds or self.store.member(guild_id, user_id) is None:
            return False
        if channel_id is None:
            return True
        channel = self.store.channels.get(channel_id)
        if channel is None:
            return False
        return bool(self.permissions(user_id, guild_id, channel) & Permission.VIEW_CHANNEL)

    def channel_for(self, request: web.Request, need: int = 0) -> tuple[Channel, int]:
        """The channel of the path and the bot's permissions in it, after Discord's checks."""
        channel_id = self.path_id(request, "channel_id")
        channel = self.store.channels.get(channel_id)
        if channel is None:
            raise unknown_channel()
        user_id = self.bot(request).user_id
        if channel.type == 1:  # a DM: only its two users see it
            if user_id not in channel.recipients:
                raise forbidden_access()
            if need and DM_PERMISSIONS & need != need:
                raise forbidden_permissions()
            return channel, DM_PERMISSIONS
        if self.store.member(channel.guild_id, user_id) is None:
            raise forbidden_access()
        perms = self.permissions(user_id, channel.guild_id, channel)
        if not perms & Permission.VIEW_CHANNEL:
            raise forbidden_access()
        if need and perms & need != need:
            raise forbidden_permissions()
        return channel, perms

    def check_overwrites(
        self,
        user_id: int,
        guild_id: int,
        channel: Channel | None,
        overwrites: Iterable[Overwrite],
    ) -> None:
        """Discord's rule for setting permission overwrites; 403/50013 "Missing Permissions" if broken.

        The caller has already checked MANAGE_ROLES. Only permissions the bot has can be
        allowed or denied: on Create Guild Channel (``channel`` is ``None``) its permissions
        in the guild, and setting MANAGE_ROLES in an overwrite is for administrators only
        (https://docs.discord.com/developers/resources/guild#create-guild-channel); on Modify
        Channel and Edit Channel Permissions its permissions in the guild, or in the parent
        category if the channel has one, plus its permissions in the channel itself when an
        overwrite of the channel gives it MANAGE_ROLES
        (https://docs.discord.com/developers/resources/channel#edit-channel-permissions).
        The guild owner and administrators may set anything. On an edit only the bits that
        change count: re-sending an overwrite someone else set is not granting anything.
        """
        guild_perms = self.permissions(user_id, guild_id, None)
        if guild_perms & Permission.ADMINISTRATOR:  # the owner's permissions include it too
            return
        existing: dict[tuple[int, int], Overwrite] = {}
        if channel is None:
            basis = guild_perms
        else:
            existing = {(o.type, o.id): o for o in channel.overwrites}
            parent = self.store.channels.get(channel.parent_id) if channel.parent_id is not None else None
            basis = self.permissions(user_id, guild_id, parent) if parent is not None else guild_perms
            if self._manage_roles_overwrite(user_id, guild_id, channel):
                basis |= self.permissions(user_id, guild_id, channel)
        for overwrite in overwrites:
            old = existing.get((overwrite.type, overwrite.id))
            if old is None:
                changed = overwrite.allow | overwrite.deny
            else:
                changed = (overwrite.allow ^ old.allow) | (overwrite.deny ^ old.deny)
            if changed & ~basis or (channel is None and changed & Permission.MANAGE_ROLES):
                raise forbidden_permissions()

    def _manage_roles_overwrite(self, user_id: int, guild_id: int, channel: Channel) -> bool:
        """Whether an overwrite of ``channel`` for the member or one of its roles allows MANAGE_ROLES."""
        member = self.store.member(guild_id, user_id)
        targets = {(1, user_id), (0, guild_id)} | {(0, role) for role in (member.roles if member else [])}
        return any(
            (o.type, o.id) in targets and o.allow & Permission.MANAGE_ROLES for o in channel.overwrites
        )

    def parent_for(self, guild_id: int, parent_id: int, child_type: int) -> Channel:
        """The category a channel of ``child_type`` may be put in; else 400/50035 on ``parent_id``."""
        parent = self.store.channels.get(parent_id)
        if parent is None or parent.guild_id != guild_id or parent.type != 4 or child_type == 4:
            errors = FormErrors()
            errors.add(("parent_id",), "CHANNEL_PARENT_INVALID", "Invalid parent channel")
            errors.raise_if_any()
        assert parent is not None
        return parent

    def message_for(self, request: web.Request, channel: Channel) -> Message:
        message_id = self.path_id(request, "message_id")
        message = self.store.get_message(channel.id, message_id)
        if message is None:
            raise unknown_message()
        return message

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None = None,
        author_id: int | None = None,
        user_ids: Iterable[int] | None = None,
    ) -> None:
        await self.server.gateway.dispatch(
            event, data, guild_id=guild_id, channel_id=channel_id, author_id=author_id, user_ids=user_ids
        )

    async def dispatch_message(self, event: str, channel: Channel, message: Message) -> None:
        """MESSAGE_CREATE / MESSAGE_UPDATE to whoever sees ``channel`` (a DM's two users)."""
        if channel.type == 1:
            await self.dispatch(
                event,
                self.payloads.message(message, gateway=True),
                guild_id=None,
                author_id=message.author_id,
                user_ids=channel.recipients,
            )
            return
        await self.dispatch(
            event,
            self.payloads.message(message, gateway=True),
            guild_id=channel.guild_id,
            channel_id=channel.id,
            author_id=message.author_id,
        )

    # ------------------------------------------------------------------ users, gateway, application
    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.me(self.bot(request)))

    async def get_my_guilds(self, request: web.Request) -> web.Response:
        user_id = self.bot(request).user_id
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=200, minimum=1, maximum=200
        )
        after = validation.parse_query_snowflake(request.query.get("after"), "after") or 0
        before = validation.parse_query_snowflake(request.query.get("before"), "before")
        with_counts = validation.parse_query_bool(
            request.query.get("with_counts"), "with_counts", default=False
        )
        result: list[dict[str, Any]] = []
        for guild_id in self.store.guilds_of(user_id):
            if guild_id <= after or (before is not None and guild_id >= before):
                continue
            guild = self.store.guilds[guild_id]
            entry: dict[str, Any] = {
                "id": str(guild.id),
                "name": guild.name,
                "icon": None,
                "banner": None,
                "owner": guild.owner_id == user_id,
                "permissions": str(self.permissions(user_id, guild_id, None)),
                "features": [],
            }
            if (
                with_counts
            ):  # only when asked (https://discord.com/developers/docs/resources/user#get-current-user-guilds)
                entry["approximate_member_count"] = len(self.store.guild_members(guild_id))
                entry["approximate_presence_count"] = 0
            result.append(entry)
        return json_response(result[:limit])

    async def leave_guild(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        if guild.owner_id == user_id:
            raise bad_request(50055, "Invalid guild")
        await self.member_removed(guild.id, user_id)
        return no_content()

    async def member_added(self, member: Member) -> None:
        """GUILD_MEMBER_ADD: the member and ``guild_id``
        (https://discord.com/developers/docs/events/gateway-events#guild-member-add)."""
        payload = self.payloads.member(member)
        payload["guild_id"] = str(member.guild_id)
        await self.dispatch("GUILD_MEMBER_ADD", payload, guild_id=member.guild_id)

    async def member_removed(self, guild_id: int, user_id: int) -> None:
        """Remove a member: GUILD_DELETE to its own sessions (a bot), GUILD_MEMBER_REMOVE
        ``{guild_id, user}`` to the guild's others."""
        if user_id in self.store.bots and self.store.bots[user_id].bot:
            await self.dispatch("GUILD_DELETE", {"id": str(guild_id)}, guild_id=guild_id, user_ids=[user_id])
        self.store.remove_member(guild_id, user_id)
        await self.dispatch(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": self.payloads.user(user_id)},
            guild_id=guild_id,
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.server.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.server.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.application(self.bot(request)))

    def _application(self, request: web.Request) -> tuple[BotAccount, int | None]:
        bot = self.bot(request)
        application_id = self.path_id(request, "application_id")
        if application_id != bot.application_id:
            raise HTTPError(403, 20012, "You are not authorized to perform this action on this application")
        guild_id = None
        if "guild_id" in request.match_info:
            guild_id = self.guild_for(request).id
        return bot, guild_id

    async def get_commands(self, request: web.Request) -> web.Response:
        bot, guild_id = self._application(request)
        commands = self.store.list_commands(bot.application_id, guild_id)
        return json_response([self.payloads.command(c) for c in sorted(commands, key=lambda c: c.id)])

    async def put_commands(self, request: web.Request) -> web.Response:
        bot, guild_id = self._application(request)
        specs = validation.parse_application_commands(await self.read_json(request))
        existing = {
            (c.data.get("name"), c.data.get("type", 1)): c
            for c in self.store.list_commands(bot.application_id, guild_id)
        }
        commands = []
        for spec in specs:
            old = existing.get((spec.get("name"), spec.get("type", 1)))
            command_id = old.id if old is not None else self.store.next_id()
            version = self.store.next_id() if old is None or old.data != spec else old.version
            commands.append(Command(command_id, bot.application_id, guild_id, spec, version))
        self.store.replace_commands(bot.application_id, guild_id, commands)
        return json_response([self.payloads.command(c) for c in commands])

    # ------------------------------------------------------------------ guilds
    async def create_guild(self, request: web.Request) -> web.Response:
        if not self.server.allow_guild_create:
            raise HTTPError(403, 20001, "Bots cannot use this endpoint")
        body = await self.read_json(request)
        errors = FormErrors()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            errors.add(("name",), "BASE_TYPE_REQUIRED", "This field is required")
        elif not 2 <= len(name) <= 100:
            errors.add(("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
        errors.raise_if_any()
        assert isinstance(name, str)
        bot = self.bot(request)
        guild_id = self.server.create_guild(name, owner=bot, dispatch=False)
        guild = self.store.guilds[guild_id]
        await self.dispatch(
            "GUILD_CREATE",
            self.payloads.guild_create(guild, self.store.guild_channels(guild_id), joined=True),
            guild_id=guild_id,
        )
        return json_response(self.payloads.guild(guild), status=201)

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        with_counts = request.query.get("with_counts", "false").lower() in ("true", "1")
        return json_response(self.payloads.guild(guild, with_counts=with_counts))

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        channels = [c for c in self.store.guild_channels(guild.id) if self.can_see(user_id, guild.id, c.id)]
        return json_response([self.payloads.channel(c) for c in channels])

    async def get_roles(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        return json_response([self.payloads.role(r) for r in self.store.guild_roles(guild.id)])

    async def get_members(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=1, minimum=1, maximum=1000
        )
        after = validation.parse_query_snowflake(request.query.get("after"), "after") or 0
        members = sorted(
            (m for m in self.store.guild_members(guild.id) if m.user_id > after), key=lambda m: m.user_id
        )
        return json_response([self.payloads.member(m) for m in members[:limit]])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        raw = request.match_info["user_id"]
        user_id = self.bot(request).user_id if raw == "@me" else self.path_id(request, "user_id")
        member = self.store.member(guild.id, user_id)
        if member is None:
            raise HTTPError(404, 10007, "Unknown Member")
        return json_response(self.payloads.member(member))

    # ------------------------------------------------------------------ channels
    async def create_channel(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        perms = self.permissions(user_id, guild.id, None)
        if not perms & Permission.MANAGE_CHANNELS:
            raise forbidden_permissions()
        spec = validation.parse_channel_create(await self.read_json(request))
        channels = self.store.guild_channels(guild.id)
        if len(channels) >= MAX_CHANNELS_PER_GUILD:
            raise bad_request(30013, f"Maximum number of server channels reached ({MAX_CHANNELS_PER_GUILD})")
        overwrites = [Overwrite(o.id, o.type, o.allow, o.deny) for o in spec.permission_overwrites]
        if spec.parent_id is not None:
            parent = self.parent_for(guild.id, spec.parent_id, spec.type)
            if sum(1 for c in channels if c.parent_id == parent.id) >= MAX_CHANNELS_PER_CATEGORY:
                errors = FormErrors()
                errors.add(
                    ("parent_id",),
                    "CHANNEL_PARENT_MAX_CHANNELS",
                    f"Maximum number of channels in category reached ({MAX_CHANNELS_PER_CATEGORY})",
                )
                errors.raise_if_any()
            if not overwrites and "permission_overwrites" not in spec.fields_set:
                overwrites = list(parent.overwrites)  # a new channel is synced with its category
        if overwrites and not perms & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        if "permission_overwrites" in spec.fields_set:
            self.check_overwrites(user_id, guild.id, None, overwrites)
        channel = Channel(
            id=self.store.next_id(),
            guild_id=guild.id,
            type=spec.type,
            name=validation.normalize_channel_name(spec.name, spec.type),
            position=spec.position if spec.position is not None else len(channels),
            parent_id=spec.parent_id,
            topic=spec.topic,
            nsfw=spec.nsfw,
            rate_limit_per_user=spec.rate_limit_per_user or 0,
            overwrites=overwrites,
        )
        self.store.save_channel(channel)
        payload = self.payloads.channel(channel)
        await self.dispatch("CHANNEL_CREATE", payload, guild_id=guild.id, channel_id=channel.id)
        return json_response(payload, status=201)

    async def get_channel(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request)
        return json_response(self.payloads.channel(channel))

    async def edit_channel(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request, Permission.MANAGE_CHANNELS)
        spec = validation.parse_channel_edit(await self.read_json(request, optional=True))
        fields = spec.fields_set
        new_overwrites = [Overwrite(o.id, o.type, o.allow, o.deny) for o in spec.permission_overwrites or []]
        if "permission_overwrites" in fields:  # checked first: a refused edit changes nothing
            if not perms & Permission.MANAGE_ROLES:
                raise forbidden_permissions()
            self.check_overwrites(self.bot(request).user_id, channel.guild_id, channel, new_overwrites)
        if "name" in fields and spec.name is not None:
            channel.name = validation.normalize_channel_name(spec.name, channel.type)
        if "topic" in fields:
            channel.topic = spec.topic
        if "position" in fields and spec.position is not None:
            channel.position = spec.position
        if "nsfw" in fields and spec.nsfw is not None:
            channel.nsfw = spec.nsfw
        if "rate_limit_per_user" in fields:
            channel.rate_limit_per_user = spec.rate_limit_per_user or 0
        if "parent_id" in fields:
            if spec.parent_id is not None:
                self.parent_for(channel.guild_id, spec.parent_id, channel.type)
            channel.parent_id = spec.parent_id
        if "permission_overwrites" in fields:
            channel.overwrites = new_overwrites
        self.store.save_channel(channel)
        payload = self.payloads.channel(channel)
        await self.dispatch("CHANNEL_UPDATE", payload, guild_id=channel.guild_id, channel_id=None)
        return json_response(payload)

    async def delete_channel(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_CHANNELS)
        payload = self.payloads.channel(channel)
        children = [c for c in self.store.guild_channels(channel.guild_id) if c.parent_id == channel.id]
        self.store.delete_channel(channel.id)
        for child in children:  # deleting a category keeps its channels, unparented
            child.parent_id = None
            self.store.save_channel(child)
            await self.dispatch(
                "CHANNEL_UPDATE", self.payloads.channel(child), guild_id=child.guild_id, channel_id=child.id
            )
        await self.dispatch("CHANNEL_DELETE", payload, guild_id=channel.guild_id, channel_id=None)
        return json_response(payload)

    async def put_overwrite(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_ROLES)
        target = self.path_id(request, "overwrite_id")
        allow, deny, kind = validation.parse_overwrite_edit(await self.read_json(request))
        overwrite = Overwrite(target, kind, allow, deny)
        self.check_overwrites(self.bot(request).user_id, channel.guild_id, channel, [overwrite])
        channel.overwrites = [o for o in channel.overwrites if o.id != target] + [overwrite]
        self.store.save_channel(channel)
        await self.dispatch("CHANNEL_UPDATE", self.payloads.channel(channel), guild_id=channel.guild_id)
        return no_content()

    async def delete_overwrite(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_ROLES)
        target = self.path_id(request, "overwrite_id")
        channel.overwrites = [o for o in channel.overwrites if o.id != target]
        self.store.save_channel(channel)
        await self.dispatch("CHANNEL_UPDATE", self.payloads.channel(channel), guild_id=channel.guild_id)
        return no_content()

    async def create_invite(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.CREATE_INSTANT_INVITE)
        spec = validation.parse_invite_create(await self.read_json(request, optional=True))
        inviter = self.bot(request).user_id
        if not spec.unique:
            for invite in self.store.invites.values():
                if (
                    invite.channel_id == channel.id
                    and invite.inviter_id == inviter
                    and (invite.max_age, invite.max_uses, invite.temporary)
                    == (spec.max_age, spec.max_uses, spec.temporary)
                ):
                    return json_response(self.payloads.invite(invite))
        invite = Invite(
            code=secrets.token_urlsafe(6)[:8],
            guild_id=channel.guild_id,
            channel_id=channel.id,
            inviter_id=inviter,
            max_age=spec.max_age,
            max_uses=spec.max_uses,
            temporary=spec.temporary,
            created_at=_now_iso(),
        )
        self.store.save_invite(invite)
        return json_response(self.payloads.invite(invite))

    async def get_invites(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_CHANNELS)
        invites = [i for i in self.store.invites.values() if i.channel_id == channel.id]
        return json_response([self.payloads.invite(i) for i in invites])

    async def typing(self, request: web.Request) -> web.Response:
        self.channel_for(request, Permission.SEND_MESSAGES)
        return no_content()

    # ------------------------------------------------------------------ messages
    async def get_messages(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        query = request.query
        limit = validation.parse_query_int(query.get("limit"), "limit", default=50, minimum=1, maximum=100)
        around = validation.parse_query_snowflake(query.get("around"), "around")
        before = validation.parse_query_snowflake(query.get("before"), "before")
        after = validation.parse_query_snowflake(query.get("after"), "after")
        if not perms & Permission.READ_MESSAGE_HISTORY:
            return json_response([])  # Discord returns no messages, not an error
        if around is not None:
            messages = self.store.history(channel.id, limit=limit, around=around)
        elif before is not None:
            messages = self.store.history(channel.id, limit=limit, before=before)
        elif after is not None:
            messages = self.store.history(channel.id, limit=limit, after=after)
        else:
            messages = self.store.history(channel.id, limit=limit)
        viewer = self.bot(request).user_id
        return json_response([self.payloads.message(m, viewer_id=viewer) for m in messages])

    async def get_message(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        return json_response(self.payloads.message(message, viewer_id=self.bot(request).user_id))

    def _check_text_channel(self, channel: Channel) -> None:
        if channel.type not in TEXT_CHANNEL_TYPES and channel.type != 1:
            raise bad_request(50008, "Cannot send messages in a non-text channel")

    def _new_attachments(
        self,
        specs: list[validation.AttachmentSpec] | None,
        uploads: list[Upload],
        existing: dict[int, Attachment],
    ) -> tuple[list[Attachment], list[tuple[int, bytes]]]:
        """Attachments after a create/edit: kept existing ones plus the uploads they reference."""
        by_index = {u.index: u for u in uploads}
        result: list[Attachment] = []
        files: list[tuple[int, bytes]] = []
        used: set[int] = set()
        errors = FormErrors()

        def add_upload(upload: Upload, filename: str | None, description: str | None) -> None:
            attachment_id = self.store.next_id()
            result.append(
                Attachment(
                    id=attachment_id,
                    filename=filename or upload.filename,
                    size=len(upload.data),
                    content_type=upload.content_type,
                    description=description,
                )
            )
            files.append((attachment_id, upload.data))
            used.add(upload.index)

        for position, spec in enumerate(specs or []):
            key = int(spec.id) if str(spec.id).isdigit() else -1
            if key in existing:
                kept = existing[key]
                if spec.description is not None:
                    kept.description = spec.description
                result.append(kept)
            elif key in by_index and key not in used:
                add_upload(by_index[key], spec.filename, spec.description)
            else:
                errors.add(("attachments", position, "id"), "ATTACHMENT_NOT_FOUND", "Unknown attachment")
        errors.raise_if_any()
        for upload in uploads:  # uploads not named in ``attachments`` are attached as they are
            if upload.index not in used:
                add_upload(upload, None, None)
        if len(result) > 10:
            raise bad_request(30015, "Maximum number of attachments in message reached (10)")
        return result, files

    def _reply_target(
        self, channel: Channel, perms: int, spec: validation.MessageCreate
    ) -> tuple[dict[str, Any] | None, int | None]:
        """The ``message_reference`` to store and the replied-to author (for a reply ping).

        A reply (type 0 reference) needs READ_MESSAGE_HISTORY and a message of this channel;
        an unknown one is a form error unless ``fail_if_not_exists`` is false, which sends
        the message without the reference
        (https://discord.com/developers/docs/resources/message#message-reference-structure).
        """
        reference = spec.message_reference
        if reference is None or reference.get("type", 0) != 0:
            return reference, None
        if not perms & Permission.READ_MESSAGE_HISTORY:
            raise HTTPError(403, 160002, "Cannot reply without permission to read message history")
        target_channel = int(reference.get("channel_id", channel.id))
        target = (
            self.store.get_message(channel.id, int(reference["message_id"]))
            if target_channel == channel.id
            else None
        )
        if target is None:
            if not spec.fail_if_not_exists:
                return None, None
            errors = FormErrors()
            errors.add(("message_reference",), "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
            errors.raise_if_any()
        assert target is not None
        return reference, target.author_id

    def set_mentions(
        self,
        message: Message,
        allowed: dict[str, Any] | None,
        perms: int,
        *,
        replied: int | None,
        default_parse: tuple[str, ...] = ALL_TYPES,
    ) -> None:
        """Fill ``message``'s mention fields from its content (see :mod:`~discobase.local.mentions`)."""
        if message.guild_id is None:
            mentions = Mentions()
        else:
            roles = self.store.guild_roles(message.guild_id)
            mentions = resolve_mentions(
                message.content,
                allowed,
                user_exists=lambda user_id: user_id in self.store.bots,
                mentionable_roles={r.id for r in roles if r.mentionable},
                all_roles={r.id for r in roles if r.id != message.guild_id},
                may_mention_everyone=bool(perms & Permission.MENTION_EVERYONE),
                replied_user=replied,
                default_parse=default_parse,
            )
        message.mentions = mentions.users
        message.mention_roles = mentions.roles
        message.mention_everyone = mentions.everyone

    async def create_message(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request, Permission.SEND_MESSAGES)
        self._check_text_channel(channel)
        body, uploads = await self.read_message_body(request)
        spec = validation.parse_message_create(body, uploads=len(uploads))
        if uploads and not perms & Permission.ATTACH_FILES:
            raise forbidden_permissions()
        bot = self.bot(request)
        if spec.nonce is not None and spec.enforce_nonce:
            known = self._nonces.get((bot.user_id, str(spec.nonce)))
            if known is not None and known[0] == channel.id and time.monotonic() - known[2] < NONCE_WINDOW:
                existing = self.store.get_message(channel.id, known[1])
                if existing is not None:
                    return json_response(self.payloads.message(existing))
        reference, replied = self._reply_target(channel, perms, spec)
        attachments, files = self._new_attachments(spec.attachments, uploads, {})
        message = Message(
            id=self.store.next_id(),
            channel_id=channel.id,
            guild_id=None if channel.type == 1 else channel.guild_id,
            author_id=bot.user_id,
            content=spec.content or "",
            embeds=[{**e, "type": e.get("type", "rich")} for e in spec.embeds],
            attachments=attachments,
            components=spec.components,
            tts=spec.tts,
            flags=spec.flags & CREATE_MESSAGE_FLAGS,
            nonce=spec.nonce,
            message_reference=reference,
            type=19 if reference is not None and reference.get("type", 0) == 0 else 0,
        )
        self.set_mentions(message, spec.allowed_mentions, perms, replied=replied)
        self.store.insert_message(message, files)
        if spec.nonce is not None and spec.enforce_nonce:
            self._nonces[(bot.user_id, str(spec.nonce))] = (channel.id, message.id, time.monotonic())
        await self.dispatch_message("MESSAGE_CREATE", channel, message)
        payload = self.payloads.message(message, viewer_id=bot.user_id)
        logger.trace("message {} created in channel {}", message.id, channel.id)
        return json_response(payload)

    async def edit_message(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        message = self.message_for(request, channel)
        body, uploads = await self.read_message_body(request)
        spec = validation.parse_message_edit(body)
        bot = self.bot(request)
        fields = spec.fields_set
        author_fields = fields - {"flags"}
        if (author_fields or uploads) and message.author_id != bot.user_id:
            raise HTTPError(403, 50005, "Cannot edit a message authored by another user")
        if "flags" in fields and message.author_id != bot.user_id and not perms & Permission.MANAGE_MESSAGES:
            raise forbidden_permissions()
        if "content" in fields:
            message.content = spec.content or ""
            # an edit re-reads the mentions with the edit's allowed_mentions (defaults if absent)
            self.set_mentions(message, spec.allowed_mentions, perms, replied=None)
        if "embeds" in fields:
            message.embeds = [{**e, "type": e.get("type", "rich")} for e in spec.embeds or []]
        if "components" in fields:
            message.components = list(spec.components or [])
        if "flags" in fields and spec.flags is not None:
            message.flags = message.flags & ~EDIT_MESSAGE_FLAGS | spec.flags & EDIT_MESSAGE_FLAGS
        removed: list[int] = []
        files: list[tuple[int, bytes]] = []
        if "attachments" in fields or uploads:
            existing = {a.id: a for a in message.attachments}
            if "attachments" in fields:
                attachments, files = self._new_attachments(spec.attachments or [], uploads, existing)
            else:
                new, files = self._new_attachments([], uploads, existing)
                attachments = message.attachments + new
                if len(attachments) > 10:
                    raise bad_request(30015, "Maximum number of attachments in message reached (10)")
            kept = {a.id for a in attachments}
            removed = [aid for aid in existing if aid not in kept]
            message.attachments = attachments
        if not message.content and not message.embeds and not message.attachments and not message.components:
            raise bad_request(50006, "Cannot send an empty message")
        message.edited_timestamp = _now_iso()
        self.store.update_message(message, files, removed)
        await self.dispatch_message("MESSAGE_UPDATE", channel, message)
        return json_response(self.payloads.message(message, viewer_id=bot.user_id))

    async def delete_message(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        message = self.message_for(request, channel)
        if message.author_id != self.bot(request).user_id and not perms & Permission.MANAGE_MESSAGES:
            raise forbidden_permissions()
        self.store.delete_messages(channel.id, [message.id])
        if channel.type == 1:
            await self.dispatch(
                "MESSAGE_DELETE",
                {"id": str(message.id), "channel_id": str(channel.id)},
                guild_id=None,
                user_ids=channel.recipients,
            )
        else:
            await self.dispatch(
                "MESSAGE_DELETE",
                {"id": str(message.id), "channel_id": str(channel.id), "guild_id": str(channel.guild_id)},
                guild_id=channel.guild_id,
                channel_id=channel.id,
            )
        return no_content()

    async def bulk_delete(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        ids = validation.parse_bulk_delete(await self.read_json(request))
        oldest_allowed = snowflake_at(int(time.time() * 1000) - BULK_DELETE_MAX_AGE_MS)
        for message_id in ids:
            if message_id < oldest_allowed:
                raise bad_request(50034, "You can only bulk delete messages that are under 14 days old.")
        existing = [mid for mid in ids if self.store.message_exists(channel.id, mid)]
        self.store.delete_messages(channel.id, existing)
        if existing:
            await self.dispatch(
                "MESSAGE_DELETE_BULK",
                {
                    "ids": [str(i) for i in existing],
                    "channel_id": str(channel.id),
                    "guild_id": str(channel.guild_id),
                },
                guild_id=channel.guild_id,
                channel_id=channel.id,
            )
        return no_content()

    # ------------------------------------------------------------------ pins
    async def get_pins(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=50, minimum=1, maximum=50
        )
        before = request.query.get("before")
        if before is not None:
            try:
                before = datetime.fromisoformat(before).astimezone(UTC).isoformat(timespec="microseconds")
            except ValueError:
                errors = FormErrors()
                errors.add(("before",), "DATE_TYPE_PARSE", f"Could not parse {before}. Should be ISO8601.")
                errors.raise_if_any()
        if not perms & Permission.READ_MESSAGE_HISTORY:
            return json_response({"items": [], "has_more": False})
        messages = self.store.pinned(channel.id, before=before, limit=limit + 1)
        items = [{"pinned_at": m.pinned_at, "message": self.payloads.message(m)} for m in messages[:limit]]
        return json_response({"items": items, "has_more": len(messages) > limit})

    async def get_pins_deprecated(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        if not perms & Permission.READ_MESSAGE_HISTORY:
            return json_response([])
        return json_response(
            [self.payloads.message(m) for m in self.store.pinned(channel.id, before=None, limit=50)]
        )

    async def _set_pinned(self, request: web.Request, pinned: bool) -> web.Response:
        channel, _ = self.channel_for(request, Permission.PIN_MESSAGES | Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        if message.pinned == pinned:
            return no_content()
        if pinned and self.store.pin_count(channel.id) >= MAX_PINS:
            raise bad_request(30003, f"Maximum number of pins reached ({MAX_PINS})")
        message.pinned = pinned
        message.pinned_at = _now_iso() if pinned else None
        self.store.update_message(message)
        if pinned:
            channel.last_pin_timestamp = message.pinned_at
            self.store.save_channel(channel)
        await self.dispatch(
            "MESSAGE_UPDATE",
            self.payloads.message(message, gateway=True),
            guild_id=channel.guild_id,
            channel_id=channel.id,
            author_id=message.author_id,
        )
        await self.dispatch(
            "CHANNEL_PINS_UPDATE",
            {
                "guild_id": str(channel.guild_id),
                "channel_id": str(channel.id),
                "last_pin_timestamp": channel.last_pin_timestamp,
            },
            guild_id=channel.guild_id,
            channel_id=channel.id,
        )
        return no_content()

    async def pin(self, request: web.Request) -> web.Response:
        return await self._set_pinned(request, True)

    async def unpin(self, request: web.Request) -> web.Response:
        return await self._set_pinned(request, False)

    # ------------------------------------------------------------------ users and DMs
    async def get_user(self, request: web.Request) -> web.Response:
        user_id = self.path_id(request, "user_id")
        if user_id not in self.store.bots:
            raise HTTPError(404, 10013, "Unknown User")
        return json_response(self.payloads.user(user_id))

    async def create_dm(self, request: web.Request) -> web.Response:
        """Open (or return the open) DM channel with ``recipient_id``; a DM needs a guild in
        common (https://discord.com/developers/docs/resources/user#create-dm)."""
        me = self.bot(request).user_id
        recipient = validation.parse_dm_create(await self.read_json(request))
        if recipient not in self.store.bots:
            raise HTTPError(404, 10013, "Unknown User")
        if recipient != me and not set(self.store.guilds_of(me)) & set(self.store.guilds_of(recipient)):
            raise HTTPError(403, 50007, "Cannot send messages to this user")
        channel = self.store.dm_channel(me, recipient)
        if channel is None:
            channel = Channel(self.store.next_id(), 0, 1, "", recipients=sorted({me, recipient}))
            self.store.save_channel(channel)
        return json_response(self.payloads.dm_channel(channel, me))

    async def get_default_sounds(self, request: web.Request) -> web.Response:
        return json_response(DEFAULT_SOUNDS)

    # ------------------------------------------------------------------ roles and members
    def top_position(self, guild_id: int, user_id: int) -> int:
        """The position of ``user_id``'s highest role (the owner outranks everyone)."""
        if self.store.guilds[guild_id].owner_id == user_id:
            return 1 << 30
        member = self.store.member(guild_id, user_id)
        positions = [
            self.store.roles[r].position for r in (member.roles if member else []) if r in self.store.roles
        ]
        return max(positions, default=0)

    def check_role_hierarchy(self, guild_id: int, user_id: int, role_ids: Iterable[int]) -> None:
        """Roles at or above the actor's highest role cannot be given or taken (403/50013)
        (https://discord.com/developers/docs/topics/permissions#permission-hierarchy)."""
        top = self.top_position(guild_id, user_id)
        for role_id in role_ids:
            role = self.store.roles.get(role_id)
            if role is None or role.guild_id != guild_id or role_id == guild_id:
                raise HTTPError(404, 10011, "Unknown Role")
            if role.managed or role.position >= top:
                raise forbidden_permissions()

    async def create_role(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        perms = self.permissions(user_id, guild.id, None)
        if not perms & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        spec = validation.parse_role_create(await self.read_json(request, optional=True))
        roles = self.store.guild_roles(guild.id)
        if len(roles) >= 250:
            raise bad_request(30005, "Maximum number of guild roles reached (250)")
        granted = spec.permissions if spec.permissions is not None else self.store.roles[guild.id].permissions
        if granted & ~perms:  # a role cannot get permissions its creator lacks
            raise forbidden_permissions()
        role = Role(
            id=self.store.next_id(),
            guild_id=guild.id,
            name=spec.name,
            permissions=granted,
            position=1,
            color=spec.color,
            hoist=spec.hoist,
            mentionable=spec.mentionable,
        )
        for other in roles:  # a new role goes in at position 1, above @everyone
            if other.id != guild.id and other.position >= 1:
                other.position += 1
                self.store.save_role(other)
        self.store.save_role(role)
        payload = self.payloads.role(role)
        await self.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": payload}, guild_id=guild.id
        )
        return json_response(payload)

    async def move_roles(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        user_id = self.bot(request).user_id
        if not self.permissions(user_id, guild.id, None) & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        moves = validation.parse_role_positions(await self.read_json(request))
        self.check_role_hierarchy(guild.id, user_id, [role_id for role_id, _ in moves])
        top = self.top_position(guild.id, user_id)
        changed = []
        for role_id, position in moves:
            role = self.store.roles[role_id]
            if position is not None and position != role.position:
                if position >= top:
                    raise forbidden_permissions()
                role.position = position
                changed.append(role)
        for role in changed:
            self.store.save_role(role)
            await self.dispatch(
                "GUILD_ROLE_UPDATE",
                {"guild_id": str(guild.id), "role": self.payloads.role(role)},
                guild_id=guild.id,
            )
        return json_response([self.payloads.role(r) for r in self.store.guild_roles(guild.id)])

    def member_target(self, request: web.Request, guild: Guild) -> Member:
        raw = request.match_info["user_id"]
        user_id = self.bot(request).user_id if raw == "@me" else self.path_id(request, "user_id")
        member = self.store.member(guild.id, user_id)
        if member is None:
            raise HTTPError(404, 10007, "Unknown Member")
        return member

    async def member_updated(self, member: Member) -> None:
        """GUILD_MEMBER_UPDATE (https://discord.com/developers/docs/events/gateway-events#guild-member-update)."""
        payload = self.payloads.member(member)
        payload["guild_id"] = str(member.guild_id)
        await self.dispatch("GUILD_MEMBER_UPDATE", payload, guild_id=member.guild_id)

    async def edit_member(self, request: web.Request) -> web.Response:
        guild = self.guild_for(request)
        member = self.member_target(request, guild)
        actor = self.bot(request).user_id
        spec = validation.parse_member_edit(await self.read_json(request, optional=True))
        perms = self.permissions(actor, guild.id, None)
        fields = spec.fields_set
        own_nick = member.user_id == actor and perms & Permission.CHANGE_NICKNAME
        if "nick" in fields and not perms & Permission.MANAGE_NICKNAMES and not own_nick:
            raise forbidden_permissions()
        if "roles" in fields:
            if not perms & Permission.MANAGE_ROLES:
                raise forbidden_permissions()
            new_roles = spec.roles or []
            self.check_role_hierarchy(guild.id, actor, set(new_roles) ^ set(member.roles))
        if "communication_disabled_until" in fields and not perms & Permission.MODERATE_MEMBERS:
            raise forbidden_permissions()
        if member.user_id == guild.owner_id and member.user_id != actor and fields - {"roles"}:
            raise forbidden_permissions()  # nobody else may rename or time out the owner
        if "nick" in fields:
            member.nick = spec.nick
        if "roles" in fields:
            member.roles = list(spec.roles or [])
        if "communication_disabled_until" in fields:
            member.communication_disabled_until = spec.communication_disabled_until
        self.store.save_member(member)
        await self.member_updated(member)
        return json_response(self.payloads.member(member))

    async def _set_member_role(self, request: web.Request, add: bool) -> web.Response:
        guild = self.guild_for(request)
        actor = self.bot(request).user_id
        if not self.permissions(actor, guild.id, None) & Permission.MANAGE_ROLES:
            raise forbidden_permissions()
        member = self.member_target(request, guild)
        role_id = self.path_id(request, "role_id")
        self.check_role_hierarchy(guild.id, actor, [role_id])
        if (role_id in member.roles) != add:
            member.roles = [*member.roles, role_id] if add else [r for r in member.roles if r != role_id]
            self.store.save_member(member)
            await self.member_updated(member)
        return no_content()

    async def add_member_role(self, request: web.Request) -> web.Response:
        return await self._set_member_role(request, True)

    async def remove_member_role(self, request: web.Request) -> web.Response:
        return await self._set_member_role(request, False)

    async def search_members(self, request: web.Request) -> web.Response:
        """Members whose username or nickname starts with ``query`` (case-insensitive; limit
        default 1, at most 1000) (https://discord.com/developers/docs/resources/guild#search-guild-members)."""
        guild = self.guild_for(request)
        query = request.query.get("query")
        if query is None or not 1 <= len(query) <= 100:
            errors = FormErrors()
            if query is None:
                errors.add(("query",), "BASE_TYPE_REQUIRED", "This field is required")
            else:
                errors.add(("query",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            errors.raise_if_any()
        assert query is not None
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=1, minimum=1, maximum=1000
        )
        prefix = query.casefold()
        found = []
        for member in sorted(self.store.guild_members(guild.id), key=lambda m: m.user_id):
            account = self.store.bots.get(member.user_id)
            names = [account.name if account else "", member.nick or ""]
            if any(name.casefold().startswith(prefix) for name in names if name):
                found.append(self.payloads.member(member))
        return json_response(found[:limit])

    # ------------------------------------------------------------------ reactions
    def emoji_for(self, request: web.Request) -> dict[str, Any]:
        """The ``{emoji}`` of the path (percent-decoded): a unicode emoji → ``{"id": null, "name"}``;
        a custom ``name:id`` names no emoji of the local server; anything else is 10014
        (https://discord.com/developers/docs/resources/message#create-reaction)."""
        raw = request.match_info["emoji"]
        if ":" in raw or not 1 <= len(raw) <= 32 or raw.isascii() or any(c.isspace() for c in raw):
            raise HTTPError(400, 10014, "Unknown Emoji")
        return {"id": None, "name": raw}

    @staticmethod
    def _reaction(message: Message, emoji: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in message.reactions if r["emoji"] == emoji), None)

    def _reaction_event(self, channel: Channel, message: Message, extra: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"channel_id": str(channel.id), "message_id": str(message.id)}
        if channel.type != 1:
            payload["guild_id"] = str(channel.guild_id)
        payload.update(extra)
        return payload

    async def _dispatch_reaction(self, event: str, channel: Channel, payload: dict[str, Any]) -> None:
        if channel.type == 1:
            await self.dispatch(event, payload, guild_id=None, user_ids=channel.recipients)
        else:
            await self.dispatch(event, payload, guild_id=channel.guild_id, channel_id=channel.id)

    async def add_reaction(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request, Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        user_id = self.bot(request).user_id
        reaction = self._reaction(message, emoji)
        if reaction is None:
            if not perms & Permission.ADD_REACTIONS:
                raise forbidden_permissions()
            if len(message.reactions) >= MAX_REACTIONS:
                raise bad_request(30010, f"Maximum number of reactions reached ({MAX_REACTIONS})")
            reaction = {"emoji": emoji, "users": []}
            message.reactions.append(reaction)
        if user_id in reaction["users"]:
            return no_content()
        reaction["users"].append(user_id)
        self.store.update_message(message)
        extra: dict[str, Any] = {
            "user_id": str(user_id),
            "emoji": emoji,
            "message_author_id": str(message.author_id),
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        member = self.store.member(channel.guild_id, user_id) if channel.type != 1 else None
        if member is not None:
            extra["member"] = self.payloads.member(member)
        await self._dispatch_reaction(
            "MESSAGE_REACTION_ADD", channel, self._reaction_event(channel, message, extra)
        )
        return no_content()

    async def _remove_reaction(self, request: web.Request, user_id: int, channel: Channel) -> web.Response:
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        reaction = self._reaction(message, emoji)
        if reaction is None or user_id not in reaction["users"]:
            return no_content()
        reaction["users"].remove(user_id)
        if not reaction["users"]:
            message.reactions.remove(reaction)
        self.store.update_message(message)
        extra = {"user_id": str(user_id), "emoji": emoji, "burst": False, "type": 0}
        await self._dispatch_reaction(
            "MESSAGE_REACTION_REMOVE", channel, self._reaction_event(channel, message, extra)
        )
        return no_content()

    async def remove_own_reaction(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request)
        return await self._remove_reaction(request, self.bot(request).user_id, channel)

    async def remove_user_reaction(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        return await self._remove_reaction(request, self.path_id(request, "member_id"), channel)

    async def get_reactions(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=25, minimum=1, maximum=100
        )
        after = validation.parse_query_snowflake(request.query.get("after"), "after") or 0
        kind = validation.parse_query_int(request.query.get("type"), "type", default=0, minimum=0, maximum=1)
        reaction = self._reaction(message, emoji)
        users = sorted(reaction["users"]) if reaction is not None and kind == 0 else []
        return json_response([self.payloads.user(u) for u in users if u > after][:limit])

    async def clear_emoji_reactions(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        message = self.message_for(request, channel)
        emoji = self.emoji_for(request)
        reaction = self._reaction(message, emoji)
        if reaction is not None:
            message.reactions.remove(reaction)
            self.store.update_message(message)
            await self._dispatch_reaction(
                "MESSAGE_REACTION_REMOVE_EMOJI",
                channel,
                self._reaction_event(channel, message, {"emoji": emoji}),
            )
        return no_content()

    async def clear_reactions(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        message = self.message_for(request, channel)
        if message.reactions:
            message.reactions = []
            self.store.update_message(message)
            await self._dispatch_reaction(
                "MESSAGE_REACTION_REMOVE_ALL", channel, self._reaction_event(channel, message, {})
            )
        return no_content()
