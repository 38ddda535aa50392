"""Several machines, one bucket: replicas with their own folders and state, one prefix.

The race that decides everything — replica A writes over a version replica B wrote
after A listed — is staged exactly with the proxy: when A's PUT (or DELETE) of the key
reaches the proxy, B's sync runs to completion first, then A's request goes on. On a
server with conditional writes A's request is refused (412) and the next run turns it
into a conflict; on a server without them but with bucket versioning, A finds the
version it superseded and keeps it as a conflict copy. Then several replicas run
`s3sync watch` at once while their users edit at random; when the edits stop, every
replica and the bucket converge to one tree and every edit survives, as the winner or
as a conflict copy.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3sync.api import SyncSummary
from tests.conftest import Cli
from tests.e2e.sync_helpers import temp_files, wait_for
from tests.reliability import runner
from tests.reliability.conftest import ProxiedPair, proxied_pair
from tests.reliability.faultproxy import Fault, FaultProxy, Hit
from tests.reliability.helpers import api_sync, live_tree
from tests.s3server import S3Server

SERVERS = ["conditional", "versioning-fallback"]


def _server(kind: str, proxy: FaultProxy, s3server: S3Server, bucket: str) -> None:
    """Make the proxy's server one with conditional writes, or one without them (they
    are stripped from every request) whose bucket keeps versions."""
    if kind == "conditional":
        if not s3server.supports("conditional_put"):
            pytest.skip("the test server has no conditional writes")
        return
    if s3server.supports("signature_check"):
        pytest.skip("stripping signed headers needs a server that does not check signatures")
    if not s3server.supports("versioning"):
        pytest.skip("the test server has no versioning")
    proxy.add(Fault("strip_conditional", times=None))
    s3server.client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


@dataclass
class Replicas:
    pairs: list[ProxiedPair]
    server: S3Server

    def sync(self, i: int) -> SyncSummary:
        pair = self.pairs[i]
        return api_sync(pair, self.server, pair.endpoint)

    def settle(self) -> None:
        """Sync every replica in turn until a whole round changes nothing."""
        for _ in range(6):
            results = [self.sync(i) for i in range(len(self.pairs))]
            if all(r.ok and r.changes == 0 for r in results):
                break
        else:
            raise AssertionError(f"no quiet round: {results}")
        trees = [live_tree(p) for p in self.pairs]
        remote = self.pairs[0].remote()
        for pair, tree in zip(self.pairs, trees, strict=True):
            assert tree == remote, f"{pair.root} differs from the bucket"
            assert temp_files(pair.root) == []


@pytest.fixture
def replicas(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path, proxy: FaultProxy) -> Replicas:
    return Replicas([proxied_pair(cli, s3server, bucket, tmp_path, proxy, name) for name in ("a", "b")],
                    s3server)


def _during(proxy: FaultProxy, method: str, rel: str, action: Callable[[], object]) -> list[Hit]:
    """Run ``action`` when the first ``method`` of ``rel``'s key reaches the proxy, before
    the server sees it."""
    seen: list[Hit] = []

    def hook(hit: Hit) -> None:
        seen.append(hit)
        action()

    proxy.add(Fault("call", method, rf"^/[^/?]+/p/{rel}$", times=1, action=hook))
    return seen


def _contents(replicas: Replicas) -> list[bytes]:
    return sorted(replicas.pairs[0].remote().values())


@pytest.mark.parametrize("server", SERVERS)
def test_upload_over_a_version_written_after_the_listing_is_a_conflict(
    replicas: Replicas, proxy: FaultProxy, s3server: S3Server, bucket: str, server: str
) -> None:
    a, b = replicas.pairs
    _server(server, proxy, s3server, bucket)
    a.write("f.txt", b"v0")
    replicas.settle()
    a.write("f.txt", b"v1 from a", mtime=time.time() + 60)
    b.write("f.txt", b"v2 from b")
    seen = _during(proxy, "PUT", "f.txt", lambda: replicas.sync(1))
    first = replicas.sync(0)
    assert seen, "the race was staged"
    if server == "conditional":
        assert [(f.path, f.action) for f in first.failures] == [("f.txt", "upload")], first
        assert "changed on the server" in first.failures[0].reason
    else:
        assert first.ok, first.failures
        assert first.conflicts == 1, first
    replicas.settle()
    assert _contents(replicas) == [b"v1 from a", b"v2 from b"], "both edits survive"


@pytest.mark.parametrize("server", SERVERS)
def test_creating_a_key_another_replica_just_created_is_a_conflict(
    replicas: Replicas, proxy: FaultProxy, s3server: S3Server, bucket: str, server: str
) -> None:
    a, b = replicas.pairs
    _server(server, proxy, s3server, bucket)
    a.write("keep.txt", b"k")
    replicas.settle()
    a.write("new.txt", b"new from a")
    b.write("new.txt", b"new from b, longer")
    seen = _during(proxy, "PUT", "new.txt", lambda: replicas.sync(1))
    first = replicas.sync(0)
    assert seen
    if server == "conditional":
        assert [(f.path, f.action) for f in first.failures] == [("new.txt", "upload")], first
    else:
        assert first.conflicts == 1, first
    replicas.settle()
    assert _contents(replicas) == [b"k", b"new from a", b"new from b, longer"]


@pytest.mark.parametrize("server", SERVERS)
def test_deleting_a_key_another_replica_just_rewrote_keeps_the_edit(
    replicas: Replicas, proxy: FaultProxy, s3server: S3Server, bucket: str, server: str
) -> None:
    a, b = replicas.pairs
    _server(server, proxy, s3server, bucket)
    if server == "conditional" and not s3server.supports("conditional_delete"):
        # Ceph RGW 16 honours If-Match on PUT but not on DELETE: there s3sync's guard
        # for a delete is the bucket's versioning (it undoes a delete that hid an edit).
        if not s3server.supports("versioning"):
            pytest.skip("the test server has neither conditional deletes nor versioning")
        s3server.client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    a.write("f.txt", b"v0")
    a.write("keep.txt", b"k")
    replicas.settle()
    a.path("f.txt").unlink()
    b.write("f.txt", b"v2 from b")
    seen = _during(proxy, "DELETE", "f.txt", lambda: replicas.sync(1))
    first = replicas.sync(0)
    assert seen
    assert first.ok, first.failures
    replicas.settle()
    assert _contents(replicas) == [b"k", b"v2 from b"], "an edit beats a delete"


def test_without_conditions_or_versioning_the_race_is_not_detected(
    replicas: Replicas, proxy: FaultProxy, s3server: S3Server
) -> None:
    """What the README states for a server with neither: the write in the window wins,
    silently; s3sync knows it cannot see the race (it logs that, and records it)."""
    if s3server.supports("signature_check"):
        pytest.skip("stripping signed headers needs a server that does not check signatures")
    a, b = replicas.pairs
    proxy.add(Fault("strip_conditional", times=None))
    a.write("f.txt", b"v0")
    replicas.settle()
    a.write("f.txt", b"v1 from a", mtime=time.time() + 60)
    b.write("f.txt", b"v2 from b")
    _during(proxy, "PUT", "f.txt", lambda: replicas.sync(1))
    first = replicas.sync(0)
    assert first.ok
    assert first.conflicts == 0
    (dialect,) = json.loads((a.state / "dialects.json").read_text()).values()
    assert (dialect["conditional_writes"], dialect["versioning"]) == (False, False)
    replicas.settle()
    assert _contents(replicas) == [b"v1 from a"]


def _meta(state: Path, key: str) -> Any:
    (db,) = state.glob("*.db")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("select value from meta where key = ?", (key,)).fetchone()
    return json.loads(row[0])


# -- replicas running the service while their users edit -------------------------------------------

WATCH_EDIT_SECONDS = float(os.environ.get("S3SYNC_REPLICA_SECONDS", "6"))
NAMES = ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "d/g0.txt", "d/g1.txt", "d/e/h.md"]
SENTINEL = "keep/sentinel.txt"  # never touched: no replica ever looks emptied

_libc = ctypes.CDLL(None, use_errno=True)
_EXCHANGE, _NOREPLACE = 2, 1


def _rename2(src: Path, dst: Path, flags: int) -> None:
    if _libc.renameat2(-100, os.fsencode(src), -100, os.fsencode(dst), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(dst))


@dataclass
class User:
    """One replica's user. Every edit is one atomic step that also yields exactly what
    it replaced (renameat2 RENAME_EXCHANGE), so "what the user overwrote or deleted" is
    known exactly even while the service renames files in and out of place."""

    name: str
    root: Path
    hold: Path
    rng: random.Random
    made: dict[bytes, str]
    dropped: set[bytes]
    log: list[str]
    n: int = 0

    def content(self) -> bytes:
        self.n += 1
        data = f"{self.name} edit {self.n}\n".encode() + self.rng.randbytes(self.rng.choice([0, 50, 2000]))
        self.made[data] = f"{self.name} #{self.n}"
        return data

    def staged(self, data: bytes) -> Path:
        tmp = self.hold / f"{self.name}-{self.n}"
        tmp.write_bytes(data)
        return tmp

    def edit(self) -> None:
        rel = self.rng.choice(NAMES)
        target = self.root / rel
        kind = self.rng.choice(["write", "write", "write", "delete"])
        if kind == "delete":
            gone = self.hold / f"{self.name}-gone-{self.n}"
            self.n += 1
            try:
                _rename2(target, gone, _NOREPLACE)
            except FileNotFoundError:
                return
            self._drop(gone, f"delete {rel}")
            return
        data = self.content()
        tmp = self.staged(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _rename2(tmp, target, _EXCHANGE)
        except FileNotFoundError:
            try:
                _rename2(tmp, target, _NOREPLACE)
            except FileExistsError:
                return self.edit()  # created by the service in between: try again
            self.log.append(f"{time.monotonic():.3f} {self.name}: create {rel} ({self.made[data]})")
            return
        self._drop(tmp, f"overwrite {rel} with {self.made[data]}")

    def _drop(self, held: Path, what: str) -> None:
        if held.is_dir():  # a folder by now (never here: no edit makes folders of files)
            raise AssertionError(f"{held} is a folder")
        old = held.read_bytes()
        self.dropped.add(old)
        held.unlink()
        self.log.append(f"{time.monotonic():.3f} {self.name}: {what} (was {self.made.get(old, 'synced copy')})")


def _status(pair: ProxiedPair) -> dict[str, Any]:
    with contextlib.suppress(sqlite3.Error, StopIteration, ValueError):
        return dict(_meta(pair.state, "service"))
    return {}


@pytest.mark.parametrize(("count", "server"), [(2, "conditional"), (3, "conditional"), (2, "versioning-fallback")])
def test_replicas_running_watch_converge_and_keep_every_edit(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path, proxy: FaultProxy, count: int, server: str
) -> None:
    _server(server, proxy, s3server, bucket)
    seed = random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    pairs = [proxied_pair(cli, s3server, bucket, tmp_path, proxy, f"r{i}") for i in range(count)]
    pairs[0].write(SENTINEL, b"never touched")
    assert api_sync(pairs[0], s3server, pairs[0].endpoint).ok
    made: dict[bytes, str] = {b"never touched": "sentinel"}
    dropped: set[bytes] = set()
    log: list[str] = [f"seed {seed}, {count} replicas, {server}"]
    users = []
    for i, pair in enumerate(pairs):
        hold = tmp_path / f"hold{i}"
        hold.mkdir()
        users.append(User(f"r{i}", pair.root, hold, random.Random(rng.random()), made, dropped, log))
    services = [
        runner.start(
            ["watch", str(p.root), p.url, "--state-dir", str(p.state), "--endpoint-url", p.endpoint,
             "--interval", "0.5", "--settle", "0.2", "--log-format", "json"],
            p.cli.env(), p.cli.cwd, tmp_path / f"logs{i}",
        )
        for i, p in enumerate(pairs)
    ]
    try:
        for pair in pairs:
            wait_for(lambda pair=pair: (pair.root / SENTINEL).exists(), 60, f"{pair.root} started")
        ends = time.monotonic() + WATCH_EDIT_SECONDS
        while time.monotonic() < ends:
            rng.choice(users).edit()
            time.sleep(rng.uniform(0.0, 0.15))  # the users' pace, not a synchronisation

        def converged() -> bool:
            try:
                remote = pairs[0].remote()
                return all(live_tree(p) == remote and not temp_files(p.root) for p in pairs)
            except (ClientError, OSError):
                return False  # a key or file went between listing and reading it

        try:
            wait_for(converged, 120, "every replica and the bucket to hold one tree")
        except AssertionError:
            raise AssertionError(_story(pairs, services, log)) from None
    finally:
        for child in services:
            child.process.terminate()  # SIGTERM: the service finishes its pass and exits 0
        for child in services:
            child.process.join(30)
            if child.process.exitcode is None:
                child.process.kill()
    for child in services:
        assert child.process.exitcode == 0, child.err.read_text()[-3000:]
    for pair in pairs:  # and it stays so: a last sync of each replica has nothing to do
        summary = api_sync(pair, s3server, pair.endpoint)
        assert summary.ok, summary.failures
        assert summary.changes == 0, summary
    found = set(pairs[0].remote().values())
    lost = sorted(where for data, where in made.items() if data not in dropped and data not in found)
    (tmp_path / "story.txt").write_text("\n".join(log))
    assert lost == [], "\n".join([f"lost: {lost} (story: {tmp_path / 'story.txt'})", *log])


def _story(pairs: list[ProxiedPair], services: list[runner.Child], log: list[str]) -> str:
    lines = ["no convergence", *log[-40:]]
    remote = pairs[0].remote()
    for pair, child in zip(pairs, services, strict=True):
        tree = live_tree(pair)
        lines.append(f"{pair.root.parent.name}: only local {sorted(set(tree) - set(remote))}, only remote "
                     f"{sorted(set(remote) - set(tree))}, differ {sorted(r for r in tree if r in remote and tree[r] != remote[r])}")
        lines.append(f"  status: {_status(pair)}")
        lines.append("  log tail: " + child.err.read_text("utf-8", "replace")[-2000:])
    return "\n".join(lines)
