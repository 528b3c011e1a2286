"""The Makefile makes ``.venv`` again when it was made with another Python, and says why."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS_PYTHON = sys.version.split()[0]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def project(tmp_path: Path, stamp: str | None, venv_python: str | None) -> Path:
    """A copy of the Makefile beside a venv stand-in: a stamp and a python that prints a version."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    if venv_python is not None:
        script = bin_dir / "python"
        script.write_text(f"#!/bin/sh\necho {venv_python}\n")
        script.chmod(0o755)
    if stamp is not None:
        (tmp_path / ".venv" / ".installed").write_text(stamp + "\n")
    return tmp_path


def dry_run(directory: Path) -> subprocess.CompletedProcess[str]:
    """``make -n .venv/.installed`` with this test's interpreter as PYTHON (nothing is run)."""
    return subprocess.run(
        ["make", "-n", ".venv/.installed", f"PYTHON={sys.executable}"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_venv_of_this_python_is_kept(tmp_path: Path) -> None:
    directory = project(tmp_path, f"python-{THIS_PYTHON}", THIS_PYTHON)
    (directory / ".venv" / ".installed").touch()  # newer than pyproject.toml
    result = dry_run(directory)
    assert result.returncode == 0, result.stderr
    assert "making .venv again" not in result.stdout
    assert "rm -rf .venv" not in result.stdout


@pytest.mark.parametrize(
    ("stamp", "venv_python"),
    [
        ("python-3.10.12", "3.10.12"),  # made with an older Python
        (f"python-{THIS_PYTHON}", None),  # its interpreter is gone
        ("", THIS_PYTHON),  # a stamp from before versions were recorded
    ],
)
def test_a_venv_of_another_python_is_made_again(tmp_path: Path, stamp: str, venv_python: str | None) -> None:
    directory = project(tmp_path, stamp, venv_python)
    (directory / ".venv" / ".installed").touch()
    result = dry_run(directory)
    assert result.returncode == 0, result.stderr
    assert "making .venv again" in result.stdout
    assert "rm -rf .venv" in result.stdout
    assert f'echo "python-{THIS_PYTHON}" > .venv/.installed' in result.stdout


def test_a_python_older_than_3_11_is_refused_with_the_way_out(tmp_path: Path) -> None:
    directory = project(tmp_path, None, None)
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\ncase "$2" in *version_info*) exit 1;; *) echo 3.10.12;; esac\n')
    old.chmod(0o755)
    result = subprocess.run(
        ["make", ".venv/.installed", f"PYTHON={old}"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"discobase needs Python >= 3.11, and {old} is 3.10.12" in result.stdout
    assert "run make PYTHON=python3.11" in result.stdout
    assert (directory / ".venv").exists()  # nothing was removed
