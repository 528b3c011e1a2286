"""Messages: history, create (JSON or multipart, nonces, replies, mentions), edit, delete, bulk
delete and pins (https://docs.discord.com/developers/resources/message)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web
from loguru import logger

from discobase._discord.limits import FILES_PER_MESSAGE, HISTORY_DEFAULT, HISTORY_PAGE, PINS_PAGE
from discobase._discord.messages import (
    CREATE_MESSAGE_FLAGS,
    EDIT_MESSAGE_FLAGS,
    ENFORCE_NONCE_WINDOW,
    MAX_PINS,
)
from discobase._discord.permissions import Permission
from discobase.local import validation
from discobase.local.errors import FormErrors, HTTPError, bad_request, forbidden_permissions
from discobase.local.rest.context import Resource, RestContext
from discobase.local.rest.http import json_response, no_content, now_iso
from discobase.local.rest.message_parts import MessageParts
from discobase.local.store import Message

__all__ = ["MessageRoutes"]


class MessageRoutes(Resource):
    """``/channels/{channel_id}/messages/...`` and pin routes."""

    def __init__(self, ctx: RestContext) -> None:
        super().__init__(ctx)
        self.parts = MessageParts(ctx.store)

    async def get_messages(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        query = request.query
        limit = validation.parse_query_int(
            query.get("limit"), "limit", default=HISTORY_DEFAULT, minimum=1, maximum=HISTORY_PAGE
        )
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

    async def create_message(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request, Permission.SEND_MESSAGES)
        self.parts.check_text_channel(channel)
        body, uploads = await self.read_message_body(request)
        spec = validation.parse_message_create(body, uploads=len(uploads))
        if uploads and not perms & Permission.ATTACH_FILES:
            raise forbidden_permissions()
        bot = self.bot(request)
        if spec.nonce is not None and spec.enforce_nonce:
            known = self.store.known_nonce(bot.user_id, str(spec.nonce))
            if known is not None and known[0] == channel.id and time.time() - known[2] < ENFORCE_NONCE_WINDOW:
                existing = self.store.get_message(channel.id, known[1])
                if existing is not None:
                    return json_response(self.payloads.message(existing))
        reference, replied = self.parts.reply_target(channel, perms, spec)
        attachments, files = self.parts.new_attachments(spec.attachments, uploads, {})
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
        self.parts.set_mentions(message, spec.allowed_mentions, perms, replied=replied)
        self.store.insert_message(message, files)
        if spec.nonce is not None and spec.enforce_nonce:
            self.store.remember_nonce(bot.user_id, str(spec.nonce), channel.id, message.id)
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
            self.parts.set_mentions(message, spec.allowed_mentions, perms, replied=None)
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
                attachments, files = self.parts.new_attachments(spec.attachments or [], uploads, existing)
            else:
                new, files = self.parts.new_attachments([], uploads, existing)
                attachments = message.attachments + new
                if len(attachments) > FILES_PER_MESSAGE:
                    raise bad_request(
                        30015, f"Maximum number of attachments in message reached ({FILES_PER_MESSAGE})"
                    )
            kept = {a.id for a in attachments}
            removed = [aid for aid in existing if aid not in kept]
            message.attachments = attachments
        if not message.content and not message.embeds and not message.attachments and not message.components:
            raise bad_request(50006, "Cannot send an empty message")
        message.edited_timestamp = now_iso()
        self.store.update_message(message, files, removed)
        await self.dispatch_message("MESSAGE_UPDATE", channel, message)
        return json_response(self.payloads.message(message, viewer_id=bot.user_id))

    async def delete_message(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        message = self.message_for(request, channel)
        if message.author_id != self.bot(request).user_id and not perms & Permission.MANAGE_MESSAGES:
            raise forbidden_permissions()
        self.store.delete_messages(channel.id, [message.id])
        await self.events.message_deleted(channel, message.id)
        return no_content()

    async def bulk_delete(self, request: web.Request) -> web.Response:
        channel, _ = self.channel_for(request, Permission.MANAGE_MESSAGES)
        ids = validation.parse_bulk_delete(await self.read_json(request), now_ms=int(time.time() * 1000))
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

    async def get_pins(self, request: web.Request) -> web.Response:
        channel, perms = self.channel_for(request)
        limit = validation.parse_query_int(
            request.query.get("limit"), "limit", default=PINS_PAGE, minimum=1, maximum=PINS_PAGE
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
            [self.payloads.message(m) for m in self.store.pinned(channel.id, before=None, limit=PINS_PAGE)]
        )

    async def _set_pinned(self, request: web.Request, pinned: bool) -> web.Response:
        channel, _ = self.channel_for(request, Permission.PIN_MESSAGES | Permission.READ_MESSAGE_HISTORY)
        message = self.message_for(request, channel)
        if message.pinned == pinned:
            return no_content()
        if pinned and self.store.pin_count(channel.id) >= MAX_PINS:
            raise bad_request(30003, f"Maximum number of pins reached ({MAX_PINS})")
        message.pinned = pinned
        message.pinned_at = now_iso() if pinned else None
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
