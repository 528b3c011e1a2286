"""What turns storage into a database: table replicas, the catalog, migrations, instrumentation.

A table replica is split by job: state and replay, planner, writer, snapshots."""

from discobase.engine.replica import TableCursor, TableMeta, TableReplica

__all__ = ["TableCursor", "TableMeta", "TableReplica"]
