"""The import layering of the shared Discord rules: ``storage/`` never imports ``local/``, and
``_discord/`` imports nothing of discobase (so both can depend on it)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "discobase"


def imported_modules(package: str) -> dict[str, set[str]]:
    """Module path → the absolute module names its import statements name."""
    result: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        result[str(path.relative_to(SRC))] = names
    return result


def test_storage_does_not_import_the_local_server() -> None:
    offenders = {
        path: sorted(n for n in names if n.startswith("discobase.local"))
        for path, names in imported_modules("storage").items()
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_discord_rules_import_nothing_of_discobase() -> None:
    modules = imported_modules("_discord")
    assert "_discord/permissions.py" in modules
    offenders = {
        path: sorted(n for n in names if n == "discobase" or n.startswith("discobase."))
        for path, names in modules.items()
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_rest_handlers_do_not_import_the_server() -> None:
    """The REST handlers and the request validation get their dependencies through
    ``RestContext``; none imports ``local.server`` (not even for type checking), so there is
    no server ↔ rest import circle."""
    modules = imported_modules("local/rest") | imported_modules("local/validation")
    assert "local/rest/messages.py" in modules
    assert "local/validation/messages.py" in modules
    offenders = {path: names for path, names in modules.items() if "discobase.local.server" in names}
    assert not offenders


def test_validation_imports_no_rest_handler() -> None:
    offenders = {
        path: sorted(n for n in names if n.startswith("discobase.local.rest"))
        for path, names in imported_modules("local/validation").items()
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_interactions_do_not_depend_on_the_rest_api() -> None:
    """Interactions use the REST context and helpers, not the whole ``RestAPI`` route table."""
    names = imported_modules("local")["local/interactions.py"]
    assert "discobase.local.rest.context" in names
    assert "discobase.local.rest" not in names
    source = (SRC / "local" / "interactions.py").read_text(encoding="utf-8")
    assert "RestAPI" not in source


def test_rest_and_validation_modules_stay_small() -> None:
    """The REST handler and body-parser modules stay under 600 lines, one resource each."""
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("local/rest", "local/validation")
        for path in sorted((SRC / package).rglob("*.py"))
    }
    assert "local/rest/channels.py" in sizes
    assert not {path: n for path, n in sizes.items() if n > 600}


def test_discord_facts_are_defined_in_discord_only() -> None:
    """Discord's numbers (limits, caps, flags, opcodes, intents, interaction types) live in
    ``_discord/``, which the ORM shares: the REST handlers, the validation, the interactions,
    people, payloads and the gateway define no numeric constants of their own, except the
    gateway's own timing settings and the server's list of default sounds."""
    own_settings = {
        "local/gateway/session.py": {"CLOSE_TIMEOUT", "DETACHED_GRACE"},
        "local/rest/application.py": {"DEFAULT_SOUNDS"},
    }
    paths = [
        *sorted((SRC / "local" / "rest").rglob("*.py")),
        *sorted((SRC / "local" / "validation").rglob("*.py")),
        *sorted((SRC / "local" / "gateway").rglob("*.py")),
        *(
            SRC / "local" / name
            for name in (
                "interactions.py",
                "interaction_records.py",
                "people.py",
                "command_input.py",
                "payloads.py",
            )
        ),
        SRC / "local" / "mentions.py",
    ]
    found: dict[str, list[str]] = {}
    for path in paths:
        where = str(path.relative_to(SRC))
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            value = getattr(node, "value", None)
            if not isinstance(target, ast.Name) or value is None or not target.id.isupper():
                continue
            numbers = [
                n for n in ast.walk(value) if isinstance(n, ast.Constant) and type(n.value) in (int, float)
            ]
            if numbers and target.id not in own_settings.get(where, set()):
                found.setdefault(where, []).append(target.id)
    assert not found
