"""The typed query forms and the fixture types pass ``mypy --strict`` and pyright in user
code; the untyped forms and wrong values are what the type checkers refuse (so the check can
fail); and ``make typecheck`` checks the examples users copy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


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


#: User code a type checker must refuse line by line: what discobase refuses at run time, and an
#: attribute the client returned by `run_bot` does not have (its type is the client's, not Any).
WRONG_USES = """\
from discobase import Table, col


class User(Table):
    name: str = ""
    age: int = 0
    tags: list[str] = []
    roles: set[int] = set()


User.query(col(User.tags).contains(3))
User.query(col(User.roles).contains("admin"))
User.query(col(User.age).contains(1))
User.query(col(User.age).startswith("1"))
User.query(col(User.name).contains(1))
User.query(col(User.age) == "x")

import discord  # noqa: E402
from discobase.testing import RunBot  # noqa: E402


async def run(run_bot: RunBot) -> None:
    print((await run_bot(discord.Client(intents=discord.Intents.none()))).no_such_attribute)
"""


def test_wrong_items_field_kinds_and_clients_fail_mypy(tmp_path: Path) -> None:
    bad = tmp_path / "bad_kinds.py"
    bad.write_text(WRONG_USES)
    result = _mypy(bad, tmp_path / "cache")
    assert result.returncode == 1
    errors = result.stdout
    assert (
        'bad_kinds.py:11: error: Argument 1 to "contains" of "FieldExpr" has incompatible type "int"'
        in errors
    )
    assert (
        'bad_kinds.py:12: error: Argument 1 to "contains" of "FieldExpr" has incompatible type "str"'
        in errors
    )
    assert (
        'bad_kinds.py:13: error: Invalid self argument "FieldExpr[int]" to attribute function "contains"'
        in errors
    )
    assert (
        'bad_kinds.py:14: error: Invalid self argument "FieldExpr[int]" to attribute function "startswith"'
        in errors
    )
    assert (
        'bad_kinds.py:15: error: Argument 1 to "contains" of "FieldExpr" has incompatible type "int"'
        in errors
    )
    assert 'bad_kinds.py:16: error: Argument 1 to "query" of "Table" has incompatible type "bool"' in errors
    assert 'bad_kinds.py:23: error: "Client" has no attribute "no_such_attribute"' in errors  # not Any


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


def test_wrong_items_field_kinds_and_clients_fail_pyright(tmp_path: Path) -> None:
    bad = tmp_path / "bad_kinds.py"
    bad.write_text(WRONG_USES)
    result = _pyright(bad)
    assert result.returncode == 1, result.stdout
    lines = {int(line.split(":")[1]) for line in result.stdout.splitlines() if " - error: " in line}
    assert lines == {*range(11, 17), 23}, result.stdout
    assert 'Cannot access attribute "startswith" for class "FieldExpr[int]"' in result.stdout


def test_make_typecheck_checks_the_examples() -> None:
    """The examples users copy are type-checked by ``make typecheck`` (mypy's ``files``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    checked = [ROOT / path for path in config["tool"]["mypy"]["files"]]
    examples = [*ROOT.glob("examples/**/*.py"), *ROOT.glob("docs/examples/**/*.py")]
    assert examples
    for example in examples:
        assert any(example.is_relative_to(directory) for directory in checked), example
