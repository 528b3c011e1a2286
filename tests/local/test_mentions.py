"""Role mentions, ``@everyone`` and ``@here``: Discord's rules (a role is mentioned when it is
mentionable or the author has MENTION_EVERYONE; ``@everyone``/``@here`` need MENTION_EVERYONE;
``allowed_mentions`` narrows what is parsed), first on :func:`resolve_mentions`, then through
people's messages read by unmodified discord.py."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from discobase._discord.permissions import Overwrite, Permission
from discobase.local import BotAccount, LocalDiscord
from discobase.local.mentions import Mentions, resolve_mentions
from tests.conftest import ConnectFactory

GUILD = 100
MENTIONABLE = 200
HIDDEN = 300
USER = 400


def resolve(
    content: str, allowed: dict[str, Any] | None = None, *, may_mention_everyone: bool = False
) -> Mentions:
    return resolve_mentions(
        content,
        allowed,
        user_exists=lambda user_id: user_id == USER,
        mentionable_roles={MENTIONABLE},
        all_roles={MENTIONABLE, HIDDEN},
        may_mention_everyone=may_mention_everyone,
    )


def test_a_role_needs_mentionable_or_mention_everyone() -> None:
    assert resolve(f"<@&{MENTIONABLE}>").roles == [MENTIONABLE]
    assert resolve(f"<@&{HIDDEN}>").roles == []
    assert resolve(f"<@&{HIDDEN}>", may_mention_everyone=True).roles == [HIDDEN]
    assert resolve(f"<@&{MENTIONABLE}> <@&{MENTIONABLE}> <@&{HIDDEN}>").roles == [MENTIONABLE]  # once each
    assert resolve("<@&999> <@&abc>").roles == []  # no such role; not a mention
    assert resolve(f"<@&{GUILD}>", may_mention_everyone=True).roles == []  # @everyone is not a role mention


def test_everyone_and_here_need_mention_everyone() -> None:
    for text in ("@everyone look", "@here look", "look @here"):
        assert resolve(text).everyone is False
        assert resolve(text, may_mention_everyone=True).everyone is True
    assert resolve("no one", may_mention_everyone=True).everyone is False
    assert resolve("@everyone", {"parse": ["users", "roles"]}, may_mention_everyone=True).everyone is False


def test_allowed_mentions_narrow_roles() -> None:
    text = f"<@&{MENTIONABLE}> <@&{HIDDEN}> <@{USER}> @everyone"
    everything = resolve(text, may_mention_everyone=True)
    assert (everything.roles, everything.users, everything.everyone) == ([MENTIONABLE, HIDDEN], [USER], True)
    assert resolve(text, {"parse": []}, may_mention_everyone=True) == Mentions()
    assert resolve(text, {}, may_mention_everyone=True) == Mentions()  # any object allows only what it names
    only_hidden = resolve(text, {"roles": [str(HIDDEN)]}, may_mention_everyone=True)
    assert (only_hidden.roles, only_hidden.users, only_hidden.everyone) == ([HIDDEN], [], False)
    assert resolve(text, {"roles": [str(HIDDEN)]}).roles == []  # an allowed id still needs the permission
    users = resolve(text, {"parse": ["users"]}, may_mention_everyone=True)
    assert (users.roles, users.users, users.everyone) == ([], [USER], False)
    # what interactions and webhooks parse by default: users only
    webhook = resolve_mentions(
        text,
        None,
        user_exists=lambda user_id: user_id == USER,
        mentionable_roles={MENTIONABLE},
        all_roles={MENTIONABLE, HIDDEN},
        may_mention_everyone=True,
        default_parse=("users",),
    )
    assert (webhook.roles, webhook.users, webhook.everyone) == ([], [USER], False)


async def test_role_and_everyone_mentions_from_people(
    server: LocalDiscord, bot: BotAccount, guild_id: int, connect: ConnectFactory
) -> None:
    mods = server.create_role(guild_id, "mods", mentionable=True)
    staff = server.create_role(guild_id, "staff")  # not mentionable
    announcers = server.create_role(guild_id, "announcers", permissions=int(Permission.MENTION_EVERYONE))
    # a channel where only announcers may mention everyone (Discord's default allows everyone;
    # the @everyone overwrite's deny also removes what a role grants, so announcers get an allow)
    mention_everyone = int(Permission.MENTION_EVERYONE)
    quiet = server.create_channel(
        guild_id,
        "quiet",
        overwrites=[
            Overwrite(guild_id, 0, 0, mention_everyone),
            Overwrite(announcers, 0, mention_everyone, 0),
        ],
    )
    client = await connect(bot)  # after the roles: the direct helpers send no events
    ada, grace = server.create_user("ada"), server.create_user("grace")
    await ada.join(guild_id)
    await grace.join(guild_id, roles=[announcers])
    text = f"<@&{mods}> <@&{staff}> @here @everyone"

    async def sent_by(person: Any, content: str, **fields: Any) -> discord.Message:
        seen = asyncio.ensure_future(client.wait_for("message", check=lambda m: m.author.id == person.id))
        payload = await person.send(quiet, content, **fields)
        message = await asyncio.wait_for(seen, 10)
        assert message.id == int(payload["id"])
        return message

    plain = await sent_by(ada, text)
    assert [r.id for r in plain.role_mentions] == [mods]  # only the mentionable role
    stored = server.store.get_message(quiet, plain.id)
    assert stored is not None
    assert (stored.mention_roles, stored.mention_everyone) == ([mods], False)
    assert plain.mention_everyone is False  # MENTION_EVERYONE is denied here
    allowed = await sent_by(grace, text)
    assert sorted(r.id for r in allowed.role_mentions) == sorted([mods, staff])
    assert allowed.mention_everyone is True
    narrowed = await sent_by(grace, text, allowed_mentions={"parse": [], "roles": [str(staff)]})
    assert [r.id for r in narrowed.role_mentions] == [staff]
    assert narrowed.mention_everyone is False
    in_embed = await sent_by(grace, "see below", embeds=[{"description": f"<@&{mods}> @everyone"}])
    assert (in_embed.role_mentions, in_embed.mention_everyone) == ([], False)  # embeds mention nobody

    edited = asyncio.ensure_future(client.wait_for("raw_message_edit"))
    await grace.edit({"channel_id": quiet, "id": allowed.id}, "never mind")
    update = (await asyncio.wait_for(edited, 10)).data
    assert (update["mention_roles"], update["mention_everyone"]) == ([], False)  # rebuilt from the content
