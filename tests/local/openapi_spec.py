"""Discord's OpenAPI spec (vendored in ``data/``) as jsonschema validators for the tests.

Where the spec and Discord's documentation disagree the docs win (the spec's own README says
"follow the docs, not the spec"). Each such disagreement is one entry of :data:`SPEC_EXCEPTIONS`
and is applied as a patch of the spec's components; :func:`validate_response` checks against
the patched spec, :func:`validate_response_strict` against the spec as published (the tests
use it to prove each exception is still needed).
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

__all__ = [
    "SPEC_EXCEPTIONS",
    "declared_statuses",
    "discord_error_shape_problems",
    "header_problems",
    "operation",
    "spec",
    "spec_routes",
    "strict_json",
    "validate_response",
    "validate_response_strict",
    "validate_schema",
]

SPEC_FILE = Path(__file__).parent / "data" / "discord-openapi.json.gz"

#: Where the local server follows Discord's documentation rather than the spec: name → reason.
SPEC_EXCEPTIONS: dict[str, str] = {
    "ratelimit-code-optional": (
        "RatelimitedResponse = Error + {retry_after, global} makes `code` required, but Discord's "
        "documented 429 bodies are {message, retry_after, global} and carry `code` only 'for some "
        "limits' (e.g. 20028); docs: topics/rate-limits.mdx; discord-api-spec issue #24 "
        "(facts §1.3, §7 caveat 3). Patched: `code` optional (still an integer when present)."
    ),
    "form-error-leaf-codes-are-strings": (
        "ErrorDetails/InnerErrors reuse Error, whose `code` is an integer, but every real nested "
        "form error has a string code such as BASE_TYPE_MAX_LENGTH (docs: reference.mdx 'Error "
        "Messages'; the docs' own examples fail the spec; facts §3.1, §7 caveat 2). Patched: "
        "`_errors` items are {code: string, message: string}."
    ),
}


@functools.cache
def spec() -> dict[str, Any]:
    with gzip.open(SPEC_FILE, "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@functools.cache
def _patched_components() -> dict[str, Any]:
    components = copy.deepcopy(spec()["components"])
    schemas = components["schemas"]
    # ratelimit-code-optional
    schemas["DocsRatelimitError"] = {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["message"],
    }
    ratelimited = schemas["RatelimitedResponse"]
    assert ratelimited["allOf"][0] == {"$ref": "#/components/schemas/Error"}, "spec changed: re-check"
    ratelimited["allOf"][0] = {"$ref": "#/components/schemas/DocsRatelimitError"}
    # form-error-leaf-codes-are-strings
    schemas["DocsFormError"] = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        "required": ["code", "message"],
        "additionalProperties": False,
    }
    inner = schemas["InnerErrors"]["properties"]["_errors"]
    assert inner["items"] == {"$ref": "#/components/schemas/Error"}, "spec changed: re-check"
    inner["items"] = {"$ref": "#/components/schemas/DocsFormError"}
    return components


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

#: The spec's formats, checked (jsonschema checks none of them without optional extras).
FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def _int_range(bits: int) -> Any:
    def check(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return bool(-(2 ** (bits - 1)) <= value < 2 ** (bits - 1))

    return check


FORMAT_CHECKER.checks("int32")(_int_range(32))
FORMAT_CHECKER.checks("int64")(_int_range(64))


def _normalise(template: str) -> str:
    return re.sub(r"\{[^{}]*\}", "{}", template)


@functools.cache
def _paths() -> dict[str, str]:
    return {_normalise(path): path for path in spec()["paths"]}


def operation(method: str, template: str) -> dict[str, Any] | None:
    """The spec's operation for ``method`` + a route template (placeholder names may differ)."""
    path = _paths().get(_normalise(template))
    if path is None:
        return None
    op: dict[str, Any] | None = spec()["paths"][path].get(method.lower())
    return op


def spec_routes(routes: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``(method, template)`` pairs of ``routes`` that have an operation in the spec."""
    return {(method, template) for method, template in routes if operation(method, template) is not None}


def declared_statuses(method: str, template: str) -> set[str]:
    op = operation(method, template)
    assert op is not None, f"{method} {template} is not in the spec"
    return set(op["responses"])


def _response(method: str, template: str, status: int) -> dict[str, Any]:
    op = operation(method, template)
    assert op is not None, f"{method} {template} is not in the spec"
    responses = op["responses"]
    key = str(status) if str(status) in responses else f"{status // 100}XX"
    assert key in responses, f"{method} {template}: status {status} is not declared ({sorted(responses)})"
    response: dict[str, Any] = responses[key]
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of the response, ``None`` when the spec declares no body (204)."""
    content = _response(method, template, status).get("content")
    if content is None:
        return None
    schema: dict[str, Any] = content["application/json"]["schema"]
    return schema


def header_problems(method: str, template: str, status: int, headers: Mapping[str, str]) -> list[str]:
    """Problems of the response headers the spec declares (the ``X-RateLimit-*``), where present."""
    problems = []
    for name, declared in _response(method, template, status).get("headers", {}).items():
        if "$ref" in declared:
            declared = spec()["components"]["headers"][declared["$ref"].rsplit("/", 1)[1]]
        value = headers.get(name)
        if value is None:
            continue
        kind = declared["schema"]["type"]
        try:
            if kind == "integer" and str(int(value)) != value:
                problems.append(f"{name}: {value!r} is not an integer")
            elif kind == "number" and not math.isfinite(float(value)):
                problems.append(f"{name}: {value!r} is not a finite number")
        except ValueError:
            problems.append(f"{name}: {value!r} is not a {kind}")
    return problems


def _errors(schema: dict[str, Any], components: dict[str, Any], body: Any) -> list[str]:
    validator = Draft202012Validator({**schema, "components": components}, format_checker=FORMAT_CHECKER)
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        detail = "; ".join(sorted({c.message[:160] for c in error.context or []})[:6])
        problems.append(f"{where}: {error.message[:300]}" + (f" [{detail}]" if detail else ""))
    return problems


def validate_schema(name: str, body: Any) -> list[str]:
    """Problems of ``body`` against ``components.schemas[name]`` (patched spec)."""
    return _errors({"$ref": f"#/components/schemas/{name}"}, _patched_components(), body)


def validate_response(method: str, template: str, status: int, body: Any) -> list[str]:
    """Problems of ``body`` as the ``status`` response of the operation (patched spec)."""
    schema = response_schema(method, template, status)
    assert schema is not None, f"{method} {template} {status}: the spec declares no body"
    return _errors(schema, _patched_components(), body)


def validate_response_strict(method: str, template: str, status: int, body: Any) -> list[str]:
    """Like :func:`validate_response` but against the spec as published (no exceptions)."""
    schema = response_schema(method, template, status)
    assert schema is not None, f"{method} {template} {status}: the spec declares no body"
    return _errors(schema, spec()["components"], body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(raw: bytes) -> Any:
    """Parse a response body as RFC 8259 JSON (no NaN/Infinity, valid UTF-8)."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def discord_error_shape_problems(body: Any) -> list[str]:
    """Problems of an error body against Discord's documented shape (facts §3.1):
    ``{message: str, code: int[, errors: tree]}``, the tree nested by JSON path with
    ``{"_errors": [{"code": str, "message": str}]}`` leaves."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return [f"not an object: {body!r:.100}"]
    if not isinstance(body.get("message"), str):
        problems.append("message is not a string")
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        problems.append("code is not an integer")
    extra = set(body) - {"message", "code", "errors"}
    if extra:
        problems.append(f"unexpected keys {sorted(extra)}")
    if "errors" in body:
        leaves = _walk_tree(body["errors"], (), problems)
        if not leaves:
            problems.append("errors has no _errors leaf")
    return problems


def _walk_tree(node: Any, path: tuple[str, ...], problems: list[str]) -> int:
    where = ".".join(path) or "<errors>"
    if not isinstance(node, dict) or not node:
        problems.append(f"{where}: not a non-empty object")
        return 0
    leaves = 0
    for key, value in node.items():
        if key == "_errors":
            leaves += 1
            if not isinstance(value, list) or not value:
                problems.append(f"{where}._errors: not a non-empty list")
                continue
            for item in value:
                if (
                    not isinstance(item, dict)
                    or set(item) != {"code", "message"}
                    or not isinstance(item["code"], str)
                    or not isinstance(item["message"], str)
                ):
                    problems.append(f"{where}._errors: bad item {item!r:.100}")
        else:
            leaves += _walk_tree(value, (*path, key), problems)
    return leaves
