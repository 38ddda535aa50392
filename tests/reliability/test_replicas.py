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
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3sync.api import SyncSummary
from tests.conftest import Cli
from tests.e2e.sync_helpers import temp_files
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
    support = _meta(a.state, "write_support")
    assert (support["conditional_writes"], support["versioning"]) == (False, False)
    replicas.settle()
    assert _contents(replicas) == [b"v1 from a"]


def _meta(state: Path, key: str) -> Any:
    import json

    (db,) = state.glob("*.db")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("select value from meta where key = ?", (key,)).fetchone()
    return json.loads(row[0])
