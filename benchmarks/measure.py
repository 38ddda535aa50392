"""Run one command and measure its wall time and peak resident set size."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class Outcome:
    seconds: float
    exit_code: int  # negative: killed by that signal
    peak_rss_bytes: int
    stdout: str
    stderr_tail: str
    timed_out: bool


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path, timeout_s: float) -> Outcome:
    """Wall time from spawn to exit, and the peak RSS the kernel reports for the
    child (and any of its own children) through wait4, the same figure as
    /usr/bin/time -v's "Maximum resident set size", without the extra process.
    Output goes to files, not pipes, so a chatty tool can never block on a full
    pipe while we sit in wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): the tool runs in its own session,
            # so it would outlive us and keep hitting a server about to stop.
            os.killpg(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        # wait4 reaped the child behind Popen's back; tell Popen so it won't retry.
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        return Outcome(
            seconds=seconds,
            exit_code=proc.returncode,
            peak_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
            stdout=out.read().decode(errors="replace"),
            stderr_tail=stderr[-STDERR_TAIL_CHARS:],
            timed_out=timed_out.is_set(),
        )
