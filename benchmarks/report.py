"""The report: a rich table on the terminal, a JSON file and ``docs/benchmarks.md``.

Everything is rendered from the JSON-able report :func:`benchmarks.runner.run_benchmarks`
returns, so ``python -m benchmarks --from-json FILE --write-docs`` re-renders a
stored run without measuring again. Only this runner's section of
``docs/benchmarks.md`` is rewritten (between :data:`BLOCK_BEGIN` and
:data:`BLOCK_END`); inside it, the text between ``<!-- analysis:begin -->``
and ``<!-- analysis:end -->`` is written by people and kept as it is.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.baseline_env import PEERS
from benchmarks.scale_report import scale_markdown, scale_runs, scale_targets

__all__ = [
    "ANALYSIS_BEGIN",
    "ANALYSIS_END",
    "BLOCK_BEGIN",
    "BLOCK_END",
    "headline_chart",
    "markdown",
    "print_report",
    "write_docs",
    "write_json",
]

#: The section of ``docs/benchmarks.md`` this runner owns lies between these markers.
BLOCK_BEGIN = "<!-- python -m benchmarks: generated section begins -->"
BLOCK_END = "<!-- python -m benchmarks: generated section ends -->"
#: Heading the section goes under on a page that has no markers yet.
SECTION_HEADING = "## discobase against discobase 1.0.0"
ANALYSIS_BEGIN = "<!-- analysis:begin -->"
ANALYSIS_END = "<!-- analysis:end -->"
_NO_ANALYSIS = "_No analysis written for these figures yet._"


# ---------------------------------------------------------------------------------------------
# formatting


def num(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number for a table cell; ``—`` when there is none."""
    if value is None:
        return "—"
    if isinstance(value, float) and value != value:  # NaN
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 or digits == 0 else f"{value:,.{digits}f}"
    return text + unit


def times(value: float | None) -> str:
    """A ratio such as ``23.4x``."""
    if value is None:
        return "—"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def trips(count: int) -> str:
    return f"{count} round trip" + ("" if count == 1 else "s")


def met(target: dict[str, Any]) -> str:
    if target.get("met") is None:
        return "n/a"
    return "met" if target["met"] else "MISSED"


def _state(run: dict[str, Any]) -> str:
    if run.get("error"):
        state = "error"
    elif run.get("budget_exhausted"):
        state = "budget ran out"
    elif run.get("killed"):
        state = "killed"
    else:
        state = "ok" if run.get("complete") else "incomplete"
    if run.get("errors"):
        state += f", {run['errors']} failed ops"
    return state


def peer_name(library: str) -> str:
    """How tables and charts name a library: ``ours``, ``1.0.0``, ``DiscordBase 0.1.0``."""
    if library in ("ours", "1.0.0") or library not in PEERS:
        return library
    return PEERS[library].title


def _label(run: dict[str, Any]) -> str:
    library = peer_name(run["library"])
    scale = f" (sizes x{run['scale']:g})" if run["scale"] != 1 else ""
    return f"{run['workload']} · {run['style']} · {library}{scale}"


def _rate(run: dict[str, Any]) -> float | None:
    rate: float | None = (
        run["records_per_second"] if run["workload"] in ("bulk", "logs") else run["ops_per_second"]
    )
    return rate


def _latency(run: dict[str, Any]) -> str:
    if run.get("find_p50_us") is None:
        return "—"
    return f"{num(run['find_p50_us'])} / {num(run['find_p99_us'])}"


def _ideal_cells(run: dict[str, Any]) -> tuple[str, str, str]:
    ideal = run.get("ideal")
    if not ideal:
        return "—", "—", "—"
    ratio = run["seconds"] / ideal["seconds"] if ideal["seconds"] > 0 and run.get("complete") else None
    return num(ideal["seconds"], 3), num(ideal["requests"], 0), times(ratio)


RUN_COLUMNS = (
    "run",
    "ops done",
    "wall s",
    "ops/s",
    "requests",
    "req/op",
    "429s",
    "peak RSS MiB",
    "find p50/p99 µs",
    "correct",
    "set-up s (req)",
    "ideal s",
    "ideal req",
    "x ideal",
    "state",
)


def run_row(run: dict[str, Any]) -> list[str]:
    ideal_s, ideal_req, ideal_x = _ideal_cells(run)
    correct = f"{run['correct']}/{run['checked']}" if run.get("checked") else "—"
    return [
        _label(run),
        f"{run['ops']:,}/{run['planned_ops']:,}",
        num(run["seconds"], 2),
        num(_rate(run)),
        num(run["requests"], 0),
        num(run["requests_per_op"], 2),
        str(run["status_429"]),
        num(run["peak_rss_mib"]),
        _latency(run),
        correct,
        f"{num(run['setup_seconds'], 2)} ({run['setup_requests']})",
        ideal_s,
        ideal_req,
        ideal_x,
        _state(run),
    ]


def comparison_rows(report: dict[str, Any]) -> list[list[str]]:
    by_key = {run["key"]: run for run in report["runs"]}
    rows = []
    for comp in report["comparisons"]:
        ours = _label(by_key[comp["ours"]])
        if comp["kind"] == "vs peer":
            rows.append(
                [
                    f"{ours} vs {_label(by_key[comp['other']])}",
                    f"{times(comp['fewer_requests'])} fewer requests",
                    f"{times(comp['less_time'])} less time",
                    comp["basis"],
                ]
            )
        else:
            rows.append(
                [
                    f"{ours} vs the ideal",
                    f"{times(comp['requests_x'])} the requests",
                    f"{times(comp['time_x'])} the time",
                    comp["basis"],
                ]
            )
    return rows


def headline_chart(report: dict[str, Any]) -> list[str]:
    """The headline comparisons with the peers as a bar chart the docs site draws
    (a mermaid ``xychart-beta``): one bar per comparison (workload, style and
    peer), how many times fewer requests (bars) and how many times less time
    (line), on a log10 axis (the ratios span 1 to 100,000s; below 1, where the
    peer was ahead, a ratio shows as 0).

    One bar per comparison rather than one series per peer: mermaid draws a
    second ``bar`` series over the first, without a legend.
    """
    by_key = {run["key"]: run for run in report["runs"]}
    bars = [
        (
            f"{by_key[c['ours']]['workload']} {by_key[c['ours']]['style']} vs {_short(c['peer'])}",
            c["fewer_requests"],
            c["less_time"],
        )
        for c in report["comparisons"]
        if c["kind"] == "vs peer" and c.get("fewer_requests") and c.get("less_time")
    ]
    if not bars:
        return []

    def logs(values: list[float]) -> str:
        return ", ".join(f"{math.log10(max(value, 1.0)):.2f}" for value in values)

    top = math.ceil(max(math.log10(max(v, 1.0)) for _, r, t in bars for v in (r, t))) or 1
    return [
        "```mermaid",
        "xychart-beta",
        '    title "discobase 2 against its peers: log10 of times fewer (bars: requests, line: time)"',
        "    x-axis [" + ", ".join(f'"{label}"' for label, _, _ in bars) + "]",
        f'    y-axis "log10(times fewer)" 0 --> {top}',
        f"    bar [{logs([r for _, r, _ in bars])}]",
        f"    line [{logs([t for _, _, t in bars])}]",
        "```",
        "",
    ]


def _short(library: str) -> str:
    """A peer's name on the chart's axis (``1.0.0``, ``DiscordBase``)."""
    return peer_name(library).split(" ")[0] if library in PEERS and library != "1.0.0" else library


def target_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for target in report["targets"]:
        if target.get("unit") == "x":
            value = times(target["value"])
        elif target.get("unit"):
            value = num(target["value"], 0, " " + target["unit"])
        else:
            value = target.get("note") or "—"
        rows.append([target["target"], value, met(target)])
    return rows


def _header(report: dict[str, Any]) -> list[str]:
    machine = report["machine"]
    options = report["options"]
    versions = report["versions"]
    peers = versions.get("peers")
    if peers is None:  # a report from before DiscordBase was a peer: 1.0.0 was the only one
        old = {"transport": "discord.py", "transport_version": versions.get("baseline_discord_py")}
        peers = {"1.0.0": old} if options.get("baseline") else {}
    against = " and ".join(
        f"{peer_name(library)} ({peer['transport']} {peer.get('transport_version') or '—'})"
        for library, peer in peers.items()
    )
    return [
        f"Command: {report['command']}",
        f"Date: {report['date']}",
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB RAM, "
        f"{machine['platform']}, Python {machine['python']}",
        f"Server: one LocalDiscord, rate limits '{options['rate_limits']}', "
        f"round trip {report['rtt_seconds'] * 1000:.2f} ms; discobase {report['versions']['ours']}"
        + (f" (git {report['versions']['ours_git']})" if report["versions"].get("ours_git") else "")
        + (f" vs {against}" if against else " alone (no peers)"),
    ]


# ---------------------------------------------------------------------------------------------
# terminal


def print_report(report: dict[str, Any], console: Console) -> None:
    """The tables on the terminal."""
    console.rule("[bold]benchmarks")
    for line in _header(report):
        console.print(line, highlight=False)
    # Two tables of half the columns each, so that they fit a terminal.
    rows = [run_row(run) for run in report["runs"]]
    split = RUN_COLUMNS.index("peak RSS MiB") + 1
    titles = (
        "runs: the workload's wall time, requests and ops/s (set-up excluded)",
        "runs: latency, correctness, set-up and the ideal",
    )
    for title, columns in zip(titles, (range(split), (0, *range(split, len(RUN_COLUMNS)))), strict=True):
        table = Table(title=title)
        for index in columns:
            table.add_column(RUN_COLUMNS[index], overflow="fold")
        for row in rows:
            table.add_row(*(row[index] for index in columns))
        console.print(table)
    headline = Table(title="headline: ratios")
    for column in ("comparison", "requests", "time", "basis"):
        headline.add_column(column, overflow="fold")
    for row in comparison_rows(report):
        headline.add_row(*row)
    console.print(headline)
    targets = Table(title="the issue's targets")
    for column in ("target", "value", ""):
        targets.add_column(column)
    for row in target_rows(report):
        style = "red" if row[2] == "MISSED" else "green" if row[2] == "met" else "dim"
        targets.add_row(*row, style=style)
    console.print(targets)
    for scale in scale_runs(report.get("scale")):
        if scale.get("error"):
            console.print(f"[red]scale benchmark at {scale['records']:,} records failed: {scale['error']}[/]")
            continue
        table = Table(title=f"one table at scale ({scale['records']:,} records): the issue's goals")
        for column in ("goal", "value", ""):
            table.add_column(column)
        for target in scale_targets(scale):
            value = (
                times(target["value"])
                if target["unit"] == "x"
                else num(target["value"], 1, " " + target["unit"])
            )
            state = met(target)
            table.add_row(
                target["target"],
                value,
                state,
                style="red" if state == "MISSED" else "green" if state == "met" else "dim",
            )
        console.print(table)
    for workload, reason in report.get("unavailable", {}).items():
        console.print(f"[yellow]{workload}[/]: {reason}")


# ---------------------------------------------------------------------------------------------
# JSON and markdown


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _md_table(columns: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _phase_table(run: dict[str, Any]) -> str:
    rows = []
    for phase in run["phases"]:
        requests = {k: v for k, v in phase.get("requests", {}).items() if not k.startswith("GATEWAY")}
        routes = ", ".join(f"{k} x{v}" for k, v in requests.items()) or "none"
        ops = f"{phase.get('done', 0)}/{phase.get('planned', 0)}" if phase.get("planned") else "—"
        state = "" if phase.get("complete") else " (incomplete)"
        errors = f" — {phase['error_count']} errors, e.g. {phase['errors'][0]}" if phase.get("errors") else ""
        rows.append(
            [phase["name"] + state, phase.get("part", ""), ops, num(phase["seconds"], 3), routes + errors]
        )
    return _md_table(["phase", "part", "ops", "seconds", "requests per route"], rows)


def existing_analysis(path: Path) -> str:
    """The hand-written analysis of ``path`` (kept when the page is regenerated)."""
    if not path.exists():
        return _NO_ANALYSIS
    text = path.read_text(encoding="utf-8")
    match = re.search(re.escape(ANALYSIS_BEGIN) + r"\n(.*?)\n?" + re.escape(ANALYSIS_END), text, re.S)
    return match.group(1).strip() if match else _NO_ANALYSIS


METHOD = """\
- **One server, one client at a time.** The runner starts one `LocalDiscord`
  (127.0.0.1, a free port, `allow_guild_create=True`) and runs each client in
  a subprocess of its own, with a bot of its own. Request counts per route are
  the server's counters, read by the client before and after each phase
  (`GET /_local/stats`); 429s are counted in the server process; the peak RSS
  is the client process's own (`VmHWM` in `/proc`; not `ru_maxrss`, which on
  Linux starts from the parent's peak at `fork`).
- **discobase 1.0.0** is installed from PyPI into `benchmarks/.baseline-venv`
  and runs unmodified: a launcher sets `discord.http.Route.BASE` and
  `DiscordWebSocket.DEFAULT_GATEWAY` to the local server before importing it.
  It runs **sequentially** only: issued concurrently, its saves race on its
  index resize and fail with `DatabaseCorruptionError` (6 of 10 concurrent
  saves in a probe). With Discord's limits its `crud` is **scaled down**
  (`--baseline-scale`, 0.05 by default) because a save costs it about 12
  requests on 5-per-5-s buckets (and 40-70 when an index doubles); ours runs
  at the same reduced sizes too, so that the ratios compare the same
  workload. It gets a **time budget** per workload (`--budget`); what it did
  not finish in it is reported as such, and then the comparison is per
  operation over the phases it reached — never extrapolated.
- **DiscordBase 0.1.0** is installed from the package index into
  `benchmarks/.discordbase-venv` and runs unmodified, REST-only over `httpx`:
  its `DiscordRESTClient(token, api_base=...)` points it at the local server,
  and it is given a guild the runner made (bots cannot create guilds). One
  message per row; a row needs a primary key, so each record carries an `id`
  (its table and index). Every `insert`, `patch`, `delete` and `find` first
  reads the table's whole channel, 100 messages per request, so an operation
  costs one history read per 100 rows plus its write. Same scale and budget
  as 1.0.0. `crud` runs in both styles (each style of ours is compared with
  the same style of DiscordBase); `bulk` is one insert after another until
  the budget runs out, because its client retries a 429 five times and then
  raises (of 100 inserts issued together, 75 failed in a probe); it has no
  log table, so it has no `logs` run.
- `--peers` picks the peers (`1.0.0`, `discordbase`; both by default);
  `--no-baseline` runs ours alone.
- **Workloads** (fixed seed): `crud` — two tables, user (name, email, age)
  and post (author, title, body): inserts, equality finds, updates, deletes,
  a close, a cold reopen (a new `Database` object) and finds; `sequential`
  awaits each operation before the next, `concurrent` issues each phase's
  operations together. `bulk` — inserts issued concurrently. `logs` (ours
  only) — loguru `INFO` calls through the `_logs` sink, timed until every
  record is stored, then checked (all there, in order). Wall time,
  requests and ops/s are the workload's; the first connect (login, creating
  the tables) is reported as set-up. Warm `find` p50/p99 is measured after the
  workload, over single finds timed with `perf_counter_ns`.
- **The ideal** is the least time Discord's limits allow for the workload with
  the best packing: writes packed up to 25 MiB per message (one request per
  table per concurrent phase, one per operation in the sequential style, a
  `DELETE` for a record alone in its message), reads of known records free,
  a cold reopen of three round trips, one channel per table. Its requests are
  scheduled as early as the server's own rate limiter allows (the numbers of
  `DISCORD_ROUTES`, from the shared reference: message create/edit 5 per 5 s
  per channel, history 5 per 5 s, 50 per second globally, …) on a simulated
  clock, plus one measured round trip per step that sends requests (see
  `benchmarks/ideal.py`).
- Times are measured, never asserted; `tests/test_benchmarks.py` checks the
  request counts of a short `crud` (they are deterministic) and the ideal's
  arithmetic.
"""


def _peers_run(options: dict[str, Any]) -> list[str]:
    """The peers a report's run included (older reports name only ``baseline``)."""
    if "peers" in options:
        return list(options["peers"])
    return ["1.0.0"] if options.get("baseline") else []


def markdown(report: dict[str, Any], analysis: str = _NO_ANALYSIS) -> str:
    """The generated section of ``docs/benchmarks.md`` for ``report`` (with its markers)."""
    options = report["options"]
    header = _header(report)
    parts = [
        BLOCK_BEGIN,
        "",
        "discobase against its peers (discobase 1.0.0 and DiscordBase 0.1.0) and against Discord's",
        "rate limits, on the local Discord-compatible server. **This section is generated** by",
        "`make bench` (`python -m",
        "benchmarks --write-docs`); only its *Analysis* is written by hand (it is kept when the",
        "section is regenerated). The ratios are the headline, not the absolute times.",
        "",
        "### How to run",
        "",
        "```bash",
        "make bench                              # everything; installs the peers on first use",
        "python -m benchmarks --no-baseline      # ours only",
        "python -m benchmarks --peers discordbase  # ours and DiscordBase 0.1.0 only (or --peers 1.0.0)",
        "python -m benchmarks --rate-limits off  # request counts without Discord's limits, quickly",
        "python -m benchmarks --workloads crud --scale 0.1 --no-baseline",
        "python -m benchmarks --scale-records 1000000  # one table at 1M records only (100k by default)",
        "python -m benchmarks --help",
        "```",
        "",
        "### This run",
        "",
        *[
            f"- {line.replace('Command: ', 'Command: `', 1) + '`' if line.startswith('Command') else line}"
            for line in header
        ],
        f"- Sizes: {', '.join(f'{k}={v:,}' for k, v in options['sizes'].items())}; seed {options['seed']}; "
        f"peers ({', '.join(peer_name(p) for p in _peers_run(options)) or 'none'}): `crud` scale "
        f"{options['baseline_scale']:g}, budget {options['budget']:g} s per workload; "
        f"`data_channels={options['data_channels']}`",
        "",
        "### Headline",
        "",
        _md_table(["comparison", "requests", "time", "basis"], comparison_rows(report)),
        "",
        *headline_chart(report),
        "### The issue's targets",
        "",
        _md_table(["target", "value", "status"], target_rows(report)),
        "",
        *scale_markdown(report.get("scale")),
    ]
    for workload, reason in report.get("unavailable", {}).items():
        parts += [f"`{workload}`: {reason}. It is listed, not run, and has no figures.", ""]
    parts += [
        "### Analysis",
        "",
        ANALYSIS_BEGIN,
        analysis,
        ANALYSIS_END,
        "",
        "### Runs",
        "",
        "Wall time, requests and ops/s cover the workload (set-up excluded; for `bulk` and `logs`,",
        "ops/s is the rate records were stored at). *correct* counts finds that returned the expected",
        "records (`bulk`: the table holds every acknowledged insert; `logs`: `_logs` holds every",
        "record, in order). *x ideal* is wall time over the ideal's time.",
        "",
        _md_table(list(RUN_COLUMNS), [run_row(run) for run in report["runs"]]),
        "",
    ]
    for run in report["runs"]:
        note = f" — {run['note']}" if run.get("note") else ""
        parts += [f"#### {_label(run)}{note}", ""]
        if run.get("error"):
            parts += [f"Error: `{run['error']}`", ""]
        parts += [_phase_table(run), ""]
        ideal = run.get("ideal")
        if ideal:
            routes = ", ".join(f"{k} x{v}" for k, v in ideal["per_route"].items())
            count = ideal["requests"]
            parts += [
                f"Ideal: {count:,} request{'' if count == 1 else 's'} ({routes}); "
                f"{ideal['limit_seconds']:.3f} s of rate-limit waits + {trips(ideal['rounds'])} "
                f"→ {ideal['seconds']:.3f} s.",
                "",
            ]
    parts += ["### How it is measured", "", METHOD, BLOCK_END]
    return "\n".join(parts)


def write_docs(report: dict[str, Any], path: Path) -> None:
    """Regenerate this runner's section of ``path`` from ``report``.

    Only the text between :data:`BLOCK_BEGIN` and :data:`BLOCK_END` is
    replaced (keeping its hand-written analysis); the rest of the page (other
    benchmarks' figures, written by people) is left as it is. Without the
    markers the section goes under the heading :data:`SECTION_HEADING` (added
    at the end of the page when it is missing).
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = markdown(report, existing_analysis(path))
    begin, end = text.find(BLOCK_BEGIN), text.find(BLOCK_END)
    if begin != -1 and end > begin:
        text = text[:begin] + block + text[end + len(BLOCK_END) :]
    else:
        if SECTION_HEADING not in text:
            text = text.rstrip("\n") + f"\n\n{SECTION_HEADING}\n"
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
