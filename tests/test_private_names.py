"""The private-names contract of ``make lint`` (tools/private_names.py) finds what it should."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tools.private_names import PrivateImport, find_private_imports, package_directory

ROOT = Path(__file__).resolve().parent.parent


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


PACKAGE = {
    "pkg/__init__.py": "from pkg import _hidden  # a package may import its own private module\n",
    "pkg/_hidden.py": "VALUE = 1\n",
    "pkg/_shared/__init__.py": "from pkg._shared import _inner  # inside a private package: its own\n",
    "pkg/_shared/_inner.py": "from pkg._shared import helpers\n",
    "pkg/_shared/helpers.py": "X = 1\n",
    "pkg/a.py": "_secret = 1\npublic = 2\n__version__ = '1'\n",
    "pkg/b.py": """\
        from typing import TYPE_CHECKING

        from pkg.a import __version__, public
        from pkg.a import _secret
        from ._hidden import VALUE
        import pkg._shared.helpers

        if TYPE_CHECKING:
            from pkg.sub import _private_type
        """,
    "pkg/sub/__init__.py": "_private_type = int\n",
    "pkg/sub/c.py": "from .. import _shared\nfrom . import _private_type\n",
}


def test_private_names_of_other_modules_are_found(tmp_path: Path) -> None:
    write(tmp_path, PACKAGE)
    found = find_private_imports(tmp_path / "pkg", "pkg")
    assert found == [
        PrivateImport("pkg.b", 4, "pkg.a._secret"),
        PrivateImport("pkg.b", 5, "pkg._hidden"),
        PrivateImport("pkg.b", 6, "pkg._shared"),
        PrivateImport("pkg.b", 9, "pkg.sub._private_type"),  # type-only imports count too
        PrivateImport("pkg.sub.c", 1, "pkg._shared"),
        PrivateImport("pkg.sub.c", 2, "pkg.sub._private_type"),  # siblings may not either
    ]
    declared = find_private_imports(tmp_path / "pkg", "pkg", shared=["pkg._shared"])
    assert [str(item) for item in declared] == [
        "pkg.b (l.4) imports pkg.a._secret",
        "pkg.b (l.5) imports pkg._hidden",
        "pkg.b (l.9) imports pkg.sub._private_type",
        "pkg.sub.c (l.2) imports pkg.sub._private_type",
    ]


def test_lint_imports_fails_on_a_violation(tmp_path: Path) -> None:
    write(tmp_path, PACKAGE)
    (tmp_path / "setup.cfg").write_text(
        textwrap.dedent("""\
            [importlinter]
            root_package = pkg
            contract_types =
                private_names: tools.private_names.PrivateNamesContract

            [importlinter:contract:private]
            name = private names
            type = private_names
            shared =
                pkg._shared
            """),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    lint_imports = Path(sys.executable).parent / "lint-imports"
    broken = subprocess.run(
        [str(lint_imports), "--config", "setup.cfg", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "private names BROKEN" in broken.stdout
    assert "pkg.b (l.4) imports pkg.a._secret" in broken.stdout
    (tmp_path / "pkg" / "b.py").write_text("from pkg.a import public\n", encoding="utf-8")
    (tmp_path / "pkg" / "sub" / "c.py").write_text("from pkg import _shared\n", encoding="utf-8")
    kept = subprocess.run(
        [str(lint_imports), "--config", "setup.cfg", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "private names KEPT" in kept.stdout


def test_discobase_imports_no_private_name_of_another_module() -> None:
    found = find_private_imports(
        package_directory("discobase"), "discobase", shared=["discobase._discord", "discobase._connect"]
    )
    assert found == []
