"""Table schemas in the catalog, and what changes old records can survive.

Each table's catalog entry keeps a summary of its fields (type as JSON schema,
whether required, and a readable type) and a schema version. At
``build_tables`` the model is compared with it:

- adding a field with a default, making a field optional, making an
  existing field required, or adding members to an ``Enum`` (or values to a
  ``Literal``) a field uses needs nothing (records always hold every field
  they were written with; missing ones read with the default; every value
  stored before is still accepted);
- a new required field, a changed type, a removed enum member, or a removed
  field is incompatible: without a record migration registered with
  ``@Model.migrate(from_schema=N)`` it fails with a readable diff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["SchemaChange", "diff_schemas", "field_summary", "format_diff"]


def _resolve(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """Inline ``$ref``s (nested models) so that a change inside them counts too."""
    if depth > 20:
        return schema
    if isinstance(schema, dict):
        if "$ref" in schema and isinstance(schema["$ref"], str):
            target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
            return _resolve(target, defs, depth + 1)
        return {
            k: _resolve(v, defs, depth + 1)
            for k, v in schema.items()
            if k not in ("title", "description", "default", "examples")
        }
    if isinstance(schema, list):
        return [_resolve(item, defs, depth + 1) for item in schema]
    return schema


def _display(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or repr(annotation).replace("typing.", "")


def field_summary(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """``{field: {"schema": ..., "required": bool, "type": "int | None"}}``."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    properties = schema.get("properties", {})
    summary = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        summary[name] = {
            "schema": _resolve(properties.get(key, {}), defs),
            "required": info.is_required(),
            "type": _display(info.annotation),
        }
    return summary


@dataclass(frozen=True, slots=True)
class SchemaChange:
    kind: str  # "added", "removed", "changed", "required", "optional"
    field: str
    old: str | None
    new: str | None
    compatible: bool

    def line(self) -> str:
        mark = " " if self.compatible else "!"
        if self.kind == "added":
            return f"{mark} + {self.field}: {self.new}"
        if self.kind == "removed":
            return f"{mark} - {self.field}: {self.old}"
        return f"{mark} ~ {self.field}: {self.old} -> {self.new}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _accepts(old: Any, new: Any) -> bool:
    """Whether schema ``new`` accepts every value schema ``old`` does (conservatively).

    Only the same schema qualifies, except that ``enum`` value lists may have grown (a
    member added to an Enum or a value to a Literal), at any depth."""
    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            return False
        for key, before in old.items():
            now = new[key]
            if key == "enum" and isinstance(before, list) and isinstance(now, list):
                if not {_canonical(v) for v in before} <= {_canonical(v) for v in now}:
                    return False
            elif not _accepts(before, now):
                return False
        return True
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_accepts(a, b) for a, b in zip(old, new, strict=True))
    return _canonical(old) == _canonical(new)


def _made_optional(old: Any, new: Any) -> bool:
    """``new`` is ``old | None`` (``old`` possibly widened, see :func:`_accepts`)."""
    options = new.get("anyOf") if isinstance(new, dict) else None
    if not isinstance(options, list) or len(options) != 2:
        return False
    null = _canonical({"type": "null"})
    rest = [o for o in options if _canonical(o) != null]
    return len(rest) == 1 and _accepts(old, rest[0])


def diff_schemas(stored: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]) -> list[SchemaChange]:
    """What changed from the stored field summary to the current one."""
    changes = []
    for name, now in current.items():
        before = stored.get(name)
        label = f"{now['type']}{'' if now['required'] else ' (has a default)'}"
        if before is None:
            changes.append(SchemaChange("added", name, None, label, compatible=not now["required"]))
            continue
        if _canonical(before["schema"]) != _canonical(now["schema"]):
            compatible = _accepts(before["schema"], now["schema"]) or _made_optional(
                before["schema"], now["schema"]
            )
            changes.append(SchemaChange("changed", name, before["type"], now["type"], compatible))
        elif before["required"] != now["required"]:
            kind = "required" if now["required"] else "optional"
            changes.append(SchemaChange(kind, name, before["type"], label, compatible=True))
    for name, before in stored.items():
        if name not in current:
            changes.append(SchemaChange("removed", name, before["type"], None, compatible=False))
    return changes


def format_diff(table: str, version: int, changes: list[SchemaChange]) -> str:
    lines = [
        f"table {table!r} changed incompatibly since schema version {version} "
        "('!' marks what old records cannot satisfy):"
    ]
    lines.extend("    " + change.line() for change in changes)
    lines.append(
        f"register a record migration, e.g. @Model.migrate(from_schema={version}) on a function that "
        "turns an old record (a dict) into a new one, or make the change compatible (give new fields "
        "a default)"
    )
    return "\n".join(lines)
