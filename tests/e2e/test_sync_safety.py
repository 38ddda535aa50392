"""`s3sync sync` end to end: safety rails, dry runs, excludes, the summary, the lock,
temp files, config pairs and permissions."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from s3sync.adapters.statedb import pair_id
from s3sync.core.own import OwnNames
from tests.conftest import Cli
from tests.e2e.sync_helpers import (
    SUMMARY_KEYS,
    Pair,
    counts,
    make_pair,
    summary_of,
    wait_for,
)
from tests.s3server import S3Server


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    return make_pair(cli, s3server.client(), bucket, tmp_path)


def _synced(pair: Pair, n: int) -> dict[str, bytes]:
    files = {f"d{i % 3}/f{i:02}.txt": f"file {i}\n".encode() for i in range(n)}
    for rel, data in files.items():
        pair.write(rel, data)
    assert counts(pair.sync_json()) == {"upload": n}
    return files


def _assert_rail(pair: Pair, *args: str, words: str) -> None:
    """The run aborts with exit 3 and leaves both sides (and the state) exactly as they were."""
    local, remote, rows = pair.local_snapshot(), pair.remote_snapshot(), pair.base_rows()
    result = pair.sync(*args, expect=3)
    assert words in result.err
    assert "--force" in result.err
    assert pair.local_snapshot() == local
    assert pair.remote_snapshot() == remote
    assert pair.base_rows() == rows


# -- rails -------------------------------------------------------------------------


def test_max_delete_share_aborts_then_force_lifts_it(pair: Pair) -> None:
    files = _synced(pair, 20)
    gone = sorted(files)[:11]  # 11 of 20: over 50%, and over the floor of 10
    for rel in gone:
        pair.path(rel).unlink()
    _assert_rail(pair, words="deletes 11 remote files")
    assert counts(pair.sync_json("--force")) == {"delete_remote": 11}
    assert pair.remote() == {rel: data for rel, data in files.items() if rel not in gone}


def test_max_delete_share_below_the_floor_proceeds(pair: Pair) -> None:
    files = _synced(pair, 12)
    gone = sorted(files)[:9]  # 75%, but fewer than 10 files
    for rel in gone:
        pair.delete(rel)
    assert counts(pair.sync_json()) == {"delete_local": 9}
    assert set(pair.trash()) == set(gone)


def test_max_delete_count_aborts_then_force_lifts_it(pair: Pair) -> None:
    files = _synced(pair, 6)
    gone = sorted(files)[:3]
    for rel in gone:
        pair.delete(rel)
    _assert_rail(pair, "--max-delete", "2", words="deletes 3 local files")
    assert counts(pair.sync_json("--max-delete", "2", "--force")) == {"delete_local": 3}
    assert pair.trash() == {rel: files[rel] for rel in gone}


def test_emptied_local_root_aborts_then_force_lifts_it(pair: Pair) -> None:
    files = _synced(pair, 3)
    for child in pair.root.iterdir():
        shutil.rmtree(child)
    _assert_rail(pair, words="local folder is empty")
    assert counts(pair.sync_json("--force")) == {"delete_remote": 3}
    assert pair.remote() == {}
    assert pair.trash() == {}
    del files


def test_emptied_remote_prefix_aborts_then_force_lifts_it(pair: Pair) -> None:
    files = _synced(pair, 3)
    for rel in files:
        pair.delete(rel)
    pair.s3.put_object(Bucket=pair.bucket, Key="outside-the-prefix.txt", Body=b"not ours")
    _assert_rail(pair, words="remote prefix is empty")
    assert counts(pair.sync_json("--force")) == {"delete_local": 3}
    assert pair.trash() == files


def test_vanished_local_root_aborts_even_with_force(pair: Pair) -> None:
    files = _synced(pair, 3)
    shutil.rmtree(pair.root)
    remote = pair.remote_snapshot()
    for extra in ((), ("--force",)):
        result = pair.sync(*extra, expect=3)
        assert "vanished" in result.err
        assert not pair.root.exists(), "a vanished root is never recreated"
        assert pair.remote_snapshot() == remote
    assert pair.remote() == files


def test_root_replaced_by_an_empty_folder_aborts(pair: Pair) -> None:
    files = _synced(pair, 3)
    # What an unmounted disk looks like: an empty folder (another inode) at the same path.
    fresh = pair.root.with_name("fresh")
    fresh.mkdir()
    shutil.rmtree(pair.root)
    fresh.rename(pair.root)
    _assert_rail(pair, words="unmounted disk")
    # Forced, the folder is synced as a new one: the union, still without deletes.
    assert counts(pair.sync_json("--force")) == {"download": 3}
    assert pair.local() == pair.remote() == files


# -- dry run, summary ------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_changes_nothing(pair: Pair) -> None:
    _synced(pair, 3)
    pair.write("new local.txt", b"new")
    pair.path("d0/f00.txt").unlink()
    pair.put("d1/f01.txt", b"remote edit")
    pair.put("remote new.txt", b"remote new")
    local, remote, rows = pair.local_snapshot(), pair.remote_snapshot(), pair.base_rows()

    result = pair.sync("--dry-run")
    lines = sorted(line.split("\t") for line in result.out.splitlines())
    assert [line[:2] for line in lines] == [
        ["delete_remote", "d0/f00.txt"],
        ["download", "d1/f01.txt"],
        ["download", "remote new.txt"],
        ["upload", "new local.txt"],
    ]
    assert all(len(line) == 3 and line[2] for line in lines), "action<TAB>path<TAB>reason"
    assert pair.local_snapshot() == local
    assert pair.remote_snapshot() == remote
    assert pair.base_rows() == rows


def test_json_summary_reports_counts_bytes_and_failures(pair: Pair) -> None:
    pair.write("up.bin", b"u" * 1000)
    pair.write("up2.txt", b"22")
    pair.put("down.bin", b"d" * 300)
    # An object whose stored content hash does not match its bytes: its download must
    # fail verification, be reported, and leave nothing behind.
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    pair.put("corrupt.bin", b"bytes that do not match", Metadata={"md5chksum": wrong})
    result = pair.sync("--json", expect=1)
    summary = summary_of(result)
    assert summary.keys() >= SUMMARY_KEYS
    assert counts(summary) == {"upload": 2, "download": 1, "failed": 1}
    assert summary["bytes_up"] == 1002
    assert summary["bytes_down"] == 300
    assert isinstance(summary["seconds"], int | float)
    assert summary["skipped"] == 0
    [failure] = summary["failures"]
    assert failure["rel"] == "corrupt.bin"
    assert failure["action"] == "download"
    assert failure["reason"]
    assert result.out.count("\n") == 1, "nothing but the JSON object on stdout"
    assert set(pair.local()) == {"up.bin", "up2.txt", "down.bin"}
    assert not list(pair.root.rglob("*.s3sync-tmp-*"))


# -- excludes ----------------------------------------------------------------------------


def test_excludes_hide_paths_on_both_sides(pair: Pair) -> None:
    pair.write(".s3syncignore", b"build/\n# comment\n**/.DS_Store\n")
    pair.write("keep.txt", b"k")
    pair.write("scratch.tmp", b"local tmp")
    pair.write("build/out.o", b"obj")
    pair.write("a/.DS_Store", b"junk")
    pair.put("remote.tmp", b"remote tmp")
    pair.put("build/remote.o", b"remote obj")
    pair.put("b/.DS_Store", b"remote junk")
    pair.put("r.txt", b"r")

    summary = pair.sync_json("--exclude", "*.tmp")
    assert counts(summary) == {"upload": 1, "download": 1}
    # The ignore file is the pair's local configuration: never uploaded (nor downloaded).
    assert set(pair.remote()) == {
        "keep.txt", "r.txt", "remote.tmp", "build/remote.o", "b/.DS_Store",
    }
    assert set(pair.local()) == {
        ".s3syncignore", "keep.txt", "r.txt", "scratch.tmp", "build/out.o", "a/.DS_Store",
    }


def test_adding_an_exclude_never_deletes_what_it_hides(pair: Pair) -> None:
    pair.write("notes.log", b"log kept remotely")
    pair.write("logs/deep.log", b"another log")
    pair.write("doc.txt", b"doc")
    pair.sync_json()
    # The user excludes *.log and, in the same breath, deletes the local copies.
    pair.path("notes.log").unlink()
    shutil.rmtree(pair.root / "logs")
    summary = pair.sync_json("--exclude", "*.log")
    assert counts(summary) == {}
    assert set(pair.remote()) == {"notes.log", "logs/deep.log", "doc.txt"}
    assert pair.base_rows() == {"doc.txt"}, "the hidden paths' rows are retired"
    # Lifting the exclude later brings the files back instead of deleting them.
    summary = pair.sync_json()
    assert counts(summary) == {"download": 2}
    assert pair.local() == pair.remote()


# -- the lock, temp files, permissions -----------------------------------------------------


def _lock_path(pair: Pair, endpoint: str) -> Path:
    return pair.state / f"{pair_id(pair.root, endpoint, pair.bucket, pair.prefix)}.lock"


def test_second_process_on_the_same_pair_is_refused_or_waits(pair: Pair, s3server: S3Server) -> None:
    pair.write("b.txt", b"b")
    # The lock file sits beside the state DB, named by the pair.
    lock = _lock_path(pair, s3server.endpoint)
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as if another s3sync were syncing this pair
        result = pair.sync(expect=1)
        assert "another s3sync process is syncing" in result.err
        assert "--wait" in result.err
        assert "b.txt" not in pair.listing()

        waiter = subprocess.Popen(
            [sys.executable, "-m", "s3sync", *pair.args("--wait", "--json")],
            cwd=pair.cli.cwd, env=pair.cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            # It has reached the lock once it holds the lock file open...
            wait_for(lambda: _has_open(waiter.pid, lock), 60, "the waiter to open the lock file")
            # ...and it must still be waiting while we hold it.
            with pytest.raises(subprocess.TimeoutExpired):
                waiter.wait(timeout=1.5)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        out, err = waiter.communicate(timeout=120)
    finally:
        os.close(fd)
    assert waiter.returncode == 0, err.decode()
    assert json.loads(out)["upload"] == 1
    assert "b.txt" in pair.listing()


def test_the_lock_holds_however_the_folder_is_spelled(pair: Pair, s3server: S3Server) -> None:
    pair.write("b.txt", b"b")
    alias = pair.root.parent / "alias"
    alias.symlink_to(pair.root, target_is_directory=True)
    lock = _lock_path(pair, s3server.endpoint)
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a sync of the folder as spelled by the pair
        for spelled in (str(alias), f"{alias}/", f"{pair.root}/../root"):
            result = pair.cli("sync", spelled, pair.url, "--state-dir", str(pair.state))
            assert result.code == 1, result.err
            assert "another s3sync process is syncing" in result.err
    finally:
        os.close(fd)
    assert "b.txt" not in pair.listing()


def _has_open(pid: int, path: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


def test_stale_temp_files_are_removed_at_start_and_never_synced(pair: Pair) -> None:
    pair.write("a.txt", b"a")
    assert counts(pair.sync_json()) == {"upload": 1}
    # What a crashed run of this pair leaves: temp names tagged with the pair's key.
    own = OwnNames(bytes.fromhex(json.loads(_meta(pair, "temp_key"))))
    ours = [pair.write(own.temp_name('a.txt', '0123abcd'), b"left by a crashed run"),
            pair.write(f"sub/{own.temp_name('b.bin', 'deadbeef')}", b"left by a crashed run")]
    looks_alike = pair.write(".c.txt.s3sync-tmp-0123abcd", b"the user's own")
    assert counts(pair.sync_json()) == {"upload": 1}
    assert set(pair.listing()) == {"a.txt", looks_alike.name}
    assert not any(path.exists() for path in ours)
    assert looks_alike.exists()


def _meta(pair: Pair, key: str) -> str:
    (db,) = pair.state.glob("*.db")
    with sqlite3.connect(db) as conn:
        return str(conn.execute("select value from meta where key = ?", (key,)).fetchone()[0])


def test_state_and_trash_are_owner_only(pair: Pair) -> None:
    pair.write("x/y/z.txt", b"doomed")
    pair.write("keep.txt", b"k")
    pair.sync_json()
    pair.delete("x/y/z.txt")
    assert counts(pair.sync_json()) == {"delete_local": 1}
    assert pair.trash() == {"x/y/z.txt": b"doomed"}

    def private(path: Path) -> bool:
        return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0

    state_files = [pair.state, *pair.state.iterdir()]
    assert any(p.suffix == ".db" for p in state_files)
    assert [p for p in state_files if not private(p)] == []
    # Every trash folder is owner-only (the trashed files keep their own modes inside).
    trash = pair.root / ".s3sync-trash"
    trash_dirs = [trash, *(p for p in trash.rglob("*") if p.is_dir())]
    assert len(trash_dirs) == 4
    assert [p for p in trash_dirs if not private(p)] == []


def test_state_dir_inside_the_root_is_never_synced(pair: Pair) -> None:
    # Say the root is a home folder and the state lives under ~/.local/state.
    pair.state = pair.root / ".local" / "state" / "s3 sync[1]"
    pair.write("a.txt", b"a")
    pair.write(".local/share/keep.txt", b"synced as usual")
    assert counts(pair.sync_json()) == {"upload": 2}
    assert set(pair.listing()) == {"a.txt", ".local/share/keep.txt"}
    assert list(pair.state.glob("*.db"))


# -- config pairs -------------------------------------------------------------------------


def test_config_pairs_with_per_pair_keys(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> None:
    s3 = s3server.client()
    docs = make_pair(cli, s3, bucket, tmp_path, "docs", "docs/")
    photos = make_pair(cli, s3, bucket, tmp_path, "photos", "photos/")
    state = tmp_path / "state"
    docs.state = photos.state = state
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {state}\n"
        "pairs:\n"
        f"  - name: docs\n    local: {docs.root}\n    remote: s3://{bucket}/docs\n"
        "    exclude: ['*.bak']\n"
        f"  - name: photos\n    local: {photos.root}\n    remote: s3://{bucket}/photos/\n"
        "    mode: push\n    no_delete: true\n"
    )
    docs.write("a.txt", b"doc")
    docs.write("a.bak", b"backup file, excluded for docs")
    docs.put("remote-doc.txt", b"rd")
    photos.write("p.jpg", b"jpeg")
    photos.put("old.jpg", b"only remote; push never downloads")

    result = cli("sync", "--config", str(config), "--pair", "docs", "--json")
    assert result.code == 0, result.err
    assert summary_of(result)["pair"] == "docs"
    assert set(docs.listing()) == {"a.txt", "remote-doc.txt"}
    assert docs.local() == {"a.txt": b"doc", "a.bak": b"backup file, excluded for docs",
                            "remote-doc.txt": b"rd"}
    assert set(photos.listing()) == {"old.jpg"}, "--pair docs synced only docs"

    result = cli("sync", "--config", str(config), "--json")
    assert result.code == 0, result.err
    summaries = {s["pair"]: s for s in map(json.loads, result.out.splitlines())}
    assert set(summaries) == {"docs", "photos"}
    assert counts(summaries["photos"]) == {"upload": 1}
    assert counts(summaries["docs"]) == {}
    assert photos.local() == {"p.jpg": b"jpeg"}, "push never downloads old.jpg"

    photos.path("p.jpg").unlink()
    photos.write("q.jpg", b"jpeg 2")
    result = cli("sync", "--config", str(config), "--pair", "photos", "--json")
    assert result.code == 0, result.err
    assert counts(summary_of(result)) == {"upload": 1}
    assert photos.remote() == {"old.jpg": b"only remote; push never downloads",
                               "p.jpg": b"jpeg", "q.jpg": b"jpeg 2"}
    assert len(list(state.glob("*.db"))) == 2, "one state DB per pair"
