"""The fixture the tests override: ``database`` is the bot's own database (with its table)."""

import pytest
from leveling_bot import db

import discobase


@pytest.fixture
def discobase_database() -> discobase.Database:
    return db
