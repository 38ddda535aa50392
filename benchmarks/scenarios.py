"""The benchmark scenarios, and how one (scenario, tool, repeat) run is set up,
timed and checked.

Only the tool's own command is timed. Data generation, seeding the remote,
the tool's first sync before a no-op, and the result check are not.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import datagen
from datagen import Dataset, Manifest
from measure import Outcome, run_measured
from s3server import s3_client
from tools import RCLONE_REMOTE, REPO_ROOT, Action, Target, Tool, need

MIB = 1024 * 1024
SEED_TRANSFERS = "32"


@dataclass(frozen=True)
class Sizes:
    small_count: int
    small_bytes: int
    large_bytes: int
    tiny_count: int
    tiny_bytes: int
    repeat: int


FULL = Sizes(small_count=5000, small_bytes=4096, large_bytes=512 * MIB, tiny_count=100_000, tiny_bytes=10, repeat=3)
QUICK = Sizes(small_count=500, small_bytes=4096, large_bytes=64 * MIB, tiny_count=10_000, tiny_bytes=10, repeat=1)


class Setup(enum.Enum):
    FRESH_PUSH = "fresh-push"  # private copy of the data, new empty prefix, new state dir
    FRESH_PULL = "fresh-pull"  # empty local dir, new state dir, prefix pre-seeded for this tool
    SYNCED = "synced"  # like FRESH_PUSH, then the tool's own untimed first sync
    # Like SYNCED, but the pair is seeded once by rclone (the fastest loader)
    # and reused by every repeat: uploading 100k objects per run and tool
    # would dominate the whole benchmark's run time.
    SYNCED_SHARED = "synced-shared"


@dataclass(frozen=True)
class Scenario:
    name: str
    dataset: str  # "small" | "large" | "tiny"
    setup: Setup
    timed: Action
    summary: str
    change_fraction: float = 0.0


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("upload", "small", Setup.FRESH_PUSH, Action.FIRST_PUSH, "initial upload of the small files"),
        Scenario("download", "small", Setup.FRESH_PULL, Action.FIRST_PULL, "initial download into an empty dir"),
        Scenario("noop", "small", Setup.SYNCED, Action.RESYNC, "no-op re-sync, both sides equal"),
        Scenario("change-1pct", "small", Setup.SYNCED, Action.RESYNC, "1% changed locally, re-sync", 0.01),
        Scenario("large-up", "large", Setup.FRESH_PUSH, Action.FIRST_PUSH, "one large file up"),
        Scenario("large-down", "large", Setup.FRESH_PULL, Action.FIRST_PULL, "one large file down"),
        Scenario("noop-tiny", "tiny", Setup.SYNCED_SHARED, Action.RESYNC, "no-op re-sync of the tiny files"),
    ]
}


@dataclass
class Sample:
    scenario: str
    tool: str
    repeat: int
    seconds: float | None = None
    peak_rss_bytes: int | None = None
    setup_s: float = 0.0  # untimed preparation, reported so slow setups are visible
    # Server CPU time during the timed run: near seconds x cores would mean the
    # server, not the tool, set the pace.
    server_cpu_s: float | None = None
    # The machine may be shared: the 1-minute load average before the timed
    # run says how much other work competed with it.
    load_1m: float = 0.0
    error: str | None = None
    stderr_tail: str = ""


class SetupFailed(Exception):
    pass


@dataclass
class Workspace:
    """Paths, data sets and the seeded remotes reused within one benchmark run."""

    root: Path
    endpoint: str
    bucket: str
    sizes: Sizes
    env: dict[str, str]
    timeout_s: float
    server_pid: int
    datasets: dict[str, Dataset] = field(default_factory=dict)
    seeds: dict[tuple[str, str], str] = field(default_factory=dict)
    shared: dict[tuple[str, str], tuple[Target, Manifest]] = field(default_factory=dict)

    def dataset(self, name: str) -> Dataset:
        if name not in self.datasets:
            root = self.root / "data" / name
            s = self.sizes
            if name == "small":
                self.datasets[name] = datagen.make_tree(name, root, s.small_count, s.small_bytes)
            elif name == "tiny":
                self.datasets[name] = datagen.make_tree(name, root, s.tiny_count, s.tiny_bytes)
            else:
                self.datasets[name] = datagen.make_large_file(name, root, s.large_bytes)
        return self.datasets[name]

    def run_dir(self, *parts: str) -> Path:
        path = self.root.joinpath("runs", *parts)
        path.mkdir(parents=True)
        return path

    def target(self, local: Path, prefix: str, state: Path) -> Target:
        return Target(local=local, bucket=self.bucket, prefix=prefix, state=state, endpoint=self.endpoint)

    def seeded_prefix(self, dataset: Dataset, tool: Tool) -> str:
        """A prefix holding `dataset`, uploaded once per seed group and only read
        by the tools: the peers share one, s3sync gets its own."""
        key = (dataset.name, tool.seed_group)
        if key not in self.seeds:
            prefix = f"seed/{dataset.name}/{tool.seed_group}"
            self.seed(dataset.root, prefix)
            self.seeds[key] = prefix
        return self.seeds[key]

    def seeded_local(self, dataset: Dataset, tool: Tool) -> Path:
        """A local copy of `dataset` per seed group, for pairs reused across runs."""
        local = self.root / "seeded" / dataset.name / tool.seed_group
        if not local.exists():
            datagen.copy_tree(dataset, local)
        return local

    def seed(self, local: Path, prefix: str) -> None:
        """Upload with rclone at high parallelism: the fastest loader we have,
        and it records each file's mtime in object metadata, which rclone sync
        and bisync need to see the seeded data as already in sync."""
        cmd = [need("rclone"), "copy", str(local), f"{RCLONE_REMOTE}:{self.bucket}/{prefix}"]
        cmd += ["--transfers", SEED_TRANSFERS, "--checkers", SEED_TRANSFERS]
        outcome = run_measured(cmd, self.env, REPO_ROOT, self.timeout_s)
        if outcome.exit_code != 0:
            raise SetupFailed(f"seeding {prefix} failed: exit {outcome.exit_code}: {outcome.stderr_tail}")

    def remote_manifest(self, prefix: str) -> Manifest:
        start = f"{prefix}/"
        sizes: Manifest = {}
        paginator = s3_client(self.endpoint).get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for obj in page.get("Contents", []):
                sizes[obj["Key"][len(start) :]] = obj["Size"]
        return sizes


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, all threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" closing the command name, utime and stime are fields 12 and 13.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def untimed(ws: Workspace, tool: Tool, action: Action, target: Target) -> None:
    outcome = run_measured(tool.build(action, target), ws.env, REPO_ROOT, ws.timeout_s)
    problem = judge(outcome, tool)
    if problem:
        raise SetupFailed(f"{tool.name} {action.value}: {problem}: {outcome.stderr_tail}")


def synced_pair(ws: Workspace, tool: Tool, dataset: Dataset, local: Path, prefix: str, state: Path) -> Target:
    target = ws.target(datagen.copy_tree(dataset, local), prefix, state)
    untimed(ws, tool, Action.FIRST_PUSH, target)
    return target


def shared_pair(ws: Workspace, scenario: Scenario, tool: Tool, dataset: Dataset) -> tuple[Target, Manifest]:
    """A synced pair built once per tool and reused by every repeat. The local
    copy and the remote are shared by a seed group; a no-op reads them only.
    They already match, so only a tool with its own state (bisync listings,
    s3sync's state dir) needs an untimed first run to build that state."""
    key = (scenario.name, tool.name)
    if key not in ws.shared:
        state = ws.run_dir(scenario.name, tool.name, "state")
        local, prefix = ws.seeded_local(dataset, tool), ws.seeded_prefix(dataset, tool)
        target = ws.target(local, prefix, state)
        if tool.stateful:
            untimed(ws, tool, Action.FIRST_PUSH, target)
        ws.shared[key] = (target, dataset.manifest)
    return ws.shared[key]


def prepare(ws: Workspace, scenario: Scenario, tool: Tool, repeat: int) -> tuple[Target, Manifest]:
    """Build the starting point for one timed run; returns it with the file set
    the tool must leave behind."""
    dataset = ws.dataset(scenario.dataset)
    if scenario.setup is Setup.SYNCED_SHARED:
        return shared_pair(ws, scenario, tool, dataset)
    base = ws.run_dir(scenario.name, tool.name, f"r{repeat}")
    prefix = f"{scenario.name}/{tool.name}/r{repeat}"
    local, state = base / "local", base / "state"
    state.mkdir()
    if scenario.setup is Setup.FRESH_PULL:
        local.mkdir()
        return ws.target(local, ws.seeded_prefix(dataset, tool), state), dataset.manifest
    if scenario.setup is Setup.FRESH_PUSH:
        return ws.target(datagen.copy_tree(dataset, local), prefix, state), dataset.manifest
    target = synced_pair(ws, tool, dataset, local, prefix, state)
    manifest = dataset.manifest
    if scenario.change_fraction:
        manifest = datagen.change_fraction(local, manifest, scenario.change_fraction)
    return target, manifest


def judge(outcome: Outcome, tool: Tool) -> str | None:
    """None if the run succeeded, else the short reason shown in the table."""
    if outcome.timed_out:
        return "failed: timeout"
    if outcome.exit_code != 0:
        return f"failed: exit {outcome.exit_code}"
    if tool.json_summary and not is_json_object(outcome.stdout):
        return "failed: no JSON summary"
    return None


def is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def check_result(ws: Workspace, action: Action, target: Target, expected: Manifest) -> str | None:
    """A fast run that didn't do the job must not count: the side that was
    written to must hold every expected file at the expected size. Extra files
    are allowed (a tool may keep its own markers there)."""
    if action is Action.FIRST_PULL:
        actual = datagen.local_manifest(target.local)
    else:
        actual = ws.remote_manifest(target.prefix)
    wrong = sum(1 for rel, size in expected.items() if actual.get(rel) != size)
    return f"failed: {wrong} of {len(expected)} files missing or wrong" if wrong else None


def run_one(ws: Workspace, scenario: Scenario, tool: Tool, repeat: int) -> Sample:
    sample = Sample(scenario.name, tool.name, repeat)
    started = time.perf_counter()
    try:
        target, expected = prepare(ws, scenario, tool, repeat)
    except SetupFailed as exc:
        sample.error, sample.stderr_tail = "failed: setup", str(exc)
        return sample
    finally:
        sample.setup_s = time.perf_counter() - started
    sample.load_1m = os.getloadavg()[0]
    cpu_before = process_cpu_s(ws.server_pid)
    outcome = run_measured(tool.build(scenario.timed, target), ws.env, REPO_ROOT, ws.timeout_s)
    sample.server_cpu_s = process_cpu_s(ws.server_pid) - cpu_before
    sample.seconds, sample.peak_rss_bytes = outcome.seconds, outcome.peak_rss_bytes
    sample.stderr_tail = outcome.stderr_tail
    sample.error = judge(outcome, tool) or check_result(ws, scenario.timed, target, expected)
    if scenario.setup is not Setup.SYNCED_SHARED:
        # Free the disk now: large-file runs would otherwise pile up GiBs.
        shutil.rmtree(target.local.parent, ignore_errors=True)
    return sample
