"""The virtual environment that holds discobase 1.0.0 from PyPI (``benchmarks/.baseline-venv``).

discobase 1.0.0 has the same import name as this project, so it lives in a
virtual environment of its own and runs in a subprocess
(:mod:`benchmarks.client_baseline`). The runner creates the environment on
first use with ``python -m venv`` and installs ``discobase==1.0.0`` with pip;
later runs reuse it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["BASELINE_REQUIREMENT", "BASELINE_VENV", "baseline_python", "ensure_baseline"]

BASELINE_VENV = Path(__file__).resolve().parent / ".baseline-venv"
BASELINE_REQUIREMENT = "discobase==1.0.0"
_VERSION_CHECK = "import discobase.__about__ as a, discord; print(a.__version__, discord.__version__)"


def baseline_python(venv: Path = BASELINE_VENV) -> Path:
    """The environment's interpreter."""
    return venv / "bin" / "python"


def installed_versions(venv: Path = BASELINE_VENV) -> tuple[str, str] | None:
    """(discobase, discord.py) versions installed in ``venv``, or None."""
    python = baseline_python(venv)
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", _VERSION_CHECK], capture_output=True, text=True, check=False, cwd="/"
    )
    if done.returncode != 0:
        return None
    discobase, _, discord = done.stdout.strip().partition(" ")
    return discobase, discord


def ensure_baseline(venv: Path = BASELINE_VENV, *, say: Callable[[str], object] = print) -> tuple[Path, str]:
    """Create ``venv`` with discobase 1.0.0 unless it is there; returns (python, discord.py version)."""
    versions = installed_versions(venv)
    if versions is None or versions[0] != "1.0.0":
        say(f"installing {BASELINE_REQUIREMENT} from PyPI into {venv} (first run only)")
        if not baseline_python(venv).exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(baseline_python(venv)), "-m", "pip", "install", "--quiet", BASELINE_REQUIREMENT],
            check=True,
        )
        versions = installed_versions(venv)
        if versions is None or versions[0] != "1.0.0":
            raise RuntimeError(f"could not install {BASELINE_REQUIREMENT} into {venv}")
    return baseline_python(venv), versions[1]
