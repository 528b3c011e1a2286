"""What a person types into Discord's client, as an interaction carries it: commands and options."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from discobase._discord.interactions import CONTEXT_BOT_DM, CONTEXT_GUILD
from discobase.local.interactions import InteractionRefused
from discobase.local.store import BotAccount, Command

if TYPE_CHECKING:
    from discobase.local.server import LocalDiscord

__all__ = ["CommandInput", "object_id"]

_MENTION = re.compile(r"<(@!?|@&|#)([0-9]{1,20})>")


def object_id(value: Any) -> int:
    """The id of a snowflake-like value (an int, a person, a discord.py object with ``id``)."""
    if isinstance(value, int):
        return value
    return int(value.id)


class CommandInput:
    """The command-typing side of :class:`~discobase.local.people.Person`.

    Which command a name picks, whether the person may use it, and the ``data`` of its
    invocation.
    """

    server: LocalDiscord
    account: BotAccount

    def _channel(self, guild_id: int, channel: Any | None) -> int:
        """The channel of an invocation: ``channel``, else the guild's system channel."""
        if channel is not None:
            return object_id(channel)
        guild = self.server.store.guilds.get(guild_id)
        if guild is None or guild.system_channel_id is None:
            raise InteractionRefused("pass channel=: the guild has no system channel")
        return guild.system_channel_id

    def _commands(self, guild_id: int, name: str, kind: int, application: int | None) -> Command:
        """The command a user of ``guild_id`` would pick by ``name``.

        The guild's own, then global ones, of applications whose bot is in the guild.
        """
        store = self.server.store
        found = []
        for command in store.commands.values():
            if command.data.get("name") != name or command.data.get("type", 1) != kind:
                continue
            if command.guild_id not in (None, guild_id):
                continue
            if application is not None and command.application_id != application:
                continue
            bots = [b for b in store.bots.values() if b.bot and b.application_id == command.application_id]
            if not any(store.member(guild_id, b.user_id) for b in bots):
                continue
            found.append(command)
        if not found:
            raise InteractionRefused(f"no command {name!r} in guild {guild_id}")
        found.sort(key=lambda c: c.guild_id is None)  # the guild's command shadows a global one
        apps = {c.application_id for c in found}
        if len(apps) > 1:
            raise InteractionRefused(f"several applications have {name!r}; pass application=")
        return found[0]

    def _dm_command(self, bot: BotAccount, name: str, kind: int) -> Command:
        """A global command of ``bot``'s application that may be used in a DM with the bot:
        guild commands never may, nor one whose ``contexts`` lack BOT_DM (1) or, without
        ``contexts``, whose deprecated ``dm_permission`` is false
        (https://discord.com/developers/docs/interactions/application-commands#contexts)."""
        for command in self.server.store.commands.values():
            if (
                command.application_id == bot.application_id
                and command.guild_id is None
                and command.data.get("name") == name
                and command.data.get("type", 1) == kind
            ):
                contexts = command.data.get("contexts")
                usable = (
                    CONTEXT_BOT_DM in contexts
                    if contexts is not None
                    else command.data.get("dm_permission") is not False
                )
                if not usable:
                    raise InteractionRefused(f"/{name} cannot be used in a DM with {bot.name}")
                return command
        raise InteractionRefused(f"{bot.name} has no global command {name!r}")

    def _check_allowed(self, guild_id: int, channel_id: int, command: Command) -> None:
        """Refuse a command Discord's client would hide from the member.

        It hides a command the member may not use (its ``default_member_permissions`` and the
        guild's command permission overwrites, see :mod:`discobase._discord.commands`), and one
        whose ``contexts`` exclude guilds.
        """
        if not self.server.rest.ctx.access.may_use_command(
            self.account.user_id, guild_id, channel_id, command
        ):
            raise InteractionRefused(
                f"{self.account.name} may not use /{command.data.get('name')} (permissions)"
            )
        contexts = command.data.get("contexts")
        if contexts is not None and CONTEXT_GUILD not in contexts:
            raise InteractionRefused(f"/{command.data.get('name')} cannot be used in a guild")

    def _resolve(self, guild_id: int | None, kind: int, raw: Any, resolved: dict[str, dict[str, Any]]) -> Any:
        """An option value typed by the user, as the interaction carries it."""
        store = self.server.store
        payloads = self.server.payloads
        if isinstance(raw, CommandInput):
            raw = raw.account.user_id
        if kind == 3:
            return str(raw)
        if kind == 4:
            return int(raw)
        if kind == 10:
            return float(raw)
        if kind == 5:
            return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
        text = str(raw)
        match = _MENTION.fullmatch(text)
        target = int(match.group(2)) if match else int(text)
        if kind in (6, 9) and target in store.bots:
            resolved.setdefault("users", {})[str(target)] = payloads.user(target)
            member = store.member(guild_id, target) if guild_id is not None else None
            if guild_id is not None and member is not None:
                resolved.setdefault("members", {})[str(target)] = payloads.partial_member(member)
                resolved["members"][str(target)]["permissions"] = str(
                    self.server.rest.permissions(target, guild_id, None)
                )
            return str(target)
        if kind in (8, 9) and target in store.roles:
            resolved.setdefault("roles", {})[str(target)] = payloads.role(store.roles[target])
            return str(target)
        if kind == 7 and target in store.channels:
            channel = payloads.channel(store.channels[target])
            channel["permissions"] = str(
                self.server.interactions.permissions(self.account.user_id, guild_id, target)
            )
            resolved.setdefault("channels", {})[str(target)] = channel
            return str(target)
        raise InteractionRefused(f"{raw!r} names nothing an option of type {kind} accepts")

    def _options(
        self,
        guild_id: int | None,
        specs: list[dict[str, Any]],
        words: list[str],
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        """The ``options`` of an invocation, from the words typed and the ``given`` values.

        Sub-commands by name, then values as ``name:value`` words (a string option's value runs
        on to the next ``name:``, as in Discord's client) or positionally in declared order (the
        last string option takes the rest of the line).
        """
        if specs and specs[0].get("type") in (1, 2):
            if not words:
                raise InteractionRefused("a sub-command is required")
            sub = next((o for o in specs if o.get("name") == words[0]), None)
            if sub is None:
                raise InteractionRefused(f"no sub-command {words[0]!r}")
            inner = self._options(guild_id, sub.get("options", []), words[1:], given, resolved, focused)
            return [{"name": sub["name"], "type": sub["type"], "options": inner}]
        values: dict[str, Any] = {}
        positional: list[str] = []
        kinds = {o["name"]: o.get("type") for o in specs}
        open_text: str | None = None  # a string option typed as ``name:`` takes words up to the next one
        for word in words:
            name, sep, value = word.partition(":")
            if sep and name in kinds:
                values[name] = value
                open_text = name if kinds[name] == 3 else None
            elif open_text is not None:
                values[open_text] = f"{values[open_text]} {word}"
            else:
                positional.append(word)
        pending = [o for o in specs if o["name"] not in values]  # fixed before values fill in
        for index, spec in enumerate(pending):
            if not positional:
                break
            last = index == len(pending) - 1
            values[spec["name"]] = (
                " ".join(positional) if last and spec.get("type") == 3 else positional.pop(0)
            )
            if last:
                positional = []
        values.update(given)
        options = []
        for spec in specs:
            if spec["name"] not in values:
                if spec.get("required") and focused is None:
                    raise InteractionRefused(f"option {spec['name']!r} is required")
                continue
            raw = values[spec["name"]]
            option: dict[str, Any] = {"name": spec["name"], "type": spec["type"]}
            if spec["name"] == focused:
                option["value"] = str(raw)
                option["focused"] = True
            else:
                option["value"] = self._resolve(guild_id, spec["type"], raw, resolved)
            options.append(option)
        return options

    def _command_data(
        self,
        guild_id: int | None,
        text: str,
        options: dict[str, Any] | None,
        application: int | None,
        focused: str | None,
        *,
        dm_bot: BotAccount | None = None,
    ) -> tuple[Command, dict[str, Any]]:
        """The command named first in ``text`` and the ``data`` of its invocation.

        In ``guild_id``, or (``guild_id=None``) among ``dm_bot``'s global commands.
        """
        line = text.strip()
        if line.startswith("/"):
            line = line[1:]
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        if not words:
            raise InteractionRefused("no command given")
        if guild_id is None:
            assert dm_bot is not None
            command = self._dm_command(dm_bot, words[0], 1)
        else:
            command = self._commands(guild_id, words[0], 1, application)
        resolved: dict[str, dict[str, Any]] = {}
        data: dict[str, Any] = {
            "id": str(command.id),
            "name": command.data["name"],
            "type": 1,
            "options": self._options(
                guild_id, command.data.get("options", []), words[1:], options or {}, resolved, focused
            ),
        }
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        if resolved:
            data["resolved"] = resolved
        return command, data
