"""Form-error helpers, field converters and query-string parsers shared by the body parsers.

Converters for strings, integers, snowflakes, booleans, arrays, URLs and timestamps."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from discobase._discord.limits import MAX_INT64, MAX_PERMISSIONS, MAX_URL
from discobase._discord.snowflakes import coerce_snowflake
from discobase.local.errors import FormErrors, HTTPError

__all__ = [
    "MISSING",
    "Path",
    "array_items",
    "body_object",
    "check_length",
    "choices_message",
    "coerce_flags",
    "form_error",
    "given_value",
    "parse_array",
    "parse_boolean",
    "parse_choice",
    "parse_flags",
    "parse_integer",
    "parse_number",
    "parse_object",
    "parse_permissions",
    "parse_query_bool",
    "parse_query_int",
    "parse_query_snowflake",
    "parse_required_snowflake",
    "parse_snowflake",
    "parse_string",
    "parse_timestamp",
    "parse_url",
    "report_required",
]

Path = tuple[str | int, ...]
"""A location in the request body: keys and list indexes (``("embeds", 0, "title")``)."""

_INT_TEXT: Final = re.compile(r"[+-]?[0-9]{1,4000}")
MISSING: Final = object()

# ------------------------------------------------------------------------------------- error helpers


def _display(value: object) -> str:
    """How a rejected value is quoted in a message (Python ``str``, as Discord's backend does)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # deep nesting or an over-long int: never fail while reporting
        return type(value).__name__


def form_error(path: Path, code: str, message: str) -> HTTPError:
    """A 400/50035 carrying a single field error (used for whole-body type errors)."""
    errors = FormErrors()
    errors.add(path, code, message)
    return HTTPError(400, 50035, "Invalid Form Body", errors.errors)


def report_required(errors: FormErrors, path: Path) -> None:
    errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")


def choices_message(choices: tuple[int, ...] | tuple[str, ...]) -> str:
    """``Value must be one of (0, 1).``: Python tuple formatting, as in the docs' example."""
    return f"Value must be one of {choices!r}."


def check_length(
    errors: FormErrors, path: Path, length: int, min_len: int | None, max_len: int | None
) -> bool:
    """Discord's length rule for strings and lists: BAD_LENGTH when both bounds exist."""
    too_short = min_len is not None and length < min_len
    too_long = max_len is not None and length > max_len
    if not (too_short or too_long):
        return True
    if min_len is not None and max_len is not None:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {min_len} and {max_len} in length.")
    elif max_len is not None:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {max_len} or fewer in length.")
    else:
        errors.add(path, "BASE_TYPE_MIN_LENGTH", f"Must be {min_len} or more in length.")
    return False


# ------------------------------------------------------------------------------------ type converters


def parse_string(
    value: object,
    path: Path,
    errors: FormErrors,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
) -> str | None:
    """A JSON string within ``min_len..max_len`` code points, else STRING_TYPE_CONVERT / *_LENGTH."""
    if not isinstance(value, str):
        errors.add(path, "STRING_TYPE_CONVERT", f'Could not interpret "{_display(value)}" as string.')
        return None
    if not check_length(errors, path, len(value), min_len, max_len):
        return None
    return value


def _coerce_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # pragma: no cover - the regex keeps int() within its digit limit
            return None
    return None


def parse_integer(
    value: object,
    path: Path,
    errors: FormErrors,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer in ``minimum..maximum``: NUMBER_TYPE_COERCE / NUMBER_TYPE_MIN / NUMBER_TYPE_MAX."""
    number = _coerce_int(value)
    if number is None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not int.')
        return None
    if minimum is not None and number < minimum:
        errors.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {minimum}.")
        return None
    if maximum is not None and number > maximum:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {maximum}.")
        return None
    return number


def parse_choice(value: object, path: Path, errors: FormErrors, choices: tuple[int, ...]) -> int | None:
    """An integer out of ``choices``: BASE_TYPE_CHOICES "Value must be one of (…)."."""
    number = parse_integer(value, path, errors)
    if number is None:
        return None
    if number not in choices:
        errors.add(path, "BASE_TYPE_CHOICES", choices_message(choices))
        return None
    return number


def parse_number(
    value: object, path: Path, errors: FormErrors, *, minimum: int, maximum: int
) -> float | None:
    """A finite JSON number (``duration_secs``): NUMBER_TYPE_COERCE 'Value "x" is not float.'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        ok = False
    else:
        ok = isinstance(value, int) or math.isfinite(value)
    if not ok:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not float.')
        return None
    assert isinstance(value, int | float)
    if value < minimum:  # compared before float(): a huge int would overflow the conversion
        errors.add(path, "NUMBER_TYPE_MIN", f"float value should be greater than or equal to {minimum}.")
        return None
    if value > maximum:
        errors.add(path, "NUMBER_TYPE_MAX", f"float value should be less than or equal to {maximum}.")
        return None
    return float(value)


def parse_boolean(value: object, path: Path, errors: FormErrors) -> bool | None:
    """JSON ``true``/``false`` only: BOOLEAN_TYPE_CONVERT "Must be either true or false." [OBS]."""
    if isinstance(value, bool):
        return value
    errors.add(path, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")
    return None


def parse_array(
    value: object,
    path: Path,
    errors: FormErrors,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
) -> list[Any] | None:
    """A JSON array within the item bounds: LIST_TYPE_CONVERT or a *_LENGTH error."""
    if not isinstance(value, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return None
    if not check_length(errors, path, len(value), min_len, max_len):
        return None
    return value


def array_items(
    values: list[Any], path: Path, errors: FormErrors, type_name: str
) -> Iterator[tuple[int, Any]]:
    """Non-null items with their index; ``null`` items are LIST_ITEM_VALUE_REQUIRED [OBS]."""
    for index, item in enumerate(values):
        if item is None:
            errors.add(
                (*path, index), "LIST_ITEM_VALUE_REQUIRED", f"List item values of {type_name} are required"
            )
            continue
        yield index, item


def parse_object(value: object, path: Path, errors: FormErrors) -> dict[str, Any] | None:
    """A nested JSON object: MODEL_TYPE_CONVERT "Expected an object/dictionary." [OBS]."""
    if isinstance(value, dict):
        return value
    errors.add(path, "MODEL_TYPE_CONVERT", "Expected an object/dictionary.")
    return None


def parse_snowflake(value: object, path: Path, errors: FormErrors) -> int | None:
    """A snowflake (JSON int or digit string, ``0..2**63-1``), else records NUMBER_TYPE_COERCE.

    Real error [OBS]:
    ``{"code": "NUMBER_TYPE_COERCE", "message": 'Value "abc" is not snowflake.'}``.
    Returns ``None`` after recording the error in ``errors``.
    """
    number = coerce_snowflake(value)
    if number is None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not snowflake.')
    return number


def parse_required_snowflake(data: dict[str, Any], key: str, path: Path, errors: FormErrors) -> int | None:
    """``data[key]`` as a snowflake, reported as required when missing; ``None`` if not valid."""
    raw = given_value(data, key)
    if raw is MISSING:
        report_required(errors, (*path, key))
        return None
    return parse_snowflake(raw, (*path, key), errors)


def parse_permissions(value: object, path: Path, errors: FormErrors) -> int | None:
    """A permission bitfield: JSON int or digit string (what discord.py sends), ``0..2**64-1``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        number = int(value) if _INT_TEXT.fullmatch(value) else None
    if number is None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not int.')
        return None
    if number < 0:
        errors.add(path, "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0.")
        return None
    if number > MAX_PERMISSIONS:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {MAX_PERMISSIONS}.")
        return None
    return number


def body_object(body: object) -> dict[str, Any]:
    """The request body as an object; ``null`` is an empty body.

    Anything else (array, string, number) is 50035 with a whole-request error
    ``{"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used in a DictType"}]}``
    (code and message UNCONFIRMED for the top level; this is Discord's dict-type error).
    """
    if body is None:
        return {}
    if isinstance(body, dict):
        return body
    raise form_error((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")


def given_value(data: dict[str, Any], key: str) -> object:
    """``data[key]``, or ``MISSING`` when absent or ``null`` (Discord treats both alike)."""
    value = data.get(key)
    return MISSING if value is None else value


# --------------------------------------------------------------------------------------- query strings


def _query_error(name: str, code: str, message: str) -> HTTPError:
    return form_error((name,), code, message)


def parse_query_snowflake(value: str | None, name: str) -> int | None:
    """A snowflake query parameter (``before``/``after``/``around``); absent → ``None``.

    Bad → 400/50035 ``{name: {"_errors": [{"code": "NUMBER_TYPE_COERCE",
    "message": 'Value "x" is not snowflake.'}]}}`` [OBS].
    """
    if value is None:
        return None
    number = coerce_snowflake(value)
    if number is None:
        raise _query_error(name, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not snowflake.')
    return number


def parse_query_int(value: str | None, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter such as ``limit`` (1-100, default 50 for messages) [DOC MSG].

    Not an integer → NUMBER_TYPE_COERCE 'Value "x" is not int.'; out of range → NUMBER_TYPE_MIN
    "int value should be greater than or equal to 1." / NUMBER_TYPE_MAX "int value should be
    less than or equal to 100." (400/50035, keyed by ``name``).
    """
    if value is None:
        return default
    number = _coerce_int(value) if isinstance(value, str) else None
    if number is None:
        raise _query_error(name, "NUMBER_TYPE_COERCE", f'Value "{_display(value)}" is not int.')
    if number < minimum:
        raise _query_error(
            name, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {minimum}."
        )
    if number > maximum:
        raise _query_error(name, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {maximum}.")
    return number


_TRUE_QUERY: Final = frozenset({"true", "True", "1"})
_FALSE_QUERY: Final = frozenset({"false", "False", "0"})


def parse_query_bool(value: str | None, name: str, *, default: bool) -> bool:
    """A boolean query parameter: ``True``/``true``/``1`` and ``False``/``false``/``0`` [DOC REF].

    Anything else → 400/50035 BOOLEAN_TYPE_CONVERT "Must be either true or false." [OBS].
    """
    if value is None:
        return default
    if value in _TRUE_QUERY:
        return True
    if value in _FALSE_QUERY:
        return False
    raise _query_error(name, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")


# ------------------------------------------------------------------------------------ interaction callbacks


def coerce_flags(value: object) -> int:
    """A ``flags`` value if it is a non-negative integer, else 0.

    For a deferred response's ``data.flags``, where only EPHEMERAL matters.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT64:
        return value
    return 0


def parse_url(value: object, path: Path, errors: FormErrors, *, attachment_ok: bool) -> str | None:
    """An embed URL: ≤ 2048 characters, scheme http(s) (or ``attachment://`` for media).

    Errors [OBS]: URL_TYPE_INVALID_SCHEME 'Scheme "x" is not supported. Scheme must be one of
    ('http', 'https').' and URL_TYPE_INVALID_URL "Not a well formed URL.". Discord checks host
    names more strictly (e.g. needs a dot); this server accepts any non-empty host.
    """
    text = parse_string(value, path, errors, max_len=MAX_URL)
    if text is None:
        return None
    schemes = ("http", "https", "attachment") if attachment_ok else ("http", "https")
    try:
        parts = urlsplit(text)
    except ValueError:
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        return None
    if parts.scheme.lower() not in schemes:
        errors.add(
            path,
            "URL_TYPE_INVALID_SCHEME",
            f'Scheme "{parts.scheme}" is not supported. Scheme must be one of {schemes!r}.',
        )
        return None
    if not parts.netloc or any(ch.isspace() for ch in text):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        return None
    return text


def parse_timestamp(value: object, path: Path, errors: FormErrors) -> str | None:
    """An ISO 8601 timestamp, normalised to ``isoformat()`` with an offset (naive → UTC).

    Error [OBS]: DATE_TIME_TYPE_PARSE "Could not parse {value}. Should be ISO8601.".
    """
    text = parse_string(value, path, errors)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        errors.add(path, "DATE_TIME_TYPE_PARSE", f"Could not parse {text}. Should be ISO8601.")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def parse_flags(value: object, path: Path, errors: FormErrors) -> int | None:
    """``flags``: an integer bitfield (Discord keeps only the flags a request may set)."""
    return parse_integer(value, path, errors, minimum=0, maximum=MAX_INT64)
