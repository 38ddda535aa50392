"""Benchmark s3sync against its peers on the same data, in the same run.

    python benchmarks/run.py [--quick] [--scenarios a,b] [--tools x,y] [--repeat N] [--out FILE]

Starts a local S3 server on a free 127.0.0.1 port, generates the data in a
temp dir, runs every tool on every scenario interleaved (A, B, C, A, B, C, ...)
so drift in machine load hits all tools alike, and prints the median of N
repeats per tool as a markdown table. A tool that fails is recorded as failed
and the run carries on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import report
import s3server
from scenarios import FULL, QUICK, SCENARIOS, Sample, Sizes, Workspace, run_one
from tools import TOOLS, tool_env, versions

BUCKET = "s3sync-bench"
DEFAULT_TIMEOUT_S = 1800.0


def csv_choice(allowed: Mapping[str, object]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(allowed)}")
        return names

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 repeat")
    parser.add_argument("--scenarios", type=csv_choice(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--tools", type=csv_choice(TOOLS), default=list(TOOLS))
    parser.add_argument("--repeat", type=int, help="repeats per tool and scenario (default 3, --quick 1)")
    parser.add_argument("--out", type=Path, help="also write all samples and the table as JSON here")
    parser.add_argument("--server", choices=["seaweedfs", "moto"], default="seaweedfs")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per tool run")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs) for inspection")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(sample: Sample, repeats: int) -> str:
    where = f"[{sample.scenario} {sample.repeat + 1}/{repeats}] {sample.tool}"
    if sample.error:
        return f"{where}: {sample.error}\n    {sample.stderr_tail.strip()[-800:]}"
    rss = (sample.peak_rss_bytes or 0) / report.MIB
    server = sample.server_cpu_s or 0.0
    return f"{where}: {sample.seconds:.2f} s, peak RSS {rss:.0f} MiB, server CPU {server:.1f} s, setup {sample.setup_s:.1f} s, load {sample.load_1m:.1f}"


def safe_run_one(ws: Workspace, scenario: str, tool: str, repeat: int) -> Sample:
    """A crash anywhere in one tool's run is that tool's failure, not the run's."""
    try:
        return run_one(ws, SCENARIOS[scenario], TOOLS[tool], repeat)
    except Exception as exc:  # noqa: BLE001
        return Sample(scenario, tool, repeat, error=f"failed: {type(exc).__name__}", stderr_tail=traceback.format_exc())


def run_all(
    ws: Workspace, scenarios: list[str], tools: list[str], repeats: int, checkpoint: Callable[[list[Sample]], None]
) -> list[Sample]:
    """Run everything; `checkpoint` sees the samples after each run, so an
    interrupted run still leaves its results behind."""
    samples: list[Sample] = []
    for scenario in scenarios:
        failed: set[str] = set()
        for repeat in range(repeats):
            for tool in tools:
                # Repeating a failure only costs time; its first reason is kept.
                if tool in failed:
                    continue
                sample = safe_run_one(ws, scenario, tool, repeat)
                log(describe(sample, repeats))
                samples.append(sample)
                checkpoint(samples)
                if sample.error:
                    failed.add(tool)
    return samples


def render(samples: list[Sample], args: argparse.Namespace) -> str:
    return report.format_table(report.build_rows(samples, args.scenarios, args.tools))


def write_json(path: Path | None, meta: dict[str, object], samples: list[Sample], table: str) -> None:
    if path is None:
        return
    payload = {"meta": meta, "samples": [dataclasses.asdict(s) for s in samples], "table": table}
    path.write_text(json.dumps(payload, indent=2))


def interrupt_on_signals() -> None:
    """Turn SIGTERM (and SIGINT, which a shell ignores for background jobs)
    into KeyboardInterrupt so the `finally` blocks stop the server and the
    running tool and remove the temp dir."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_signals()
    sizes: Sizes = QUICK if args.quick else FULL
    repeats = args.repeat or sizes.repeat
    root = Path(tempfile.mkdtemp(prefix="s3sync-bench-"))
    server = s3server.start(args.server, root / "server")
    try:
        s3server.create_bucket(server.endpoint, BUCKET)
        env = tool_env(dict(os.environ), server.endpoint, root)
        meta: dict[str, object] = {
            "server": server.kind,
            "server_command": server.command,
            "versions": versions(env),
            "sizes": dataclasses.asdict(sizes),
            "repeats": repeats,
            "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_1m_at_start": os.getloadavg()[0],
        }
        log(f"server: {server.kind} at {server.endpoint}; temp dir {root}")
        log(f"versions: {meta['versions']}")
        ws = Workspace(root, server.endpoint, BUCKET, sizes, env, args.timeout, server.proc.pid)

        def checkpoint(samples: list[Sample]) -> None:
            write_json(args.out, meta, samples, render(samples, args))

        samples = run_all(ws, args.scenarios, args.tools, repeats, checkpoint)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(render(samples, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
