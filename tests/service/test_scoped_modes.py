"""A chmod reaches the other side through polls and watch passes too (issue 13)."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from s3sync.adapters.s3 import S3Store
from s3sync.adapters.statedb import StateStore
from s3sync.core.model import LocalEntry, RemoteEntry, Side
from s3sync.core.paths import RelPath
from s3sync.core.plan import SetMode
from s3sync.core.scope import Scope
from s3sync.engine import PairSpec, PairSync, Result
from s3sync.executor import Executor, Target
from tests.e2e.sync_helpers import wait_for
from tests.service.test_scoped_names import PREFIX, Pair, full, pair, poll

__all__ = ["pair"]  # the fixture


def watch_script(store: S3Store, spec: PairSpec, state: Path) -> Coroutine[Any, Any, Result]:
    return PairSync(store, spec, state, scope=Scope(files={"run.sh"})).run()


def test_a_remote_chmod_is_applied_by_a_poll_and_a_local_one_goes_up_by_a_watch_pass(pair: Pair) -> None:
    script = pair.root / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    script.chmod(0o644)
    assert pair.run(full) == {"upload": 1}
    assert pair.run(full) == {}  # the upload's LastModified is recorded

    key = PREFIX + "run.sh"
    head = pair.s3.head_object(Bucket=pair.bucket, Key=key)
    # LastModified has whole seconds, and our upload's row the time of its reply: a chmod
    # elsewhere is seen once it lands more than a second after the write it follows.
    uploaded = head["LastModified"].timestamp()
    wait_for(lambda: time.time() >= uploaded + 2, 5, "two seconds after the upload")
    pair.s3.copy_object(Bucket=pair.bucket, Key=key, CopySource={"Bucket": pair.bucket, "Key": key},
                        MetadataDirective="REPLACE", Metadata={**head["Metadata"], "mode": "100750"})
    assert pair.run(poll) == {"metadata": 1}
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert script.read_bytes() == b"#!/bin/sh\n"

    script.chmod(0o700)
    assert pair.run(watch_script) == {"metadata": 1}
    assert pair.s3.head_object(Bucket=pair.bucket, Key=key)["Metadata"]["mode"] == "100700"
    assert pair.run(poll) == {}


def test_a_mode_is_not_carried_to_an_object_too_large_to_copy(pair: Pair) -> None:
    """One CopyObject copies at most 5 GiB: the row takes the local mode, no request is
    made, and the next run does not try again."""
    rel = RelPath("huge.bin")
    local = LocalEntry(6 * 1024**3, 5, None, 0o755)
    remote = RemoteEntry(6 * 1024**3, "e", 5, None, 7, 0o644)
    state = StateStore(pair.state / "huge.db")
    state.open()

    async def go() -> int:
        async with S3Store.open(pair.conn) as store:
            target = Target(pair.bucket, PREFIX, pair.root, pair.root / ".s3sync-trash", True, {}, "20261204-000000")
            tally = await Executor(store, target, state, concurrency=1).run(
                [SetMode(rel, local, remote, Side.REMOTE, 0o755, None, "permissions changed locally")])
            return tally.counts.get("metadata", 0)

    try:
        assert asyncio.run(go()) == 1
        row = state.load_base()[rel]
    finally:
        state.close()
    assert (row.local.mode, row.remote.mode, row.remote.etag) == (0o755, 0o644, "e")
