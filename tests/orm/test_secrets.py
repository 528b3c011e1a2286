"""No token or key anywhere: logs at TRACE, reprs, exceptions, the ``_logs`` and
``_events`` tables, and the files written (the local server's data file)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from loguru import logger

import discobase
from discobase.events import EventRecord, TableEventHandler
from discobase.exceptions import DatabaseKeyError, DiscobaseError
from discobase.local import LocalDiscord

PASSPHRASE = "tr0ub4dor-and-3-horses"
RAW_KEY = b"\x07SECRET-KEY-BYTES-0123456789abcd"
GUILD = "secrets guild"


class Note(discobase.Table):
    text: str
    n: int = 0


def database(server: LocalDiscord, key: bytes | str) -> tuple[discobase.Database, type[Note]]:
    db = discobase.Database(
        GUILD, server_url=server.url, key=key, log_table="TRACE", event_handlers=[TableEventHandler()]
    )

    @db.table
    class Stored(Note):
        class Settings:
            name = "notes"

    return db, Stored


def forms(secret: str | bytes) -> list[str]:
    """How a secret could appear in text."""
    if isinstance(secret, bytes):
        return [secret.hex(), secret.decode("latin-1"), repr(secret)[2:-1]]
    return [secret]


@pytest.mark.parametrize("key", [PASSPHRASE, RAW_KEY], ids=["passphrase", "bytes"])
async def test_no_token_or_key_is_ever_written_or_shown(tmp_path: Path, key: bytes | str) -> None:
    data = tmp_path / "server.sqlite3"
    sink = io.StringIO()
    logger.enable("discobase")
    handler = logger.add(sink, level="TRACE", format="{message} {extra}")
    shown: list[str] = []
    try:
        async with LocalDiscord(data, rate_limits="off") as server:
            bot = server.create_bot("secret-bot")
            token = bot.token
            server.create_guild(GUILD, members=[bot])
            db, Stored = database(server, key)
            async with db.conn(token):
                notes = [await Stored(text=f"note {n}", n=n).save() for n in range(20)]
                for note in notes[::2]:
                    note.n += 100
                    await note.update()
                for note in notes[:5]:
                    await note.delete()
                logger.info("application message with a note {}", notes[-1])
                await db.logs.flush()
                logs = await db.logs.query()
                events_table = db.system_table(EventRecord)
                events = await events_table.find()
                assert logs
                assert events
                shown += [repr(db), str(db), repr(db.bot), repr(Stored), *map(repr, notes)]
                shown += [repr(record) for record in logs] + [repr(row) for row in events]
            wrong, _ = database(server, "not the key")
            with pytest.raises(DatabaseKeyError) as error:
                async with wrong.conn(token):
                    pass
            shown += [str(error.value), repr(error.value)]
            with pytest.raises(DiscobaseError) as bad_token:
                async with database(server, key)[0].conn(token + "x"):
                    pass
            shown += [str(bad_token.value), repr(bad_token.value)]
    finally:
        logger.remove(handler)
        logger.disable("discobase")
    shown.append(sink.getvalue())
    files = b"".join(path.read_bytes() for path in sorted(tmp_path.iterdir()) if path.is_file())  # noqa: ASYNC240
    assert "notes" in sink.getvalue()  # the scan looked at discobase's own TRACE/DEBUG output
    assert len(files) > 10_000
    for secret in (token, *forms(key)):
        for text in shown:
            assert secret not in text
        assert (secret.encode("latin-1") if isinstance(secret, str) else secret) not in files
