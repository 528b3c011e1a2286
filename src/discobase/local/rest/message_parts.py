"""What creating or editing a message involves besides storing it, shared by the message
routes and the interaction responses: the text-channel check, attachments from uploads,
the reply target and the resolved mentions."""

from __future__ import annotations

from typing import Any

from discobase._discord.channels import MESSAGE_CHANNEL_TYPES
from discobase._discord.limits import FILES_PER_MESSAGE
from discobase._discord.messages import ALLOWED_MENTION_TYPES
from discobase._discord.permissions import Permission
from discobase.local import validation
from discobase.local.errors import FormErrors, HTTPError, bad_request
from discobase.local.mentions import Mentions, resolve_mentions
from discobase.local.rest.http import Upload
from discobase.local.store import Attachment, Channel, Message, Store

__all__ = ["MessageParts"]


class MessageParts:
    """The message-building steps over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def check_text_channel(channel: Channel) -> None:
        if channel.type not in MESSAGE_CHANNEL_TYPES and channel.type != 1:
            raise bad_request(50008, "Cannot send messages in a non-text channel")

    def new_attachments(
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
        if len(result) > FILES_PER_MESSAGE:
            raise bad_request(
                30015, f"Maximum number of attachments in message reached ({FILES_PER_MESSAGE})"
            )
        return result, files

    def reply_target(
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
        default_parse: tuple[str, ...] = ALLOWED_MENTION_TYPES,
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
