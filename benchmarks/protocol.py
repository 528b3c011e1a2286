"""What a client process is told (:class:`RunSpec`) and how it reports (:class:`Recorder`).

Standard library only: the discobase 1.0.0 client imports this module from its
own virtual environment.

A client process gets the path of a JSON :class:`RunSpec` and appends events,
one JSON object per line, to ``spec.events``:

- ``{"kind": "phase", ...}`` when a phase ends: its name, its part
  (``setup``, ``workload`` or ``extra``), planned and completed operations,
  correct results, errors, seconds, and the requests per route the server
  counted during it (from the server's ``GET /_local/stats``, read before and
  after the phase, so the figures are exact as long as one client runs at a
  time);
- ``{"kind": "progress", ...}`` at most once a second during a phase, so a
  client killed at its hard timeout still leaves its progress behind;
- ``{"kind": "result", ...}`` at the end: peak RSS, find latencies, whether
  the time budget ran out.

The runner reads the file after the process ended (and while it runs, to show
progress).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import time
import traceback
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TextIO

__all__ = [
    "CrudOps",
    "Phase",
    "Recorder",
    "RunSpec",
    "client_main",
    "go_on",
    "peak_rss_kib",
    "percentile",
    "record_run",
    "run_crud_phases",
    "run_ops",
]

Part = Literal["setup", "workload", "extra"]


@dataclass
class RunSpec:
    """One client run: which library, which workload, where the server is."""

    library: str  # "ours", "1.0.0" or "discordbase"
    workload: str  # "crud", "bulk" or "logs"
    style: str  # "sequential" or "concurrent"
    sizes: dict[str, int]
    seed: int
    url: str
    token: str
    database: str
    events: str
    #: Seconds the workload (setup excluded) may take; None for no limit.
    budget: float | None = None
    #: ``data_channels`` of our ``Database`` (ignored by 1.0.0).
    data_channels: int = 1
    #: Warm finds timed one by one for the latency percentiles (ours).
    latency_samples: int = 1000
    #: The guild the runner made for the run (ours, DiscordBase); empty when the
    #: client makes its own (discobase 1.0.0).
    guild_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        return cls(**data)

    @classmethod
    def load(cls, path: str) -> RunSpec:
        with open(path, encoding="utf-8") as file:
            return cls.from_json(json.load(file))

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_json(), file, indent=2)


@dataclass
class Phase:
    """A phase being measured (see :meth:`Recorder.phase`)."""

    name: str
    part: Part
    planned: int
    done: int = 0
    ok: int = 0
    checked: int = 0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    complete: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self, error: BaseException) -> None:
        self.error_count += 1
        if len(self.errors) < 5:
            self.errors.append(f"{type(error).__name__}: {error}"[:300])


class Recorder:
    """Measures phases and appends events to ``spec.events`` (see the module docstring).

    The server's counters are read over HTTP with blocking ``urllib`` calls:
    they take about a millisecond on loopback and happen only between phases.
    """

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.started = time.perf_counter()
        self.deadline: float | None = None
        self.budget_exhausted = False
        self._file: TextIO = open(spec.events, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._last_progress = 0.0

    # ------------------------------------------------------------------ server counters
    def stats(self) -> dict[str, int]:
        """The server's request counters (per route template, plus ``GATEWAY ...``)."""
        with urllib.request.urlopen(self.spec.url + "/_local/stats", timeout=30) as response:
            data: dict[str, int] = json.load(response)
        return data

    # ------------------------------------------------------------------ events
    def emit(self, kind: str, **data: Any) -> None:
        data = {"kind": kind, "t": round(time.perf_counter() - self.started, 6), **data}
        self._file.write(json.dumps(data, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    # ------------------------------------------------------------------ budget
    def start_budget(self) -> None:
        """Start the workload's time budget (call after the setup)."""
        if self.spec.budget is not None:
            self.deadline = time.perf_counter() + self.spec.budget

    def remaining(self) -> float | None:
        """Seconds of budget left (None: no budget)."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.perf_counter(), 0.0)

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    # ------------------------------------------------------------------ phases
    @contextmanager
    def phase(self, name: str, planned: int = 0, part: Part = "workload") -> Iterator[Phase]:
        """Measure the ``with`` block as phase ``name`` and emit it when it ends."""
        phase = Phase(name, part, planned)
        before = self.stats()
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            yield phase
        except BaseException as error:
            failure = error
            phase.complete = False
            phase.error(error)
            raise
        finally:
            seconds = time.perf_counter() - started
            after = self.stats()
            requests = {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v != before.get(k, 0)}
            self.emit(
                "phase",
                name=name,
                part=part,
                planned=planned,
                done=phase.done,
                ok=phase.ok,
                checked=phase.checked,
                complete=phase.complete and failure is None,
                error_count=phase.error_count,
                errors=phase.errors,
                seconds=seconds,
                requests=requests,
                **phase.extra,
            )

    def progress(self, phase: Phase) -> None:
        now = time.perf_counter()
        if now - self._last_progress >= 1.0:
            self._last_progress = now
            self.emit("progress", name=phase.name, done=phase.done, planned=phase.planned)

    def result(self, **data: Any) -> None:
        """The final event: peak RSS of this process and whatever the client adds."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.emit(
            "result",
            pid=os.getpid(),
            peak_rss_kib=peak_rss_kib(os.getpid()),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            budget_exhausted=self.budget_exhausted,
            **data,
        )

    def failure(self, error: BaseException) -> None:
        self.emit("error", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())


async def run_ops(
    recorder: Recorder,
    phase: Phase,
    ops: Sequence[Callable[[], Awaitable[Any]]],
    *,
    concurrent: bool,
    check: Callable[[int, Any], bool] | None = None,
) -> None:
    """Run ``ops`` one after another (each awaited before the next starts) or all at once.

    Counts completed operations in ``phase.done``; an operation that raises is
    counted in ``phase.errors`` and the others go on. ``check(index, result)``
    tells whether a result is correct (``phase.ok`` / ``phase.checked``). When
    the recorder's budget runs out the phase stops, is marked incomplete and
    ``recorder.budget_exhausted`` is set.
    """

    def account(index: int, result: Any) -> None:
        phase.done += 1
        if check is not None:
            phase.checked += 1
            phase.ok += bool(check(index, result))

    if not concurrent:
        for index, op in enumerate(ops):
            left = recorder.remaining()
            if left is not None and left <= 0:
                phase.complete = False
                recorder.budget_exhausted = True
                return
            try:
                result = await asyncio.wait_for(op(), left) if left is not None else await op()
            except TimeoutError:
                phase.complete = False
                recorder.budget_exhausted = True
                return
            except Exception as error:
                phase.error(error)
            else:
                account(index, result)
            recorder.progress(phase)
        return

    tasks = [asyncio.ensure_future(op()) for op in ops]
    left = recorder.remaining()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), left)
    except TimeoutError:
        phase.complete = False
        recorder.budget_exhausted = True
    for index, task in enumerate(tasks):
        if not task.done() or task.cancelled():
            continue
        failure = task.exception()
        if failure is not None:
            phase.error(failure)
        else:
            account(index, task.result())


def peak_rss_kib(pid: int) -> int | None:
    """Peak resident set size of process ``pid`` in KiB (``VmHWM`` in ``/proc/PID/status``).

    Not ``ru_maxrss``: on Linux a child's ``ru_maxrss`` starts from its
    parent's peak at ``fork`` (the high-water mark survives ``exec``), so it
    would report the runner's memory, not the client's.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``, nearest rank."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


#: Makes one operation of a phase (called when the operation starts).
Op = Callable[[], Awaitable[Any]]


@dataclass
class CrudOps:
    """How a peer's client makes each operation of a ``crud`` plan (see :func:`run_crud_phases`)."""

    insert: Callable[[str, int], Op]
    find: Callable[[Any], Op]  # a workloads.FindOp
    update: Callable[[str, int, dict[str, Any]], Op]
    delete: Callable[[str, int], Op]


def go_on(recorder: Recorder, phase: Phase) -> bool:
    """Whether the run goes on after ``phase``: it completed, and the budget is not spent."""
    return phase.complete and not recorder.budget_exhausted


async def run_crud_phases(recorder: Recorder, plan: Any, ops: CrudOps, *, concurrent: bool) -> Phase:
    """The insert, find, update and delete phases of a ``crud`` plan (a workloads.CrudPlan),
    each only if the one before went on (:func:`go_on`); returns the last phase run."""
    with recorder.phase("insert", len(plan.inserts)) as phase:
        await run_ops(recorder, phase, [ops.insert(t, i) for t, i in plan.inserts], concurrent=concurrent)
    if go_on(recorder, phase):
        with recorder.phase("find", len(plan.finds)) as phase:
            await run_ops(
                recorder,
                phase,
                [ops.find(op) for op in plan.finds],
                concurrent=concurrent,
                check=lambda i, found: len(found) == plan.finds[i].expected,
            )
    if go_on(recorder, phase):
        with recorder.phase("update", len(plan.updates)) as phase:
            await run_ops(recorder, phase, [ops.update(*u) for u in plan.updates], concurrent=concurrent)
    if go_on(recorder, phase):
        with recorder.phase("delete", len(plan.deletes)) as phase:
            await run_ops(recorder, phase, [ops.delete(t, i) for t, i in plan.deletes], concurrent=concurrent)
    return phase


async def record_run(spec: RunSpec, work: Callable[[Recorder], Awaitable[dict[str, Any]]]) -> int:
    """Run a client's workload, reporting its result (or its failure) through a Recorder."""
    recorder = Recorder(spec)
    try:
        extra = await work(recorder)
    except BaseException as error:
        recorder.failure(error)
        recorder.result()
        raise
    else:
        recorder.result(**extra)
    finally:
        recorder.close()
    return 0


def client_main(
    module: str, amain: Callable[[RunSpec], Coroutine[Any, Any, int]], argv: list[str] | None
) -> int:
    """``python -m <module> SPEC.json``: the entry point of a client process."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {module} SPEC.json", file=sys.stderr)
        return 2
    return asyncio.run(amain(RunSpec.load(args[0])))
