"""The virtual environments of the peers the benchmarks compare against.

Each peer is a released package installed from the package index into a
virtual environment of its own under ``benchmarks/`` and run in a subprocess
(its client module, e.g. :mod:`benchmarks.client_baseline`):

- **discobase 1.0.0** (``benchmarks/.baseline-venv``): it has the same import
  name as this project, so it cannot share this project's environment;
- **DiscordBase 0.1.0** (``benchmarks/.discordbase-venv``): kept apart so that
  its dependencies (``httpx``) never change what this project is measured with.

:func:`ensure_env` creates an environment on first use with ``python -m venv``
and installs the peer's requirement with pip; later runs reuse it once its
version check passes. Nothing of a peer's code is kept in this repository:
its client imports the installed package at run time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASELINE",
    "DISCORDBASE",
    "PEERS",
    "PeerEnv",
    "ensure_env",
    "installed_versions",
]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PeerEnv:
    """A peer library and the virtual environment it runs in.

    ``version_check`` is Python source run by the environment's interpreter
    (from ``/``, so that nothing of this repository is imported); it prints
    the installed version of the peer, a space, and the version of the
    library the peer talks to Discord through (discord.py, httpx), which the
    report shows beside it.
    """

    #: The library name of its runs (``RunSpec.library``, the run keys).
    library: str
    #: How the report names it.
    title: str
    requirement: str
    version: str
    venv: Path
    version_check: str
    #: The client module run with the environment's interpreter.
    client: str
    #: What the second version ``version_check`` prints is of.
    transport: str
    #: The ``crud`` styles it runs (of those asked for); its other workloads are sequential.
    crud_styles: tuple[str, ...] = ("sequential",)
    #: Why its ``crud`` runs at reduced sizes under Discord's limits (the run's note).
    scale_reason: str = ""

    @property
    def python(self) -> Path:
        """The environment's interpreter."""
        return self.venv / "bin" / "python"


BASELINE = PeerEnv(
    library="1.0.0",
    title="discobase 1.0.0",
    requirement="discobase==1.0.0",
    version="1.0.0",
    venv=_HERE / ".baseline-venv",
    version_check="import discobase.__about__ as a, discord; print(a.__version__, discord.__version__)",
    client="benchmarks.client_baseline",
    transport="discord.py",
    # Issued concurrently, its saves race on its index resize (DatabaseCorruptionError).
    crud_styles=("sequential",),
    scale_reason="1.0.0 needs about 12 requests per save, on 5-per-5-s buckets",
)
DISCORDBASE = PeerEnv(
    library="discordbase",
    title="DiscordBase 0.1.0",
    requirement="discordbase==0.1.0",
    version="0.1.0",
    venv=_HERE / ".discordbase-venv",
    version_check=(
        "from importlib.metadata import version; import discordbase, httpx;"
        " print(version('discordbase'), httpx.__version__)"
    ),
    client="benchmarks.client_discordbase",
    transport="httpx",
    crud_styles=("sequential", "concurrent"),
    scale_reason="DiscordBase reads the table's whole channel (100 rows per request) before every "
    "operation, on 5-per-5-s buckets",
)
#: Every peer, by library name, in the order the runner runs them.
PEERS: dict[str, PeerEnv] = {peer.library: peer for peer in (BASELINE, DISCORDBASE)}


def installed_versions(env: PeerEnv) -> tuple[str, str] | None:
    """(peer, transport) versions installed in ``env``'s environment, or None."""
    if not env.python.exists():
        return None
    done = subprocess.run(
        [str(env.python), "-c", env.version_check], capture_output=True, text=True, check=False, cwd="/"
    )
    if done.returncode != 0:
        return None
    version, _, transport = done.stdout.strip().partition(" ")
    return version, transport


def ensure_env(env: PeerEnv, *, say: Callable[[str], object] = print) -> tuple[Path, str]:
    """Create ``env``'s environment with its requirement unless it is there.

    Returns (the environment's interpreter, the transport's version). Raises
    ``RuntimeError`` when the version check still fails after installing.
    """
    versions = installed_versions(env)
    if versions is None or versions[0] != env.version:
        say(f"installing {env.requirement} from the package index into {env.venv} (first run only)")
        if not env.python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(env.venv)], check=True)
        subprocess.run(
            [str(env.python), "-m", "pip", "install", "--quiet", env.requirement],
            check=True,
        )
        versions = installed_versions(env)
        if versions is None or versions[0] != env.version:
            found = "nothing importable" if versions is None else f"version {versions[0]}"
            raise RuntimeError(f"could not install {env.requirement} into {env.venv} (found {found})")
    return env.python, versions[1]
