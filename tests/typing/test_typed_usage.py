"""The typed query forms pass ``mypy --strict`` in user code, and the untyped
ones are what the type checker refuses (so the check can fail)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).parent


def _mypy(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(cache),
            "--config-file",
            "",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE,
    )


def test_typed_usage_passes_mypy_strict(tmp_path: Path) -> None:
    result = _mypy(HERE / "typed_usage.py", tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_value_types_fail_mypy(tmp_path: Path) -> None:
    bad = tmp_path / "bad_usage.py"
    bad.write_text(
        textwrap.dedent(
            """
            from discobase import Table, col

            class User(Table):
                age: int = 0

            def build() -> None:
                User.query(col(User.age) >= "eighteen")
                User.query(User.age >= 18)
            """
        )
    )
    result = _mypy(bad, tmp_path / "cache")
    assert result.returncode == 1
    assert 'Unsupported operand types for >= ("FieldExpr[int]" and "str")' in result.stdout, result.stdout
    assert 'Argument 1 to "query" of "Table" has incompatible type "bool"' in result.stdout, result.stdout


def _pyright(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basedpyright", "--level", "error", "--pythonpath", sys.executable, str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE,
    )


def test_typed_usage_passes_pyright() -> None:
    result = _pyright(HERE / "typed_usage.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout


def test_wrong_value_types_fail_pyright(tmp_path: Path) -> None:
    bad = tmp_path / "bad_usage.py"
    bad.write_text(
        "from discobase import Table, col\n\n\n"
        "class User(Table):\n    age: int = 0\n\n\n"
        "User.query(col(User.age) >= 'eighteen')\n"
    )
    result = _pyright(bad)
    assert result.returncode == 1, result.stdout
    assert 'not supported for types "FieldExpr[int]" and "Literal[\'eighteen\']"' in result.stdout, (
        result.stdout
    )
