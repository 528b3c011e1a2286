"""A fresh reader: ``python -m tests.soak.reader URL TOKEN OUT.json``.

Opens the database in a new process, writes every record of the soak tables
(and the unreadable messages it skipped) to ``OUT.json``, and leaves without
closing, so that it writes nothing (a clean close may write a snapshot).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import discobase
from tests.soak.models import TABLES, attach


async def read(url: str, token: str) -> dict[str, Any]:
    db = discobase.Database("soak", server_url=url, on_corruption="skip", snapshot_every=10**9)
    tables = attach(db)
    db.login_task(token)
    await asyncio.wait_for(db.wait_ready(), 60)
    view: dict[str, Any] = {"tables": {}, "problems": [str(p)[:300] for p in db.problems]}
    for name in TABLES:
        records = await tables.by_name(name).find()
        view["tables"][name] = sorted(
            ([r.key, r.record_id, r.model_dump(mode="json")] for r in records),  # type: ignore[attr-defined]
            key=lambda row: (row[0], row[1]),
        )
    return view


async def read_and_leave(url: str, token: str, out: Path) -> None:
    view = await read(url, token)
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps(view))
    temporary.replace(out)
    sys.stdout.flush()
    os._exit(0)  # no close, no teardown: nothing is written


def main() -> None:
    url, token, out = sys.argv[1:4]
    asyncio.run(read_and_leave(url, token, Path(out)))


if __name__ == "__main__":
    main()
