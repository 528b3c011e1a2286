"""``discobase.table``: the 1.0.0 module path of :class:`~discobase.model.table.Table`."""

from discobase.model.table import Field, Table, TableOptions, WriteTask

__all__ = ["Field", "Table", "TableOptions", "WriteTask"]
