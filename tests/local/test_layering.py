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
