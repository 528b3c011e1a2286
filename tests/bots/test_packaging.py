"""discobase.cogs: the top-level cogs/ folder, in the wheel and in a source checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

import discobase.cogs.admin

import discobase

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_cogs_as_discobase_cogs() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"cogs": "discobase/cogs"}
    assert "cogs" in config["tool"]["mypy"]["files"]


def test_a_checkout_imports_them_from_the_cogs_folder() -> None:
    assert Path(discobase.cogs.admin.__file__).resolve() == ROOT / "cogs" / "admin.py"
    assert not (Path(discobase.__file__).parent / "cogs").exists()  # nothing copied into the package
