"""The pydantic side: tables, fields, settings, field expressions and stored schemas."""

from discobase.model.query import Condition, FieldExpr, Page, Query, SortKey, asc, col, desc
from discobase.model.table import Field, Table, TableOptions, WriteTask

__all__ = [
    "Condition",
    "Field",
    "FieldExpr",
    "Page",
    "Query",
    "SortKey",
    "Table",
    "TableOptions",
    "WriteTask",
    "asc",
    "col",
    "desc",
]
