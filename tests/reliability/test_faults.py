"""`s3sync sync` through the fault proxy: every kind of network and server fault.

Each scenario prepares a pair whose next sync does every kind of request — uploads
(new keys and replacements), downloads (s3sync-written, plain single-part and foreign
multipart objects), deletes on both sides, and a conflict whose loser is kept as a
conflict copy — then runs the CLI through the proxy with the scenario's faults. The run must
either finish correctly (the fault was retried: exit 0) or exit 1 listing what failed;
either way it records nothing it did not verify, leaves no partial file at a final
path and no temp file, and the next fault-free run converges to the expected trees.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

import pytest

from tests.e2e.sync_helpers import summary_of, temp_files
from tests.reliability.conftest import ProxiedPair
from tests.reliability.faultproxy import Fault, FaultProxy, describe
from tests.reliability.helpers import (
    api_sync,
    assert_converged,
    md5,
    partial_files,
    state_rows,
    trash_contents,
    untruthful_rows,
)
from tests.s3server import S3Server

MiB = 1024 * 1024
OBJECT = r"^/[^/?]+/p/[^?]*$"  # a request on one object (not the bucket, not a listing)
LISTING = r"[?&]list-type=2"
BUCKET = r"^/[^/?]+$"
NOW = time.time()


@dataclass
class Scenario:
    name: str
    faults: list[Fault]
    outcome: str = "clean"  # clean: exit 0 at once; fails: exit 1 listing failures; abort: exit 1, nothing changed
    multipart: bool = False  # add a foreign multipart object (5 MiB) to download
    needs: list[str] = field(default_factory=list)


SCENARIOS = [
    Scenario("slowdown-on-puts", [Fault("error", "PUT", OBJECT, times=3, status=503)]),
    Scenario("500-on-the-listing-once", [Fault("error", "GET", LISTING, status=500)]),
    Scenario("503-on-the-bucket-check", [Fault("error", "HEAD", BUCKET, times=2)]),
    # Refused for good (not retried: botocore's back-off on a 503 for ever costs 30 s):
    # any listing error aborts the run before it changes anything.
    Scenario("403-on-every-listing", [Fault("error", "GET", LISTING, times=None, status=403,
                                            code="AccessDenied")], "abort"),
    Scenario("503-on-heads-500-on-delete", [
        Fault("error", "HEAD", OBJECT, times=2), Fault("error", "DELETE", OBJECT, status=500),
    ]),
    Scenario("reset-before-get-replies", [Fault("reset", "GET", OBJECT, times=2)]),
    Scenario("reset-mid-body-of-every-get", [Fault("reset_body", "GET", OBJECT, times=None)], "fails"),
    Scenario("truncated-get-bodies", [Fault("truncate", "GET", OBJECT, times=None)], "fails", multipart=True),
    Scenario("short-get-bodies-claiming-whole", [Fault("short", "GET", OBJECT, times=None)], "fails", multipart=True),
    Scenario("corrupt-get-bodies", [Fault("corrupt", "GET", OBJECT, times=None, at=0.5)], "fails"),
    Scenario("corrupt-put-bodies", [Fault("corrupt_request", "PUT", OBJECT, times=None)], "fails"),
    Scenario("lost-put-replies", [Fault("lost", "PUT", OBJECT, times=3)]),
    Scenario("lost-delete-reply", [Fault("lost", "DELETE", OBJECT)]),
    Scenario("reset-on-the-conflict-copy-upload", [Fault("reset", "PUT", r"conflict-")]),
    Scenario("everything-slow", [Fault("delay", times=None, seconds=0.15)]),
    Scenario("server-rejects-conditional-writes", [Fault("reject_conditional", times=None)]),
    Scenario("server-ignores-conditional-writes", [Fault("strip_conditional", times=None)],
             needs=["no_signature_check"]),
]


@dataclass
class Prepared:
    known: set[bytes]
    expect_local: dict[str, bytes]
    expect_remote: dict[str, bytes]
    conflict_local: bytes
    conflict_remote: bytes


def _put_multipart(pair: ProxiedPair, rel: str, data: bytes) -> None:
    """An object as another tool uploads it in parts: no plain-MD5 ETag, no metadata."""
    s3, key = pair.s3, pair.key(rel)
    upload = s3.create_multipart_upload(Bucket=pair.bucket, Key=key)["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(data), 5 * MiB), 1):
        etag = s3.upload_part(Bucket=pair.bucket, Key=key, UploadId=upload, PartNumber=n,
                              Body=data[start:start + 5 * MiB])["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=pair.bucket, Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": parts})


def _prepare(pair: ProxiedPair, server: S3Server, multipart: bool) -> Prepared:
    def content(name: str, size: int = 3000) -> bytes:
        unit = f"{name} v{len(known)} ".encode()
        data = (unit * (size // len(unit) + 1))[:size]
        known.add(data)
        return data

    known: set[bytes] = {b""}
    base = {rel: content(rel) for rel in (
        "base/keep.txt", "base/del-local.txt", "base/del-remote.txt", "base/edit-local.txt",
        "base/edit-remote.txt", "base/both.txt")}
    for rel, data in base.items():
        pair.write(rel, data, mtime=NOW - 3600)
    summary = api_sync(pair, server, pair.endpoint)
    assert summary.ok, summary
    assert summary.uploaded == len(base), summary

    local_new = {"up/a.txt": content("a"), "up/empty.txt": b"", "up/ü 名.txt": content("u", 200)}
    for rel, data in local_new.items():
        pair.write(rel, data)
    edited_local = content("edit-local")
    pair.write("base/edit-local.txt", edited_local)
    pair.path("base/del-local.txt").unlink()

    remote_new = {"down/plain.txt": content("plain", 20_000), "down/meta.txt": content("meta")}
    pair.put("down/plain.txt", remote_new["down/plain.txt"])
    digest = base64.b64encode(bytes.fromhex(md5(remote_new["down/meta.txt"]))).decode()
    pair.put("down/meta.txt", remote_new["down/meta.txt"],
             Metadata={"md5chksum": digest, "mtime": f"{NOW - 60:.9f}"})
    if multipart:
        remote_new["down/multi.bin"] = content("multi", 5 * MiB + 1000)
        _put_multipart(pair, "down/multi.bin", remote_new["down/multi.bin"])
    edited_remote = content("edit-remote")
    pair.put("base/edit-remote.txt", edited_remote)
    pair.delete("base/del-remote.txt")
    # Changed on both sides; the local version is newer, so it keeps the name and the
    # remote one is downloaded to a conflict copy and uploaded under that name.
    conflict_remote = content("both-remote")
    pair.put("base/both.txt", conflict_remote)
    conflict_local = content("both-local")
    pair.write("base/both.txt", conflict_local, mtime=NOW + 3600)

    final = {**{k: v for k, v in base.items() if "del-" not in k}, **local_new, **remote_new,
             "base/edit-local.txt": edited_local, "base/edit-remote.txt": edited_remote,
             "base/both.txt": conflict_local}
    return Prepared(known, final, final, conflict_local, conflict_remote)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_sync_under_faults_is_retried_or_fails_cleanly_and_the_next_run_converges(
    ppair: ProxiedPair, proxy: FaultProxy, s3server: S3Server, scenario: Scenario
) -> None:
    if "no_signature_check" in scenario.needs and s3server.supports("signature_check"):
        pytest.skip("stripping signed headers needs a server that does not check signatures")
    prepared = _prepare(ppair, s3server, scenario.multipart)
    before_local, before_remote = ppair.local_snapshot(), ppair.remote_snapshot()
    rows_before = state_rows(ppair.state)
    proxy.add(*scenario.faults)

    result = ppair.sync("--json", expect=None)
    faults = describe(proxy.faults())
    where = f"{scenario.name}: exit {result.code}\nfaults: {faults}\nstdout: {result.out}\nstderr: {result.err}"
    assert proxy.fired() > 0, f"no fault fired: {where}"
    assert "Traceback" not in result.err, where
    if scenario.outcome == "clean":
        assert result.code == 0, where
    else:
        assert result.code == 1, where
    if scenario.outcome == "abort":
        assert "s3sync: error:" in result.err, where
        assert ppair.local_snapshot() == before_local, where
        assert ppair.remote_snapshot() == before_remote, where
        assert state_rows(ppair.state) == rows_before
    elif result.code == 1:
        summary = summary_of(result)
        assert summary["failures"], where
        assert summary["failed"] == len(summary["failures"]), where
    # Whatever happened: nothing half-written anywhere, no temp file left, no row lying.
    assert partial_files(ppair, prepared.known) == [], where
    assert temp_files(ppair.root) == [], where
    assert untruthful_rows(ppair, since=rows_before) == [], where

    proxy.clear()
    first = api_sync(ppair, s3server, ppair.endpoint)
    assert first.ok, (where, first.failures)
    again = api_sync(ppair, s3server, ppair.endpoint)
    assert again.ok, (where, again)
    assert again.changes == 0, (where, again)
    assert_converged(ppair)
    _assert_expected(ppair, prepared)


def _assert_expected(pair: ProxiedPair, prepared: Prepared) -> None:
    local = {rel: data for rel, data in pair.local().items() if ".conflict-" not in rel}
    assert local == prepared.expect_local
    copies = {rel: data for rel, data in pair.local().items() if ".conflict-" in rel}
    # A conflict whose copy failed to go up is resolved again by the next run: the
    # loser may then have two copies (same bytes, two stamps), never none.
    assert set(copies.values()) == {prepared.conflict_remote}, copies
    trash = trash_contents(pair.root)
    assert any(rel.endswith("base/del-remote.txt") for rel in trash), trash


def test_multipart_upload_under_faults(ppair: ProxiedPair, proxy: FaultProxy, s3server: S3Server) -> None:
    """A 17 MiB file goes up in parts: a failed part, a reset part and a lost
    CompleteMultipartUpload reply are retried; the object is whole and recorded once."""
    data = bytes(range(256)) * (17 * MiB // 256)
    ppair.write("big.bin", data)
    proxy.add(
        Fault("error", "PUT", r"partNumber=1(&|$)", status=503),
        Fault("reset", "PUT", r"partNumber=2(&|$)"),
        Fault("lost", "POST", r"uploadId="),
    )
    result = ppair.sync("--json", expect=None)
    where = f"exit {result.code}\n{describe(proxy.faults())}\n{result.out}\n{result.err}"
    assert result.code in (0, 1), where
    assert proxy.fired() == 3, where
    assert partial_files(ppair, {data}) == [], where
    assert untruthful_rows(ppair) == [], where
    proxy.clear()
    assert api_sync(ppair, s3server, ppair.endpoint).ok
    assert api_sync(ppair, s3server, ppair.endpoint).changes == 0
    assert ppair.get("big.bin") == data
    assert_converged(ppair)
    uploads = ppair.s3.list_multipart_uploads(Bucket=ppair.bucket).get("Uploads", [])
    assert uploads == [], "no multipart upload left pending"


def test_a_part_that_keeps_failing_fails_the_upload_cleanly(
    ppair: ProxiedPair, proxy: FaultProxy, s3server: S3Server
) -> None:
    """The server refuses one part every time: that upload fails (exit 1, listed, no
    traceback), is aborted on the server, and the rest of the run goes on."""
    data = bytes(range(256)) * (17 * MiB // 256)
    ppair.write("big.bin", data)
    ppair.write("small.txt", b"small")
    proxy.add(Fault("error", "PUT", r"partNumber=2(&|$)", status=500, times=None))
    result = ppair.sync("--json", expect=None)
    where = f"exit {result.code}\n{describe(proxy.faults())}\n{result.out}\n{result.err}"
    assert result.code == 1, where
    assert "Traceback" not in result.err, where
    summary = summary_of(result)
    assert [(f["rel"], f["action"]) for f in summary["failures"]] == [("big.bin", "upload")], where
    assert set(ppair.listing()) == {"small.txt"}, where
    assert ppair.s3.list_multipart_uploads(Bucket=ppair.bucket).get("Uploads", []) == []
    assert untruthful_rows(ppair) == []
    proxy.clear()
    assert api_sync(ppair, s3server, ppair.endpoint).ok
    assert ppair.get("big.bin") == data
    assert_converged(ppair)
