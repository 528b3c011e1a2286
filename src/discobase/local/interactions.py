"""Interactions: INTERACTION_CREATE, the callback route and the follow-up webhook routes.

A person (see :mod:`~discobase.local.people`) invokes a slash command, clicks a button,
picks from a select, submits a modal or types into an autocompleted option; the server
sends the application's bot an INTERACTION_CREATE shaped as Discord's
(https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object)
and records what the person would see of the answer:

* ``POST /interactions/{id}/{token}/callback`` answers once (a second answer is 400/40060),
  within the response window (3 s on Discord; later the interaction is 404/10062 "Unknown
  interaction"), with a message (4), a deferred message (5), a deferred or immediate update of
  the component's message (6, 7), autocomplete choices (8) or a modal (9);
* ``/webhooks/{application_id}/{token}`` sends follow-ups and gets, edits or deletes the
  original response (``@original``) and follow-ups while the token lives (15 minutes on
  Discord; later 401/50027 "Invalid Webhook Token").

Ephemeral messages (flag 64) are seen only by the invoker: they are kept here, not in the
channel, and no bot receives them. The callback and webhook routes take no ``Authorization``
header, as discord.py sends none.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from loguru import logger

from discobase._discord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    CALLBACK_TYPES,
    CONTEXT_BOT_DM,
    CONTEXT_GUILD,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    RESPONSE_WINDOW,
    TOKEN_LIFETIME,
)
from discobase._discord.messages import EPHEMERAL, LOADING, RESPONSE_FLAGS
from discobase._discord.permissions import DM_PERMISSIONS
from discobase.local import validation
from discobase.local.errors import FormErrors, HTTPError
from discobase.local.interaction_records import Interaction, InteractionRefused, InteractionResult
from discobase.local.rest.http import json_response, path_id, read_message_body
from discobase.local.rest.message_parts import MessageParts
from discobase.local.store import Message

if TYPE_CHECKING:
    from discobase.local.rest.context import RestContext
    from discobase.local.rest.http import Handler

__all__ = [
    "Interaction",
    "InteractionRefused",
    "InteractionResult",
    "Interactions",
]


def _callback_error(message: str) -> HTTPError:
    """A callback body that does not fit the interaction (400/50035 on ``type``)."""
    errors = FormErrors()
    errors.add(("type",), "INTERACTION_RESPONSE_TYPE_INVALID", message)
    return HTTPError(400, 50035, "Invalid Form Body", errors.errors)


class Interactions:
    """The interactions of one server: creation (for people) and the callback/webhook routes.

    ``response_window`` and ``token_lifetime`` are Discord's 3 seconds and 15 minutes unless
    configured otherwise; ``deferred_wait`` bounds how long :meth:`start` waits for a deferred
    ("thinking") response to be filled in before returning what is visible.
    """

    def __init__(
        self,
        ctx: RestContext,
        *,
        response_window: float = RESPONSE_WINDOW,
        token_lifetime: float = TOKEN_LIFETIME,
        deferred_wait: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.payloads = ctx.payloads
        self.parts = MessageParts(ctx.store)
        self.response_window = response_window
        self.token_lifetime = token_lifetime
        self.deferred_wait = deferred_wait
        self._by_id: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self.follow_up),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self.get_original),
            ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self.edit_original),
            ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self.delete_original),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self.get_webhook_message),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.edit_webhook_message,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.delete_webhook_message,
            ),
        ]

    # ------------------------------------------------------------------ creating
    def permissions(self, user_id: int, guild_id: int | None, channel_id: int) -> int:
        """``user_id``'s permissions in the channel (what a user may do in a DM, outside guilds)."""
        if guild_id is None:
            return DM_PERMISSIONS
        return self.ctx.access.permissions(user_id, guild_id, self.store.channels.get(channel_id))

    @staticmethod
    def _owners(guild_id: int | None) -> dict[str, str]:
        """``authorizing_integration_owners``: the app's guild, or ``"0"`` in a DM with its bot.

        See
        https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-authorizing-integration-owners-object.
        """
        return {"0": str(guild_id or 0)}

    def _where(self, user_id: int, guild_id: int | None, channel_id: int, bot_id: int) -> dict[str, Any]:
        """The fields of INTERACTION_CREATE that say where and by whom.

        In a guild the member (with ``permissions``) and ``guild_id``; in a DM the ``user``,
        ``context`` 1 (BOT_DM).
        """
        channel = self.store.channels.get(channel_id)
        if channel is None:
            raise InteractionRefused(f"no channel {channel_id}")
        if guild_id is None:
            if channel.type != 1 or not {user_id, bot_id} <= set(channel.recipients):
                raise InteractionRefused(f"channel {channel_id} is not a DM between {user_id} and the bot")
            return {
                "channel": self.payloads.dm_channel(channel, bot_id),
                "channel_id": str(channel_id),
                "user": self.payloads.user(user_id),
                "context": CONTEXT_BOT_DM,
            }
        member = self.store.member(guild_id, user_id)
        if member is None:
            raise InteractionRefused(f"user {user_id} is not a member of guild {guild_id}")
        guild = self.store.guilds[guild_id]
        member_payload = self.payloads.member(member)
        member_payload["permissions"] = str(self.permissions(user_id, guild_id, channel_id))
        channel_payload = self.payloads.channel(channel)
        channel_payload["permissions"] = member_payload["permissions"]
        return {
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": guild.preferred_locale, "features": []},
            "channel": channel_payload,
            "channel_id": str(channel_id),
            "member": member_payload,
            "guild_locale": guild.preferred_locale,
            "context": CONTEXT_GUILD,
        }

    async def start(
        self,
        *,
        type: int,
        application_id: int,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        data: dict[str, Any],
        message: Message | None = None,
    ) -> InteractionResult:
        """Create an interaction, send it to the application's bot and return what the person sees.

        It waits for the answer at most the response window; a deferred response is waited for a
        further :attr:`deferred_wait`. ``guild_id=None`` is an interaction in the DM channel
        ``channel_id`` between the person and the bot.
        """
        bot = next(
            (b for b in self.store.bots.values() if b.bot and b.application_id == application_id), None
        )
        if bot is None:
            raise InteractionRefused(f"no application with id {application_id}")
        where = self._where(user_id, guild_id, channel_id, bot.user_id)
        interaction_id = self.store.next_id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(application_id),
            "type": type,
            "data": data,
            **where,
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions(bot.user_id, guild_id, channel_id)),
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": self._owners(guild_id),
            "attachment_size_limit": self.ctx.limits.upload_limit,
        }
        if message is not None:
            payload["message"] = self.payloads.message(message)
        interaction = Interaction(
            id=interaction_id,
            token=token,
            type=type,
            application_id=application_id,
            bot_id=bot.user_id,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            payload=payload,
            created=time.monotonic(),
            result=InteractionResult(interaction_id),
            message_id=message.id if message is not None else None,
        )
        self._by_id[interaction_id] = interaction
        self._by_token[token] = interaction
        logger.debug("interaction {} (type {}) for application {}", interaction_id, type, application_id)
        await self.ctx.events.dispatch("INTERACTION_CREATE", payload, guild_id=None, user_ids=[bot.user_id])
        try:
            await asyncio.wait_for(interaction.acknowledged.wait(), self.response_window)
        except TimeoutError:
            interaction.result.failed = True  # "The application did not respond"
            return interaction.result
        if interaction.callback_type == 5:
            try:
                await interaction.result.wait_for_messages(1, timeout=self.deferred_wait)
            except TimeoutError:
                pass  # still thinking: the caller sees the loading message
        return interaction.result

    # ------------------------------------------------------------------ lookups
    def _for_callback(self, request: web.Request) -> Interaction:
        interaction_id = path_id(request, "interaction_id")
        interaction = self._by_id.get(interaction_id)
        token = request.match_info["interaction_token"]
        if interaction is None or not secrets.compare_digest(interaction.token.encode(), token.encode()):
            raise HTTPError(404, 10062, "Unknown interaction")
        if interaction.callback_type is not None:
            raise HTTPError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - interaction.created > self.response_window:
            raise HTTPError(404, 10062, "Unknown interaction")
        return interaction

    def _for_webhook(self, request: web.Request) -> Interaction:
        application_id = path_id(request, "webhook_id")
        token = request.match_info["webhook_token"]
        interaction = self._by_token.get(token)
        if (
            interaction is None
            or interaction.application_id != application_id
            or time.monotonic() - interaction.created > self.token_lifetime
        ):
            raise HTTPError(401, 50027, "Invalid Webhook Token")
        return interaction

    def ephemeral_message(self, message_id: int) -> tuple[Interaction, Message] | None:
        """An ephemeral message and the interaction that posted it.

        An ephemeral message is kept for its invoker only, never in the channel; its components
        can be used like any message's.
        """
        for interaction in self._by_id.values():
            message = interaction.ephemeral.get(message_id)
            if message is not None:
                return interaction, message
        return None

    def _message(self, interaction: Interaction, message_id: int | None) -> Message:
        if message_id is None or message_id not in interaction.message_ids:
            raise HTTPError(404, 10008, "Unknown Message")
        if message_id in interaction.ephemeral:
            return interaction.ephemeral[message_id]
        message = self.store.get_message(interaction.channel_id, message_id)
        if message is None:
            raise HTTPError(404, 10008, "Unknown Message")
        return message

    # ------------------------------------------------------------------ messages of an interaction
    def _metadata(self, interaction: Interaction) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": self.payloads.user(interaction.user_id),
            "authorizing_integration_owners": self._owners(interaction.guild_id),
        }
        if interaction.original_id is not None:
            metadata["original_response_message_id"] = str(interaction.original_id)
        if interaction.message_id is not None and interaction.type == MESSAGE_COMPONENT:
            metadata["interacted_message_id"] = str(interaction.message_id)
        return metadata

    async def _new_message(
        self,
        interaction: Interaction,
        spec: validation.MessageCreate,
        uploads: list[Any],
        *,
        flags: int,
    ) -> Message:
        """Post a response or follow-up: in the channel, or (ephemeral) for the invoker only."""
        attachments, files = self.parts.new_attachments(spec.attachments, uploads, {})
        command_type = interaction.payload["data"].get("type", 1)
        message = Message(
            id=self.store.next_id(),
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
            author_id=interaction.bot_id,
            content=spec.content or "",
            embeds=[{**e, "type": e.get("type", "rich")} for e in spec.embeds],
            attachments=attachments,
            components=spec.components,
            tts=spec.tts,
            flags=flags,
            type=(20 if command_type == 1 else 23) if interaction.type == APPLICATION_COMMAND else 0,
            interaction_metadata=self._metadata(interaction),
            application_id=interaction.application_id,
            webhook_id=interaction.application_id,
        )
        perms = self.permissions(interaction.bot_id, interaction.guild_id, interaction.channel_id)
        # interactions and webhooks parse user mentions only by default (allowed mentions object docs)
        self.parts.set_mentions(message, spec.allowed_mentions, perms, replied=None, default_parse=("users",))
        interaction.message_ids.append(message.id)
        if flags & EPHEMERAL:
            interaction.ephemeral[message.id] = message
        else:
            self.store.insert_message(message, files)
            channel = self.store.channels[interaction.channel_id]
            await self.ctx.events.dispatch_message("MESSAGE_CREATE", channel, message)
        interaction.result.show(self.payloads.message(message, viewer_id=interaction.user_id))
        return message

    async def _edit_message(
        self, interaction: Interaction, message: Message, spec: validation.MessageEdit, uploads: list[Any]
    ) -> Message:
        fields = spec.fields_set
        if "content" in fields:
            message.content = spec.content or ""
            perms = self.permissions(interaction.bot_id, interaction.guild_id, interaction.channel_id)
            self.parts.set_mentions(
                message, spec.allowed_mentions, perms, replied=None, default_parse=("users",)
            )
        if "embeds" in fields:
            message.embeds = [{**e, "type": e.get("type", "rich")} for e in spec.embeds or []]
        if "components" in fields:
            message.components = list(spec.components or [])
        files: list[tuple[int, bytes]] = []
        removed: list[int] = []
        if "attachments" in fields or uploads:
            existing = {a.id: a for a in message.attachments}
            attachments, files = self.parts.new_attachments(spec.attachments or [], uploads, existing)
            if "attachments" not in fields:
                attachments = message.attachments + attachments
            removed = [aid for aid in existing if aid not in {a.id for a in attachments}]
            message.attachments = attachments
        message.flags &= ~LOADING  # an edit fills in a deferred ("thinking") response
        message.edited_timestamp = datetime.now(UTC).isoformat(timespec="microseconds")
        owner = self.ephemeral_message(message.id)
        if owner is not None:  # an ephemeral message, edited by its interaction or a component's
            owner[0].ephemeral[message.id] = message
            if owner[0] is not interaction:
                owner[0].result.show(self.payloads.message(message, viewer_id=owner[0].user_id))
        else:
            self.store.update_message(message, files, removed)
            channel = self.store.channels[message.channel_id]
            await self.ctx.events.dispatch_message("MESSAGE_UPDATE", channel, message)
        payload = self.payloads.message(message, viewer_id=interaction.user_id)
        if message.id in interaction.message_ids:
            interaction.result.show(payload)
        else:
            interaction.result.updated = payload
            interaction.result._changed.set()
        return message

    # ------------------------------------------------------------------ the callback
    def _check_callback_type(self, interaction: Interaction, kind: int) -> None:
        """Refuse an answer that does not fit the interaction.

        See "Interaction Callback Type" in the receiving-and-responding docs: 6 and 7 only for a
        component (or a modal opened from one), 8 only for autocomplete (which takes nothing
        else), 9 not on a modal submit; 1 is HTTP-only.
        """
        if interaction.type == AUTOCOMPLETE and kind != 8:
            raise _callback_error("Autocomplete interactions must respond with choices (8)")
        if kind == 8 and interaction.type != AUTOCOMPLETE:
            raise _callback_error("Only autocomplete interactions can respond with choices")
        if kind in (6, 7) and (interaction.message_id is None or interaction.type == APPLICATION_COMMAND):
            raise _callback_error("This interaction has no message to update")
        if kind == 9 and interaction.type == MODAL_SUBMIT:
            raise _callback_error("A modal submit cannot open another modal")
        if kind in (1, 10, 12):
            raise _callback_error("This response type is not available for this interaction")

    async def callback(self, request: web.Request) -> web.Response:
        interaction = self._for_callback(request)
        body, uploads = await read_message_body(request, self.ctx.limits)
        if not isinstance(body, dict):
            body = validation.body_object(body)
        errors = FormErrors()
        raw_type = body.get("type")
        kind = None
        if raw_type is None:
            errors.add(("type",), "BASE_TYPE_REQUIRED", "This field is required")
        elif isinstance(raw_type, bool) or not isinstance(raw_type, int) or raw_type not in CALLBACK_TYPES:
            errors.add(("type",), "BASE_TYPE_CHOICES", "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.")
        else:
            kind = raw_type
        errors.raise_if_any()
        assert kind is not None
        self._check_callback_type(interaction, kind)
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            errors.add(("data",), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            errors.raise_if_any()
        data = data or {}
        result = interaction.result
        resource: dict[str, Any] | None = None
        response: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "channel_id": str(interaction.channel_id),
        }
        if interaction.guild_id is not None:
            response["guild_id"] = str(interaction.guild_id)
        if kind in (4, 5):
            if kind == 4:
                spec = validation.parse_message_create(data, uploads=len(uploads))
                flags = spec.flags & RESPONSE_FLAGS
            else:
                spec = validation.MessageCreate()
                flags = LOADING | (validation.coerce_flags(data.get("flags")) & EPHEMERAL)
            message = await self._new_message(interaction, spec, uploads, flags=flags)
            interaction.original_id = message.id
            response.update(
                response_message_id=str(message.id),
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            if kind == 4:
                resource = {"type": 4, "message": self.payloads.message(message)}
        elif kind == 7:
            edit = validation.parse_message_edit(data, uploads=len(uploads))
            assert interaction.message_id is not None
            target = self.store.get_message(interaction.channel_id, interaction.message_id)
            if target is None:
                owner = self.ephemeral_message(interaction.message_id)
                if owner is None:
                    raise HTTPError(404, 10008, "Unknown Message")
                target = owner[1]
            target = await self._edit_message(interaction, target, edit, uploads)
            resource = {"type": 7, "message": self.payloads.message(target)}
        elif kind == 8:
            result.choices = validation.parse_choices(data)
        elif kind == 9:
            result.modal = validation.parse_modal(data)
        interaction.callback_type = kind
        result.callback_type = kind
        interaction.acknowledged.set()
        result._changed.set()
        if not validation.parse_query_bool(
            request.query.get("with_response"), "with_response", default=False
        ):
            return web.Response(status=204)
        answer: dict[str, Any] = {"interaction": response}
        if resource is not None:
            answer["resource"] = resource
        return json_response(answer)

    # ------------------------------------------------------------------ follow-ups and @original
    async def follow_up(self, request: web.Request) -> web.Response:
        interaction = self._for_webhook(request)
        body, uploads = await read_message_body(request, self.ctx.limits)
        spec = validation.parse_message_create(body, uploads=len(uploads))
        original = interaction.original_id
        if interaction.callback_type == 5 and original is not None:
            loading = self._message(interaction, original)
            if loading.flags & LOADING:  # the first follow-up after a defer fills in the "thinking" message
                edit = validation.MessageEdit(
                    content=spec.content,
                    embeds=spec.embeds,
                    components=spec.components,
                    attachments=spec.attachments,
                    allowed_mentions=spec.allowed_mentions,
                    fields_set={"content", "embeds", "components", "allowed_mentions"}
                    | ({"attachments"} if spec.attachments is not None else set()),
                )
                message = await self._edit_message(interaction, loading, edit, uploads)
                return json_response(self.payloads.message(message))
        message = await self._new_message(interaction, spec, uploads, flags=spec.flags & RESPONSE_FLAGS)
        return json_response(self.payloads.message(message))

    async def _get(self, request: web.Request, message_id: int | None) -> web.Response:
        interaction = self._for_webhook(request)
        return json_response(self.payloads.message(self._message(interaction, message_id)))

    async def _edit(self, request: web.Request, message_id: int | None) -> web.Response:
        interaction = self._for_webhook(request)
        message = self._message(interaction, message_id)
        body, uploads = await read_message_body(request, self.ctx.limits)
        spec = validation.parse_message_edit(body, uploads=len(uploads))
        message = await self._edit_message(interaction, message, spec, uploads)
        return json_response(self.payloads.message(message))

    async def _delete(self, request: web.Request, message_id: int | None) -> web.Response:
        interaction = self._for_webhook(request)
        message = self._message(interaction, message_id)
        interaction.message_ids.remove(message.id)
        if interaction.ephemeral.pop(message.id, None) is None:
            self.store.delete_messages(message.channel_id, [message.id])
            await self.ctx.events.message_deleted(self.store.channels[message.channel_id], message.id)
        interaction.result.hide(message.id)
        return web.Response(status=204)

    async def get_original(self, request: web.Request) -> web.Response:
        return await self._get(request, self._for_webhook(request).original_id)

    async def edit_original(self, request: web.Request) -> web.Response:
        return await self._edit(request, self._for_webhook(request).original_id)

    async def delete_original(self, request: web.Request) -> web.Response:
        return await self._delete(request, self._for_webhook(request).original_id)

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        return await self._get(request, path_id(request, "message_id"))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        return await self._edit(request, path_id(request, "message_id"))

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        return await self._delete(request, path_id(request, "message_id"))
