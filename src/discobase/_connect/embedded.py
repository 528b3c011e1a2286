"""The embedded local Discord server, shared by every process that opens one data directory.

Without a token or a server URL, :class:`~discobase.Database` uses a local
Discord server persisted in its data directory (``local.sqlite3``). Two
servers on one SQLite file would each acknowledge writes the other never sees
(and unique constraints would not hold across them), so the processes of one
data directory share one server:

- An OS file lock (``embedded.lock``, ``flock``) elects the process that
  serves: the one that holds it. The kernel releases it when that process
  ends, however it ends (``kill -9`` included).
- The serving process writes ``embedded.json`` (mode 0600): the server's port
  on 127.0.0.1 and the embedded bot's token. The token is kept there rather
  than read back from the server's store, which need not keep tokens in a
  recoverable form.
- Every other process reads that file and connects as a client, over the same
  REST and gateway sockets as any discord.py program. Its guild is made by the
  serving process on request (``POST /_local/embedded/guilds`` with the bot's
  token), since bots cannot create guilds through Discord's API.
- Each client keeps trying the lock (non-blocking, every
  :data:`POLL_INTERVAL` seconds). When the serving process is gone, the first
  client to get the lock serves the same data file on the same port with the
  same token, so the other clients' discord.py reconnects to it by itself;
  REST calls made in the gap fail as network errors.

Polling with a non-blocking lock (rather than a thread blocked in ``flock``)
leaves nothing to wake up or leak when the database closes: closing cancels
one asyncio task. On Windows ``msvcrt.locking`` takes the place of ``flock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import socket
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from loguru import logger

from discobase.exceptions import LocalServerError
from discobase.local.rest import json_response
from discobase.local.server import LocalDiscord, attach

if sys.platform == "win32":  # pragma: no cover - this suite runs on Linux
    import msvcrt
else:
    import fcntl

if TYPE_CHECKING:
    from collections.abc import Callable

    from discord.ext import commands

__all__ = [
    "BOT_NAME",
    "DATA_FILE",
    "GUILDS_ROUTE",
    "HOST",
    "LOCK_FILE",
    "POLL_INTERVAL",
    "STATE_FILE",
    "EmbeddedServer",
]

#: Name of the bot every process of a data directory logs in as.
BOT_NAME = "discobase"
DATA_FILE = "local.sqlite3"
LOCK_FILE = "embedded.lock"
STATE_FILE = "embedded.json"
#: The only address the embedded server listens on and clients connect to.
HOST = "127.0.0.1"
#: The route through which a client has the serving process make its guild.
GUILDS_ROUTE = "/_local/embedded/guilds"
#: Seconds between two attempts of a client to take the lock (and so how long
#: the data directory stays without a server after the serving process ends).
POLL_INTERVAL = 0.1
#: Seconds a new process waits for the lock holder's server to answer.
JOIN_TIMEOUT = 30.0
#: Seconds one request to the lock holder's server may take.
PROBE_TIMEOUT = 5.0
#: Seconds the process taking over waits for the previous server's port to be free.
PORT_WAIT = 2.0


# ---------------------------------------------------------------------- the lock
_open_locks: weakref.WeakSet[_FileLock] = weakref.WeakSet()


def _forget_locks_in_child() -> None:
    """After ``fork``, close the child's copies of the lock files.

    A lock held through an inherited descriptor would outlive the serving process and keep every
    client from taking over.
    """
    for lock in list(_open_locks):
        lock.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


class _FileLock:
    """An exclusive, non-blocking OS lock on a file, released by the kernel when the process ends.

    It is ``flock``, or ``msvcrt.locking`` on Windows.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise LocalServerError(
                f"cannot open {path}, the lock file of the embedded local server ({error.strerror}); "
                "check that the data directory is yours and writable, or pass data_dir="
            ) from None
        self.held = False
        _open_locks.add(self)

    def acquire(self) -> bool:
        """Take the lock if no other process (or descriptor) holds it; never waits."""
        if self.held:
            return True
        if self._fd is None:
            raise LocalServerError(f"the lock file {self.path} is closed")
        try:
            if sys.platform == "win32":  # pragma: no cover
                os.lseek(self._fd, 0, os.SEEK_SET)
                msvcrt.locking(self._fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as error:
            if sys.platform == "win32":  # pragma: no cover - msvcrt says "held" with EACCES or EDEADLOCK
                return False
            raise LocalServerError(
                f"cannot lock {self.path} ({error.strerror}): the embedded local server needs a file "
                "system with flock (not every network file system has one); pass data_dir= on a local disk"
            ) from None
        self.held = True
        return True

    def release(self) -> None:
        if not self.held or self._fd is None:
            return
        self.held = False
        if sys.platform == "win32":  # pragma: no cover
            os.lseek(self._fd, 0, os.SEEK_SET)
            msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the lock and close the file."""
        try:
            self.release()
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
            _open_locks.discard(self)

    def forget(self) -> None:
        """Close the descriptor without unlocking (the lock belongs to another process)."""
        fd, self._fd = self._fd, None
        self.held = False
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


# ---------------------------------------------------------------------- the state file
@dataclass(frozen=True, slots=True)
class _State:
    """What ``embedded.json`` says: where the server listens and how to log in."""

    port: int
    bot_id: int
    pid: int
    token: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _read_state(path: Path) -> _State | None:
    """The state file's content, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = _State(
            port=int(data["port"]), bot_id=int(data["bot_id"]), pid=int(data["pid"]), token=str(data["token"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if 0 < state.port < 65536 and state.token else None


def _write_state(path: Path, state: _State) -> None:
    """Replace the state file atomically; it is never readable by other users."""
    text = json.dumps(
        {"url": state.url, "port": state.port, "bot_id": state.bot_id, "pid": state.pid, "token": state.token}
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask, and if the file was left by a crash
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


# ---------------------------------------------------------------------- the server
class _Server(LocalDiscord):
    """The local server with one more route, :data:`GUILDS_ROUTE`, for a client's guild.

    A client of the embedded server asks through it for its guild, made with the embedded bot as
    a member (as the single-process embedded server does).
    """

    def __init__(self, data: Path) -> None:
        super().__init__(data, host=HOST, port=0, rate_limits="discord")
        self.embedded_token = ""

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post(GUILDS_ROUTE, self._guilds_route)
        return app

    def ensure_guild(self, name: str) -> list[int]:
        """The ids of the guilds named ``name``, each with the embedded bot as a member.

        One is made if there is none.
        """
        bot = self.bot(BOT_NAME)
        if bot is None:
            raise LocalServerError(f"the embedded server has no bot named {BOT_NAME!r}")
        guilds = self.store.guilds_by_name(name)
        if not guilds:
            return [self.create_guild(name, members=[bot])]
        for guild in guilds:
            self.add_member(guild.id, bot)
        return [guild.id for guild in guilds]

    async def _guilds_route(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        expected = f"Bot {self.embedded_token}".encode()
        if not self.embedded_token or not hmac.compare_digest(given, expected):
            return json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            message = "a JSON body with a guild 'name' is needed"
            return json_response({"message": message, "code": 50035}, status=400)
        try:
            ids = self.ensure_guild(name)
        except LocalServerError as error:
            return json_response({"message": str(error), "code": 50035}, status=400)
        return json_response({"guilds": [str(guild_id) for guild_id in ids]})


def _reconnect_quickly(client: commands.Bot, on_new_session: Callable[[], object] | None) -> None:
    """Make ``client`` identify again at once after a hand-over.

    ``on_new_session`` is told about every gateway session after the first.

    discord.py waits 5 s before identifying again (Discord's identify rate
    limit, which the local server does not have): with a new server, which
    cannot resume the old sessions, that wait would only lengthen the time a
    client is without events.
    """

    async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
        return None

    setattr(client, "before_identify_hook", identify_at_once)  # noqa: B010 - this client only
    if on_new_session is None:
        return
    sessions = 0

    async def on_socket_event_type(event: str) -> None:
        nonlocal sessions
        if event != "READY":
            return
        sessions += 1
        if sessions > 1:
            logger.info("embedded local server: new gateway session; replaying what it missed")
            on_new_session()

    client.add_listener(on_socket_event_type, "on_socket_event_type")


def _port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (nothing else listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------------- one process's share
class EmbeddedServer:
    """One process's part in the embedded server of a data directory.

    It serves (it holds the lock), or it is a client that takes over when the serving process is
    gone. See the module docstring.

    Args:
        directory: the data directory (made if missing).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / DATA_FILE
        self.state_path = directory / STATE_FILE
        self._lock: _FileLock | None = None
        self._server: _Server | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._guild = ""
        self._port = 0
        self._token = ""

    def __repr__(self) -> str:
        role = "serving" if self.serving else "client" if self._port else "not started"
        return f"<EmbeddedServer {str(self.directory)!r} {role}>"

    @property
    def serving(self) -> bool:
        """Whether this process runs the server (it holds the lock)."""
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port`` of the server, once joined."""
        if not self._port:
            raise LocalServerError("the embedded server is not joined yet")
        return f"http://{HOST}:{self._port}"

    @property
    def server(self) -> LocalDiscord | None:
        """The server, if this process runs it."""
        return self._server

    async def join(
        self, guild: str, client: commands.Bot, *, on_new_session: Callable[[], object] | None = None
    ) -> str:
        """Serve the data directory or connect to its server, and point ``client`` at it.

        It makes sure the guild ``guild`` exists with the embedded bot in it. Returns the bot's
        token.

        ``on_new_session`` is called (synchronously, before any later gateway
        event is handled) when ``client`` starts a gateway session after its
        first one. A new server cannot resume the sessions of the one it
        replaces, so the events sent while a client was reconnecting never
        reach it: this is the moment to replay them from the channels' history.
        """
        self._guild = guild
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = _FileLock(self.directory / LOCK_FILE)
            await self._join()
        except BaseException:
            await self.close()
            raise
        attach(client, self.url)
        _reconnect_quickly(client, on_new_session)
        return self._token

    async def _join(self) -> None:
        assert self._lock is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + JOIN_TIMEOUT
        while True:
            if self._lock.acquire():
                await self._serve()
                return
            state = _read_state(self.state_path)
            problem = "it has not written its address yet" if state is None else await self._ask_guild(state)
            if problem is None:
                assert state is not None
                self._port, self._token = state.port, state.token
                self._watcher = loop.create_task(self._watch(), name="discobase-embedded-takeover")
                logger.info("embedded local server: using the one of process {} at {}", state.pid, state.url)
                return
            if loop.time() > deadline:
                holder = f"process {state.pid}" if state is not None else "another process"
                raise LocalServerError(
                    f"{holder} holds the lock of the embedded local server in {self.directory} but its "
                    f"server did not answer within {JOIN_TIMEOUT:g} s ({problem}); if that process is "
                    "stuck, stop it and open the database again"
                )
            await asyncio.sleep(POLL_INTERVAL)

    async def _ask_guild(self, state: _State) -> str | None:
        """Have the serving process make our guild; None once done, else what went wrong."""
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    state.url + GUILDS_ROUTE,
                    json={"name": self._guild},
                    headers={"Authorization": f"Bot {state.token}"},
                ) as response,
            ):
                if response.status == 200:
                    return None
                if response.status == 400:
                    body = await response.json(content_type=None)
                    reason = body.get("message") if isinstance(body, dict) else None
                    raise LocalServerError(f"the embedded server refused guild {self._guild!r}: {reason}")
                return f"it answered {response.status} at {state.url}"
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return f"{type(error).__name__} at {state.url}"

    async def _serve(self) -> None:
        """Run the server while holding the lock, on the port and token its clients know.

        Reusing the port and token, if there are clients, lets them reconnect to it.
        """
        state = _read_state(self.state_path)
        port = self._port or (state.port if state is not None else 0)
        server = _Server(self.data)
        try:
            bot = server.bot(BOT_NAME) or server.create_bot(BOT_NAME)
            token = self._token or (state.token if state is not None and state.bot_id == bot.user_id else "")
            token = server.reset_token(bot, token or None)
            server.embedded_token = token
            server.ensure_guild(self._guild)
            await self._listen(server, port)
            state = _State(port=server.port, bot_id=bot.user_id, pid=os.getpid(), token=token)
            _write_state(self.state_path, state)
        except BaseException:
            if server.running:
                await server.stop()
            else:
                server.store.close()
            raise
        self._server = server
        self._port, self._token = server.port, token
        logger.info("embedded local server: serving {} at {}", self.data, server.url)

    @staticmethod
    async def _listen(server: _Server, port: int) -> None:
        """Start ``server`` on ``port`` (0: any), waiting a little for it to be free."""
        if port:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PORT_WAIT
            while True:
                if _port_free(port):
                    server.port = port
                    try:
                        await server.start()
                        return
                    except OSError:
                        pass  # taken between the check and the bind
                if loop.time() > deadline:
                    logger.warning(
                        "embedded local server: port {} is taken by another program, so it serves on "
                        "another one; processes connected to the old port must open their database again",
                        port,
                    )
                    break
                await asyncio.sleep(POLL_INTERVAL)
        server.port = 0
        await server.start()

    async def _watch(self) -> None:
        """A client's background task: take the lock when the serving process is gone, then serve."""
        assert self._lock is not None
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            if not self._lock.acquire():
                continue
            logger.info("embedded local server: the serving process is gone; taking over {}", self.data)
            try:
                await self._serve()
                return
            except Exception as error:
                logger.error("embedded local server: taking over failed ({}); trying again", error)
                self._lock.release()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        """Stop serving (another process takes over) or stop waiting to; idempotent."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        server, self._server = self._server, None
        lock, self._lock = self._lock, None
        try:
            if server is not None:
                await server.stop()  # before unlocking: never two servers on one file
        finally:
            if lock is not None:
                lock.close()
