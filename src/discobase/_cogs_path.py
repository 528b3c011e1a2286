"""Where ``discobase.cogs`` comes from in a source checkout.

The admin cogs live in the repository's top-level ``cogs/`` folder. The wheel
ships them inside the package as ``discobase/cogs`` (pyproject's
``force-include``), where the ordinary import system finds them. An editable
install puts only ``src/`` on ``sys.path``, so this finder, consulted after
every other one, maps ``discobase.cogs`` to that folder; it is installed only
when the package has no ``cogs`` directory of its own and the checkout has one.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["install"]

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT_COGS = _PACKAGE.parent.parent / "cogs"
_NAME = "discobase.cogs"


class _CogsFinder(importlib.abc.MetaPathFinder):
    """Finds ``discobase.cogs`` in the checkout's ``cogs/`` folder."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _NAME:
            return None
        return importlib.util.spec_from_file_location(
            fullname, _CHECKOUT_COGS / "__init__.py", submodule_search_locations=[str(_CHECKOUT_COGS)]
        )


def install() -> None:
    """Add the finder once, if this is a checkout without ``discobase/cogs``."""
    if (_PACKAGE / "cogs").is_dir() or not (_CHECKOUT_COGS / "__init__.py").is_file():
        return
    if not any(isinstance(finder, _CogsFinder) for finder in sys.meta_path):
        sys.meta_path.append(_CogsFinder())
