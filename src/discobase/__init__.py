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

from loguru import logger

from discobase import _cogs_path, events, exceptions, system  # noqa: F401  (registers db.logs, db.tickets)
from discobase.database import Database, EmbeddedServerWarning
from discobase.engine.versions import DBStatus, Version, database_safe, required_argument, timed
from discobase.exceptions import (
    AlreadyConnectedError,
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseTableError,
    DatabaseVersionError,
    DiscobaseError,
    GuildNotFoundError,
    InvalidRecordError,
    LocalServerError,
    LoginError,
    MigrationError,
    MissingPermissionsError,
    NotConnectedError,
    QueryError,
    UniqueViolationError,
)
from discobase.model.query import Condition, FieldExpr, Page, Query
from discobase.model.table import Field, Table, TableOptions, WriteTask
from discobase.system.logs import (
    CSVBackend,
    JSONLBackend,
    LogRecord,
    MemoryBackend,
    SQLiteBackend,
    TableBackend,
)
from discobase.system.tickets import Occurrence, Ticket

__version__ = "2.0.0.dev0"
__license__ = "MIT"

__all__ = [
    "AlreadyConnectedError",
    "CSVBackend",
    "Condition",
    "DBStatus",
    "Database",
    "DatabaseCorruptionError",
    "DatabaseLookupError",
    "DatabaseStorageError",
    "DatabaseTableError",
    "DatabaseVersionError",
    "DiscobaseError",
    "EmbeddedServerWarning",
    "Field",
    "FieldExpr",
    "GuildNotFoundError",
    "InvalidRecordError",
    "JSONLBackend",
    "LocalServerError",
    "LogRecord",
    "LoginError",
    "MemoryBackend",
    "MigrationError",
    "MissingPermissionsError",
    "NotConnectedError",
    "Occurrence",
    "Page",
    "Query",
    "QueryError",
    "SQLiteBackend",
    "Table",
    "TableBackend",
    "TableOptions",
    "Ticket",
    "UniqueViolationError",
    "Version",
    "WriteTask",
    "__license__",
    "__version__",
    "database_safe",
    "events",
    "exceptions",
    "required_argument",
    "timed",
]

logger.disable("discobase")
_cogs_path.install()  # discobase.cogs in a source checkout (the wheel has it in the package)
