"""Local writes in the moment an action works on the file, in process, on the session's
real S3 server: during a download (it becomes one conflict copy, and the next run
carries the write up without keeping the same remote version a second time: issue 13,
defect 3), and between a delete's look at the file and its move to the trash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from s3sync.adapters import atomic
from s3sync.adapters.s3 import Connection, S3Store
from s3sync.config import SyncOptions
from s3sync.engine import PairSpec, PairSync, Result
from tests.e2e.sync_helpers import conflict_copies, read_tree
from tests.s3server import S3Server

PREFIX = "p/"


def syncer(s3server: S3Server, bucket: str, root: Path, state: Path, **options: Any) -> Callable[[], Result]:
    spec = PairSpec("race", root, bucket, PREFIX, SyncOptions(**options))
    conn = Connection(endpoint_url=s3server.endpoint, region="us-east-1",
                      access_key_id=s3server.access_key, secret_access_key=s3server.secret_key)

    def sync() -> Result:
        async def go() -> Result:
            async with S3Store.open(conn) as store:
                return await PairSync(store, spec, state).run()
        return asyncio.run(go())

    return sync


def synced_pair(s3server: S3Server, bucket: str, tmp: Path, **options: Any) -> tuple[Path, Callable[[], Result]]:
    """A root holding doc.txt (v1) and a bystander, synced once; (root, its sync)."""
    root = tmp / "root"
    root.mkdir()
    (root / "keep.txt").write_bytes(b"keep")
    (root / "doc.txt").write_bytes(b"v1")
    sync = syncer(s3server, bucket, root, tmp / "state", **options)
    sync()
    return root, sync


def test_a_version_already_kept_as_a_copy_is_not_copied_again(
    s3server: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = s3server.client()
    root, sync = synced_pair(s3server, bucket, tmp_path)
    s3.put_object(Bucket=bucket, Key=PREFIX + "doc.txt", Body=b"v2 from the bucket")
    fetch = S3Store.download_to_temp

    async def user_writes_meanwhile(self: S3Store, *args: Any, **kwargs: Any) -> Any:
        fetched = await fetch(self, *args, **kwargs)
        (root / "doc.txt").write_bytes(b"v3, written during the download")
        return fetched

    with monkeypatch.context() as patch:
        patch.setattr(S3Store, "download_to_temp", user_writes_meanwhile)
        first = sync()
    [copy] = first.tally.conflict_copies
    assert (root / copy).read_bytes() == b"v2 from the bucket"

    second = sync()
    assert second.tally.conflict_copies == []
    assert (second.tally.counts.get("upload"), second.tally.counts.get("conflict")) == (2, None)
    assert _did_nothing(sync())
    local = read_tree(root)
    assert conflict_copies(local, "doc", "remote", ".txt") == [copy]
    assert local == {"keep.txt": b"keep", "doc.txt": b"v3, written during the download",
                     copy: b"v2 from the bucket"}
    remote = {o["Key"][len(PREFIX):]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
              for o in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX)["Contents"]}
    assert remote == local


def _did_nothing(result: Result) -> bool:
    return not any(result.tally.counts.get(k) for k in ("upload", "download", "conflict", "failed"))


@pytest.mark.parametrize("trash", [True, False])
def test_a_write_between_the_look_and_the_delete_is_never_deleted(
    s3server: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trash: bool
) -> None:
    s3 = s3server.client()
    root, sync = synced_pair(s3server, bucket, tmp_path, trash=trash)
    s3.delete_object(Bucket=bucket, Key=PREFIX + "doc.txt")
    move = atomic.move_aside_if

    def user_writes_first(path: Path, aside: Path, expect: Any, **kwargs: Any) -> bool:
        (root / "doc.txt").write_bytes(b"v2, written right after the delete looked")
        return move(path, aside, expect, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "move_aside_if", user_writes_first)
        first = sync()
    assert first.tally.counts.get("delete_local") is None
    assert (root / "doc.txt").read_bytes() == b"v2, written right after the delete looked"
    second = sync()  # an edit beats a delete: it goes back up
    assert second.tally.counts.get("upload") == 1
    assert s3.get_object(Bucket=bucket, Key=PREFIX + "doc.txt")["Body"].read() == (
        b"v2, written right after the delete looked")
