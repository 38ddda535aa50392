"""`s3sync sync` end to end: large files, files that change under the sync, and kill -9.

The kill tests start a real sync, wait for a condition on disk or in the bucket (a
deadline, never a bare sleep), SIGKILL it, and prove the rerun converges with nothing
lost and no temp files left.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import (
    Pair,
    counts,
    make_pair,
    read_tree,
    summary_of,
    temp_files,
    wait_for,
)
from tests.s3server import S3Server

MiB = 1024 * 1024


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    return make_pair(cli, s3server.client(), bucket, tmp_path)


def test_multipart_round_trip(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> None:
    s3 = s3server.client()
    a = make_pair(cli, s3, bucket, tmp_path, "a")
    b = make_pair(cli, s3, bucket, tmp_path, "b")
    data = os.urandom(40 * MiB)
    a.write("big/file.bin", data, mtime=1_600_000_000.123456789)
    mtime_ns = a.path("big/file.bin").stat().st_mtime_ns

    summary = a.sync_json()
    assert counts(summary) == {"upload": 1}
    assert summary["bytes_up"] == len(data)
    obj = a.listing()["big/file.bin"]
    assert "-" in obj["ETag"], "40 MiB goes up in parts"
    assert obj["Size"] == len(data)

    summary = b.sync_json()
    assert counts(summary) == {"download": 1}
    assert summary["bytes_down"] == len(data)
    copy = b.path("big/file.bin")
    assert hashlib.md5(copy.read_bytes()).digest() == hashlib.md5(data).digest()
    assert copy.stat().st_mtime_ns == mtime_ns, "the mtime travels with the object"
    assert counts(a.sync_json()) == {}, "a multipart object is recognised as already synced"


def _whole_version(data: bytes) -> bool:
    """Each version the writer makes is one byte value repeated: anything else is a mix."""
    return bool(data) and data.count(data[:1]) == len(data)


@pytest.mark.parametrize("size", [40 * MiB, 6 * MiB], ids=["multipart", "single-part"])
def test_file_rewritten_during_its_upload_ends_up_whole(pair: Pair, size: int) -> None:
    path = pair.write("hot.bin", bytes([1]) * size)
    stop = threading.Event()
    written = {"version": 1, "writes": 0}

    def rewrite() -> None:
        version = 1
        while not stop.is_set():
            version = version % 250 + 1
            block = bytes([version]) * size
            with open(path, "r+b") as handle:  # in place: a reader can see two versions
                handle.write(block)
            written["version"] = version
            written["writes"] += 1
            stop.wait(0.05)  # pacing only: keeps the writer from starving the sync of CPU

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        wait_for(lambda: written["writes"] >= 2, 30, "the writer to get going")
        first = pair.sync("--json", expect=None)
    finally:
        stop.set()
        writer.join()
    assert first.code in (0, 1), first.err
    assert written["writes"] > 2
    final = bytes([written["version"]]) * size
    assert path.read_bytes() == final
    for rel, data in pair.remote().items():
        assert _whole_version(data), f"{rel} on the server mixes two versions"

    summary = summary_of(pair.sync("--json"))
    assert summary["failed"] == 0
    assert pair.get("hot.bin") == final
    everything = {**pair.remote(), **{f"local:{k}": v for k, v in read_tree(pair.root).items()}}
    assert [rel for rel, data in everything.items() if not _whole_version(data)] == []
    assert set(pair.listing()) == {"hot.bin"}, "no conflict copy of a half-written version"


# -- kill -9 -----------------------------------------------------------------------------

N_FILES = 500


def _files(n: int = N_FILES) -> dict[str, bytes]:
    return {f"d{i % 10}/sub{i % 3}/f{i:03}.txt": (f"file {i} ".encode() * (i % 40 + 1)) for i in range(n)}


def _start(pair: Pair, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "s3sync", *pair.args("--concurrency", "2", *extra)],
            cwd=pair.cli.cwd, env=pair.cli.env(), stdout=out, stderr=subprocess.STDOUT,
        )


def _kill_when(pair: Pair, log: Path, condition: Callable[[], bool], what: str) -> None:
    """Start a sync, SIGKILL it as soon as ``condition`` holds; fail if it ended first."""
    proc = _start(pair, log)
    try:
        wait_for(lambda: proc.poll() is not None or condition(), 120, what)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, (
        f"the sync ended ({proc.returncode}) before {what}: nothing was tested\n{log.read_text()}"
    )


def _local_count(root: Path) -> int:
    return sum(1 for _d, _s, names in os.walk(root) for n in names if ".s3sync-tmp-" not in n)


def _assert_converged(pair: Pair, files: dict[str, bytes], *, rerun: bool = False) -> None:
    assert temp_files(pair.root) == [], "temp files of the killed runs are cleaned up"
    assert pair.local() == files
    # A single-part object's ETag is the MD5 of its content: one listing proves most.
    remote = {}
    for rel, obj in pair.listing().items():
        etag = obj["ETag"].strip('"')
        remote[rel] = hashlib.md5(pair.get(rel)).hexdigest() if "-" in etag else etag
    assert remote == {rel: hashlib.md5(data).hexdigest() for rel, data in files.items()}
    if rerun:
        assert counts(pair.sync_json()) == {}, "the pair is in sync: a further run does nothing"


@pytest.mark.slow
@pytest.mark.timeout(900)  # five killed runs and four full ones: generous on a busy machine
def test_kill_9_at_several_points_of_a_500_file_sync_then_rerun_converges(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3 = s3server.client()
    a = make_pair(cli, s3, bucket, tmp_path, "a")
    b = make_pair(cli, s3, bucket, tmp_path, "b")
    files = _files()
    # Sorted first and large: its download is caught half-written in its temp file.
    files["big.bin"] = os.urandom(24 * MiB)
    for rel, data in files.items():
        a.write(rel, data)

    # Uploads, killed twice along the way, then finished by a rerun.
    for point in (1, 250):
        _kill_when(a, tmp_path / f"up-{point}.log", lambda p=point: a.remote_count() >= p,
                   f"{point} objects in the bucket")
        assert a.remote_count() < len(files)
        assert a.local() == files, "a killed upload never touches the local side"
    summary = a.sync_json()
    assert summary["upload"] <= len(files) - 250
    assert summary["delete_local"] == summary["delete_remote"] == 0
    _assert_converged(a, files)

    # Downloads into a second folder: killed mid-file, then once more.
    def big_temp_file() -> bool:
        for path in temp_files(b.root):
            try:
                if path.stat().st_size > MiB:
                    return True
            except FileNotFoundError:
                continue
        return False

    _kill_when(b, tmp_path / "down-temp.log", big_temp_file, "a half-written temp file")
    assert temp_files(b.root), "the kill left a half-written temp file behind"
    _kill_when(b, tmp_path / "down-250.log", lambda: _local_count(b.root) >= 250, "250 files downloaded")
    assert not b.path("big.bin").exists() or b.path("big.bin").read_bytes() == files["big.bin"]
    summary = b.sync_json()
    assert summary["delete_local"] == summary["delete_remote"] == 0
    assert summary["upload"] == 0, "nothing half-written was taken for a local edit"
    _assert_converged(b, files)

    # Deletes both ways: every fourth file goes remotely, the one after it locally, so
    # in plan order the fast local ones (renames into the trash) are paced by the
    # remote ones (round trips).
    ordered = sorted(files)
    gone_remote, gone_local = ordered[0::4], ordered[1::4]
    s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": b.key(rel)} for rel in gone_remote], "Quiet": True,
    })
    for rel in gone_local:
        b.path(rel).unlink()
    _kill_when(b, tmp_path / "deletes.log", lambda: _local_count(b.root / ".s3sync-trash") >= 20,
               "20 files moved to the trash")
    summary = b.sync_json()
    assert summary["upload"] == summary["download"] == 0
    kept = {rel: data for rel, data in files.items() if rel not in {*gone_remote, *gone_local}}
    _assert_converged(b, kept, rerun=True)
    assert b.trash() == {rel: files[rel] for rel in gone_remote}, "every deleted file is in the trash"
