"""The ``discobase`` command line (typer + rich).

Commands work on a database from its catalog alone, with no model code (see
:mod:`discobase.cli.connection`). Exit codes: 0 success, 1 a discobase
error, 2 a usage error, 3 not found, 4 a check failed (``doctor``, a
checksum). ``--json`` prints one JSON document on stdout; notes and progress
go to stderr.
"""

from __future__ import annotations

from discobase.cli import doctor, local, records, system, transfer  # noqa: F401  (they register their commands)
from discobase.cli.app import app
from discobase.cli.local import connect_snippet

__all__ = ["app", "connect_snippet", "main"]


def main() -> None:
    """Entry point of the ``discobase`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
