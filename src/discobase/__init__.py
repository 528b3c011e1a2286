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

from discobase import exceptions
from discobase.database import Database, EmbeddedServerWarning
from discobase.exceptions import (
    DatabaseCorruptionError,
    DatabaseLookupError,
    DatabaseStorageError,
    DatabaseTableError,
    DiscobaseError,
    GuildNotFoundError,
    LocalServerError,
    LoginError,
    MissingPermissionsError,
    NotConnectedError,
    QueryError,
    UniqueViolationError,
)
from discobase.query import Condition, FieldExpr, Page, Query
from discobase.table import Field, Table, TableOptions, WriteTask

__version__ = "2.0.0.dev0"
__license__ = "MIT"

__all__ = [
    "Condition",
    "Database",
    "DatabaseCorruptionError",
    "DatabaseLookupError",
    "DatabaseStorageError",
    "DatabaseTableError",
    "DiscobaseError",
    "EmbeddedServerWarning",
    "Field",
    "FieldExpr",
    "GuildNotFoundError",
    "LocalServerError",
    "LoginError",
    "MissingPermissionsError",
    "NotConnectedError",
    "Page",
    "Query",
    "QueryError",
    "Table",
    "TableOptions",
    "UniqueViolationError",
    "WriteTask",
    "__license__",
    "__version__",
    "exceptions",
]

logger.disable("discobase")
