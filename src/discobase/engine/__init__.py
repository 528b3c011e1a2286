"""The per-table replica (state and replay, planner, writer, snapshots), the catalog,
migrations and instrumentation: what turns storage into a database."""

from discobase.engine.replica import TableCursor, TableMeta, TableReplica

__all__ = ["TableCursor", "TableMeta", "TableReplica"]
