"""discobase: an async ORM that stores Pydantic models in a Discord server.

The package ships a local Discord-compatible server (:mod:`discobase.local`)
so that everything runs, is tested and can be developed without a Discord
account.
"""

from __future__ import annotations

from loguru import logger

from discobase.exceptions import DiscobaseError, LocalServerError

__version__ = "2.0.0.dev0"
__license__ = "MIT"

__all__ = [
    "DiscobaseError",
    "LocalServerError",
    "__license__",
    "__version__",
]

logger.disable("discobase")
