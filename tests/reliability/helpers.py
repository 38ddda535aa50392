"""Invariant checks shared by the reliability tests.

Every check reads both sides directly (files on disk, boto3 on the server, the state
DB with sqlite3), never through s3sync, so a test can tell what a run really left.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from s3sync.api import Client, SyncSummary
from tests.e2e.sync_helpers import TRASH, Pair, read_tree, temp_files
from tests.s3server import S3Server


def client(server: S3Server, endpoint: str) -> Client:
    return Client(endpoint, access_key=server.access_key, secret_key=server.secret_key,
                  region="us-east-1")


def api_sync(
    pair: Pair, server: S3Server, endpoint: str, *, using: Client | None = None, **options: Any
) -> SyncSummary:
    """One in-process sync of ``pair`` through ``endpoint`` — the same state DB the CLI
    uses with ``--endpoint-url endpoint`` — for the set-up and clean-up runs around the
    CLI run under test (a CLI run costs a second of interpreter start-up). ``using``: an
    open client to reuse."""
    if using is not None:
        return using.sync(pair.root, pair.url, state_dir=pair.state, **options)
    with client(server, endpoint) as s3:
        return s3.sync(pair.root, pair.url, state_dir=pair.state, **options)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def state_rows(state: Path) -> dict[str, dict[str, Any]]:
    dbs = sorted(state.glob("*.db"))
    assert len(dbs) == 1, dbs
    with sqlite3.connect(dbs[0]) as db:
        db.row_factory = sqlite3.Row
        return {row["rel"]: dict(row) for row in db.execute("select * from entries")}


def untruthful_rows(pair: Pair, since: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Base rows that claim a version one of the sides does not hold.

    A row says: the local file is (size, mtime) and the object is (ETag, size), both
    with content ``md5``. With nobody editing, every row a run wrote must be exactly
    true: a row written for a failed or truncated transfer is a lie the next run would
    act on. ``since``: the rows before the run; rows it left as they were are the base
    of paths it did not settle, and are not checked.
    """
    listing = pair.listing()
    problems = []
    for rel, row in sorted(state_rows(pair.state).items()):
        if since is not None and since.get(rel) == row:
            continue
        path = pair.root / rel
        if not path.is_file():
            problems.append(f"{rel}: row but no local file")
            continue
        st = path.stat()
        if (st.st_size, st.st_mtime_ns) != (row["local_size"], row["local_mtime_ns"]):
            problems.append(f"{rel}: local file {st.st_size} B/{st.st_mtime_ns} != row "
                            f"{row['local_size']} B/{row['local_mtime_ns']}")
        obj = listing.get(rel)
        if obj is None:
            problems.append(f"{rel}: row but no object")
            continue
        if (obj["ETag"].strip('"'), obj["Size"]) != (row["remote_etag"], row["remote_size"]):
            problems.append(f"{rel}: object {obj['ETag']}/{obj['Size']} != row "
                            f"{row['remote_etag']}/{row['remote_size']}")
        if row["md5"]:
            if md5(path.read_bytes()) != row["md5"]:
                problems.append(f"{rel}: local content does not match the row's md5")
            if md5(pair.get(rel)) != row["md5"]:
                problems.append(f"{rel}: remote content does not match the row's md5")
    return problems


def partial_files(pair: Pair, known: Iterable[bytes]) -> list[str]:
    """Files at final paths (either side, trash included) holding no whole known version."""
    whole = set(known)
    found = [f"local {rel}" for rel, data in read_tree(pair.root).items()
             if ".s3sync-tmp-" not in rel and data not in whole]
    found += [f"remote {rel}" for rel, data in pair.remote().items() if data not in whole]
    return found


def live_tree(pair: Pair) -> dict[str, bytes]:
    return {rel: data for rel, data in pair.local().items() if ".s3sync-tmp-" not in rel}


def assert_converged(pair: Pair) -> None:
    assert temp_files(pair.root) == []
    local, remote = live_tree(pair), pair.remote()
    assert local == remote, _diff(local, remote)
    assert untruthful_rows(pair) == []


def _diff(local: dict[str, bytes], remote: dict[str, bytes]) -> str:
    lines = []
    for rel in sorted(set(local) | set(remote)):
        a, b = local.get(rel), remote.get(rel)
        if a != b:
            lines.append(f"{rel}: local {_short(a)} remote {_short(b)}")
    return "\n".join(lines)


def _short(data: bytes | None) -> str:
    if data is None:
        return "-"
    return repr(data[:40]) + (f"...({len(data)} B)" if len(data) > 40 else "")


def trash_contents(root: Path) -> dict[str, bytes]:
    return read_tree(root / TRASH)
