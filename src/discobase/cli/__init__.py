"""The ``discobase`` command line (typer + rich, the ``cli`` extra).

Commands work on a database from its catalog alone, with no model code (see
:mod:`discobase.cli.connection`). Exit codes: 0 success, 1 a discobase
error, 2 a usage error, 3 not found, 4 a check failed (``doctor``, a
checksum). ``--json`` prints one JSON document on stdout; notes and progress
go to stderr.

typer and rich are imported when the command line is used, so that the
console script can say which extra is missing instead of a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["CLI_EXTRA", "app", "connect_snippet", "main"]

#: What to install for the command line (the core install leaves typer and rich out).
CLI_EXTRA = 'pip install "discobase[cli]"'


def _commands() -> Any:
    """The typer application with every command registered."""
    from discobase.cli import doctor, local, records, system, transfer  # noqa: F401  (they register)
    from discobase.cli.core import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _commands()
    if name == "connect_snippet":
        from discobase.cli.local import connect_snippet

        return connect_snippet
    raise AttributeError(f"module 'discobase.cli' has no attribute {name!r}")


def main() -> None:
    """Entry point of the ``discobase`` console script."""
    try:
        app = _commands()
    except ImportError as error:
        if error.name not in ("typer", "rich", "click") and not str(error.name).startswith(
            ("typer.", "rich.")
        ):
            raise
        sys.stderr.write(
            f"error: the discobase command needs the cli extra ({error.name} is not installed): {CLI_EXTRA}\n"
        )
        raise SystemExit(1) from None
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
