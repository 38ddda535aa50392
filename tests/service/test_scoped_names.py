"""Watch passes and polls on Unicode names: keys are requested as listed, and a twin
of a synced name leaves both alone (issue 12, item 3), on the session's real S3 server."""

from __future__ import annotations

import asyncio
import os
import unicodedata
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from s3sync.adapters.s3 import Connection, S3Store
from s3sync.config import SyncOptions
from s3sync.core.scope import Scope
from s3sync.engine import NothingChanged, PairSpec, PairSync, Result
from tests.s3server import S3Server

NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")
PREFIX = "p/"

Pass = Callable[[S3Store, PairSpec, Path], Coroutine[Any, Any, Result]]


def poll(store: S3Store, spec: PairSpec, state: Path) -> Coroutine[Any, Any, Result]:
    return PairSync(store, spec, state, scope=Scope(), poll=True).run()


def watch(store: S3Store, spec: PairSpec, state: Path) -> Coroutine[Any, Any, Result]:
    return PairSync(store, spec, state, scope=Scope(files={NFC})).run()


def full(store: S3Store, spec: PairSpec, state: Path) -> Coroutine[Any, Any, Result]:
    return PairSync(store, spec, state).run()


class Pair:
    def __init__(self, server: S3Server, bucket: str, tmp: Path) -> None:
        self.s3 = server.client()
        self.bucket = bucket
        self.root, self.state = tmp / "root", tmp / "state"
        self.root.mkdir()
        (self.root / "keep.txt").write_bytes(b"keep")  # no side ever comes back empty
        self.spec = PairSpec("names", self.root, bucket, PREFIX, SyncOptions(settle=0))
        self.conn = Connection(endpoint_url=server.endpoint, region="us-east-1",
                               access_key_id=server.access_key, secret_access_key=server.secret_key)

    def run(self, one: Pass) -> dict[str, object]:
        async def go() -> Result | None:
            async with S3Store.open(self.conn) as store:
                try:
                    return await one(store, self.spec, self.state)
                except NothingChanged:
                    return None

        result = asyncio.run(go())
        if result is None:
            return {}
        summary = result.summary().as_json()
        return {k: v for k, v in summary.items() if k in ("upload", "download", "delete_local",
                                                            "delete_remote", "conflict", "metadata", "failed") and v}

    def put(self, name: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=PREFIX + name, Body=body)

    def keys(self) -> dict[str, bytes]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=PREFIX).get("Contents", [])
        return {o["Key"][len(PREFIX):]: self.s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
                for o in listed}

    def cafe(self) -> Path:
        names = [n for n in os.listdir(self.root) if unicodedata.normalize("NFC", n) == NFC]
        assert len(names) == 1, names
        return self.root / names[0]


@pytest.fixture
def pair(s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    made = Pair(s3server, bucket, tmp_path)
    assert made.run(full) == {"upload": 1}
    return made


@pytest.mark.parametrize("one", [poll, watch], ids=["poll", "watch"])
def test_a_twin_of_a_synced_name_trashes_nothing(pair: Pair, one: Pass) -> None:
    (pair.root / NFC).write_bytes(b"synced")
    assert pair.run(full) == {"upload": 1}
    pair.put(NFD, b"a twin")
    assert pair.run(one) == {}
    assert (pair.root / NFC).read_bytes() == b"synced"
    assert not (pair.root / ".s3sync-trash").exists()
    assert pair.run(full) == {}
    assert pair.keys() == {"keep.txt": b"keep", NFC: b"synced", NFD: b"a twin"}


def test_an_nfd_key_reaches_the_folder_by_a_poll_and_edits_go_back_by_a_watch_pass(pair: Pair) -> None:
    pair.put(NFD, b"one")
    assert pair.run(poll) == {"download": 1}
    assert pair.cafe().read_bytes() == b"one"
    assert pair.run(poll) == {}

    pair.cafe().write_bytes(b"two, edited locally")
    assert pair.run(watch) == {"upload": 1}
    assert pair.keys() == {"keep.txt": b"keep", NFD: b"two, edited locally"}

    pair.put(NFD, b"three")
    assert pair.run(poll) == {"download": 1}
    assert pair.cafe().read_bytes() == b"three"

    pair.cafe().unlink()
    assert pair.run(watch) == {"delete_remote": 1}
    assert pair.keys() == {"keep.txt": b"keep"}
