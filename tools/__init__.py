"""Checks run by ``make lint`` beside ruff, mypy and import-linter."""
