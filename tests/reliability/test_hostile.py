"""Hostile and broken input: names that cannot coexist on a disk, a tree changing under
the scan, unreadable files and folders, a full disk, a broken state DB, names equal but
for case, and permissions.

How each is injected:
- file/folder clashes: real edits on both sides (what the chaos test found);
- changes during a scan: ``os.scandir`` wrapped in-process so that the tree changes
  between listing a folder and looking at its entries — a deterministic race;
- unreadable files and folders: the sync runs as user ``nobody`` through ``setpriv``
  (the suite runs as root, who reads everything), on files made mode 000;
- a full disk: a 2 MiB tmpfs mounted as the folder (root only; skipped where mount is
  refused), and RLIMIT_FSIZE on the sync process (works anywhere);
- the state DB: held by an exclusive SQLite lock, overwritten with garbage, truncated,
  and marked with a newer schema;
- case: the pure reconciler with its ``casefold`` rule on (this disk is case-sensitive);
- permissions: a sync under ``umask 000`` still makes state and trash owner-only.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3sync import errors
from s3sync.adapters import atomic as installs
from s3sync.adapters import localfs
from s3sync.core.change import Options
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry
from s3sync.core.paths import RelPath
from s3sync.core.plan import Download, Skip, Upload
from s3sync.core.reconcile import reconcile
from tests.conftest import AS_NOBODY, NOBODY, REPO, Cli, Result, nobody_env
from tests.e2e.sync_helpers import Pair, make_pair, read_tree, summary_of, temp_files
from tests.reliability.helpers import api_sync, assert_converged, state_rows, untruthful_rows
from tests.s3server import S3Server

MiB = 1024 * 1024


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    return make_pair(cli, s3server.client(), bucket, tmp_path)


def _sync(pair: Pair, server: S3Server, **options: Any) -> Any:
    return api_sync(pair, server, server.endpoint, **options)


def _settle(pair: Pair, server: S3Server) -> None:
    first = _sync(pair, server)
    assert first.ok, first.failures
    again = _sync(pair, server)
    assert again.ok, again.failures
    assert again.changes == 0, again
    assert_converged(pair)


def _copies(tree: dict[str, bytes], rel: str) -> dict[str, bytes]:
    stem, dot, _ = rel.rpartition(".")
    head = stem if dot else rel
    return {k: v for k, v in tree.items() if k.startswith(head + ".conflict-")}


# -- a file and a folder of the same name -----------------------------------------------


def test_file_replaced_by_a_folder_locally_while_edited_remotely(pair: Pair, s3server: S3Server) -> None:
    pair.write("p.txt", b"v0")
    _settle(pair, s3server)
    pair.path("p.txt").unlink()
    pair.write("p.txt/inside.txt", b"a folder now")
    pair.put("p.txt", b"v2 remote edit")
    summary = _sync(pair, s3server)
    assert summary.ok, summary.failures
    _settle(pair, s3server)
    tree = pair.local()
    assert tree["p.txt/inside.txt"] == b"a folder now"
    assert list(_copies(tree, "p.txt").values()) == [b"v2 remote edit"], tree
    assert "p.txt" not in pair.listing()


def test_folder_replaced_by_a_file_locally_while_a_file_in_it_was_edited_remotely(
    pair: Pair, s3server: S3Server
) -> None:
    pair.write("f/x.txt", b"x0")
    _settle(pair, s3server)
    shutil.rmtree(pair.path("f"))
    pair.write("f", b"a file now")
    pair.put("f/x.txt", b"x2 remote edit")
    summary = _sync(pair, s3server)
    assert summary.ok, summary.failures
    _settle(pair, s3server)
    tree = pair.local()
    assert tree["f/x.txt"] == b"x2 remote edit"
    assert list(_copies(tree, "f").values()) == [b"a file now"], tree


def test_keys_below_a_synced_file(pair: Pair, s3server: S3Server) -> None:
    """Another tool puts ``a/b`` beside the synced object ``a``: the bucket holds both,
    a disk cannot. The folder keeps the name, the file moves aside, one copy of it."""
    pair.write("a", b"file a")
    _settle(pair, s3server)
    pair.put("a/b", b"below a")
    summary = _sync(pair, s3server)
    assert summary.ok, summary.failures
    _settle(pair, s3server)
    tree = pair.local()
    assert tree["a/b"] == b"below a"
    assert list(_copies(tree, "a").values()) == [b"file a"], tree


@pytest.mark.parametrize("direction", ["file-to-folder", "folder-to-file"])
def test_replacing_a_file_by_a_folder_remotely_syncs_in_one_run(
    pair: Pair, s3server: S3Server, direction: str
) -> None:
    """The delete of the old name runs before the new name is written, whatever the
    concurrency: one run, no failure."""
    old, new = ("n", "n/inner") if direction == "file-to-folder" else ("n/inner", "n")
    for i in range(20):
        pair.write(f"other/{i}.txt", b"%d" % i)
    pair.write(old, b"old")
    _settle(pair, s3server)
    pair.delete(old)
    pair.put(new, b"new")
    summary = _sync(pair, s3server)
    assert summary.ok, summary.failures
    assert pair.local()[new] == b"new"
    _settle(pair, s3server)


# -- a tree that changes while it is scanned -----------------------------------------------


class _Listed(list[os.DirEntry[str]]):
    def __enter__(self) -> _Listed:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def test_files_vanishing_and_changing_type_during_the_scan(
    pair: Pair, s3server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for rel in ("gone.txt", "becomes-folder.txt", "folder/in.txt", "edited.txt", "stays.txt"):
        pair.write(rel, rel.encode())
    _settle(pair, s3server)
    real = os.scandir
    root = str(pair.root)
    fired: list[str] = []

    def scandir(path: Any = ".") -> Any:
        if str(path) != root or fired:
            return real(path)
        with real(path) as entries:
            listed = _Listed(entries)
        # Between the listing and the look at each entry: the user changes the tree.
        pair.path("gone.txt").unlink()
        pair.path("becomes-folder.txt").unlink()
        pair.write("becomes-folder.txt/new.txt", b"new inside")
        shutil.rmtree(pair.path("folder"))
        pair.write("folder", b"folder is a file now")
        pair.write("edited.txt", b"edited during the scan, longer")
        fired.append("done")
        return listed

    monkeypatch.setattr(localfs.os, "scandir", scandir)
    summary = _sync(pair, s3server)
    monkeypatch.undo()
    assert fired
    assert summary.ok, summary.failures
    _settle(pair, s3server)
    assert pair.remote() == {
        "becomes-folder.txt/new.txt": b"new inside",
        "folder": b"folder is a file now",
        "edited.txt": b"edited during the scan, longer",
        "stays.txt": b"stays.txt",
    }


# -- unreadable files and folders (as a user who cannot read them) ---------------------------

def _as_nobody(pair: Pair, cli: Cli) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "s3sync", *pair.args("--json")],
        capture_output=True, cwd=pair.root.parent, env=nobody_env(cli, pair.root.parent),
        timeout=120, check=False,
    )


def test_unreadable_files_and_folders_are_reported_and_never_mistaken_for_deletions(
    cli: Cli, s3server: S3Server, bucket: str, nobody_dir: Path
) -> None:
    pair = make_pair(cli, s3server.client(), bucket, nobody_dir)
    for rel in ("open.txt", "secret.txt", "locked/a.txt", "locked/deep/b.txt"):
        pair.write(rel, rel.encode())
    for path in [nobody_dir / "a", *(nobody_dir / "a").rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    first = _as_nobody(pair, cli)
    assert first.returncode == 0, first.stderr.decode()

    pair.write("secret.txt", b"edited, then made unreadable")
    os.chown(pair.path("secret.txt"), NOBODY, NOBODY)
    pair.path("secret.txt").chmod(0)
    pair.path("locked").chmod(0)
    pair.put("locked/a.txt", b"edited remotely: must not be written into the locked folder")
    pair.put("locked/new.txt", b"new remotely, below the locked folder")
    pair.put("fresh.txt", b"the rest of the run goes on")
    before = {rel: pair.get(rel) for rel in pair.listing()}

    result = _as_nobody(pair, cli)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    summary = summary_of(Result(result.returncode, result.stdout.decode(), err, result.stdout))
    assert [(f["rel"], f["action"]) for f in summary["failures"]] == [("secret.txt", "upload")], summary
    assert "locked" in err, err
    assert "unreadable" in err, err
    assert pair.path("fresh.txt").read_bytes() == b"the rest of the run goes on"
    after = {rel: pair.get(rel) for rel in pair.listing()}
    assert after == before, "nothing below the unreadable folder, nor the unreadable file, changed remotely"

    pair.path("locked").chmod(0o755)
    pair.path("secret.txt").chmod(0o644)
    again = _as_nobody(pair, cli)
    assert again.returncode == 0, again.stderr.decode()
    assert pair.get("secret.txt") == b"edited, then made unreadable"
    assert pair.path("locked/a.txt").read_bytes().startswith(b"edited remotely")
    assert pair.path("locked/new.txt").exists()


# -- a full disk during downloads ---------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _fill_remote(pair: Pair) -> dict[str, bytes]:
    files = {f"small/{i}.txt": b"small %d\n" % i for i in range(8)}
    files["big.bin"] = os.urandom(3 * MiB)
    for rel, data in files.items():
        pair.put(rel, data)
    return files


def _assert_disk_full_run(pair: Pair, code: int, out: str, err: str, files: dict[str, bytes]) -> None:
    assert code == 1, err
    assert "Traceback" not in err, err
    summary = summary_of(Result(code, out, err, out.encode()))
    failed = [(f["rel"], f["action"]) for f in summary["failures"]]
    assert failed == [("big.bin", "download")], summary
    reason = summary["failures"][0]["reason"]
    assert "space" in reason.lower() or "too large" in reason.lower(), reason
    local = read_tree(pair.root)
    assert "big.bin" not in local, "no partial file at the final path"
    assert temp_files(pair.root) == []
    assert {k: v for k, v in local.items() if k.startswith("small/")} == {
        k: v for k, v in files.items() if k.startswith("small/")
    }, "the rest of the run went on"
    assert "big.bin" not in state_rows(pair.state)


def test_full_disk_during_a_download_tmpfs(pair: Pair, s3server: S3Server, cli: Cli) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    files = _fill_remote(pair)
    shutil.rmtree(pair.root)
    with _tmpfs(pair.root, "2m"):
        result = pair.sync("--json", "--concurrency", "1", expect=None)
        _assert_disk_full_run(pair, result.code, result.out, result.err, files)
        subprocess.run(["mount", "-o", "remount,size=16m", str(pair.root)], check=True)
        _settle(pair, s3server)
        assert pair.local() == files


def test_full_disk_during_a_download_file_size_limit(pair: Pair, s3server: S3Server) -> None:
    """RLIMIT_FSIZE: the sync process cannot write a file past 1 MiB (EFBIG)."""
    files = _fill_remote(pair)
    limit = MiB

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "s3sync", *pair.args("--json", "--concurrency", "1")], capture_output=True,
        cwd=pair.root.parent, env={**pair.cli.env(), "PYTHONPATH": str(REPO)},
        preexec_fn=limited, timeout=120, check=False,
    )
    _assert_disk_full_run(pair, proc.returncode, proc.stdout.decode(), proc.stderr.decode(), files)
    _settle(pair, s3server)
    assert pair.local() == files


# -- a broken state DB ----------------------------------------------------------------------------


def _synced_with_history(pair: Pair, server: S3Server) -> None:
    for i in range(6):
        pair.write(f"f{i}.txt", b"%d" % i)
    _settle(pair, server)
    # Deletes on both sides: against a reset state these would come back, not go.
    pair.path("f0.txt").unlink()
    pair.delete("f1.txt")


def _db(pair: Pair) -> Path:
    (db,) = pair.state.glob("*.db")
    return db


def _content(db: Path) -> list[str] | bytes:
    """What a DB holds (a WAL checkpoint rewrites pages without changing it)."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return list(conn.iterdump())
    except sqlite3.DatabaseError:
        return db.read_bytes()


def _assert_refused(pair: Pair, words: str) -> None:
    local, remote = pair.local_snapshot(), pair.remote_snapshot()
    db = _db(pair)
    raw = _content(db)
    result = pair.sync(expect=None, timeout=60)
    assert result.code == 1, result.err
    assert "Traceback" not in result.err, result.err
    assert words in result.err, result.err
    assert str(db) in result.err, result.err
    assert pair.local_snapshot() == local, "nothing changed locally"
    assert pair.remote_snapshot() == remote, "nothing changed remotely"
    assert _content(db) == raw, "the state DB was not reset or rewritten"


def test_state_db_locked_by_another_process(pair: Pair, s3server: S3Server) -> None:
    _synced_with_history(pair, s3server)
    holder = sqlite3.connect(_db(pair), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        local, remote = pair.local_snapshot(), pair.remote_snapshot()
        result = pair.sync(expect=None, timeout=60)
        assert result.code == 1, result.err
        assert "locked" in result.err, result.err
        assert "Traceback" not in result.err, result.err
        assert pair.local_snapshot() == local
        assert pair.remote_snapshot() == remote
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    summary = _sync(pair, s3server)
    assert summary.ok
    assert (summary.deleted_local, summary.deleted_remote) == (1, 1), "the history survived the lock"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_state_db_is_an_error_not_a_reset(pair: Pair, s3server: S3Server, damage: str) -> None:
    _synced_with_history(pair, s3server)
    db = _db(pair)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    data = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(os.urandom(len(data)))
    else:
        db.write_bytes(data[: len(data) // 2])
    _assert_refused(pair, "corrupt")


def test_state_db_from_a_newer_schema(pair: Pair, s3server: S3Server) -> None:
    _synced_with_history(pair, s3server)
    with contextlib.closing(sqlite3.connect(_db(pair))) as db, db:
        db.execute("update meta set value = '99' where key = 'schema_version'")
    _assert_refused(pair, "newer")


# -- names equal but for case (the reconciler's casefold rule) -----------------------------------


def _remote(tag: str, size: int = 3) -> RemoteEntry:
    return RemoteEntry(size, f"etag-{tag}", 1_000, f"md5-{tag}")


def test_casefold_keys_differing_only_by_case_are_both_kept() -> None:
    rel_a, rel_b = RelPath("Doc.txt"), RelPath("doc.txt")
    plan = reconcile({}, {}, {rel_a: _remote("a"), rel_b: _remote("b")}, Options(casefold=True))
    actions = {a.rel: a for a in plan}
    assert isinstance(actions[rel_a], Download)
    assert isinstance(actions[rel_b], Skip)
    assert "case conflict" in actions[rel_b].reason
    # Without the rule (a case-sensitive disk) both are downloaded.
    plain = reconcile({}, {}, {rel_a: _remote("a"), rel_b: _remote("b")}, Options())
    assert all(isinstance(a, Download) for a in plain)


def test_casefold_a_new_key_never_overwrites_the_local_file_of_another_case() -> None:
    rel, other = RelPath("notes/Plan.md"), RelPath("notes/plan.md")
    local = {rel: LocalEntry(3, 500, "md5-l")}
    base = {rel: BaseEntry(LocalEntry(3, 500), _remote("l"), "md5-l")}
    plan = reconcile(base, local, {rel: _remote("l"), other: _remote("x")}, Options(casefold=True))
    assert [(a.rel, type(a).__name__) for a in plan] == [(other, "Skip")]


def test_casefold_a_case_only_rename_is_a_rename() -> None:
    old, new = RelPath("Report.txt"), RelPath("report.txt")
    base = {old: BaseEntry(LocalEntry(3, 500), _remote("r"), "md5-r")}
    plan = reconcile(base, {new: LocalEntry(3, 500, "md5-r")}, {old: _remote("r")},
                     Options(casefold=True))
    kinds = {a.rel: type(a).__name__ for a in plan}
    # The new spelling goes up; the old key goes (its content lives on under the new
    # name); the local file is never deleted through its other spelling.
    assert kinds[new] in ("Upload", "Record")
    assert kinds[old] == "DeleteRemote"
    assert not any(isinstance(a, Upload) and a.rel == old for a in plan)


# -- owner-only state and trash, whatever the umask ------------------------------------------------


def test_state_and_trash_are_owner_only_under_umask_000(pair: Pair, s3server: S3Server) -> None:
    pair.write("x/y.txt", b"doomed")
    pair.write("keep.txt", b"k")
    env = {**pair.cli.env(), "PYTHONPATH": str(REPO)}

    def sync_with_umask_000() -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "s3sync", *pair.args()], capture_output=True, env=env,
            cwd=pair.root.parent, preexec_fn=lambda: os.umask(0), timeout=120, check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()

    sync_with_umask_000()  # creates the state dir, DB and lock
    pair.delete("x/y.txt")
    sync_with_umask_000()  # moves y.txt into a new trash
    state_files = [pair.state, *pair.state.rglob("*")]
    assert any(p.suffix == ".db" for p in state_files)
    open_to_others = [f"{p} {stat.filemode(p.stat().st_mode)}" for p in state_files
                      if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert open_to_others == []
    trash = pair.root / localfs.TRASH_DIR
    trash_dirs = [trash, *(p for p in trash.rglob("*") if p.is_dir())]
    assert len(trash_dirs) >= 3
    assert [p for p in trash_dirs if stat.S_IMODE(p.stat().st_mode) & 0o077] == []
    assert untruthful_rows(pair) == []


# -- the last moment before a download replaces a file --------------------------------------------


@pytest.mark.parametrize("atomic", [True, False], ids=["renameat2", "check-then-rename"])
def test_a_file_written_just_before_the_replacing_rename_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic: bool
) -> None:
    """``install_if`` replaces a file only if it still is what the executor checked: the
    user's write in between (the window a plain check-then-rename leaves) is never
    overwritten; the download stays in its temp file for a conflict copy."""
    if not atomic:
        monkeypatch.setattr(installs, "_renameat2", None)
    dest, tmp = tmp_path / "f.txt", tmp_path / ".f.txt.s3sync-tmp-00000000"
    dest.write_bytes(b"synced version")
    checked = localfs.stat_entry(dest)
    assert checked is not None
    os.utime(dest, ns=(1, 1))
    dest.write_bytes(b"the user's edit, after the check")  # the window
    tmp.write_bytes(b"downloaded")
    with pytest.raises(installs.Changed):
        installs.install_if(tmp, dest, 5_000_000_000, checked)
    assert dest.read_bytes() == b"the user's edit, after the check"
    assert tmp.read_bytes() == b"downloaded"

    now = localfs.stat_entry(dest)
    entry = installs.install_if(tmp, dest, 5_000_000_000, now)
    assert dest.read_bytes() == b"downloaded"
    assert entry.mtime_ns == 5_000_000_000
    assert not tmp.exists()

    fresh, tmp2 = tmp_path / "new.txt", tmp_path / ".new.txt.s3sync-tmp-00000001"
    tmp2.write_bytes(b"downloaded new")
    fresh.write_bytes(b"the user created it meanwhile")
    with pytest.raises(installs.Changed):
        installs.install_if(tmp2, fresh, 1, None)
    assert fresh.read_bytes() == b"the user created it meanwhile"
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(errors.LocalIOError, match="a folder stands"):
        installs.install_if(tmp2, tmp_path / "dir.txt", 1, None)
