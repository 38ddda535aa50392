"""Turn the samples into the results table (markdown, so it pastes into the README)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scenarios import Sample

BISYNC = "rclone-bisync"
BARE = "bare"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    scenario: str
    tool: str
    median_s: float | None
    error: str | None
    peak_rss_bytes: int | None
    runs: int


def summarise(samples: list[Sample], scenario: str, tool: str) -> Row | None:
    mine = [s for s in samples if s.scenario == scenario and s.tool == tool]
    if not mine:
        return None
    # One failed repeat fails the row: a tool that only sometimes syncs
    # correctly has no meaningful speed.
    error = next((s.error for s in mine if s.error), None)
    times = [s.seconds for s in mine if s.seconds is not None]
    rss = [s.peak_rss_bytes for s in mine if s.peak_rss_bytes is not None]
    return Row(
        scenario=scenario,
        tool=tool,
        median_s=None if error or not times else statistics.median(times),
        error=error,
        peak_rss_bytes=max(rss) if rss else None,
        runs=len(mine),
    )


def build_rows(samples: list[Sample], scenarios: list[str], tools: list[str]) -> list[Row]:
    rows = (summarise(samples, scenario, tool) for scenario in scenarios for tool in tools)
    return [row for row in rows if row is not None]


def ratio(row: Row, rows: list[Row], reference: str) -> str:
    ref = next((r for r in rows if r.scenario == row.scenario and r.tool == reference), None)
    if row.median_s is None or ref is None or not ref.median_s:
        return "-"
    return f"{row.median_s / ref.median_s:.2f}"


def format_table(rows: list[Row]) -> str:
    header = "| scenario | tool | median s | / rclone bisync | / bare loop | peak RSS MiB | runs |"
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        seconds = row.error or f"{row.median_s:.2f}"
        rss = f"{row.peak_rss_bytes / MIB:.0f}" if row.peak_rss_bytes else "-"
        cells = [row.scenario, row.tool, seconds, ratio(row, rows, BISYNC), ratio(row, rows, BARE), rss, str(row.runs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
