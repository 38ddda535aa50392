"""`s3sync sync` end to end: the decision table, first syncs, modes and conflict policies.

Each test drives the real CLI against the session's S3 server and checks both sides
directly, so what the contract (../shared/design/sync-semantics.md) promises is what
a user sees.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import (
    Pair,
    base_rows,
    conflict_copies,
    counts,
    make_pair,
    read_tree,
)
from tests.s3server import S3Server

HOUR = 3600.0


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    return make_pair(cli, s3server.client(), bucket, tmp_path)


def test_every_cell_of_the_decision_table(pair: Pair) -> None:
    # Cells are named local-state/remote-state: u unchanged, c changed, d deleted.
    for rel in ("uu.txt", "uc.txt", "ud.txt", "cu.txt", "cu_same.txt", "cc_eq.txt", "cc.txt",
                "cc2.txt", "cd.txt", "du.txt", "sub/dc.txt", "dd.txt"):
        pair.write(rel, f"original {rel}\n".encode(), mtime=time.time() - 2 * HOUR)
    assert counts(pair.sync_json()) == {"upload": 12}
    untouched_remote = pair.listing()["uu.txt"]
    untouched_mtime = pair.path("uu.txt").stat().st_mtime_ns

    pair.put("uc.txt", b"uc: edited remotely\n")
    pair.delete("ud.txt")
    pair.write("cu.txt", b"cu: edited locally, longer than before\n")
    same_size = bytes(reversed(b"original cu_same.txt\n"))
    pair.write("cu_same.txt", same_size)  # same size, new mtime: only a hash can tell
    pair.write("cc_eq.txt", b"the same new content on both sides\n")
    pair.put("cc_eq.txt", b"the same new content on both sides\n")
    pair.write("cc.txt", b"cc: local edit\n", mtime=time.time() - HOUR)  # remote is newer
    pair.put("cc.txt", b"cc: remote edit, the newer one\n")
    pair.write("cc2.txt", b"cc2: local edit, the newer one\n", mtime=time.time() + HOUR)
    pair.put("cc2.txt", b"cc2: remote edit\n")
    pair.write("cd.txt", b"cd: edited locally\n")
    pair.delete("cd.txt")
    pair.path("du.txt").unlink()
    pair.path("sub/dc.txt").unlink()
    pair.put("sub/dc.txt", b"dc: edited remotely\n")
    pair.path("dd.txt").unlink()
    pair.delete("dd.txt")

    planned = pair.sync_json("--dry-run")
    plan = {step["rel"]: (step["action"], step["reason"]) for step in planned["plan"]}
    assert {rel: action for rel, (action, _) in plan.items()} == {
        "uc.txt": "download",
        "ud.txt": "delete_local",
        "cu.txt": "upload",
        "cu_same.txt": "upload",
        "cc.txt": "conflict",
        "cc2.txt": "conflict",
        "cd.txt": "upload",
        "du.txt": "delete_remote",
        "sub/dc.txt": "download",
    }
    assert "edit beats" in plan["cd.txt"][1]
    assert "edit beats" in plan["sub/dc.txt"][1]

    summary = pair.sync_json()
    assert counts(summary) == {
        "upload": 3, "download": 2, "delete_local": 1, "delete_remote": 1, "conflict": 2,
    }

    expected = {
        "uu.txt": b"original uu.txt\n",
        "uc.txt": b"uc: edited remotely\n",
        "cu.txt": b"cu: edited locally, longer than before\n",
        "cu_same.txt": same_size,
        "cc_eq.txt": b"the same new content on both sides\n",
        "cc.txt": b"cc: remote edit, the newer one\n",
        "cc2.txt": b"cc2: local edit, the newer one\n",
        "cd.txt": b"cd: edited locally\n",
        "sub/dc.txt": b"dc: edited remotely\n",
    }
    local = pair.local()
    [cc_copy] = conflict_copies(local, "cc", "local", ".txt")
    [cc2_copy] = conflict_copies(local, "cc2", "remote", ".txt")
    expected[cc_copy] = b"cc: local edit\n"
    expected[cc2_copy] = b"cc2: remote edit\n"
    assert local == expected
    assert pair.remote() == expected
    assert pair.trash() == {"ud.txt": b"original ud.txt\n"}
    assert pair.base_rows() == set(expected), "dd.txt's row is forgotten, every other path recorded"
    assert pair.listing()["uu.txt"] == untouched_remote
    assert pair.path("uu.txt").stat().st_mtime_ns == untouched_mtime

    assert counts(pair.sync_json()) == {}, "a second sync right after finds nothing to do"


def test_first_sync_is_the_union_and_deletes_nothing(pair: Pair) -> None:
    pair.write("only_local.txt", b"L")
    pair.write("deep/er/only_local.bin", os.urandom(3000))
    pair.write("same.txt", b"equal on both sides")
    pair.write("differs.txt", b"local version", mtime=time.time() + HOUR)
    pair.put("only_remote.txt", b"R")
    pair.put("sub/only_remote.txt", b"R2")
    pair.put("same.txt", b"equal on both sides")
    pair.put("differs.txt", b"remote version")

    summary = pair.sync_json()
    assert counts(summary) == {"upload": 2, "download": 2, "conflict": 1}
    local = pair.local()
    [copy] = conflict_copies(local, "differs", "remote", ".txt")
    assert local[copy] == b"remote version"
    assert local["differs.txt"] == b"local version"
    assert set(local) == {
        "only_local.txt", "deep/er/only_local.bin", "same.txt", "differs.txt", copy,
        "only_remote.txt", "sub/only_remote.txt",
    }
    assert pair.remote() == local
    assert pair.base_rows() == set(local), "equal content found on both sides is recorded"


def test_lost_state_db_deletes_nothing(pair: Pair) -> None:
    files = {f"f{i}.txt": f"file {i}\n".encode() for i in range(6)}
    for rel, data in files.items():
        pair.write(rel, data)
    pair.sync_json()
    pair.path("f0.txt").unlink()
    pair.path("f1.txt").unlink()
    pair.delete("f2.txt")
    pair.delete("f3.txt")
    shutil.rmtree(pair.state)

    summary = pair.sync_json()
    assert summary["delete_local"] == summary["delete_remote"] == 0
    assert counts(summary) == {"upload": 2, "download": 2}
    assert pair.local() == files
    assert pair.remote() == files


def test_touch_without_content_change_transfers_nothing(pair: Pair) -> None:
    pair.write("a.txt", b"some content")
    pair.write("b/c.bin", os.urandom(70_000))
    pair.sync_json()
    etags = {rel: obj["ETag"] for rel, obj in pair.listing().items()}
    later = time.time() + 60
    for rel in ("a.txt", "b/c.bin"):
        os.utime(pair.path(rel), (later, later))

    summary = pair.sync_json()
    assert summary["upload"] == 0
    assert summary["bytes_up"] == 0
    assert counts(summary) == {}
    assert {rel: obj["ETag"] for rel, obj in pair.listing().items()} == etags


# -- modes ---------------------------------------------------------------------


def _synced(pair: Pair, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        pair.write(rel, data, mtime=time.time() - HOUR)
    pair.sync_json()


def test_push_makes_remote_follow_local_and_never_touches_local(pair: Pair) -> None:
    _synced(pair, {"a": b"a0", "b": b"b0", "c": b"c0", "d": b"d0"})
    pair.write("a", b"a1 local edit")
    pair.path("b").unlink()
    pair.put("c", b"c1 remote edit")
    pair.put("r_only", b"someone else's object")
    pair.write("l_new", b"new locally")
    before = pair.local_snapshot()

    summary = pair.sync_json("--mode", "push")
    assert counts(summary) == {"upload": 3, "delete_remote": 1}
    assert pair.local_snapshot() == before, "push never changes the local folder"
    assert pair.remote() == {
        "a": b"a1 local edit", "c": b"c0", "d": b"d0", "l_new": b"new locally",
        "r_only": b"someone else's object",
    }
    # The remote edit push overwrote is kept in the pair's trash under the state dir.
    trashed = read_tree(pair.state / "trash")
    assert sorted(trashed.values()) == [b"c1 remote edit"]


def test_pull_makes_local_follow_remote_and_never_touches_remote(pair: Pair) -> None:
    _synced(pair, {"a": b"a0", "b": b"b0", "c": b"c0", "d": b"d0"})
    pair.put("a", b"a1 remote edit")
    pair.delete("b")
    pair.write("c", b"c1 local edit")
    pair.path("d").unlink()
    pair.write("l_only", b"new locally")
    pair.put("r_new", b"new remotely")
    before = pair.remote_snapshot()

    summary = pair.sync_json("--mode", "pull")
    assert counts(summary) == {"download": 4, "delete_local": 1}
    assert pair.remote_snapshot() == before, "pull never changes the remote side"
    assert pair.local() == {
        "a": b"a1 remote edit", "c": b"c0", "d": b"d0", "l_only": b"new locally",
        "r_new": b"new remotely",
    }
    assert pair.trash() == {"b": b"b0", "c": b"c1 local edit"}


def test_backup_never_deletes_remotely_and_never_touches_local(pair: Pair) -> None:
    pair.put("elsewhere/theirs.txt", b"already in the bucket")
    pair.write("a", b"a0")
    pair.write("b", b"b0")
    pair.write("sub/c", b"c0")
    backup = ("--mode", "push", "--no-delete")
    before = pair.local_snapshot()
    assert counts(pair.sync_json(*backup)) == {"upload": 3}
    assert pair.local_snapshot() == before

    pair.path("b").unlink()
    pair.write("a", b"a1 local edit")
    pair.put("sub/c", b"c1 remote edit")
    pair.put("remote_new", b"remote only")
    before = pair.local_snapshot()
    summary = pair.sync_json(*backup)
    assert counts(summary) == {"upload": 2}
    assert pair.local_snapshot() == before, "the backup source is never written to"
    assert not (pair.root / ".s3sync-trash").exists()
    assert pair.remote() == {
        "elsewhere/theirs.txt": b"already in the bucket", "a": b"a1 local edit",
        "b": b"b0", "sub/c": b"c0", "remote_new": b"remote only",
    }
    assert sorted(read_tree(pair.state / "trash").values()) == [b"c1 remote edit"]


def test_no_delete_in_both_modes_keeps_both_sides(pair: Pair) -> None:
    _synced(pair, {"a": b"a0", "b": b"b0", "c": b"c0"})
    pair.path("a").unlink()
    pair.delete("b")
    summary = pair.sync_json("--no-delete")
    assert counts(summary) == {}
    assert pair.local() == {"b": b"b0", "c": b"c0"}
    assert pair.remote() == {"a": b"a0", "c": b"c0"}


# -- conflict policies -----------------------------------------------------------


@pytest.mark.parametrize("policy", ["keep-both", "newer", "local", "remote"])
def test_conflict_policy_keeps_the_loser(pair: Pair, policy: str) -> None:
    # ln.txt: the local version is newer; rn.txt: the remote one is.
    pair.put("ln.txt", b"ln remote version")
    pair.put("rn.txt", b"rn remote version")
    pair.write("ln.txt", b"ln local version", mtime=time.time() + HOUR)
    pair.write("rn.txt", b"rn local version", mtime=time.time() - HOUR)

    summary = pair.sync_json("--conflict", policy)
    assert counts(summary) == {"conflict": 2}
    local, remote = pair.local(), pair.remote()
    winners = {
        "keep-both": ("local", "remote"), "newer": ("local", "remote"),
        "local": ("local", "local"), "remote": ("remote", "remote"),
    }[policy]
    for rel, winner in zip(("ln", "rn"), winners, strict=True):
        loser = "remote" if winner == "local" else "local"
        assert local[f"{rel}.txt"] == remote[f"{rel}.txt"] == f"{rel} {winner} version".encode()
        lost = f"{rel} {loser} version".encode()
        if policy == "keep-both":
            [copy] = conflict_copies(local, rel, loser, ".txt")
            assert local[copy] == remote[copy] == lost
        else:
            assert not conflict_copies(local, rel, loser, ".txt")
            assert pair.trash()[f"{rel}.txt"] == lost
    assert local == remote
    assert base_rows(pair.state) == set(local)


def test_conflict_winner_is_chosen_by_file_mtime_not_upload_time(pair: Pair) -> None:
    # Uploaded just now, but by rclone or s3sync from a file last written two hours ago.
    two_hours_ago = f"{time.time() - 2 * HOUR:.9f}"
    pair.put("doc.txt", b"remote version, older file", Metadata={"mtime": two_hours_ago})
    pair.write("doc.txt", b"local version, newer file", mtime=time.time() - HOUR)

    assert counts(pair.sync_json()) == {"conflict": 1}
    local = pair.local()
    assert local["doc.txt"] == b"local version, newer file"
    [copy] = conflict_copies(local, "doc", "remote", ".txt")
    assert local[copy] == b"remote version, older file"
    assert local == pair.remote()
    assert abs(pair.path(copy).stat().st_mtime - float(two_hours_ago)) < 1e-3


def test_checksum_finds_an_edit_that_kept_size_and_mtime(pair: Pair) -> None:
    pair.write("a.txt", b"version one")
    pair.sync_json()
    st = pair.path("a.txt").stat()
    pair.write("a.txt", b"version two")  # same size...
    os.utime(pair.path("a.txt"), ns=(st.st_atime_ns, st.st_mtime_ns))  # ...and same mtime
    assert counts(pair.sync_json()) == {}, "size+mtime cannot see this edit"
    assert counts(pair.sync_json("--checksum")) == {"upload": 1}
    assert pair.get("a.txt") == b"version two"


@pytest.mark.parametrize("size", [0, 5])
def test_edits_go_up_on_a_versioned_bucket(pair: Pair, s3server: S3Server, size: int) -> None:
    """Ceph RGW 16 refuses every If-Match on a versioned bucket, even a matching one: the
    upload goes on without the condition (versioning keeps what it replaces) instead of
    failing at every run. An empty file is the case that showed it."""
    if not s3server.supports("versioning"):
        pytest.skip("the test server has no versioning")
    pair.s3.put_bucket_versioning(Bucket=pair.bucket, VersioningConfiguration={"Status": "Enabled"})
    pair.write("f.txt", b"x" * size)
    pair.sync_json()
    pair.write("f.txt", b"edited", mtime=time.time() + 60)

    summary = pair.sync_json()
    assert counts(summary) == {"upload": 1}
    assert pair.remote() == {"f.txt": b"edited"}
    assert pair.sync_json()["upload"] == 0
