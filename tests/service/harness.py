"""One pair on the session's real S3 server, run in-process by the engine's pipeline:
a full sync, a watch pass (``scope``) or a poll (``poll=True``), with the non-zero
action counts of what it did."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from s3sync.adapters.s3 import Connection, S3Store
from s3sync.config import SyncOptions
from s3sync.core.scope import Scope
from s3sync.engine import NothingChanged, PairSpec, PairSync
from tests.s3server import S3Server

PREFIX = "p/"
COUNTED = ("upload", "download", "delete_local", "delete_remote", "conflict", "metadata", "failed")


class ScopedPair:
    def __init__(self, server: S3Server, bucket: str, tmp: Path, **options: Any) -> None:
        self.s3 = server.client()
        self.bucket = bucket
        self.root, self.state = tmp / "root", tmp / "state"
        self.root.mkdir()
        (self.root / "keep.txt").write_bytes(b"keep")  # no side ever comes back empty
        self.spec = PairSpec("scoped", self.root, bucket, PREFIX, SyncOptions(settle=0, **options))
        self.conn = Connection(endpoint_url=server.endpoint, region="us-east-1",
                               access_key_id=server.access_key, secret_access_key=server.secret_key)

    def run(self, scope: Scope | None = None, *, poll: bool = False) -> dict[str, int]:
        """The pass's non-zero counts; {} where a poll found nothing to look at."""
        async def go() -> dict[str, int]:
            async with S3Store.open(self.conn) as store:
                try:
                    result = await PairSync(store, self.spec, self.state, scope=scope, poll=poll).run()
                except NothingChanged:
                    return {}
            return {k: v for k, v in result.summary().counts().items() if k in COUNTED and v}

        return asyncio.run(go())

    def put(self, name: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=PREFIX + name, Body=body)

    def get(self, name: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=PREFIX + name)["Body"].read()
        return body

    def listed(self) -> set[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=PREFIX).get("Contents", [])
        return {o["Key"][len(PREFIX):] for o in listed}
