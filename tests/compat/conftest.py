"""discobase 1.0.0's own test suite (``v1_0_0/``) is run by ``test_v1_0_0.py`` in a
pytest subprocess configured as 1.0.0's was; collected directly, its session-scoped
fixtures would clash with this suite's pytest-asyncio configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Set by ``test_v1_0_0.py`` in the subprocess that runs the 1.0.0 suite.
SUITE_ENV = "DISCOBASE_COMPAT_SUITE"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name == "v1_0_0" and os.environ.get(SUITE_ENV) != "1":
        return True
    return None
