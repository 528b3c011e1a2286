"""Event handlers: see every ORM call and the Discord requests inside it."""

from __future__ import annotations

import asyncio
import warnings

import discobase
from discobase.events import DiscordEvent, EventHandler, RequestEnd, RequestStart, TableEventHandler
from discobase.system import EventRecord


class Printer(EventHandler[str, None]):
    """A handler of our own: prints each request and each Discord request."""

    async def request_start(self, user_request: RequestStart) -> str:
        return f"{user_request.operation} on {user_request.table}"

    async def event_start(self, event: DiscordEvent, request_context: str | None) -> None:
        return None

    async def event_end(self, event: DiscordEvent, request_context: str | None, event_context: None) -> None:
        print(f"  {request_context}: {event.route} {event.status} ({event.bytes_sent} bytes sent)")

    async def request_end(self, output: RequestEnd, request_context: str | None) -> None:
        print(f"{request_context}: {'failed' if output.error else 'done'}")


db = discobase.Database("discobase events", event_handlers=[Printer(), TableEventHandler()])


@db.table
class Note(discobase.Table):
    text: str


async def main() -> None:
    warnings.simplefilter("ignore", discobase.EmbeddedServerWarning)
    async with db.conn():
        note = await Note(text="hello").save()
        note.text = "hello again"
        await note.update()
        await Note.find(text="hello again")  # served from memory: no Discord request
        rows = await db.system_table(EventRecord).find()  # the _events table of this database
        print("rows in _events:", sorted({(row.operation, row.route) for row in rows}))


if __name__ == "__main__":
    asyncio.run(main())
