"""An import-linter contract: no module imports a private name of another module.

A private name is one that starts with a single underscore (``_common``,
``_string``; not ``__version__``). It belongs to the module or package that
defines it: that module (and, for a private package, the package's own
modules) may import it, nobody else, not even a sibling. Private packages
meant to be shared are declared (``shared``) and may be imported by any module
of the root package: discobase declares ``discobase._discord`` and
``discobase._connect``.

Every ``import`` and ``from ... import`` counts, those under ``TYPE_CHECKING``
too: a type-only import still reaches into another module's private names.

Configured in ``pyproject.toml`` and run by ``lint-imports`` (``make lint``)::

    [tool.importlinter]
    contract_types = ["private_names: tools.private_names.PrivateNamesContract"]

    [[tool.importlinter.contracts]]
    name = "..."
    type = "private_names"
    shared = ["discobase._discord", "discobase._connect"]
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

__all__ = ["PrivateImport", "PrivateNamesContract", "find_private_imports", "is_private"]


def is_private(name: str) -> bool:
    """Whether one component of a dotted name is private: ``_x``, not ``__x__``."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True, order=True)
class PrivateImport:
    """One import of a private name by a module it does not belong to."""

    importer: str
    line: int
    imported: str
    """The dotted name imported, up to its first private component (``package.module._name``)."""

    def __str__(self) -> str:
        return f"{self.importer} (l.{self.line}) imports {self.imported}"


def _modules(root: Path, package: str) -> Iterator[tuple[str, Path, bool]]:
    """Every module under the package directory ``root``: (dotted name, file, is a package)."""
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        yield ".".join(parts), path, is_package


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The full dotted names an import statement binds."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    return [f"{source}.{alias.name}" for alias in node.names if alias.name != "*"]


def _allowed(importer: str, imported: str, shared: Iterable[str]) -> bool:
    """Whether ``importer`` may import ``imported`` (its first private component decides)."""
    parts = imported.split(".")
    for index, component in enumerate(parts):
        if not is_private(component):
            continue
        owner = ".".join(parts[:index])
        private = ".".join(parts[: index + 1])
        if private in shared:
            continue  # declared: the private package is shared by the whole root package
        return importer in (owner, private) or importer.startswith(private + ".")
    return True


def _up_to_private(imported: str) -> str:
    """``imported`` up to its first private component (a private module, not each name taken from it)."""
    parts = imported.split(".")
    first = next(index for index, component in enumerate(parts) if is_private(component))
    return ".".join(parts[: first + 1])


def find_private_imports(root: Path, package: str, shared: Iterable[str] = ()) -> list[PrivateImport]:
    """Imports of private names of ``package`` (whose directory is ``root``) by modules they do not
    belong to, in module and line order."""
    shared = frozenset(shared)
    found: list[PrivateImport] = []
    for module, path, is_package in _modules(root, package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for imported in _imported_names(node, module, is_package):
                if imported.split(".")[0] != package:
                    continue
                if not _allowed(module, imported, shared):
                    found.append(PrivateImport(module, node.lineno, _up_to_private(imported)))
    return sorted(set(found))


def package_directory(package: str) -> Path:
    """The directory of a top-level package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{package!r} is not an importable package")
    return Path(next(iter(spec.submodule_search_locations)))


class PrivateNamesContract(Contract):
    """No module of the root packages imports a private name that belongs to another module.

    Configuration options:

        - shared: private packages any module of their root package may import.
    """

    type_name = "private_names"

    shared = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        shared: set[str] = set(self.shared or ())  # type: ignore[arg-type]
        packages = sorted({module.split(".")[0] for module in graph.modules})
        found: list[PrivateImport] = []
        for package in packages:
            found.extend(find_private_imports(package_directory(package), package, shared))
        return ContractCheck(kept=not found, warnings=[], metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error("Private names may only be imported by the module they belong to:", bold=False)
        output.new_line()
        found: list[PrivateImport] = check.metadata["found"]
        for item in found:
            output.print_error(f"- {item}", bold=False)
        output.new_line()
        output.print_error(
            "Make the name public (it is part of what its module offers), move it, or declare the "
            "private package in `shared`.",
            bold=False,
        )
