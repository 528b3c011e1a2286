"""Request validation of the local server: Discord's limits, error shapes and codes.

Boundaries come from ``shared/reference/discord-api-facts.md`` §2-§4; the fuzz tests at the
end check that no input, however malformed, escapes as anything but a Discord-shaped
:class:`HTTPError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discobase._discord.limits import BULK_DELETE_MAX_AGE_MS
from discobase.local import validation as v
from discobase.local.errors import FormErrors, HTTPError
from discobase.local.snowflake import snowflake_at

# ---------------------------------------------------------------------------------------------- helpers


def leaf(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def fail(fn: Callable[..., object], *args: object, **kwargs: object) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        fn(*args, **kwargs)
    assert_discord_shape(info.value)
    return info.value


def form_errors(fn: Callable[..., object], *args: object, **kwargs: object) -> dict[str, Any]:
    """The ``errors`` tree of the 400/50035 that ``fn(*args)`` raises."""
    error = fail(fn, *args, **kwargs)
    assert (error.status, error.code, error.message) == (400, 50035, "Invalid Form Body")
    assert error.errors is not None
    return error.errors


def assert_tree(node: object) -> None:
    assert isinstance(node, dict)
    assert node, "empty error node"
    for key, value in node.items():
        assert isinstance(key, str)
        if key == "_errors":
            assert isinstance(value, list)
            assert value
            for item in value:
                assert isinstance(item, dict)
                assert set(item) == {"code", "message"}
                assert isinstance(item["code"], str)
                assert item["code"]
                assert isinstance(item["message"], str)
        else:
            assert_tree(value)


def assert_discord_shape(error: HTTPError) -> None:
    """Discord's error body: ``message`` str, ``code`` int, optional nested ``errors`` tree."""
    assert error.status in (400, 413)
    body = error.body()
    assert list(body)[:2] == ["message", "code"]
    assert isinstance(body["message"], str)
    assert isinstance(body["code"], int)
    assert not isinstance(body["code"], bool)
    if "errors" in body:
        assert body["code"] == 50035
        assert_tree(body["errors"])
    json.dumps(body)  # serialisable as sent


EMPTY_MESSAGE = {"message": "Cannot send an empty message", "code": 50006}

# --------------------------------------------------------------------------------------------- content


def test_content_2000_characters_is_accepted() -> None:
    assert v.parse_message_create({"content": "x" * 2000}).content == "x" * 2000


def test_content_2001_characters_is_the_exact_discord_error() -> None:
    error = fail(v.parse_message_create, {"content": "x" * 2001})
    assert error.status == 400
    assert error.body() == {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {"content": leaf("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")},
    }


def test_content_counts_code_points_not_utf16_units() -> None:
    emoji = "\N{GRINNING FACE}"  # 2 UTF-16 units, 1 code point
    assert v.parse_message_create({"content": emoji * 2000}).content == emoji * 2000
    assert "content" in form_errors(v.parse_message_create, {"content": emoji * 2001})


@pytest.mark.parametrize("value", [123, 1.5, True, ["a"], {"a": 1}])
def test_content_must_be_a_string(value: object) -> None:
    errors = form_errors(v.parse_message_create, {"content": value})
    assert errors == {"content": leaf("STRING_TYPE_CONVERT", f'Could not interpret "{value}" as string.')}


def test_all_field_errors_are_reported_together() -> None:
    errors = form_errors(
        v.parse_message_create,
        {"content": "x" * 2001, "nonce": "n" * 26, "tts": "yes", "sticker_ids": ["1", "2", "3", "4"]},
    )
    assert set(errors) == {"content", "nonce", "tts", "sticker_ids"}
    assert errors["tts"] == leaf("BOOLEAN_TYPE_CONVERT", "Must be either true or false.")
    assert errors["sticker_ids"] == leaf("BASE_TYPE_MAX_LENGTH", "Must be 3 or fewer in length.")


# -------------------------------------------------------------------------------------- empty / uploads


@pytest.mark.parametrize(
    "body",
    [
        {},
        None,
        {"content": ""},
        {"content": "   \n"},
        {"content": None, "embeds": None},
        {"embeds": []},
        {"components": [], "sticker_ids": []},
        {"attachments": [{"id": "0"}]},  # names an upload that was not sent
        {"tts": True, "nonce": "abc"},
    ],
)
def test_empty_message_is_50006(body: object) -> None:
    error = fail(v.parse_message_create, body)
    assert (error.status, error.body()) == (400, EMPTY_MESSAGE)


@pytest.mark.parametrize(
    ("body", "uploads"),
    [
        ({}, 1),
        ({"content": "hi"}, 0),
        ({"embeds": [{"title": "t"}]}, 0),
        ({"sticker_ids": ["1"]}, 0),
        ({"components": [{"type": 1, "components": []}]}, 0),
        ({"poll": {"question": {"text": "?"}}}, 0),
    ],
)
def test_any_content_source_makes_a_message_non_empty(body: dict[str, Any], uploads: int) -> None:
    v.parse_message_create(body, uploads=uploads)


def test_ten_uploads_are_accepted_eleven_are_30015() -> None:
    v.parse_message_create({}, uploads=10)
    error = fail(v.parse_message_create, {"content": "hi"}, uploads=11)
    assert (error.status, error.body()) == (
        400,
        {"message": "Maximum number of attachments in message reached (10)", "code": 30015},
    )
    assert fail(v.parse_message_edit, {}, uploads=11).code == 30015


def test_attachments_list_limits_and_fields() -> None:
    spec = v.parse_message_create(
        {"attachments": [{"id": i, "filename": f"f{i}.bin", "description": "d"} for i in range(10)]},
        uploads=10,
    )
    assert spec.attachments is not None
    assert [a.id for a in spec.attachments] == list(range(10))
    assert spec.attachments[3].filename == "f3.bin"
    assert spec.attachments[3].fields_set == frozenset({"filename", "description"})

    errors = form_errors(v.parse_message_create, {"attachments": [{"id": i} for i in range(11)]}, uploads=1)
    assert errors == {"attachments": leaf("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")}

    errors = form_errors(
        v.parse_message_create,
        {"attachments": [{"filename": "x"}, {"id": "abc"}, {"id": 1, "filename": ""}, None, "x"]},
        uploads=1,
    )
    assert errors == {
        "attachments": {
            "0": {"id": leaf("BASE_TYPE_REQUIRED", "This field is required")},
            "1": {"id": leaf("NUMBER_TYPE_COERCE", 'Value "abc" is not snowflake.')},
            "2": {"filename": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 1024 in length.")},
            "3": leaf("LIST_ITEM_VALUE_REQUIRED", "List item values of ModelType are required"),
            "4": leaf("MODEL_TYPE_CONVERT", "Expected an object/dictionary."),
        }
    }


# ----------------------------------------------------------------------------------------------- embeds


def test_ten_embeds_ok_eleven_rejected() -> None:
    assert len(v.parse_message_create({"embeds": [{"title": "t"}] * 10}).embeds) == 10
    errors = form_errors(v.parse_message_create, {"embeds": [{"title": "t"}] * 11})
    assert errors == {"embeds": leaf("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")}


def test_twenty_five_fields_ok_twenty_six_rejected() -> None:
    field = {"name": "n", "value": "v"}
    spec = v.parse_message_create({"embeds": [{"fields": [field] * 25}]})
    assert spec.embeds[0]["fields"][0] == {"name": "n", "value": "v", "inline": False}
    errors = form_errors(v.parse_message_create, {"embeds": [{"fields": [field] * 26}]})
    assert errors == {
        "embeds": {"0": {"fields": leaf("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")}}
    }


@pytest.mark.parametrize(
    ("embed", "path", "limit"),
    [
        ({"title": "{}"}, ("title",), 256),
        ({"description": "{}"}, ("description",), 4096),
        ({"title": "t", "footer": {"text": "{}"}}, ("footer", "text"), 2048),
        ({"title": "t", "author": {"name": "{}"}}, ("author", "name"), 256),
        ({"fields": [{"name": "{}", "value": "v"}]}, ("fields", "0", "name"), 256),
        ({"fields": [{"name": "n", "value": "{}"}]}, ("fields", "0", "value"), 1024),
    ],
)
def test_embed_text_limits(embed: dict[str, Any], path: tuple[str, ...], limit: int) -> None:
    def fill(length: int) -> dict[str, Any]:
        filled: dict[str, Any] = json.loads(json.dumps(embed).replace("{}", "x" * length))
        return filled

    v.parse_message_create({"embeds": [fill(limit)]})
    errors = form_errors(v.parse_message_create, {"embeds": [fill(limit + 1)]})
    node = errors["embeds"]["0"]
    for part in path:
        node = node[part]
    assert node == leaf("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def test_embed_urls_and_color() -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    embed = {"title": "t", "url": url, "color": 16777215, "image": {"url": "attachment://a.png"}}
    parsed = v.parse_message_create({"embeds": [embed]}).embeds[0]
    assert parsed["color"] == 16777215
    assert parsed["image"] == {"url": "attachment://a.png"}
    assert parsed["type"] == "rich"
    assert v.parse_message_create({"embeds": [{"title": "t", "color": 0}]}).embeds[0]["color"] == 0

    errors = form_errors(
        v.parse_message_create,
        {"embeds": [{"title": "t", "url": url + "a", "color": 16777216}, {"title": "t", "color": -1}]},
    )
    assert errors == {
        "embeds": {
            "0": {
                "url": leaf("BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length."),
                "color": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215."),
            },
            "1": {"color": leaf("NUMBER_TYPE_MIN", "int value should be greater than or equal to 0.")},
        }
    }
    errors = form_errors(
        v.parse_message_create, {"embeds": [{"title": "t", "url": "ttps://x.y", "color": "red"}]}
    )
    assert errors["embeds"]["0"]["url"] == leaf(
        "URL_TYPE_INVALID_SCHEME",
        "Scheme \"ttps\" is not supported. Scheme must be one of ('http', 'https').",
    )
    assert errors["embeds"]["0"]["color"] == leaf("NUMBER_TYPE_COERCE", 'Value "red" is not int.')


def test_embed_total_of_6000_characters() -> None:
    def embeds(second: int, pad: str = "") -> list[dict[str, Any]]:
        return [
            {"title": "t" * 256, "description": "d" * 4096},
            {"description": pad + "y" * second + pad, "footer": {"text": pad}},
        ]

    v.parse_message_create({"embeds": embeds(1648)})  # 256 + 4096 + 1648 = 6000
    v.parse_message_create({"embeds": embeds(1648, pad="  ")})  # surrounding whitespace is not counted
    errors = form_errors(v.parse_message_create, {"embeds": embeds(1649)})
    assert errors == {"embeds": leaf("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")}


def test_embed_field_name_and_value_are_required_and_not_blank() -> None:
    errors = form_errors(
        v.parse_message_create, {"embeds": [{"fields": [{"name": "n"}, {"name": " ", "value": "v"}, None]}]}
    )
    assert errors == {
        "embeds": {
            "0": {
                "fields": {
                    "0": {"value": leaf("BASE_TYPE_REQUIRED", "This field is required")},
                    "1": {"name": leaf("BASE_TYPE_REQUIRED", "This field is required")},
                    "2": leaf("LIST_ITEM_VALUE_REQUIRED", "List item values of ModelType are required"),
                }
            }
        }
    }
    zero_width = {"name": "\u200b", "value": "\u200b"}  # the usual workaround stays valid
    v.parse_message_create({"embeds": [{"fields": [zero_width]}]})


def test_empty_or_non_object_embeds() -> None:
    errors = form_errors(v.parse_message_create, {"embeds": [{}, "x", None, {"color": 5}]})
    assert errors == {
        "embeds": {
            "0": {"description": leaf("BASE_TYPE_REQUIRED", "This field is required")},
            "1": leaf("MODEL_TYPE_CONVERT", "Expected an object/dictionary."),
            "2": leaf("LIST_ITEM_VALUE_REQUIRED", "List item values of ModelType are required"),
            "3": {"description": leaf("BASE_TYPE_REQUIRED", "This field is required")},
        }
    }
    assert form_errors(v.parse_message_create, {"embeds": {"title": "t"}}) == {
        "embeds": leaf("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    }


def test_embed_timestamp() -> None:
    embed = v.parse_message_create({"embeds": [{"title": "t", "timestamp": "2024-01-02T03:04:05Z"}]}).embeds[
        0
    ]
    assert embed["timestamp"] == "2024-01-02T03:04:05+00:00"
    errors = form_errors(v.parse_message_create, {"embeds": [{"title": "t", "timestamp": "yesterday"}]})
    assert errors == {
        "embeds": {
            "0": {"timestamp": leaf("DATE_TIME_TYPE_PARSE", "Could not parse yesterday. Should be ISO8601.")}
        }
    }


# --------------------------------------------------------------------------------- other message fields


def test_nonce_25_characters_ok_26_rejected() -> None:
    assert v.parse_message_create({"content": "x", "nonce": "n" * 25}).nonce == "n" * 25
    assert v.parse_message_create({"content": "x", "nonce": 2**63 - 1}).nonce == 2**63 - 1
    errors = form_errors(v.parse_message_create, {"content": "x", "nonce": "n" * 26})
    assert errors == {"nonce": leaf("NONCE_TYPE_TOO_LONG", "Must be 25 or fewer characters long.")}
    for bad in (1.5, True, [1], {"a": 1}):
        errors = form_errors(v.parse_message_create, {"content": "x", "nonce": bad})
        assert errors == {"nonce": leaf("NONCE_TYPE_INVALID_TYPE", "This field must be a string or integer.")}
    assert "nonce" in form_errors(v.parse_message_create, {"content": "x", "nonce": 2**63})


def test_booleans_accept_json_booleans_only() -> None:
    spec = v.parse_message_create({"content": "x", "tts": True, "enforce_nonce": False})
    assert (spec.tts, spec.enforce_nonce) == (True, False)
    for bad in ("true", 1, 0, "1"):
        errors = form_errors(v.parse_message_create, {"content": "x", "tts": bad, "enforce_nonce": bad})
        expected = leaf("BOOLEAN_TYPE_CONVERT", "Must be either true or false.")
        assert errors == {"tts": expected, "enforce_nonce": expected}


def test_stickers_and_components_counts() -> None:
    v.parse_message_create({"sticker_ids": ["1", "2", "3"]})
    v.parse_message_create({"components": [{"type": 1}] * 40})
    errors = form_errors(v.parse_message_create, {"components": [{"type": 1}] * 41})
    assert errors == {"components": leaf("BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")}
    errors = form_errors(v.parse_message_create, {"components": [{}], "sticker_ids": ["x"]})
    assert errors == {
        "components": {"0": {"type": leaf("BASE_TYPE_REQUIRED", "This field is required")}},
        "sticker_ids": {"0": leaf("NUMBER_TYPE_COERCE", 'Value "x" is not snowflake.')},
    }


def test_message_reference_and_allowed_mentions() -> None:
    spec = v.parse_message_create(
        {
            "content": "reply",
            "message_reference": {"message_id": 5, "channel_id": "6", "fail_if_not_exists": False},
            "allowed_mentions": {"parse": ["users", "users"], "replied_user": True},
        }
    )
    assert spec.message_reference == {"type": 0, "message_id": "5", "channel_id": "6"}
    assert spec.fail_if_not_exists is False
    assert spec.allowed_mentions == {"parse": ["users"], "replied_user": True}

    errors = form_errors(
        v.parse_message_create,
        {
            "content": "x",
            "message_reference": {"channel_id": "1"},
            "allowed_mentions": {"parse": ["users", "nobody"], "users": ["1"]},
        },
    )
    assert errors["message_reference"] == {"message_id": leaf("BASE_TYPE_REQUIRED", "This field is required")}
    assert errors["allowed_mentions"] == {
        "parse": {"1": leaf("BASE_TYPE_CHOICES", "Value must be one of ('users', 'roles', 'everyone').")},
        **leaf(
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
            'parse:["users"] and users: [ids...] are mutually exclusive.',
        ),
    }


def test_non_object_bodies() -> None:
    for body in ([], "text", 5, True, [{"content": "x"}]):
        errors = form_errors(v.parse_message_create, body)
        assert errors == leaf("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")


# ------------------------------------------------------------------------------------------- message edit


def test_edit_records_present_fields_and_null_semantics() -> None:
    spec = v.parse_message_edit(
        {"content": None, "embeds": None, "flags": None, "attachments": [{"id": "9"}]}
    )
    assert spec.fields_set == {"content", "embeds", "attachments"}
    assert spec.content is None
    assert spec.embeds == []
    assert spec.attachments is not None
    assert [a.id for a in spec.attachments] == [9]

    assert v.parse_message_edit({}).fields_set == set()
    assert v.parse_message_edit(None).fields_set == set()
    assert v.parse_message_edit({"content": ""}).content == ""
    assert v.parse_message_edit({"flags": 4}).flags == 4


def test_edit_applies_the_same_limits() -> None:
    errors = form_errors(v.parse_message_edit, {"content": "x" * 2001, "embeds": [{"title": "t"}] * 11})
    assert errors == {
        "content": leaf("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."),
        "embeds": leaf("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."),
    }
    v.parse_message_edit({"content": "x" * 2000})


# ---------------------------------------------------------------------------------------------- channels


@pytest.mark.parametrize(("length", "ok"), [(0, False), (1, True), (100, True), (101, False)])
def test_channel_name_length(length: int, ok: bool) -> None:
    body = {"name": "a" * length, "type": 2}
    if ok:
        assert v.parse_channel_create(body).name == "a" * length
    else:
        errors = form_errors(v.parse_channel_create, body)
        assert errors == {"name": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")}


def test_channel_name_required_and_type_choices() -> None:
    assert form_errors(v.parse_channel_create, {}) == {
        "name": leaf("BASE_TYPE_REQUIRED", "This field is required")
    }
    errors = form_errors(v.parse_channel_create, {"name": "x", "type": 1})
    assert errors == {"type": leaf("BASE_TYPE_CHOICES", "Value must be one of {0, 2, 4, 5, 13, 15}.")}
    for kind in (0, 2, 4, 5, 13, 15):
        assert v.parse_channel_create({"name": "x", "type": kind}).type == kind
    assert v.parse_channel_create({"name": "x"}).type == 0


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("Hello World", 0, "hello-world"),
        ("  My   Data\tTable ", 0, "my-data-table"),
        ("-News Feed-", 5, "news-feed"),
        ("Ünïcödé Ωmega", 0, "ünïcödé-ωmega"),
        ("Voice Chat", 2, "Voice Chat"),
        ("Category ONE", 4, "Category ONE"),
        ("---", 0, "---"),
    ],
)
def test_normalize_channel_name(name: str, kind: int, expected: str) -> None:
    assert v.normalize_channel_name(name, kind) == expected
    assert v.normalize_channel_name(expected, kind) == expected  # idempotent


def test_channel_create_normalises_text_names() -> None:
    assert v.parse_channel_create({"name": "Hello World"}).name == "hello-world"


def test_channel_topic_and_slowmode_limits() -> None:
    v.parse_channel_create({"name": "x", "topic": "t" * 1024, "rate_limit_per_user": 21600})
    v.parse_channel_create({"name": "x", "type": 15, "topic": "t" * 4096})
    errors = form_errors(
        v.parse_channel_create, {"name": "x", "topic": "t" * 1025, "rate_limit_per_user": 21601}
    )
    assert errors == {
        "topic": leaf("BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length."),
        "rate_limit_per_user": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 21600."),
    }
    errors = form_errors(v.parse_channel_create, {"name": "x", "type": 15, "topic": "t" * 4097})
    assert errors == {"topic": leaf("BASE_TYPE_MAX_LENGTH", "Must be 4096 or fewer in length.")}
    errors = form_errors(v.parse_channel_create, {"name": "x", "rate_limit_per_user": -1, "position": -1})
    assert errors == {
        "position": leaf("NUMBER_TYPE_MIN", "int value should be greater than or equal to 0."),
        "rate_limit_per_user": leaf("NUMBER_TYPE_MIN", "int value should be greater than or equal to 0."),
    }


def test_channel_parent_id_and_nsfw() -> None:
    spec = v.parse_channel_create({"name": "x", "parent_id": "123", "nsfw": True, "position": "3"})
    assert (spec.parent_id, spec.nsfw, spec.position) == (123, True, 3)
    errors = form_errors(v.parse_channel_create, {"name": "x", "parent_id": "abc", "nsfw": "yes"})
    assert errors == {
        "parent_id": leaf("NUMBER_TYPE_COERCE", 'Value "abc" is not snowflake.'),
        "nsfw": leaf("BOOLEAN_TYPE_CONVERT", "Must be either true or false."),
    }


def test_permission_overwrites() -> None:
    spec = v.parse_channel_create(
        {
            "name": "x",
            "permission_overwrites": [
                {"id": "1", "type": 0, "allow": "1024", "deny": 2048},
                {"id": 2, "type": 1},
            ],
        }
    )
    assert spec.permission_overwrites == [v.Overwrite(1, 0, 1024, 2048), v.Overwrite(2, 1, 0, 0)]
    assert "permission_overwrites" in spec.fields_set
    errors = form_errors(
        v.parse_channel_create,
        {
            "name": "x",
            "permission_overwrites": [
                {"type": 0},
                {"id": "1", "type": 2, "allow": "abc"},
                {"id": "1", "allow": -1},
                "x",
            ],
        },
    )
    assert errors == {
        "permission_overwrites": {
            "0": {"id": leaf("BASE_TYPE_REQUIRED", "This field is required")},
            "1": {
                "type": leaf("BASE_TYPE_CHOICES", "Value must be one of (0, 1)."),
                "allow": leaf("NUMBER_TYPE_COERCE", 'Value "abc" is not int.'),
            },
            "2": {
                "type": leaf("BASE_TYPE_REQUIRED", "This field is required"),
                "allow": leaf("NUMBER_TYPE_MIN", "int value should be greater than or equal to 0."),
            },
            "3": leaf("MODEL_TYPE_CONVERT", "Expected an object/dictionary."),
        }
    }


def test_channel_edit_is_partial() -> None:
    spec = v.parse_channel_edit({"name": "New Name", "topic": None, "parent_id": None, "nsfw": None})
    assert spec.fields_set == {"name", "topic", "parent_id", "nsfw"}
    assert spec.name == "New Name"  # the stored type is unknown here
    assert (spec.topic, spec.parent_id, spec.nsfw) == (None, None, False)
    assert v.parse_channel_edit({"name": "New Name"}, channel_type=0).name == "new-name"
    assert v.parse_channel_edit({"name": None, "position": None}).fields_set == set()
    edit = v.parse_channel_edit({"rate_limit_per_user": None, "permission_overwrites": None})
    assert (edit.rate_limit_per_user, edit.permission_overwrites) == (0, [])
    assert v.parse_channel_edit(None).fields_set == set()
    errors = form_errors(v.parse_channel_edit, {"name": "", "topic": "t" * 1025})
    assert set(errors) == {"name", "topic"}
    v.parse_channel_edit({"topic": "t" * 4096}, channel_type=15)


def test_overwrite_edit() -> None:
    assert v.parse_overwrite_edit({"type": 0, "allow": "1024", "deny": "0"}) == (1024, 0, 0)
    allow, deny, kind = v.parse_overwrite_edit({"type": 1})
    assert (allow, deny, kind) == (0, 0, 1)
    errors = form_errors(v.parse_overwrite_edit, {"allow": "x"})
    assert errors == {
        "type": leaf("BASE_TYPE_REQUIRED", "This field is required"),
        "allow": leaf("NUMBER_TYPE_COERCE", 'Value "x" is not int.'),
    }


# ------------------------------------------------------------------------------------------- snowflakes


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("123", 123), (123, 123), (str(2**63 - 1), 2**63 - 1), (2**63 - 1, 2**63 - 1), ("00012", 12)],
)
def test_parse_snowflake_accepts(value: object, expected: int) -> None:
    errors = FormErrors()
    assert v.parse_snowflake(value, ("id",), errors) == expected
    assert not errors


@pytest.mark.parametrize(
    "value",
    [
        *("abc", "", "12a", " 12", "-1", "+1", "1.0", "\u0661\u0662", "\u00b2", str(2**64), -1, 2**64),
        *(str(2**63), 2**63, str(2**64 - 1), "9" * 5000, 1.0, True, None, []),
    ],
)
def test_parse_snowflake_rejects(value: object) -> None:
    errors = FormErrors()
    assert v.parse_snowflake(value, ("channel_id",), errors) is None
    assert errors.errors == {"channel_id": leaf("NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')}


def test_query_snowflake() -> None:
    assert v.parse_query_snowflake(None, "before") is None
    assert v.parse_query_snowflake("42", "before") == 42
    errors = form_errors(v.parse_query_snowflake, "abc", "before")
    assert errors == {"before": leaf("NUMBER_TYPE_COERCE", 'Value "abc" is not snowflake.')}


def test_query_int() -> None:
    def limit(value: str | None) -> int:
        return v.parse_query_int(value, "limit", default=50, minimum=1, maximum=100)

    assert (limit(None), limit("1"), limit("100")) == (50, 1, 100)
    assert form_errors(limit, "101") == {
        "limit": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")
    }
    assert form_errors(limit, "0") == {
        "limit": leaf("NUMBER_TYPE_MIN", "int value should be greater than or equal to 1.")
    }
    for bad in ("x", "", "1.5", " 5"):
        assert form_errors(limit, bad) == {"limit": leaf("NUMBER_TYPE_COERCE", f'Value "{bad}" is not int.')}


def test_query_bool() -> None:
    assert v.parse_query_bool(None, "wait", default=False) is False
    assert v.parse_query_bool("true", "wait", default=False) is True
    assert v.parse_query_bool("0", "wait", default=True) is False
    assert form_errors(v.parse_query_bool, "yes", "wait", default=False) == {
        "wait": leaf("BOOLEAN_TYPE_CONVERT", "Must be either true or false.")
    }


# ------------------------------------------------------------------------------------------ bulk delete


def ids(count: int, start: int = 10**17) -> list[str]:
    return [str(start + i) for i in range(count)]


@pytest.mark.parametrize("count", [2, 100])
def test_bulk_delete_accepts_2_to_100(count: int) -> None:
    assert v.parse_bulk_delete({"messages": ids(count)}) == [int(i) for i in ids(count)]


@pytest.mark.parametrize("count", [0, 1, 101])
def test_bulk_delete_count_out_of_range(count: int) -> None:
    errors = form_errors(v.parse_bulk_delete, {"messages": ids(count)})
    assert errors == {"messages": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")}


def test_bulk_delete_duplicates_and_bad_ids() -> None:
    errors = form_errors(v.parse_bulk_delete, {"messages": ["1", "2", "1", "x", 2]})
    assert errors == {
        "messages": {
            "2": leaf("SET_TYPE_ALREADY_CONTAINS_VALUE", "The set already contains this value"),
            "3": leaf("NUMBER_TYPE_COERCE", 'Value "x" is not snowflake.'),
            "4": leaf("SET_TYPE_ALREADY_CONTAINS_VALUE", "The set already contains this value"),
        }
    }
    assert form_errors(v.parse_bulk_delete, {}) == {
        "messages": leaf("BASE_TYPE_REQUIRED", "This field is required")
    }
    assert form_errors(v.parse_bulk_delete, {"messages": "1,2"}) == {
        "messages": leaf("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    }


def test_bulk_delete_age() -> None:
    now = 1_800_000_000_000
    fresh = snowflake_at(now - 1000)
    old = snowflake_at(now - BULK_DELETE_MAX_AGE_MS) - 1
    assert v.parse_bulk_delete({"messages": [fresh, fresh + 1]}, now_ms=now) == [fresh, fresh + 1]
    error = fail(v.parse_bulk_delete, {"messages": [fresh, old]}, now_ms=now)
    assert error.body() == {
        "message": "You can only bulk delete messages that are under 14 days old.",
        "code": 50034,
    }


# ---------------------------------------------------------------------------------------------- invites


def test_invite_defaults_and_limits() -> None:
    empty: list[dict[str, Any] | None] = [None, {}]
    for body in empty:
        spec = v.parse_invite_create(body)
        assert (spec.max_age, spec.max_uses, spec.temporary, spec.unique) == (86400, 0, False, False)
    spec = v.parse_invite_create({"max_age": 604800, "max_uses": 100, "temporary": True, "unique": True})
    assert (spec.max_age, spec.max_uses, spec.temporary, spec.unique) == (604800, 100, True, True)
    assert v.parse_invite_create({"max_age": 0}).max_age == 0
    errors = form_errors(v.parse_invite_create, {"max_age": 604801, "max_uses": 101, "unique": "no"})
    assert errors == {
        "max_age": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 604800."),
        "max_uses": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 100."),
        "unique": leaf("BOOLEAN_TYPE_CONVERT", "Must be either true or false."),
    }


# ----------------------------------------------------------------------------------------------- commands


def command(name: str = "ping", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "Replies with pong", **extra}


def test_commands_valid_and_normalised() -> None:
    result = v.parse_application_commands(
        [command(), command("über-cmd_2"), {"name": "User Info", "type": 2}, command("opts", options=[])]
    )
    assert [(c["name"], c["type"]) for c in result] == [
        ("ping", 1),
        ("über-cmd_2", 1),
        ("User Info", 2),
        ("opts", 1),
    ]
    assert result[2]["description"] == ""
    assert v.parse_application_commands(None) == []
    assert v.parse_application_commands([]) == []


@pytest.mark.parametrize("name", ["Ping", "two words", "bang!", "a" * 33, ""])
def test_command_names(name: str) -> None:
    errors = form_errors(v.parse_application_commands, [command(name)])
    if not name or len(name) > 32:
        assert errors == {"0": {"name": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")}}
    else:
        assert errors == {"0": {"name": leaf("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")}}


def test_command_description_options_and_shape() -> None:
    v.parse_application_commands([command("a" * 32)])
    option = {"type": 3, "name": "text", "description": "d"}
    v.parse_application_commands([command(options=[option] * 25)])
    errors = form_errors(
        v.parse_application_commands,
        [
            {"name": "nodesc"},
            command(options=[option] * 26),
            command("x", description="d" * 101),
            "ping",
            command("y", type=9),
        ],
    )
    assert errors == {
        "0": {"description": leaf("BASE_TYPE_REQUIRED", "This field is required")},
        "1": {"options": leaf("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")},
        "2": {"description": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")},
        "3": leaf("MODEL_TYPE_CONVERT", "Expected an object/dictionary."),
        "4": {"type": leaf("BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3).")},
    }
    assert form_errors(v.parse_application_commands, {"name": "x"}) == leaf(
        "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"
    )


def test_command_duplicates_and_counts() -> None:
    assert form_errors(v.parse_application_commands, [command(), command()]) == leaf(
        "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
    )
    v.parse_application_commands([command(), {"name": "ping", "type": 2}])  # names are unique per type
    v.parse_application_commands([command(f"c{i}") for i in range(100)])
    error = fail(v.parse_application_commands, [command(f"c{i}") for i in range(101)])
    assert (error.status, error.code) == (400, 30032)


# --------------------------------------------------------------------------------------------- fuzzing

KEYS = sorted(
    {
        # messages
        "content", "embeds", "attachments", "nonce", "enforce_nonce", "tts", "flags", "components",
        "sticker_ids", "message_reference", "allowed_mentions", "poll", "shared_client_theme",
        "message_id", "channel_id", "guild_id", "fail_if_not_exists", "parse", "users", "roles",
        "replied_user", "filename", "description", "title", "is_spoiler", "duration_secs", "waveform",
        # embeds
        "type", "url", "timestamp", "color", "footer", "text", "icon_url", "author", "name", "image",
        "thumbnail", "video", "provider", "fields", "value", "inline", "width", "height",
        # channels, overwrites, invites, bulk delete
        "topic", "position", "parent_id", "nsfw", "rate_limit_per_user", "permission_overwrites", "id",
        "allow", "deny", "bitrate", "user_limit", "rtc_region", "video_quality_mode",
        "default_auto_archive_duration", "max_age", "max_uses", "temporary", "unique", "target_type",
        "target_user_id", "target_application_id", "messages",
        # commands
        "options", "choices", "required", "name_localizations", "description_localizations",
        "default_member_permissions", "dm_permission", "_errors",
    }
)  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.integers(min_value=0, max_value=2**66).map(str)  # snowflake-ish strings, some too large
    | st.sampled_from(["", " ", "0", "1", "10", "abc", "https://x.y/z", "attachment://a.png", "2024-01-01"])
    | st.integers(min_value=2, max_value=70).map(lambda n: "ab " * n * 10)  # around the 2000/4096 limits
)
keys = st.sampled_from(KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=15,
)
bodies = json_values | st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)
command_lists = st.lists(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6) | json_values, max_size=4
)


def _run(fn: Callable[[], object]) -> None:
    try:
        fn()
    except HTTPError as error:
        assert_discord_shape(error)


PARSERS: list[tuple[str, Callable[[Any, int], object]]] = [
    ("message_create", lambda body, n: v.parse_message_create(body, uploads=n % 13)),
    ("message_edit", lambda body, n: v.parse_message_edit(body, uploads=n % 13)),
    ("channel_create", lambda body, n: v.parse_channel_create(body)),
    ("channel_edit", lambda body, n: v.parse_channel_edit(body, channel_type=[None, 0, 2, 13, 15][n % 5])),
    ("bulk_delete", lambda body, n: v.parse_bulk_delete(body, now_ms=n * 10**9 if n % 2 else None)),
    ("overwrite_edit", lambda body, n: v.parse_overwrite_edit(body)),
    ("invite_create", lambda body, n: v.parse_invite_create(body)),
    ("application_commands", lambda body, n: v.parse_application_commands(body)),
    ("snowflake", lambda body, n: v.parse_snowflake(body, ("id",), FormErrors())),
]  # fmt: skip


@pytest.mark.parametrize(("name", "parser"), PARSERS, ids=[name for name, _ in PARSERS])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, n=st.integers(min_value=0, max_value=2**20))
def test_fuzz_only_discord_shaped_http_errors(
    name: str, parser: Callable[[Any, int], object], body: Any, n: int
) -> None:
    _run(lambda: parser(body, n))


@settings(max_examples=150, deadline=None)
@given(body=command_lists)
def test_fuzz_command_lists(body: list[Any]) -> None:
    _run(lambda: v.parse_application_commands(body))


_EMBED_KEYS = [
    "title",
    "description",
    "url",
    "timestamp",
    "color",
    "footer",
    "author",
    "fields",
    "image",
    "type",
]
embeds = st.lists(
    st.dictionaries(st.sampled_from(_EMBED_KEYS), json_values, max_size=8)
    | st.fixed_dictionaries(
        {
            "fields": st.lists(
                st.dictionaries(st.sampled_from(["name", "value", "inline"]), json_values), max_size=4
            )
        }
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(embed_list=embeds, content=scalars)
def test_fuzz_embeds(embed_list: list[Any], content: Any) -> None:
    _run(lambda: v.parse_message_create({"content": content, "embeds": embed_list}))
    _run(lambda: v.parse_message_edit({"embeds": embed_list}))


@settings(max_examples=200, deadline=None)
@given(value=st.none() | st.text(max_size=30) | st.from_regex(r"\A-?[0-9]{1,30}\Z"))
def test_fuzz_query_parsers(value: str | None) -> None:
    _run(lambda: v.parse_query_snowflake(value, "before"))
    _run(lambda: v.parse_query_int(value, "limit", default=50, minimum=1, maximum=100))
    _run(lambda: v.parse_query_bool(value, "wait", default=False))


@pytest.mark.parametrize(
    ("parser", "body"),
    [
        (v.parse_message_create, {"content": "x", "attachments": [{"id": 0, "duration_secs": 2**2000}]}),
        (v.parse_message_create, {"content": "x", "attachments": [{"id": 0, "duration_secs": float("nan")}]}),
        (v.parse_message_create, {"embeds": [{"title": "t", "url": "http://[::1"}]}),
        (v.parse_message_create, {"embeds": [{"title": "t", "url": "http://a\uff03b/"}]}),
        (v.parse_message_create, {"embeds": [{"title": "t", "timestamp": "\x00"}]}),
        (v.parse_message_create, {"content": "x", "flags": float("inf"), "nonce": 2**200}),
        (v.parse_channel_create, {"name": "x", "position": 1e300, "parent_id": 2**64}),
        (v.parse_application_commands, [command(name_localizations={"_errors": 5, "fr": ""})]),
        (
            v.parse_application_commands,
            [command(options=[{"type": 3, "name": "o", "description": "d", "options": []}])],
        ),
    ],
)
def test_edge_inputs_give_form_errors(parser: Callable[[object], object], body: object) -> None:
    """Inputs that could trip Python itself (overflow, IPv6 parsing, user keys named ``_errors``)."""
    form_errors(parser, body)
