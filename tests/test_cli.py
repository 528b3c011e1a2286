"""The ``discobase`` command line, run as a user runs it: in subprocesses, over real sockets."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import discobase
from discobase.cli import connect_snippet

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).with_name("discobase")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CLIENT_TIMEOUT = 60.0


def discobase_command(*args: str) -> list[str]:
    """The console script next to the interpreter (as installed), else ``python -m discobase.cli``."""
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT), *args]
    return [sys.executable, "-m", "discobase.cli", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)  # the CLI must flush its own output
    env["COLUMNS"] = "60"  # narrower than the snippet's lines: they must not be wrapped
    return env


class Serve:
    """``discobase local serve`` in a subprocess; stdout is read by a thread into a queue."""

    def __init__(self, data: Path, *extra: str) -> None:
        command = discobase_command(
            "local", "serve", "--port", "0", "--data", str(data), "--rate-limits", "off", *extra
        )
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=child_env(),
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_reader.start()
        self.url = ""
        self.token = ""

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        self._stderr.extend(self.process.stderr)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def read_until(self, predicate: Any, timeout: float = STARTUP_TIMEOUT) -> str:
        """Read stdout lines until one satisfies ``predicate``; fail on EOF or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no matching output within {timeout} s; got:\n" + "\n".join(self.lines))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(timeout=5)
                pytest.fail(
                    f"the server exited ({self.process.returncode}) early; stdout:\n"
                    + "\n".join(self.lines)
                    + f"\nstderr:\n{self.stderr}"
                )
            self.lines.append(line)
            if predicate(line):
                return line

    def wait_ready(self) -> None:
        """Read up to "Press Ctrl+C"; ``token`` is the printed TOKEN= (only when the run made
        the bot or reset its token: the data file keeps a digest, so it is shown once)."""
        self.url = self.read_until(lambda line: line.startswith("URL="))[len("URL=") :]
        self.token = next((line[len("TOKEN=") :] for line in self.lines if line.startswith("TOKEN=")), "")
        self.read_until(lambda line: line.startswith("Press Ctrl+C"))

    def printed_snippet(self) -> str:
        start = next(i for i, line in enumerate(self.lines) if line.startswith("URL=")) + 1
        end = next(i for i, line in enumerate(self.lines) if line.startswith("Press Ctrl+C"))
        return "\n".join(line.rstrip() for line in self.lines[start:end]).strip() + "\n"

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=STOP_TIMEOUT)
        self._stderr_reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(data)`` starts ``discobase local serve``; every server is killed at teardown."""
    started: list[Serve] = []

    def start(data: Path, *extra: str) -> Serve:
        server = Serve(data, *extra)
        started.append(server)
        server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


def http(
    method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    """A request with the stdlib; returns status, headers and the JSON body (or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bot {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    return status, headers, json.loads(raw) if raw else None


#: Appended to the CLI's snippet (before its ``client.run``): report, send, close.
PLAIN_CLIENT_HANDLERS = textwrap.dedent(
    """
    import sys


    @client.event
    async def on_ready():
        try:
            print("GUILDS=" + "|".join(sorted(g.name for g in client.guilds)))
            for guild in client.guilds:
                print("CHANNELS=" + "|".join(sorted(c.name for c in guild.channels)))
            general = discord.utils.get(client.get_all_channels(), name="general")
            message = await general.send("hello from plain discord.py")
            print(f"SENT={message.id}:{message.content}")
        except Exception as error:
            print(f"ERROR={error!r}")
            sys.exitcode = 1
        finally:
            await client.close()

    """
)
PLAIN_CLIENT_FOOTER = textwrap.dedent(
    """
    print("DISCOBASE_MODULES=" + ",".join(sorted(m for m in sys.modules if m.startswith("discobase"))))
    sys.exit(getattr(sys, "exitcode", 0))
    """
)


def plain_client_script(snippet: str) -> str:
    """The CLI's snippet verbatim, with handlers inserted before its last line (``client.run``)."""
    lines = snippet.rstrip("\n").split("\n")
    assert lines[-1].startswith("client.run("), snippet
    return "\n".join(lines[:-1]) + "\n" + PLAIN_CLIENT_HANDLERS + lines[-1] + "\n" + PLAIN_CLIENT_FOOTER


def test_serve_plain_discordpy_admin_api_and_restart(serve: Any, tmp_path: Path) -> None:
    data = tmp_path / "local.sqlite3"
    server = serve(data)
    out = "\n".join(server.lines)
    assert server.url.startswith("http://127.0.0.1:")
    port = int(server.url.rsplit(":", 1)[1])
    assert port not in (0, 8765)  # --port 0 printed the port really bound
    assert f"ws://127.0.0.1:{port}/gateway" in out
    assert "limits   off" in out
    assert server.token
    # What connects discobase itself, besides the discord.py snippet.
    assert f"DISCOBASE_API_URL={server.url}" in server.lines
    assert f"DISCOBASE_TOKEN={server.token}" in server.lines
    assert server.printed_snippet() == connect_snippet(server.url, server.token)
    assert data.exists()
    assert server.token.encode() not in data.read_bytes()  # only its digest is stored

    # 1. An unmodified discord.py program using exactly the printed snippet.
    script = tmp_path / "plain_client.py"
    script.write_text(plain_client_script(server.printed_snippet()))
    client = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        cwd=tmp_path,
        env=child_env(),
        check=False,
    )
    assert client.returncode == 0, client.stdout + client.stderr
    assert "GUILDS=discobase\n" in client.stdout
    assert "CHANNELS=Text Channels|general\n" in client.stdout
    assert ":hello from plain discord.py\n" in client.stdout
    assert "DISCOBASE_MODULES=\n" in client.stdout  # plain discord.py, discobase never imported
    message_id = client.stdout.split("SENT=", 1)[1].split(":", 1)[0]

    # 2. The admin API (/_local/...) and the REST API over HTTP.
    status, _, info = http("GET", f"{server.url}/_local/info")
    assert status == 200
    assert info["url"] == server.url
    assert info["gateway_url"] == f"ws://127.0.0.1:{port}/gateway"
    assert [b["name"] for b in info["bots"]] == ["discobase"]
    assert [g["name"] for g in info["guilds"]] == ["discobase"]
    assert info["sessions"] == 0  # the client has closed its session
    bot_id, guild_id = info["bots"][0]["id"], info["guilds"][0]["id"]

    status, _, stats = http("GET", f"{server.url}/_local/stats")
    assert status == 200
    assert stats["GET /users/@me"] >= 1
    assert stats["POST /channels/{channel_id}/messages"] == 1
    assert stats["GATEWAY IDENTIFY"] == 1
    assert stats["GATEWAY DISPATCH MESSAGE_CREATE"] == 1
    assert not any(key.startswith(("GET /_local", "POST /_local")) for key in stats)

    status, _, channels = http("GET", f"{server.url}/api/v10/guilds/{guild_id}/channels", token=server.token)
    assert status == 200
    general_id = next(c["id"] for c in channels if c["name"] == "general")
    status, _, messages = http(
        "GET", f"{server.url}/api/v10/channels/{general_id}/messages", token=server.token
    )
    assert status == 200
    assert [(m["id"], m["content"], m["author"]["id"]) for m in messages] == [
        (message_id, "hello from plain discord.py", bot_id)
    ]
    assert http("GET", f"{server.url}/api/v10/users/@me")[0] == 401

    fault = {"kind": "status", "route": "GET /users/@me", "status": 503, "count": 1}
    status, _, added = http("POST", f"{server.url}/_local/faults", fault)
    assert status == 201
    assert (added["kind"], added["status"], added["count"], added["fired"]) == ("status", 503, 1, 0)
    assert [f["id"] for f in http("GET", f"{server.url}/_local/faults")[2]] == [added["id"]]
    status, headers, body = http("GET", f"{server.url}/api/v10/users/@me", token=server.token)
    assert (status, body) == (503, {"message": "503: Service Unavailable", "code": 0})
    assert headers["Content-Type"] == "application/json"
    status, _, me = http("GET", f"{server.url}/api/v10/users/@me", token=server.token)
    assert (status, me["id"], me["username"], me["bot"]) == (200, bot_id, "discobase", True)
    assert http("GET", f"{server.url}/_local/faults")[2] == []  # retired after its one fire

    status, _, error = http("POST", f"{server.url}/_local/faults", {"kind": "bogus"})
    assert status == 400
    assert error["code"] == 50035
    assert "unknown fault kind" in error["message"]

    assert http("DELETE", f"{server.url}/_local/stats")[0] == 204
    assert http("GET", f"{server.url}/_local/stats")[2] == {}
    assert http("POST", f"{server.url}/_local/gateway/reconnect")[2] == {"sessions": 0}
    assert http("POST", f"{server.url}/_local/gateway/bogus")[0] == 404

    # 3. The curl examples of the docs, against this server.
    if shutil.which("curl") is not None:
        shell = subprocess.run(
            ["bash", str(ROOT / "examples" / "admin_api.sh")],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            env={**child_env(), "URL": server.url, "TOKEN": server.token},
            check=False,
        )
        assert shell.returncode == 0, shell.stdout + shell.stderr
        assert '{"message":"503: Service Unavailable","code":0} -> 503\nagain -> 200\n' in shell.stdout
        assert '"GET /users/@me":2' in shell.stdout
        assert "reset stats -> 204\n" in shell.stdout
        assert "clear faults -> 204\n" in shell.stdout
        assert shell.stdout.endswith('{"sessions":0}\n{"sessions":0}\n')
        assert http("GET", f"{server.url}/_local/faults")[2] == []

    # 4. Ctrl+C stops it cleanly.
    assert server.stop(signal.SIGINT) == 0, server.stderr
    assert "Traceback" not in server.stderr

    # 5. A restart on the same file reuses the bot and the guild; the token, shown once at
    # creation, is not printed again but still works.
    again = serve(data)
    assert again.token == ""
    assert "TOKEN=" not in "\n".join(again.lines)
    assert "--reset-token" in "\n".join(again.lines)
    assert connect_snippet(again.url, "<the bot's token>") == again.printed_snippet()
    status, _, info = http("GET", f"{again.url}/_local/info")
    assert [b["id"] for b in info["bots"]] == [bot_id]
    assert [g["id"] for g in info["guilds"]] == [guild_id]
    status, _, messages = http(
        "GET", f"{again.url}/api/v10/channels/{general_id}/messages", token=server.token
    )
    assert [m["id"] for m in messages] == [message_id]
    assert again.stop(signal.SIGTERM) == 0, again.stderr
    assert "Traceback" not in again.stderr

    # 6. --reset-token prints a new token; the old one no longer works.
    reset = serve(data, "--reset-token")
    assert reset.token
    assert reset.token != server.token
    assert http("GET", f"{reset.url}/api/v10/users/@me", token=server.token)[0] == 401
    status, _, me = http("GET", f"{reset.url}/api/v10/users/@me", token=reset.token)
    assert (status, me["id"]) == (200, bot_id)
    assert reset.stop(signal.SIGTERM) == 0, reset.stderr


def test_serve_stops_cleanly_as_soon_as_it_printed_its_url(tmp_path: Path) -> None:
    """A script may stop the server right after reading URL=: the signal is handled by then."""
    server = Serve(tmp_path / "local.sqlite3")
    try:
        server.read_until(lambda line: line.startswith("URL="))
        assert server.stop(signal.SIGINT) == 0, server.stderr
    finally:
        server.kill()


def test_local_add_bot_and_add_user(tmp_path: Path, serve: Any) -> None:
    """Bots and people added to a stopped server's data file can connect once it runs again."""
    data = tmp_path / "local.sqlite3"
    first = serve(data)
    assert first.stop(signal.SIGTERM) == 0
    added = subprocess.run(
        discobase_command("local", "add-bot", "second", "--guild", "tests", "--data", str(data), "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert added.returncode == 0, added.stderr
    bot = json.loads(added.stdout)
    person = subprocess.run(
        discobase_command("local", "add-user", "ada", "--guild", "tests", "--data", str(data), "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert person.returncode == 0, person.stderr
    again = subprocess.run(
        discobase_command("local", "add-bot", "second", "--data", str(data)),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert again.returncode == 2
    assert "exists already" in again.stderr
    server = serve(data)
    status, _, me = http("GET", f"{server.url}/api/v10/users/@me", token=bot["token"])
    assert (status, me["id"], me["username"]) == (200, bot["id"], "second")
    status, _, guilds = http("GET", f"{server.url}/api/v10/users/@me/guilds", token=bot["token"])
    assert [g["name"] for g in guilds] == ["tests"]
    status, _, _member = http(
        "GET",
        f"{server.url}/api/v10/guilds/{bot['guild_id']}/members/{json.loads(person.stdout)['id']}",
        token=bot["token"],
    )
    assert status == 200


def test_version() -> None:
    result = subprocess.run(
        discobase_command("version"), capture_output=True, text=True, timeout=60, env=child_env(), check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == discobase.__version__


def test_serve_rejects_an_unknown_rate_limit_profile(tmp_path: Path) -> None:
    data = tmp_path / "local.sqlite3"
    result = subprocess.run(
        discobase_command("local", "serve", "--port", "0", "--data", str(data), "--rate-limits", "bogus"),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.replace("│", " ").split())
    assert "Invalid value for --rate-limits: must be 'discord' or 'off'" in message
    assert "TOKEN=" not in result.stdout
    assert not data.exists()  # refused before anything was created


def test_serve_on_a_busy_port_fails_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            discobase_command("local", "serve", "--port", str(port), "--data", str(tmp_path / "x.sqlite3")),
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
            check=False,
        )
    assert result.returncode == 2
    message = " ".join(result.stderr.replace("│", " ").split())
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in message
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # the failed start left no data file behind
