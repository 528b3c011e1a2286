"""People: users who are not bots, driving a bot under test as Discord's users do.

A :class:`Person` (from :meth:`LocalDiscord.create_user
<discobase.local.LocalDiscord.create_user>`) sends, replies, reacts and opens DMs through
the server's REST routes with their own user token, over a real socket, so the bot sees
exactly the gateway events Discord would send it. Slash commands, context menus, buttons,
selects, modals and autocomplete go through :mod:`~discobase.local.interactions`; each of
those calls returns an :class:`~discobase.local.interactions.InteractionResult` holding what
the person would see (the response, follow-ups, the modal, the choices).

```python
ada = server.create_user("ada")
await ada.join(guild_id)
hello = await ada.send(channel_id, "!hello")
result = await ada.invoke(guild_id, "/add 1 2", channel=channel_id)
assert result.content == "1 + 2 = 3"
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp

from discobase._discord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
)
from discobase.exceptions import LocalServerError
from discobase.local.command_input import CommandInput, object_id
from discobase.local.interactions import InteractionRefused, InteractionResult
from discobase.local.store import BotAccount, Message

if TYPE_CHECKING:
    from discobase.local.server import LocalDiscord

__all__ = ["Person", "PersonRequestError"]


class PersonRequestError(LocalServerError):
    """A person's request that Discord refused: ``status`` and Discord's JSON error ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.code = body.get("code") if isinstance(body, dict) else None


def _ids(message: Any) -> tuple[int, int]:
    """``(channel id, message id)`` of a message payload, a discord.py message or a stored one."""
    if isinstance(message, dict):
        return int(message["channel_id"]), int(message["id"])
    if isinstance(message, Message):
        return message.channel_id, message.id
    channel = getattr(message, "channel", None)
    channel_id = getattr(channel, "id", None) or getattr(message, "channel_id", None)
    message_id = getattr(message, "id", None)
    if channel_id is None or message_id is None:
        raise TypeError(f"not a message: {message!r}")
    return int(channel_id), int(message_id)


class Person(CommandInput):
    """A user of the local server who is not a bot (see the module docstring)."""

    def __init__(self, server: LocalDiscord, account: BotAccount) -> None:
        self.server = server
        self.account = account
        self._session: aiohttp.ClientSession | None = None

    @property
    def id(self) -> int:
        return self.account.user_id

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def __repr__(self) -> str:
        return f"Person(id={self.id}, name={self.name!r})"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ REST, as a client
    async def request(self, method: str, path: str, body: Any = None, *, bearer: str | None = None) -> Any:
        """``method path`` on the server's REST API as this person; Discord's errors raise.

        The person's token goes without a ``Bot`` prefix, as Discord's own clients send it, or
        an OAuth2 ``bearer`` token the person gave an application is sent instead. Discord's
        errors raise :class:`PersonRequestError`.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession()
        authorization = self.account.token if bearer is None else f"Bearer {bearer}"
        async with self._session.request(
            method, self.server.api_url + path, json=body, headers={"Authorization": authorization}
        ) as response:
            data = await response.json() if response.content_type == "application/json" else None
            if response.status >= 400:
                raise PersonRequestError(response.status, data)
            return data

    async def join(self, guild_id: int, *, roles: list[int] | None = None, nick: str | None = None) -> None:
        """Join a guild (GUILD_MEMBER_ADD has been sent to its clients when this returns)."""
        if self.server.store.member(guild_id, self.id) is not None:
            return
        self.server.add_member(guild_id, self, roles=roles, nick=nick, dispatch=False)
        member = self.server.store.member(guild_id, self.id)
        assert member is not None
        await self.server.rest.member_added(member)

    async def leave(self, guild_id: int) -> None:
        """Leave a guild (``DELETE /users/@me/guilds/{guild_id}``): GUILD_MEMBER_REMOVE."""
        await self.request("DELETE", f"/users/@me/guilds/{guild_id}")

    async def send(self, channel: Any, content: str = "", **fields: Any) -> dict[str, Any]:
        """Post a message (``POST /channels/{id}/messages``) and return its payload.

        ``fields`` are more body fields (``embeds``, ``allowed_mentions``, ...).
        """
        body = {"content": content, **fields}
        result: dict[str, Any] = await self.request("POST", f"/channels/{object_id(channel)}/messages", body)
        return result

    async def ask(
        self, channel: Any, content: str = "", *, timeout: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        """Send a message as :meth:`send` does and return the bot's answer.

        The answer is the first message a bot posts in ``channel`` after it (see
        :meth:`LocalDiscord.next_message <discobase.local.LocalDiscord.next_message>`), waited
        for up to ``timeout`` seconds.
        """
        sent = await self.send(channel, content, **fields)
        return await self.server.next_message(channel, after=sent, timeout=timeout)

    async def reply(
        self, message: Any, content: str, *, mention_author: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Reply to ``message`` (a payload or a discord.py message); ``mention_author`` pings its author."""
        channel_id, message_id = _ids(message)
        fields.setdefault(
            "allowed_mentions", {"parse": ["users", "roles", "everyone"], "replied_user": mention_author}
        )
        return await self.send(
            channel_id, content, message_reference={"message_id": str(message_id)}, **fields
        )

    async def edit(self, message: Any, content: str) -> dict[str, Any]:
        channel_id, message_id = _ids(message)
        result: dict[str, Any] = await self.request(
            "PATCH", f"/channels/{channel_id}/messages/{message_id}", {"content": content}
        )
        return result

    async def delete(self, message: Any) -> None:
        channel_id, message_id = _ids(message)
        await self.request("DELETE", f"/channels/{channel_id}/messages/{message_id}")

    async def react(self, message: Any, emoji: str) -> None:
        """Add a reaction (``PUT .../reactions/{emoji}/@me``)."""
        channel_id, message_id = _ids(message)
        await self.request(
            "PUT", f"/channels/{channel_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}/@me"
        )

    async def unreact(self, message: Any, emoji: str) -> None:
        """Remove this person's reaction (``DELETE .../reactions/{emoji}/@me``)."""
        channel_id, message_id = _ids(message)
        await self.request(
            "DELETE", f"/channels/{channel_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}/@me"
        )

    async def dm(self, user: Any) -> dict[str, Any]:
        """Open the DM channel with ``user`` (a person, a bot account or an id)."""
        user_id = user.user_id if isinstance(user, BotAccount) else object_id(user)
        result: dict[str, Any] = await self.request(
            "POST", "/users/@me/channels", {"recipient_id": str(user_id)}
        )
        return result

    async def edit_command_permissions(
        self,
        bot: BotAccount,
        guild_id: int,
        command: int | str | None,
        permissions: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Set who may use ``bot``'s ``command`` in a guild, as an admin does in Server Settings.

        ``command`` is its id or name (``None``: all the application's commands);
        ``permissions`` are ``{"id", "type" (1 role, 2 user, 3 channel), "permission"}``. It
        goes through ``PUT .../commands/{command_id}/permissions`` with an OAuth2 Bearer token
        this person gives the application (:meth:`LocalDiscord.authorize
        <discobase.local.LocalDiscord.authorize>`), the only kind Discord accepts there. Returns
        the permission set as Discord answers it.
        """
        application_id = bot.application_id
        if command is None:
            command_id = application_id
        elif isinstance(command, int):
            command_id = command
        else:
            matches = [
                c.id
                for c in self.server.store.commands.values()
                if c.application_id == application_id
                and c.data.get("name") == command
                and c.guild_id in (None, guild_id)
            ]
            if not matches:
                raise InteractionRefused(f"{bot.name} has no command {command!r} in guild {guild_id}")
            command_id = matches[0]
        token = self.server.authorize(self, bot)
        path = f"/applications/{application_id}/guilds/{guild_id}/commands/{command_id}/permissions"
        result: dict[str, Any] = await self.request(
            "PUT", path, {"permissions": [{**p, "id": str(p["id"])} for p in permissions]}, bearer=token
        )
        return result

    # ------------------------------------------------------------------ interactions

    async def invoke(
        self,
        guild_id: int,
        command: str,
        *,
        channel: Any | None = None,
        options: dict[str, Any] | None = None,
        application: int | None = None,
    ) -> InteractionResult:
        """Use a slash command, typed as in Discord: ``"/add 1 2"``, ``"/db find user age>=18"``.

        Sub-commands go by name, values positionally or as ``name:value``, or in ``options``.
        ``channel`` defaults to the guild's system channel. Raises :class:`InteractionRefused`
        for a command the person could not use.
        """
        channel_id = self._channel(guild_id, channel)
        found, data = self._command_data(guild_id, command, options, application, None)
        self._check_allowed(guild_id, channel_id, found)
        return await self.server.interactions.start(
            type=APPLICATION_COMMAND,
            application_id=found.application_id,
            user_id=self.id,
            guild_id=guild_id,
            channel_id=channel_id,
            data=data,
        )

    async def invoke_dm(
        self, bot: BotAccount, command: str, *, options: dict[str, Any] | None = None
    ) -> InteractionResult:
        """Use one of ``bot``'s global commands in the DM with the bot.

        The DM is opened first, which needs a guild in common. The bot gets an
        INTERACTION_CREATE with ``user`` instead of ``member``, no ``guild_id`` and ``context``
        1 (BOT_DM). A guild command, or one whose contexts exclude DMs, raises
        :class:`InteractionRefused`.
        """
        channel = await self.dm(bot)
        found, data = self._command_data(None, command, options, None, None, dm_bot=bot)
        return await self.server.interactions.start(
            type=APPLICATION_COMMAND,
            application_id=found.application_id,
            user_id=self.id,
            guild_id=None,
            channel_id=int(channel["id"]),
            data=data,
        )

    async def autocomplete(
        self,
        guild_id: int,
        command: str,
        focused: str,
        *,
        channel: Any | None = None,
        application: int | None = None,
    ) -> list[dict[str, Any]]:
        """Type into option ``focused`` of a command (``"/fruit name:ap"``); returns the choices shown."""
        channel_id = self._channel(guild_id, channel)
        found, data = self._command_data(guild_id, command, None, application, focused)
        self._check_allowed(guild_id, channel_id, found)
        result = await self.server.interactions.start(
            type=AUTOCOMPLETE,
            application_id=found.application_id,
            user_id=self.id,
            guild_id=guild_id,
            channel_id=channel_id,
            data=data,
        )
        return list(result.choices or [])

    async def context_menu(
        self,
        guild_id: int,
        name: str,
        target: Any,
        *,
        channel: Any | None = None,
        application: int | None = None,
    ) -> InteractionResult:
        """Use a user (target: a person, bot or id) or message (target: a message) context-menu command."""
        is_message = isinstance(target, dict | Message) or hasattr(target, "channel")
        kind = 3 if is_message else 2
        found = self._commands(guild_id, name, kind, application)
        store = self.server.store
        resolved: dict[str, Any] = {}
        if is_message:
            channel_id, target_id = _ids(target)
            stored = store.get_message(channel_id, target_id)
            if stored is None:
                raise InteractionRefused(f"no message {target_id}")
            resolved["messages"] = {str(target_id): self.server.payloads.message(stored)}
        else:
            target_id = target.user_id if isinstance(target, BotAccount) else object_id(target)
            channel_id = self._channel(guild_id, channel)
            self._resolve(guild_id, 6, target_id, resolved)
        self._check_allowed(guild_id, channel_id, found)
        data: dict[str, Any] = {
            "id": str(found.id),
            "name": name,
            "type": kind,
            "target_id": str(target_id),
            "resolved": resolved,
        }
        if found.guild_id is not None:
            data["guild_id"] = str(found.guild_id)
        return await self.server.interactions.start(
            type=APPLICATION_COMMAND,
            application_id=found.application_id,
            user_id=self.id,
            guild_id=guild_id,
            channel_id=channel_id,
            data=data,
        )

    def _component(self, message: Any, custom_id: str) -> tuple[Message, dict[str, Any]]:
        channel_id, message_id = _ids(message)
        stored = self.server.store.get_message(channel_id, message_id)
        if stored is None:  # perhaps an ephemeral message, which only its invoker sees
            owner = self.server.interactions.ephemeral_message(message_id)
            if owner is not None and owner[0].user_id == self.id:
                stored = owner[1]
        if stored is None:
            raise InteractionRefused(f"no message {message_id} in channel {channel_id}")

        def walk(nodes: Any) -> dict[str, Any] | None:
            for node in nodes if isinstance(nodes, list) else []:
                if not isinstance(node, dict):
                    continue
                if node.get("custom_id") == custom_id:
                    return node
                for key in ("components",):
                    found = walk(node.get(key))
                    if found is not None:
                        return found
                accessory = node.get("accessory")
                if isinstance(accessory, dict) and accessory.get("custom_id") == custom_id:
                    return accessory
            return None

        component = walk(stored.components)
        if component is None:
            raise InteractionRefused(f"message {message_id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise InteractionRefused(f"component {custom_id!r} is disabled")
        return stored, component

    def _application_of(self, message: Message) -> int:
        author = self.server.store.bots.get(message.author_id)
        application = message.application_id or (author.application_id if author and author.bot else None)
        if application is None:
            raise InteractionRefused("only an application's messages have interactive components")
        return application

    async def click(self, message: Any, custom_id: str) -> InteractionResult:
        """Click the button ``custom_id`` of ``message`` (link and premium buttons send nothing)."""
        stored, component = self._component(message, custom_id)
        if component.get("type") != 2 or component.get("style") in (5, 6):
            raise InteractionRefused(f"{custom_id!r} is not a button that sends an interaction")
        return await self._component_interaction(stored, {"custom_id": custom_id, "component_type": 2})

    async def select(self, message: Any, custom_id: str, values: list[Any]) -> InteractionResult:
        """Pick ``values`` in the select menu ``custom_id`` (option values; ids for entity selects)."""
        stored, component = self._component(message, custom_id)
        kind = component.get("type")
        if kind not in (3, 5, 6, 7, 8):
            raise InteractionRefused(f"{custom_id!r} is not a select menu")
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise InteractionRefused(f"pick {low} to {high} values, not {len(values)}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": kind}
        if kind == 3:
            offered = {o.get("value") for o in component.get("options", [])}
            picked = [str(v) for v in values]
            if not set(picked) <= offered:
                raise InteractionRefused(f"{sorted(set(picked) - offered)} are not options of {custom_id!r}")
            data["values"] = picked
        else:
            resolved: dict[str, dict[str, Any]] = {}
            option_type = {5: 6, 6: 8, 7: 9, 8: 7}[kind]
            data["values"] = [self._resolve(stored.guild_id, option_type, v, resolved) for v in values]
            data["resolved"] = resolved
        return await self._component_interaction(stored, data)

    async def _component_interaction(self, stored: Message, data: dict[str, Any]) -> InteractionResult:
        """A component of a message in a guild channel, or in the DM with the bot that sent it."""
        return await self.server.interactions.start(
            type=MESSAGE_COMPONENT,
            application_id=self._application_of(stored),
            user_id=self.id,
            guild_id=stored.guild_id,
            channel_id=stored.channel_id,
            data=data,
            message=stored,
        )

    async def submit_modal(self, opened: InteractionResult, values: dict[str, Any]) -> InteractionResult:
        """Fill in and submit the modal that ``opened`` showed.

        ``values`` go by the text inputs' (or other fields') ``custom_id``. The submission
        mirrors the modal's layout: a Label's child comes back as ``{type: 18, id, component:
        {...}}``, a legacy action row as ``{type: 1, components: [...]}``, each leaf with its
        ``type``.
        """
        modal = opened.modal
        if modal is None:
            raise InteractionRefused("that interaction opened no modal")
        interaction = self.server.interactions._by_id[opened.interaction_id]

        def leaf(node: dict[str, Any]) -> dict[str, Any]:
            custom_id = node.get("custom_id")
            submitted: dict[str, Any] = {
                "type": node.get("type"),
                "id": node.get("id", 0),
                "custom_id": custom_id,
            }
            value = values.get(str(custom_id), node.get("value", ""))
            if node.get("type") == 4:
                if node.get("required", True) and not value:
                    raise InteractionRefused(f"the modal's field {custom_id!r} is required")
                submitted["value"] = str(value)
            elif node.get("type") in (3, 5, 6, 7, 8, 19, 22):
                submitted["values"] = [
                    str(v) for v in (value if isinstance(value, list) else [value] if value else [])
                ]
            else:
                submitted["value"] = value
            return submitted

        components = []
        for row in modal["components"]:
            if row.get("type") == 18 and isinstance(row.get("component"), dict):
                components.append({"type": 18, "id": row.get("id", 0), "component": leaf(row["component"])})
            elif row.get("type") == 1:
                children = [leaf(c) for c in row.get("components", []) if isinstance(c, dict)]
                components.append({"type": 1, "id": row.get("id", 0), "components": children})
        data = {"custom_id": modal["custom_id"], "components": components}
        message = None
        if interaction.message_id is not None:
            message = self.server.store.get_message(interaction.channel_id, interaction.message_id)
        return await self.server.interactions.start(
            type=MODAL_SUBMIT,
            application_id=interaction.application_id,
            user_id=self.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            data=data,
            message=message,
        )
