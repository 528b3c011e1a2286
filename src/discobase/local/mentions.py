"""Mentions in message content, as Discord resolves them.

Discord reads ``<@id>`` / ``<@!id>`` (users), ``<@&id>`` (roles), ``@everyone`` and ``@here``
from a message's ``content`` and fills ``mentions``, ``mention_roles`` and ``mention_everyone``
with what ``allowed_mentions`` and the author's permissions let through
(https://docs.discord.com/developers/resources/message#allowed-mentions-object and
https://docs.discord.com/developers/reference#message-formatting). Mentions in embeds are
not mentions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Final

from discobase._discord.messages import ALLOWED_MENTION_TYPES

__all__ = ["Mentions", "resolve_mentions"]

_USER: Final = re.compile(r"<@!?([0-9]{1,20})>")
_ROLE: Final = re.compile(r"<@&([0-9]{1,20})>")
_EVERYONE: Final = re.compile(r"@(?:everyone|here)")


@dataclass(slots=True)
class Mentions:
    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    everyone: bool = False


def resolve_mentions(
    content: str,
    allowed: dict[str, Any] | None,
    *,
    user_exists: Callable[[int], bool],
    mentionable_roles: Collection[int],
    all_roles: Collection[int],
    may_mention_everyone: bool,
    replied_user: int | None = None,
    default_parse: tuple[str, ...] = ALLOWED_MENTION_TYPES,
) -> Mentions:
    """The mentions of a message with ``content``.

    ``allowed`` is the request's normalised ``allowed_mentions`` (``None`` when absent: then
    ``default_parse`` applies and a reply pings its author). Any ``allowed_mentions`` object
    allows only what it names. Roles need ``mentionable`` or MENTION_EVERYONE, ``@everyone`` /
    ``@here`` need MENTION_EVERYONE. ``replied_user`` is the author of the message replied to.
    """
    parse: Collection[str] = default_parse if allowed is None else allowed.get("parse") or ()
    allowed_users = {int(u) for u in (allowed or {}).get("users") or ()}
    allowed_roles = {int(r) for r in (allowed or {}).get("roles") or ()}
    result = Mentions()
    for match in _USER.finditer(content):
        user_id = int(match.group(1))
        if user_id in result.users or not user_exists(user_id):
            continue
        if "users" in parse or user_id in allowed_users:
            result.users.append(user_id)
    for match in _ROLE.finditer(content):
        role_id = int(match.group(1))
        if role_id in result.roles or role_id not in all_roles:
            continue
        if not may_mention_everyone and role_id not in mentionable_roles:
            continue
        if "roles" in parse or role_id in allowed_roles:
            result.roles.append(role_id)
    if "everyone" in parse and may_mention_everyone and _EVERYONE.search(content):
        result.everyone = True
    if replied_user is not None and replied_user not in result.users:
        pings = True if allowed is None else bool(allowed.get("replied_user", False))
        if pings:
            result.users.append(replied_user)
    return result
