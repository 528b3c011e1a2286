"""Interaction callback data: autocomplete choices and modals.

See https://docs.discord.com/developers/interactions/receiving-and-responding."""

from __future__ import annotations

from typing import Any

from discobase._discord.limits import MAX_OPTION_CHOICES
from discobase.local.errors import FormErrors
from discobase.local.validation.fields import (
    Path,
    array_items,
    check_length,
    parse_array,
    parse_object,
    parse_string,
)

__all__ = [
    "parse_choices",
    "parse_modal",
]


def parse_choices(data: dict[str, Any]) -> list[dict[str, Any]]:
    """An autocomplete result's ``choices``: ≤ 25 of ``{name 1-100, value}``.

    A string value is ≤ 100
    (https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-choice-structure).
    """
    errors = FormErrors()
    values = parse_array(data.get("choices", []), ("data", "choices"), errors, max_len=MAX_OPTION_CHOICES)
    choices: list[dict[str, Any]] = []
    for index, item in array_items(values or [], ("data", "choices"), errors, "object"):
        path: Path = ("data", "choices", index)
        choice = parse_object(item, path, errors)
        if choice is None:
            continue
        name = parse_string(choice.get("name"), (*path, "name"), errors, min_len=1, max_len=100)
        value = choice.get("value")
        if isinstance(value, str):
            check_length(errors, (*path, "value"), len(value), None, 100)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors.add((*path, "value"), "BASE_TYPE_REQUIRED", "This field is required")
        if name is not None:
            choices.append({"name": name, "value": value})
    errors.raise_if_any()
    return choices


def parse_modal(data: dict[str, Any]) -> dict[str, Any]:
    """A modal: ``custom_id`` 1-100, ``title`` 1-45, 1-5 ``components``.

    See
    https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-modal.
    """
    errors = FormErrors()
    custom_id = parse_string(data.get("custom_id"), ("data", "custom_id"), errors, min_len=1, max_len=100)
    title = parse_string(data.get("title"), ("data", "title"), errors, min_len=1, max_len=45)
    components = parse_array(data.get("components"), ("data", "components"), errors, min_len=1, max_len=5)
    for index, item in array_items(components or [], ("data", "components"), errors, "object"):
        parse_object(item, ("data", "components", index), errors)
    errors.raise_if_any()
    return {"custom_id": custom_id, "title": title, "components": list(components or [])}
