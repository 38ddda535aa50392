"""The real ``s3sync`` CLI in a child process, without paying the interpreter start-up.

A multiprocessing fork server imports s3sync once; each run is a fork of it that sets
its environment, working folder, argv and stdout/stderr files and calls the CLI's own
entry point, so the child is exactly ``python -m s3sync ARGS`` from its first line of
s3sync on: its own process (kill -9 works), its exit code, its output. The fork server
has no threads, so forking it is safe (unlike forking pytest with the proxy's thread).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path

_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tests.reliability.runner", "s3sync.cli", "s3sync.api"])
    return _context


def _child(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    from s3sync.cli import run

    code = run(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


@dataclass
class Child:
    process: multiprocessing.process.BaseProcess
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        pid = self.process.pid
        assert pid is not None
        return pid

    def wait(self, timeout: float) -> tuple[int, str, str]:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(10)
            raise AssertionError(f"s3sync did not finish within {timeout} s")
        return (
            int(self.process.exitcode),
            self.out.read_text("utf-8", "replace"),
            self.err.read_text("utf-8", "replace"),
        )


def start(argv: list[str], env: dict[str, str], cwd: Path, logs: Path) -> Child:
    """Start ``s3sync ARGV``; ``logs`` is a folder for its stdout and stderr files."""
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("*.out")))
    out, err = logs / f"{n:04}.out", logs / f"{n:04}.err"
    process = context().Process(target=_child, args=(argv, env, str(cwd), str(out), str(err)))
    process.start()
    return Child(process, out, err)
