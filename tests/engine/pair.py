"""One pair for the engine tier: the real pipeline (gather, fill, reconcile, rails,
execute, record) on a real folder and state DB, against the in-memory store of
``fakes`` (the same port the S3 adapter implements, type-checked), with no server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from s3sync.config import SyncOptions
from s3sync.core.scope import Scope
from s3sync.engine import PairSpec, PairSync, Result
from s3sync.ports import ObjectStore
from tests.engine.fakes import FakeStore

BUCKET, PREFIX = "b", "p/"
COUNTED = ("upload", "download", "delete_local", "delete_remote", "conflict", "metadata", "failed")


class Pair:
    def __init__(self, tmp: Path, **options: object) -> None:
        self.store = FakeStore(BUCKET)
        self.root, self.state = tmp / "root", tmp / "state"
        self.root.mkdir()
        self.spec = PairSpec("engine", self.root, BUCKET, PREFIX, SyncOptions(settle=0, **options))  # type: ignore[arg-type]

    def run(self, scope: Scope | None = None, *, force: bool = False) -> dict[str, int]:
        store: ObjectStore = self.store  # the port, checked by mypy
        result: Result = asyncio.run(PairSync(store, self.spec, self.state, scope=scope, force=force).run())
        counts = result.summary().counts()
        return {k: v for k, v in counts.items() if k in COUNTED and v}

    def write(self, rel: str, data: bytes, mtime: float | None = None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))

    def local(self) -> dict[str, bytes]:
        found = {}
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(dirpath) / name
                found[path.relative_to(self.root).as_posix()] = path.read_bytes()
        return found

    def remote(self) -> dict[str, bytes]:
        return {k[len(PREFIX):]: v.body for k, v in self.store.objects.items()}
