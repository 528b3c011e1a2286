"""``python -m benchmarks``: run the benchmarks and print, store and publish the figures.

Examples::

    python -m benchmarks                          # everything (installs the peers on first use)
    python -m benchmarks --write-docs             # ... and regenerate docs/benchmarks.md (make bench)
    python -m benchmarks --no-baseline --workloads crud --scale 0.1   # ours only
    python -m benchmarks --peers discordbase      # ours and DiscordBase 0.1.0 only
    python -m benchmarks --rate-limits off        # request counts without Discord's limits, quickly
    python -m benchmarks --scale-records 100000,1000000  # the scale benchmark at both sizes (make bench)
    python -m benchmarks --from-json benchmarks/results/benchmarks.json --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rich.console import Console

from benchmarks.baseline_env import PEERS
from benchmarks.report import print_report, write_docs, write_json
from benchmarks.runner import ROOT, Options, refresh, run_benchmarks
from benchmarks.workloads import AVAILABLE, CRUD_STYLES, WORKLOADS, Sizes

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "benchmarks.json"


def record_counts(text: str) -> tuple[int, ...]:
    """``--scale-records``: comma-separated record counts; 0 (or nothing) runs none."""
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of record counts: {text!r}") from None
    if any(count < 0 for count in counts):
        raise argparse.ArgumentTypeError(f"record counts cannot be negative: {text!r}")
    return tuple(count for count in counts if count > 0)


DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {unknown or text!r}; choose from {', '.join(known)}"
        )
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--workloads",
        type=lambda t: _names(t, WORKLOADS, "workload"),
        default=WORKLOADS,
        help=f"comma-separated, from {', '.join(WORKLOADS)} (default: all"
        + "".join(f"; {w}: {r}" for w, r in AVAILABLE.items() if r)
        + ")",
    )
    p.add_argument(
        "--styles",
        type=lambda t: _names(t, CRUD_STYLES, "style"),
        default=CRUD_STYLES,
        help="crud styles for ours: sequential,concurrent (default: both; 1.0.0 is always sequential)",
    )
    p.add_argument(
        "--sizes",
        default="",
        help="NAME=INT,... overriding the defaults "
        + ", ".join(f"{k}={v}" for k, v in Sizes().to_json().items()),
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply every default size first (e.g. 0.1)")
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the peers from the package index (default: yes; --no-baseline: ours only)",
    )
    p.add_argument(
        "--peers",
        type=lambda t: _names(t, tuple(PEERS), "peer"),
        default=tuple(PEERS),
        help="comma-separated peers to run, from "
        + ", ".join(f"{name} ({env.title})" for name, env in PEERS.items())
        + " (default: all)",
    )
    p.add_argument(
        "--baseline-scale",
        type=float,
        default=None,
        help="size factor of the peers' crud (default: 0.05 with --rate-limits discord, 1 with off); "
        "ours also runs at these sizes for a like-for-like ratio",
    )
    p.add_argument("--rate-limits", choices=("discord", "off"), default="discord")
    p.add_argument(
        "--budget", type=float, default=300.0, help="seconds each peer may spend per workload (default 300)"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="hard limit on one run of ours, in seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-channels", type=int, default=1, help="data_channels of our Database (default 1)")
    p.add_argument(
        "--scale-records",
        type=record_counts,
        default=(100_000,),
        help="records of the scale benchmark of one table, run after the workloads, one run per "
        "size (default 100000; make bench runs 100000,1000000, the issue's sizes; 0 skips it)",
    )
    p.add_argument("--latency-samples", type=int, default=1000, help="warm finds timed for p50/p99")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"where to write the figures (default {DEFAULT_JSON.relative_to(ROOT)}; "
        "with --from-json, only when given)",
    )
    p.add_argument("--write-docs", action="store_true", help="regenerate docs/benchmarks.md")
    p.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help=argparse.SUPPRESS)
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results", help=argparse.SUPPRESS)
    p.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="re-render a stored report (recomputing the ideal and the ratios) instead of measuring",
    )
    return p


def options_from(args: argparse.Namespace, argv: list[str]) -> Options:
    base = Sizes().scaled(args.scale) if args.scale != 1 else Sizes()
    return Options(
        workloads=args.workloads,
        styles=args.styles,
        sizes=Sizes.parse(args.sizes, base),
        seed=args.seed,
        baseline=args.baseline,
        peers=args.peers,
        baseline_scale=args.baseline_scale,
        rate_limits=args.rate_limits,
        budget=args.budget,
        timeout=args.timeout,
        data_channels=args.data_channels,
        latency_samples=args.latency_samples,
        scale_records=args.scale_records,
        results=args.results,
        command=" ".join(["python -m benchmarks", *argv]),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    console = Console()
    if args.from_json is not None:
        report = refresh(json.loads(args.from_json.read_text(encoding="utf-8")))
        if args.json is not None:
            write_json(report, args.json)
    else:
        try:
            options = options_from(args, argv)
        except ValueError as error:
            parser().error(str(error))
        report = asyncio.run(run_benchmarks(options, console))
        write_json(report, args.json or DEFAULT_JSON)
        console.print(f"figures written to {args.json or DEFAULT_JSON}")
    print_report(report, console)
    if args.write_docs:
        write_docs(report, args.docs)
        console.print(f"{args.docs} regenerated")
    failed = [run["key"] for run in report["runs"] if run["library"] == "ours" and run.get("error")]
    if failed:
        console.print(f"[red]runs of ours failed: {', '.join(failed)}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
