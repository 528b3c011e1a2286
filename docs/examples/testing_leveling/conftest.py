"""The fixtures the tests override: ``database`` is the bot's own database, which the bot
attaches itself in its ``setup_hook``."""

import pytest
from leveling_bot import db

import discobase


@pytest.fixture
def discobase_database() -> discobase.Database:
    return db


@pytest.fixture
def discobase_attached() -> bool:
    return True  # LevelingBot.setup_hook runs `await db.attach(self)`
