"""Watch passes and polls drop s3sync's own names by the rule a full sync uses, and
only those (issue 14: the scoped copies had drifted from it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from s3sync.adapters.s3 import Connection, S3Store
from s3sync.config import SyncOptions
from s3sync.core.scope import Scope
from s3sync.engine import NothingChanged, PairSpec, PairSync
from tests.s3server import S3Server

PREFIX = "p/"
USERS = "notes.s3sync-tmp-draft.txt"  # the user's own file, whatever its name looks like
PROBE = ".s3sync-probe-0123456789ab"


class Pair:
    def __init__(self, server: S3Server, bucket: str, tmp: Path) -> None:
        self.s3 = server.client()
        self.bucket = bucket
        self.root, self.state = tmp / "root", tmp / "state"
        self.root.mkdir()
        (self.root / "keep.txt").write_bytes(b"keep")
        self.spec = PairSpec("own", self.root, bucket, PREFIX, SyncOptions(settle=0))
        self.conn = Connection(endpoint_url=server.endpoint, region="us-east-1",
                               access_key_id=server.access_key, secret_access_key=server.secret_key)

    def run(self, scope: Scope | None = None, *, poll: bool = False) -> dict[str, object]:
        async def go() -> dict[str, object]:
            async with S3Store.open(self.conn) as store:
                try:
                    return (await PairSync(store, self.spec, self.state, scope=scope, poll=poll).run()).summary().as_json()
                except NothingChanged:
                    return {}

        return asyncio.run(go())

    def listed(self) -> set[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=PREFIX).get("Contents", [])
        return {o["Key"][len(PREFIX):] for o in listed}


@pytest.fixture
def pair(s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    p = Pair(s3server, bucket, tmp_path)
    p.run()  # the history a scoped pass needs
    return p


def test_a_watch_pass_uploads_a_users_file_that_only_looks_like_a_temp_name(pair: Pair) -> None:
    (pair.root / USERS).write_bytes(b"mine")
    assert pair.run(Scope(files={USERS}))["upload"] == 1
    assert USERS in pair.listed()


def test_a_poll_leaves_probe_keys_and_the_trash_and_takes_the_users_keys(pair: Pair) -> None:
    for key in (PROBE, ".s3sync-trash/20261204-000000/x.txt", USERS):
        pair.s3.put_object(Bucket=pair.bucket, Key=PREFIX + key, Body=b"x")
    assert pair.run(scope=Scope(), poll=True)["download"] == 1
    assert (pair.root / USERS).read_bytes() == b"x"
    assert not (pair.root / PROBE).exists()
    assert not (pair.root / ".s3sync-trash" / "20261204-000000").exists()
    assert pair.run()["download"] == 0  # the full sync agrees
