"""Request-body validation for the local server, answering bad input as Discord does.

Every ``parse_*`` function takes whatever :func:`json.loads` produced (any
JSON value, including ``None``) and either returns a typed, normalised value
or raises :class:`~discobase.local.errors.HTTPError`; nothing else escapes.
Field errors of one request are all collected (as Discord reports them all)
and raised together as 400/50035 "Invalid Form Body" with the nested
``errors`` tree, e.g.::

    {"message": "Invalid Form Body", "code": 50035,
     "errors": {"content": {"_errors": [
         {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}

Sources: Discord's docs (https://docs.discord.com/developers/resources/message,
https://docs.discord.com/developers/resources/channel, error shapes in
https://docs.discord.com/developers/reference#error-messages) and its OpenAPI spec
(https://github.com/discord/discord-api-spec). Where the OpenAPI spec and the
docs disagree the docs win (``content`` 2000 not 4000, text-channel ``topic``
1024 not 4096). Leaf codes and messages are the ones seen on the wire
(BASE_TYPE_REQUIRED, BASE_TYPE_MAX_LENGTH, NUMBER_TYPE_COERCE, …); the few
that could not be confirmed are marked "UNCONFIRMED" next to their use.

General conventions, mirroring Discord's (Python) form validation:

* ``null`` counts as "not given" for optional fields; on PATCH routes it is
  recorded in ``fields_set`` where the docs make the field nullable (clear).
* Unknown keys are ignored.
* Strings must be JSON strings (``STRING_TYPE_CONVERT``); lengths count
  Python ``str`` characters, i.e. Unicode code points (Discord's counting
  unit is UNCONFIRMED).
* Booleans must be JSON ``true``/``false`` (``BOOLEAN_TYPE_CONVERT``).
* Integers accept JSON integers, integer-looking strings (``"5"``) and
  finite floats (truncated; observed for embed ``color``); never booleans.
* Snowflakes accept JSON integers and strings of ASCII digits in
  ``0..2**63-1``; anything else is ``NUMBER_TYPE_COERCE`` 'Value "x" is not snowflake.'.
  Discord's ids are signed 64-bit integers (a snowflake with bit 63 set would be
  dated after 2084), so nothing above ``2**63-1`` can name an object, and such a
  value must never reach SQLite, whose INTEGER is signed 64-bit too. ``0`` is a
  well-formed snowflake that names nothing (discord.py sends ``after=0`` to page
  from the start; an upload placeholder ``attachments[].id`` may be ``0``).
* A list longer than its maximum reports the length error and its items are
  not checked further (keeps error bodies bounded).

The parsers live in one module per resource (:mod:`.messages`, :mod:`.channels`,
:mod:`.commands`, :mod:`.guilds`, :mod:`.interactions`, with :mod:`.embeds`), over the shared
converters of :mod:`.fields`; this package re-exports them. Discord's limits and enumerations
they check against are in :mod:`discobase._discord.limits` (shared with the ORM).
"""

from __future__ import annotations

from discobase._discord.channels import normalize_channel_name
from discobase.local.validation.channels import (
    ChannelCreate,
    ChannelEdit,
    InviteCreate,
    Overwrite,
    OverwriteEdit,
    parse_channel_create,
    parse_channel_edit,
    parse_invite_create,
    parse_overwrite_edit,
)
from discobase.local.validation.commands import (
    parse_application_commands,
    parse_command_permissions,
)
from discobase.local.validation.fields import (
    Path,
    body_object,
    coerce_flags,
    parse_query_bool,
    parse_query_int,
    parse_query_snowflake,
    parse_snowflake,
)
from discobase.local.validation.guilds import (
    MemberEdit,
    RoleCreate,
    parse_dm_create,
    parse_member_edit,
    parse_role_create,
    parse_role_positions,
)
from discobase.local.validation.interactions import (
    parse_choices,
    parse_modal,
)
from discobase.local.validation.messages import (
    AttachmentSpec,
    MessageCreate,
    MessageEdit,
    check_bulk_delete_age,
    parse_bulk_delete,
    parse_message_create,
    parse_message_edit,
)

__all__ = [
    "AttachmentSpec",
    "ChannelCreate",
    "ChannelEdit",
    "InviteCreate",
    "MemberEdit",
    "MessageCreate",
    "MessageEdit",
    "Overwrite",
    "OverwriteEdit",
    "Path",
    "RoleCreate",
    "body_object",
    "check_bulk_delete_age",
    "coerce_flags",
    "normalize_channel_name",
    "parse_application_commands",
    "parse_bulk_delete",
    "parse_channel_create",
    "parse_channel_edit",
    "parse_choices",
    "parse_command_permissions",
    "parse_dm_create",
    "parse_invite_create",
    "parse_member_edit",
    "parse_message_create",
    "parse_message_edit",
    "parse_modal",
    "parse_overwrite_edit",
    "parse_query_bool",
    "parse_query_int",
    "parse_query_snowflake",
    "parse_role_create",
    "parse_role_positions",
    "parse_snowflake",
]
