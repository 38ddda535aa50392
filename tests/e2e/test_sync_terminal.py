"""On a terminal, `s3sync sync` shows progress, warnings and a summary, not a line per
file; `-v` and JSON logs keep one event per action (issue 13, defect 2)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import Pair, make_pair
from tests.s3server import S3Server

FILES = 60  # past the progress display's threshold of 50


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    made = make_pair(cli, s3server.client(), bucket, tmp_path)
    for i in range(FILES):
        made.write(f"f{i:02}.txt", b"x")
    return made


def on_a_terminal(pair: Pair, *extra: str) -> tuple[int, str, str]:
    """Run a sync with stderr on a pseudo-terminal; (exit code, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "s3sync", *pair.args(*extra)], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=slave, cwd=pair.cli.cwd, env=pair.cli.env(),
    )
    os.close(slave)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), shown.decode("utf-8", "replace")


def test_a_terminal_shows_no_line_per_file(pair: Pair) -> None:
    code, out, shown = on_a_terminal(pair)
    assert code == 0, shown
    assert "object_uploaded" not in shown
    assert f"{FILES} uploaded" in out
    pair.put("new.txt", b"n")
    pair.path("f00.txt").unlink()
    code, out, shown = on_a_terminal(pair)
    assert code == 0, shown
    assert "file_downloaded" not in shown
    assert "object_deleted" not in shown
    assert "1 downloaded" in out
    assert "1 deleted remotely" in out


def test_verbose_shows_each_file_on_a_terminal(pair: Pair) -> None:
    code, _, shown = on_a_terminal(pair, "-v")
    assert code == 0, shown
    assert shown.count("object_uploaded") == FILES


def test_json_logs_keep_one_event_per_action(pair: Pair) -> None:
    result = pair.sync("--log-format", "json")
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    uploads = [e for e in events if e["event"] == "object_uploaded"]
    assert len(uploads) == FILES
    assert {e["level"] for e in uploads} == {"info"}
    assert all({"pair", "rel", "key", "action", "bytes"} <= e.keys() for e in uploads)
