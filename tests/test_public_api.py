"""The top-level ``discobase`` namespace: the documented API, the 1.0.0 names, and where the rest went."""

from __future__ import annotations

import importlib

import pytest

import discobase

#: What discobase 1.0.0's API reference documents (modules discobase.database and discobase.table,
#: the Database and Table classes, the exceptions module).
DOCUMENTED_1_0_0 = [
    "Database",
    "Table",
    "DatabaseCorruptionError",
    "DatabaseLookupError",
    "DatabaseStorageError",
    "DatabaseTableError",
    "DiscobaseError",
    "NotConnectedError",
]


def test_every_1_0_0_name_is_importable() -> None:
    for name in DOCUMENTED_1_0_0:
        assert name in discobase.__all__
        assert getattr(discobase, name) is not None
        if name.endswith("Error"):
            assert getattr(discobase, name) is getattr(discobase.exceptions, name)
    assert importlib.import_module("discobase.database").Database is discobase.Database
    assert importlib.import_module("discobase.table").Table is discobase.Table
    table = discobase.Table
    for attribute in ("__disco_database__", "__disco_cursor__", "__disco_keys__", "__disco_name__"):
        assert hasattr(table, attribute)


def test_all_is_the_documented_api_and_resolves() -> None:
    assert len(discobase.__all__) <= 25
    assert sorted(discobase.__all__) == sorted(set(discobase.__all__))
    for name in discobase.__all__:
        assert getattr(discobase, name) is not None


def test_moved_names_say_where_they_are() -> None:
    for name, where in discobase._MOVED.items():
        assert name not in discobase.__all__
        assert getattr(importlib.import_module(where), name) is not None
        with pytest.raises(AttributeError, match=rf"it is {where}\.{name}$"):
            getattr(discobase, name)
    with pytest.raises(AttributeError, match=r"no attribute 'Nonexistent'$"):
        discobase.Nonexistent  # type: ignore[attr-defined]  # noqa: B018
