"""discobase: an async ORM that stores Pydantic models in a Discord server.

```python
import discobase

db = discobase.Database("my server")

@db.table
class User(discobase.Table):
    name: str
    age: int = 0

async with db.conn():            # no token: the embedded local Discord server
    await User(name="ada", age=36).save()
    print(await User.find(name="ada"))
```

The package ships a local Discord-compatible server (:mod:`discobase.local`)
so that everything runs, is tested and can be developed without a Discord
account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

from discobase import _cogs_path, events, exceptions, system  # system registers db.logs and db.tickets
from discobase.database import Database, EmbeddedServerWarning
from discobase.engine.versions import DBStatus, Version, database_safe, required_argument, timed
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseTableError,
    DiscobaseError,
    NotConnectedError,
    QueryError,
    UniqueViolationError,
)
from discobase.model import Field, Page, Query, Table, WriteTask, col

__version__ = "2.0.0.dev0"
__license__ = "MIT"

#: The documented API. Everything else is in a namespace: ``discobase.exceptions``
#: (every error), ``discobase.events`` (event handlers), ``discobase.system``
#: (logs and tickets), ``discobase.model`` (conditions, field expressions, table
#: options), ``discobase.storage`` (transports) and ``discobase.local`` (the
#: local Discord server).
__all__ = [
    "DBStatus",
    "Database",
    "DatabaseCorruptionError",
    "DatabaseLookupError",
    "DatabaseStorageError",
    "DatabaseTableError",
    "DiscobaseError",
    "EmbeddedServerWarning",
    "Field",
    "NotConnectedError",
    "Page",
    "Query",
    "QueryError",
    "Table",
    "UniqueViolationError",
    "Version",
    "WriteTask",
    "__version__",
    "col",
    "database_safe",
    "events",
    "exceptions",
    "required_argument",
    "system",
    "timed",
]

#: Names that were importable from ``discobase`` before the public API was trimmed, and where they are now.
_MOVED = {
    **dict.fromkeys(
        [
            "AlreadyConnectedError",
            "DatabaseVersionError",
            "GuildNotFoundError",
            "InvalidRecordError",
            "LocalServerError",
            "LoginError",
            "MigrationError",
            "MissingPermissionsError",
        ],
        "discobase.exceptions",
    ),
    **dict.fromkeys(["Condition", "FieldExpr", "TableOptions"], "discobase.model"),
    **dict.fromkeys(
        [
            "CSVBackend",
            "JSONLBackend",
            "LogRecord",
            "MemoryBackend",
            "Occurrence",
            "SQLiteBackend",
            "TableBackend",
            "Ticket",
        ],
        "discobase.system",
    ),
}


if not TYPE_CHECKING:  # type checkers keep reporting unknown names as errors

    def __getattr__(name: str) -> object:
        where = _MOVED.get(name)
        if where is not None:
            raise AttributeError(f"module 'discobase' has no attribute {name!r}: it is {where}.{name}")
        raise AttributeError(f"module 'discobase' has no attribute {name!r}")


logger.disable("discobase")
_cogs_path.install()  # discobase.cogs in a source checkout (the wheel has it in the package)
