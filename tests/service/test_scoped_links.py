"""Watch passes and polls with ``links``: a hint on a symlink's name, or a poll that finds
its ``.rclonelink`` key changed, carries the link as a full sync would (issue 13)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from s3sync.adapters.s3 import Connection, S3Store
from s3sync.config import SyncOptions
from s3sync.core.scope import Scope
from s3sync.engine import NothingChanged, PairSpec, PairSync
from tests.s3server import S3Server

PREFIX = "p/"
COUNTED = ("upload", "download", "delete_local", "delete_remote", "conflict", "failed")


class Pair:
    def __init__(self, server: S3Server, bucket: str, tmp: Path) -> None:
        self.s3 = server.client()
        self.bucket = bucket
        self.root, self.state = tmp / "root", tmp / "state"
        self.root.mkdir()
        (self.root / "keep.txt").write_bytes(b"keep")  # no side ever comes back empty
        self.spec = PairSpec("links", self.root, bucket, PREFIX, SyncOptions(settle=0, links=True))
        self.conn = Connection(endpoint_url=server.endpoint, region="us-east-1",
                               access_key_id=server.access_key, secret_access_key=server.secret_key)

    def run(self, scope: Scope | None = None, *, poll: bool = False) -> dict[str, int]:
        async def go() -> dict[str, object]:
            async with S3Store.open(self.conn) as store:
                if scope is None and not poll:
                    return (await PairSync(store, self.spec, self.state).run()).summary().as_json()
                try:
                    return (await PairSync(store, self.spec, self.state, scope=scope or Scope(), poll=poll).run()).summary().as_json()
                except NothingChanged:
                    return {}

        summary = asyncio.run(go())
        return {k: int(str(v)) for k, v in summary.items() if k in COUNTED and v}

    def get(self, name: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=PREFIX + name)["Body"].read()
        return body

    def listed(self) -> set[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=PREFIX).get("Contents", [])
        return {o["Key"][len(PREFIX):] for o in listed}


@pytest.fixture
def pair(s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    p = Pair(s3server, bucket, tmp_path)
    assert p.run() == {"upload": 1}  # the history a scoped pass needs
    return p


@pytest.mark.parametrize("hint", ["current", "current.rclonelink"])
def test_a_watch_hint_on_a_link_uploads_and_deletes_it(pair: Pair, hint: str) -> None:
    (pair.root / "current").symlink_to("v1")
    assert pair.run(Scope(files={hint})) == {"upload": 1}
    assert pair.get("current.rclonelink") == b"v1"
    assert "current" not in pair.listed()

    (pair.root / "current").unlink()
    assert pair.run(Scope(files={hint})) == {"delete_remote": 1}
    assert "current.rclonelink" not in pair.listed()


def test_a_link_in_a_hinted_folder_is_a_link(pair: Pair) -> None:
    (pair.root / "sub").mkdir()
    (pair.root / "sub" / "to-keep").symlink_to("../keep.txt")
    assert pair.run(Scope(folders={"sub"})) == {"upload": 1}
    assert pair.get("sub/to-keep.rclonelink") == b"../keep.txt"


def test_a_poll_restores_a_link_and_a_retarget(pair: Pair) -> None:
    pair.s3.put_object(Bucket=pair.bucket, Key=PREFIX + "current.rclonelink", Body=b"v1")
    assert pair.run(poll=True) == {"download": 1}
    assert os.readlink(pair.root / "current") == "v1"
    pair.s3.put_object(Bucket=pair.bucket, Key=PREFIX + "current.rclonelink", Body=b"v2")
    assert pair.run(poll=True) == {"download": 1}
    assert os.readlink(pair.root / "current") == "v2"
    assert pair.run() == {}  # the full sync agrees: nothing left to do
