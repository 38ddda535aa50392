"""Shared helpers for the `s3sync sync` end-to-end tests (tests/e2e/test_sync_*.py).

A ``Pair`` is one local folder, one ``s3://bucket/prefix`` on the session's real S3
server, and a state dir; ``sync`` runs the real CLI in a subprocess. The helpers
read and edit both sides directly (files on disk, boto3 on the server) so a test can
prove what a run did and did not change.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Cli, Result

TRASH = ".s3sync-trash"
STAMP = r"\d{8}-\d{6}"
SUMMARY_KEYS = {
    "upload", "download", "delete_local", "delete_remote", "conflict", "skipped", "failed",
    "bytes_up", "bytes_down", "seconds", "failures",
}
COUNT_KEYS = ("upload", "download", "delete_local", "delete_remote", "conflict", "failed")


@dataclass
class Pair:
    cli: Cli
    s3: Any  # a boto3 S3 client on the same server
    bucket: str
    prefix: str  # "" or ending in "/"
    root: Path
    state: Path

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def args(self, *extra: str) -> list[str]:
        return ["sync", str(self.root), self.url, "--state-dir", str(self.state), *extra]

    def sync(self, *extra: str, expect: int | None = 0, timeout: float = 120) -> Result:
        result = self.cli(*self.args(*extra), timeout=timeout)
        if expect is not None:
            assert result.code == expect, (
                f"exit {result.code}, wanted {expect}\nstdout:\n{result.out}\nstderr:\n{result.err}"
            )
        return result

    def sync_json(self, *extra: str, expect: int | None = 0, timeout: float = 120) -> dict[str, Any]:
        result = self.sync("--json", *extra, expect=expect, timeout=timeout)
        return summary_of(result)

    # -- the remote side -----------------------------------------------------

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def put(self, rel: str, data: bytes, **kwargs: Any) -> str:
        response = self.s3.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data, **kwargs)
        return str(response["ETag"]).strip('"')

    def get(self, rel: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=self.key(rel))["Body"].read()
        return body

    def delete(self, rel: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.key(rel))

    def listing(self) -> dict[str, dict[str, Any]]:
        """Every key under the prefix (prefix removed) -> its listing entry."""
        found: dict[str, dict[str, Any]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for obj in page.get("Contents", ()):
                found[obj["Key"][len(self.prefix):]] = obj
        return found

    def remote(self) -> dict[str, bytes]:
        return {rel: self.get(rel) for rel in self.listing()}

    def remote_count(self) -> int:
        return len(self.listing())

    def remote_snapshot(self) -> dict[str, tuple[bytes, str, object]]:
        """Content, ETag and LastModified of every object: equal means untouched."""
        return {
            rel: (self.get(rel), obj["ETag"], obj["LastModified"])
            for rel, obj in self.listing().items()
        }

    # -- the local side ------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, data: bytes, mtime: float | None = None) -> Path:
        return write(self.root / rel, data, mtime)

    def local(self) -> dict[str, bytes]:
        """Every regular file under the root except the trash -> its bytes."""
        return {rel: data for rel, data in read_tree(self.root).items()
                if not rel.startswith(TRASH + "/")}

    def trash(self) -> dict[str, bytes]:
        """Files in the root's trash, keyed by their path below the run's stamp folder."""
        found: dict[str, bytes] = {}
        for rel, data in read_tree(self.root / TRASH).items():
            stamp, _, below = rel.partition("/")
            assert re.fullmatch(STAMP + r"(-\d+)?", stamp), rel
            found[below] = data
        return found

    def local_snapshot(self) -> dict[str, tuple[str, bytes, int, int]]:
        return tree_snapshot(self.root)

    def base_rows(self) -> set[str]:
        return base_rows(self.state)


def make_pair(cli: Cli, s3: Any, bucket: str, tmp: Path, name: str = "a", prefix: str = "p/") -> Pair:
    root = tmp / name / "root"
    root.mkdir(parents=True)
    return Pair(cli, s3, bucket, prefix, root, tmp / name / "state")


def write(path: Path, data: bytes, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def read_tree(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    if not root.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def tree_snapshot(root: Path) -> dict[str, tuple[str, bytes, int, int]]:
    """Everything under ``root``: kind, content (or link target), mtime_ns, mode."""
    found: dict[str, tuple[str, bytes, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                kind, data = "link", os.readlink(path).encode()
            elif path.is_dir():
                kind, data = "dir", b""
            elif path.is_file():
                kind, data = "file", path.read_bytes()
            else:
                kind, data = "other", b""
            found[path.relative_to(root).as_posix()] = (kind, data, st.st_mtime_ns, st.st_mode)
    return found


def summary_of(result: Result) -> dict[str, Any]:
    lines = [line for line in result.out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, f"want one JSON summary line on stdout, got:\n{result.out}\n{result.err}"
    summary: dict[str, Any] = json.loads(lines[0])
    missing = SUMMARY_KEYS - summary.keys()
    assert not missing, f"summary lacks {missing}: {summary}"
    return summary


def counts(summary: dict[str, Any]) -> dict[str, int]:
    """The non-zero action counts of a summary (upload, download, deletes, conflict, failed)."""
    return {k: summary[k] for k in COUNT_KEYS if summary[k]}


def base_rows(state: Path) -> set[str]:
    dbs = list(state.glob("*.db"))
    assert len(dbs) == 1, dbs
    with sqlite3.connect(dbs[0]) as db:
        return {row[0] for row in db.execute("select rel from entries")}


def conflict_copies(names: Iterable[str], stem: str, side: str, ext: str = "") -> list[str]:
    """Names among ``names`` that are conflict copies of ``stem[ext]`` holding ``side``'s version."""
    pattern = re.compile(rf"{re.escape(stem)}\.conflict-{STAMP}-{side}{re.escape(ext)}")
    return sorted(n for n in names if pattern.fullmatch(n))


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``condition`` until it holds; fail the test when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if ".s3sync-tmp-" in p.name)
