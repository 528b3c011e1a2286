"""The soak's local server: ``python -m tests.soak.server --data FILE --port N --ready FILE``.

A :class:`~discobase.local.LocalDiscord` persisted in ``--data`` that makes a bot
and a guild on first run, writes ``{"url", "token", "pid", "port"}`` to
``--ready`` once it listens, and serves until SIGTERM/SIGINT (a clean stop) or
SIGKILL (a crash). Restarting it on the same file and port keeps every message.

It adds one thing the library's fault injector does not have (see the report
in ``tests/soak/README.md``): faults that strike **after** the request was
handled, i.e. after the server stored the message:

``drop_after``
    handle the request, then abort the TCP connection without answering (the
    client cannot tell whether the write was stored; it was);
``status_after``
    handle the request, then answer ``status`` (default 500) instead of the
    real answer: discord.py retries 500/502/504, so the message is stored twice.

They are managed at ``/_local/soak/faults`` (POST a spec like the library's, DELETE
to clear), matched with the same route patterns as :mod:`discobase.local.faults`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from aiohttp import web

from discobase.local import LocalDiscord

GUILD = "soak"
BOT = "soak-bot"


@dataclass
class AfterFault:
    """A fault applied once the request has been handled (see the module docstring)."""

    id: int
    kind: str
    route: str = "POST /channels/*/messages"
    probability: float = 1.0
    count: int | None = None
    status: int = 500
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        path = path.split("?", 1)[0]
        if path.startswith("/api/v10"):
            path = path[len("/api/v10") :]
        route = self.route
        if route.startswith("/"):
            return fnmatchcase(path, route)
        return fnmatchcase(f"{method.upper()} {path}", route)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "route": self.route,
            "probability": self.probability,
            "count": self.count,
            "status": self.status,
            "fired": self.fired,
        }


class SoakServer(LocalDiscord):
    """LocalDiscord plus the after-the-fact faults."""

    def __init__(self, *args: Any, after_seed: int = 0, creates: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_faults: list[AfterFault] = []
        self._after_rng = random.Random(after_seed)
        self._after_ids = 0
        if creates is not None:
            self._log_creates(creates)

    def _log_creates(self, path: str) -> None:
        """Append ``channel message sha256(content and files)`` for every message
        stored, so that the harness can tell a message stored twice (a retried
        write without a nonce) even after compaction deleted it."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        store = self.store
        original = store.insert_message

        def insert_message(message: Any, files: Any = ()) -> None:
            files = list(files)
            original(message, files)
            digest = hashlib.sha256(message.content.encode())
            for _, data in files:
                digest.update(data)
            os.write(fd, f"{message.channel_id} {message.id} {digest.hexdigest()}\n".encode())

        store.insert_message = insert_message  # type: ignore[method-assign]

    def _fire(self, method: str, path: str) -> AfterFault | None:
        for fault in list(self.after_faults):
            if not fault.matches(method, path):
                continue
            if fault.probability < 1.0 and self._after_rng.random() >= fault.probability:
                continue
            fault.fired += 1
            if fault.count is not None and fault.fired >= fault.count:
                self.after_faults.remove(fault)
            return fault
        return None

    def build_app(self) -> web.Application:
        app = super().build_app()

        @web.middleware
        async def after(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            if request.path.startswith("/_"):
                return response
            fault = self._fire(request.method, request.path)
            if fault is None or response.status >= 300:
                return response
            if fault.kind == "drop_after":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=204)
            body = {"message": f"{fault.status}: injected after the fact", "code": 0}
            return web.json_response(body, status=fault.status)

        app.middlewares.insert(0, after)

        async def add(request: web.Request) -> web.Response:
            spec = await request.json()
            if spec.get("kind") not in ("drop_after", "status_after"):
                return web.json_response({"message": "kind must be drop_after or status_after"}, status=400)
            self._after_ids += 1
            fault = AfterFault(
                id=self._after_ids,
                kind=spec["kind"],
                route=spec.get("route", "POST /channels/*/messages"),
                probability=float(spec.get("probability", 1.0)),
                count=spec.get("count"),
                status=int(spec.get("status", 500)),
            )
            self.after_faults.append(fault)
            return web.json_response(fault.to_dict(), status=201)

        async def listing(request: web.Request) -> web.Response:
            return web.json_response([f.to_dict() for f in self.after_faults])

        async def clear(request: web.Request) -> web.Response:
            self.after_faults.clear()
            return web.Response(status=204)

        app.router.add_post("/_local/soak/faults", add)
        app.router.add_get("/_local/soak/faults", listing)
        app.router.add_delete("/_local/soak/faults", clear)
        return app


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = SoakServer(
        args.data,
        port=args.port,
        rate_limits=args.rate_limits,
        seed=args.seed,
        after_seed=args.seed,
        creates=args.creates,
        heartbeat_interval=5.0,
    )
    await server.start()
    try:
        ready = Path(args.ready)
        # The data file keeps only a digest of the bot's token: a restarted server
        # gives the bot the token of the first run again, kept beside the data file.
        kept = Path(args.data).with_suffix(".token")
        bot = server.bot(BOT)
        if bot is None:
            bot = server.create_bot(BOT)
            token = bot.token
            kept.write_text(token)
            kept.chmod(0o600)
        else:
            token = server.reset_token(bot, kept.read_text())
        if not server.store.guilds_by_name(GUILD):
            server.create_guild(GUILD, members=[bot])
        temporary = ready.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"url": server.url, "token": token, "pid": os.getpid(), "port": server.port})
        )
        temporary.replace(ready)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--creates", default=None, help="log every stored message here")
    parser.add_argument("--rate-limits", choices=("off", "discord"), default="off")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
