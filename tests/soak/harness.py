"""The soak harness: a server process, 2-4 writer processes, a seeded timeline of faults,
restarts and kill -9, then the checks (see :mod:`tests.soak.checker`).

```python
report = run_scenario(Scenario("short", seed=1, faults=("5xx", "invalid_session")), tmp_path)
assert report.safe, report.summary()
```

Everything runs on 127.0.0.1, every wait is bounded, and every process the
harness starts is killed and reaped when it ends (also on failure). Given a
seed, the writers' operations, the values they write and the timeline are the
same from run to run; the interleavings of processes are not (they are real
processes), which is the point.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tests.soak.checker import Report, build_reference, check, check_unique_acks, compare_views
from tests.soak.journal import read_journal

__all__ = ["FAULTS", "Scenario", "SoakError", "run_scenario"]

ROOT = Path(__file__).resolve().parents[2]

#: Fault windows: (library faults for /_local/faults, after-the-fact faults for /_local/soak/faults).
WINDOW_FAULTS: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "5xx": (
        [
            {"kind": "status", "status": 500, "route": "POST /channels/*/messages", "probability": 0.3},
            {"kind": "status", "status": 502, "route": "GET /channels/*/messages", "probability": 0.2},
        ],
        [],
    ),
    "503": ([{"kind": "status", "status": 503, "route": "*", "probability": 0.1}], []),
    "429": (
        [{"kind": "ratelimit", "route": "POST /channels/*/messages", "probability": 0.3, "retry_after": 0.2}],
        [],
    ),
    "429_global": (
        [{"kind": "ratelimit", "global": True, "route": "*", "probability": 0.1, "retry_after": 0.2}],
        [],
    ),
    "latency": ([{"kind": "latency", "latency": 0.15, "route": "*", "probability": 0.5}], []),
    "drop": ([{"kind": "drop", "route": "POST /channels/*/messages", "probability": 0.15}], []),
    "drop_after": ([], [{"kind": "drop_after", "route": "POST /channels/*/messages", "probability": 0.15}]),
    "status_after": (
        [],
        [{"kind": "status_after", "status": 500, "route": "POST /channels/*/messages", "probability": 0.15}],
    ),
    "gateway_invalid_faults": (
        [
            {
                "kind": "gateway_invalid_session",
                "route": "MESSAGE_CREATE",
                "probability": 0.05,
                "resumable": False,
            }
        ],
        [],
    ),
    "gateway_close_faults": (
        [{"kind": "gateway_close", "route": "MESSAGE_CREATE", "probability": 0.2, "close_code": 4000}],
        [],
    ),
}
#: One-shot gateway actions (/_local/gateway/<action>).
GATEWAY_ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "gateway_close": ("close", {"code": 4000}),
    "gateway_drop": ("drop", {}),
    "reconnect": ("reconnect", {}),
    "invalid_session": ("invalid_session", {"resumable": False}),
}
FAULTS = (*WINDOW_FAULTS, *GATEWAY_ACTIONS)


class SoakError(RuntimeError):
    """The harness could not run the scenario (not a finding about discobase)."""


@dataclass(frozen=True)
class Scenario:
    """A seeded soak run. Counts are per run; times in seconds."""

    name: str
    seed: int
    writers: int = 2
    tasks: int = 3
    duration: float = 6.0
    snapshot_every: int = 6
    data_channels: int = 2
    rate_limits: str = "off"
    think: float = 0.05
    max_ops: int = 2000
    reopen_every: tuple[float, float] | None = (2.0, 5.0)
    p_insert: float = 0.45
    p_update: float = 0.35
    p_delete: float = 0.2
    p_many: float = 0.2
    p_accounts: float = 0.3
    big: float = 0.05
    pool: int = 12
    faults: tuple[str, ...] = ()
    fault_window: float = 1.5
    restarts: int = 0
    server_kills: int = 0
    writer_kills: int = 0
    converge_timeout: float = 20.0
    retry_ambiguous: bool = True
    #: Per-writer settings over the scenario's (e.g. ``{"snapshot_every": 10**9, "reopen_every": None}``
    #: for a writer that only follows the others through gateway events).
    writer_overrides: tuple[dict[str, Any], ...] = ()
    #: Give every writer's record-id generator these worker bits (what happens, 1 time
    #: in 1024 per pair of processes, when they draw the same ones); None: their own.
    shared_worker: int | None = None
    #: The writers kill -9 picks from (None: any).
    kill_targets: tuple[int, ...] | None = None

    def with_seed(self, seed: int) -> Scenario:
        return replace(self, seed=seed)


# ---------------------------------------------------------------------------- processes


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCOBASE_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Every process the harness started; :meth:`reap` kills and waits for those still running."""

    def __init__(self) -> None:
        self.all: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.all.append(process)
        return process

    def reap(self) -> None:
        for process in self.all:
            if process.poll() is None:
                process.kill()
        for process in self.all:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Server:
    """The local server process (:mod:`tests.soak.server`) on a fixed port and data file."""

    def __init__(self, processes: Processes, work: Path, seed: int, rate_limits: str) -> None:
        self.processes = processes
        self.work = work
        self.data = work / "server.sqlite3"
        self.ready = work / "server.ready.json"
        self.log = work / "server.log"
        self.creates = work / "creates.log"
        self.seed = seed
        self.rate_limits = rate_limits
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        self.starts = 0

    def start(self, timeout: float = 30.0) -> None:
        self.ready.unlink(missing_ok=True)
        command = _python(
            "tests.soak.server",
            "--data",
            str(self.data),
            "--port",
            str(self.port),
            "--ready",
            str(self.ready),
            "--seed",
            str(self.seed + self.starts),
            "--rate-limits",
            self.rate_limits,
            "--creates",
            str(self.creates),
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:  # the port may still be held a moment after a kill
            self.process = self.processes.start(command, self.log)
            while not self.ready.exists() and self.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.ready.exists():
                break
            if self.process.poll() is None or time.monotonic() > deadline:
                raise SoakError(f"the server did not start within {timeout:g} s:\n{_tail(self.log)}")
            time.sleep(0.3)
        info = json.loads(self.ready.read_text())
        self.url, self.token = info["url"], info["token"]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """A clean stop (SIGTERM), then SIGKILL if it does not end within 10 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def clear_faults(self) -> None:
        if self.alive():
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.admin("DELETE", "/_local/faults")
                self.admin("DELETE", "/_local/soak/faults")


class Writer:
    """One writer (:mod:`tests.soak.writer`) and its incarnations."""

    def __init__(self, processes: Processes, work: Path, wid: str, config: dict[str, Any]) -> None:
        self.processes = processes
        self.wid = wid
        self.journal = work / f"journal-{wid}.jsonl"
        self.log = work / f"{wid}.log"
        self.config_base = {**config, "wid": wid, "journal": str(self.journal)}
        self.work = work
        self.incarnation = -1
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = 0
        self._offset = 0
        self._events: list[dict[str, Any]] = []

    def start(self, url: str, token: str) -> None:
        self.incarnation += 1
        config = {**self.config_base, "incarnation": self.incarnation, "url": url, "token": token}
        path = self.work / f"{self.wid}.{self.incarnation}.json"
        path.write_text(json.dumps(config))
        self.process = self.processes.start(_python("tests.soak.writer", str(path)), self.log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.killed += 1

    def events(self) -> list[dict[str, Any]]:
        """The journal so far (read incrementally: only complete new lines are parsed)."""
        try:
            with open(self.journal, "rb") as journal:
                journal.seek(self._offset)
                chunk = journal.read()
        except FileNotFoundError:
            return self._events
        end = chunk.rfind(b"\n") + 1
        for line in chunk[:end].splitlines():
            with contextlib.suppress(ValueError):
                self._events.append(json.loads(line))
        self._offset += end
        return self._events

    def current(self) -> list[dict[str, Any]]:
        """The events of the running incarnation."""
        events = self.events()
        starts = [i for i, e in enumerate(events) if e["ev"] == "start" and e.get("inc") == self.incarnation]
        return events[starts[-1] :] if starts else []

    def reached(self, ev: str) -> bool:
        return any(e["ev"] == ev for e in self.current())


# ---------------------------------------------------------------------------- the run


@dataclass
class Action:
    at: float
    kind: str  # fault, gateway, restart, server_kill, writer_kill
    name: str = ""
    writer: int = 0


def timeline(scenario: Scenario, rng: random.Random) -> list[Action]:
    """Actions spread over the run in seeded order, one per slot, with jitter."""
    actions = [Action(0, "fault" if f in WINDOW_FAULTS else "gateway", f) for f in scenario.faults]
    actions += [Action(0, "restart") for _ in range(scenario.restarts)]
    actions += [Action(0, "server_kill") for _ in range(scenario.server_kills)]
    actions += [
        Action(0, "writer_kill", writer=rng.randrange(scenario.writers)) for _ in range(scenario.writer_kills)
    ]
    rng.shuffle(actions)
    if not actions:
        return []
    slot = scenario.duration / len(actions)
    for index, action in enumerate(actions):
        action.at = index * slot + rng.uniform(0.1, 0.5) * slot
    return actions


def _wait(condition: Any, timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SoakError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def _read(
    server: Server, processes: Processes, work: Path, name: str, timeout: float = 90.0
) -> dict[str, Any]:
    """Run a fresh reader process and return its view."""
    out = work / f"{name}.json"
    log = work / f"{name}.log"
    process = processes.start(_python("tests.soak.reader", server.url, server.token, str(out)), log)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise SoakError(f"the reader {name} did not finish within {timeout:g} s:\n{_tail(log)}") from None
    if process.returncode != 0 or not out.exists():
        raise SoakError(f"the reader {name} failed ({process.returncode}):\n{_tail(log)}")
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@contextlib.contextmanager
def _running() -> Iterator[Processes]:
    processes = Processes()
    try:
        yield processes
    finally:
        processes.reap()


def run_scenario(scenario: Scenario, work: Path, log: Any = None) -> Report:
    """Run ``scenario`` with its files in ``work``; returns the report (violations found).

    Raises :class:`SoakError` if the harness itself cannot proceed.
    """
    say = log or (lambda text: None)
    work.mkdir(parents=True, exist_ok=True)
    control = work / "control"
    control.mkdir(exist_ok=True)
    (work / "scenario.json").write_text(json.dumps(asdict(scenario)))
    rng = random.Random(f"{scenario.seed}/{scenario.name}/timeline")
    report = Report(name=f"{scenario.name} seed={scenario.seed}", trials=1)
    config = {
        "seed": scenario.seed,
        "control": str(control),
        "tasks": scenario.tasks,
        "snapshot_every": scenario.snapshot_every,
        "data_channels": scenario.data_channels,
        "think": scenario.think,
        "max_ops": scenario.max_ops,
        "reopen_every": scenario.reopen_every,
        "p_insert": scenario.p_insert,
        "p_update": scenario.p_update,
        "p_delete": scenario.p_delete,
        "p_many": scenario.p_many,
        "p_accounts": scenario.p_accounts,
        "big": scenario.big,
        "pool": scenario.pool,
        "retry_ambiguous": scenario.retry_ambiguous,
        "max_lifetime": scenario.duration + 240.0,
        "shared_worker": scenario.shared_worker,
    }
    with _running() as processes:
        server = Server(processes, work, scenario.seed, scenario.rate_limits)
        server.start()
        overrides = list(scenario.writer_overrides) + [{}] * scenario.writers
        writers = [
            Writer(processes, work, f"w{i}", {**config, **overrides[i]}) for i in range(scenario.writers)
        ]
        # The first writer makes the tables; the others then open them (a database is
        # normally made once; concurrent creation is a different test).
        writers[0].start(server.url, server.token)
        _wait(lambda: writers[0].reached("opened") or writers[0].process.poll() is not None, 90, "w0 to open")  # type: ignore[union-attr]
        for writer in writers[1:]:
            writer.start(server.url, server.token)
        _wait(
            lambda: all(w.reached("opened") or w.process.poll() is not None for w in writers),  # type: ignore[union-attr]
            90,
            "the writers to open",
        )
        for writer in writers:
            if not writer.reached("opened"):
                raise SoakError(f"{writer.wid} did not open:\n{_tail(writer.log)}")
        started = time.monotonic()
        for action in timeline(scenario, rng):
            pause = started + action.at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            say(f"t={time.monotonic() - started:5.1f} {action.kind} {action.name or action.writer}")
            _act(action, scenario, server, writers, rng, report)
        pause = started + scenario.duration - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        server.clear_faults()
        for writer in writers:  # a writer that died by itself is a finding; start it again to go on
            if writer.process is not None and writer.process.poll() is not None:
                report.add(
                    "harness",
                    f"{writer.wid} exited by itself ({writer.process.returncode}):\n{_tail(writer.log)}",
                )
                writer.start(server.url, server.token)
        (control / "quiesce").touch()
        _wait(lambda: all(w.reached("quiesced") for w in writers), 120, "the writers to quiesce")
        say("quiesced; reading")
        live = _read(server, processes, work, "reader-live")
        reference = build_reference({w.wid: read_journal(w.journal) for w in writers})
        check(reference, live, report, "live")
        _converge(live, writers, control, scenario.converge_timeout, report)
        (control / "exit").touch()
        for writer in writers:
            assert writer.process is not None
            try:
                writer.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                report.add("harness", f"{writer.wid} did not close within 90 s")
                writer.kill()
        final = _read(server, processes, work, "reader-final")
        reference = build_reference({w.wid: read_journal(w.journal) for w in writers})
        check(reference, final, report, "final")
        check_unique_acks(reference, report)
        for detail in reference.missing:
            report.add("missing", detail)
        for detail in reference.harness:
            report.add("harness", detail)
        server.stop()
        stored_twice(server, report)
        secrets_written(work, server.token, report)
    report.acked = reference.counts["ack"]
    report.ambiguous = reference.counts["ambiguous"]
    report.rejected = reference.counts["reject"]
    report.records = len(reference.records)
    report.writer_kills = sum(w.killed for w in writers)
    (work / "report.json").write_text(json.dumps(report.to_json()))
    return report


#: Files that hold the bot's token on purpose: the harness's own hand-over to the
#: writers (the server's ready file, the token kept across restarts, each writer's
#: configuration ``<writer>.<incarnation>.json``).
TOKEN_FILES = re.compile(r"server\.ready\.json|server\.token|w[0-9]+\.[0-9]+\.json")


def secrets_written(work: Path, token: str, report: Report) -> None:
    """The bot's token must not appear in any file of the run: the writers'
    logs and journals, the readers' views, the server's data file."""
    for path in sorted(work.rglob("*")):
        if path.is_file() and not TOKEN_FILES.fullmatch(path.name) and token.encode() in path.read_bytes():
            report.add("secret", f"the bot's token appears in {path.relative_to(work)}")


def _act(
    action: Action,
    scenario: Scenario,
    server: Server,
    writers: list[Writer],
    rng: random.Random,
    report: Report,
) -> None:
    if action.kind == "fault":
        faults, after = WINDOW_FAULTS[action.name]
        if not server.alive():
            return
        for spec in faults:
            server.admin("POST", "/_local/faults", spec)
        for spec in after:
            server.admin("POST", "/_local/soak/faults", spec)
        time.sleep(min(scenario.fault_window, scenario.duration))
        server.clear_faults()
    elif action.kind == "gateway":
        name, body = GATEWAY_ACTIONS[action.name]
        if server.alive():
            server.admin("POST", f"/_local/gateway/{name}", body)
    elif action.kind == "restart":
        server.stop()
        time.sleep(rng.uniform(0.2, 1.0))
        server.start()
        report.restarts += 1
    elif action.kind == "server_kill":
        server.kill()
        time.sleep(rng.uniform(0.2, 1.0))
        server.start()
        report.server_kills += 1
    elif action.kind == "writer_kill":
        writer = writers[action.writer]
        writer.kill()
        time.sleep(rng.uniform(0.1, 0.8))
        writer.start(server.url, server.token)


def stored_twice(server: Server, report: Report) -> None:
    """Data messages stored twice with the same content and files (a retried write
    without a nonce), from the server's log of every message it stored."""
    if not server.creates.exists() or not server.data.exists():
        return
    with contextlib.closing(sqlite3.connect(f"file:{server.data}?mode=ro", uri=True)) as db:
        names = {}
        for (data,) in db.execute("SELECT data FROM channels"):
            channel = json.loads(data)
            if (channel.get("topic") or "").startswith("discobase data:"):
                names[int(channel["id"])] = channel["name"]
    seen: dict[tuple[int, str], list[int]] = {}
    for line in server.creates.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        channel, message, digest = int(parts[0]), int(parts[1]), parts[2]
        if channel in names:
            seen.setdefault((channel, digest), []).append(message)
    for (channel, _), messages in seen.items():
        if len(messages) > 1:
            report.add("stored_twice", f"#{names[channel]}: messages {messages} carry the same operations")


def _converge(
    reader: dict[str, Any], writers: list[Writer], control: Path, timeout: float, report: Report
) -> None:
    """Wait (bounded) until every live writer's view equals the reader's."""
    deadline = time.monotonic() + timeout
    pending = {w.wid for w in writers}
    last: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for wid in sorted(pending):
            path = control / f"view-{wid}.json"
            try:
                view = json.loads(path.read_text())
            except (OSError, ValueError):
                last[wid] = "no view written yet"
                continue
            difference = compare_views(reader, view)
            if difference is None:
                pending.discard(wid)
            else:
                last[wid] = difference
        time.sleep(0.25)
    for wid in sorted(pending):
        report.add("diverged", f"{wid} after {timeout:g} s: {last.get(wid)}")
