"""Carrying out a ``core.folders`` plan: folders made or removed here, markers put or
deleted there, and the markers the pair has synced kept in its state DB.

Runs after a full sync's file actions (folders are implied by the files in them; only
what no file says is left to markers). A step that fails is logged and left to the next
run; the base keeps only what was done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import structlog

from s3sync import errors
from s3sync.adapters import localfs
from s3sync.adapters.s3 import Precondition
from s3sync.adapters.statedb import StateStore
from s3sync.core.change import Mode
from s3sync.core.folders import plan_folders
from s3sync.core.paths import RelPath
from s3sync.ports import ObjectStore
from s3sync.snapshot import Snapshots

log = structlog.get_logger()


async def carry_folders(
    store: ObjectStore, state: StateStore, snaps: Snapshots, *, root: Path, bucket: str, prefix: str,
    mode: str, no_delete: bool, empty_dirs: bool,
) -> None:
    if snaps.markers is None:
        return  # no whole listing: nothing is known of the markers
    base = state.load_markers()
    plan = plan_folders(base, snaps.markers, snaps.local_folders, snaps.local_empty,
                        mode=Mode(mode), no_delete=no_delete, empty_dirs=empty_dirs)
    synced = set(plan.synced)
    for rel in plan.make_local:
        _step(rel, "folder_made", lambda r: localfs.make_folders(root, root / r))
    for rel in plan.remove_local:
        _step(rel, "folder_removed", lambda r: os.rmdir(localfs.path_in_root(root, r)))
    for rel in plan.make_remote:
        try:
            await store.put_bytes(bucket, f"{prefix}{rel}/", b"", precondition=Precondition(absent=True))
            log.info("marker_uploaded", rel=rel, key=f"{prefix}{rel}/", bytes=0)
        except errors.ConflictWriteError:
            pass  # made by someone else meanwhile: the same marker
        except errors.S3SyncError as exc:
            synced.discard(rel)
            log.warning("marker_failed", rel=rel, reason=str(exc))
    for rel in plan.remove_remote:
        try:
            await store.delete(bucket, f"{prefix}{rel}/")
            log.info("marker_deleted", rel=rel, key=f"{prefix}{rel}/")
        except errors.NotFoundError:
            pass
        except errors.S3SyncError as exc:
            synced.add(rel)
            log.warning("marker_failed", rel=rel, reason=str(exc))
    state.set_markers(synced - base, base - synced)


def _step(rel: RelPath, event: str, do: Callable[[RelPath], object]) -> None:
    """A local folder step. One that cannot be done (a file where the folder goes, a
    folder no longer empty) is left as it is: a folder not made stays recorded (it is not
    tried again), a folder not removed is forgotten (it has content now)."""
    try:
        do(rel)
    except (OSError, errors.LocalIOError) as exc:
        log.warning("folder_skipped", rel=rel, reason=getattr(exc, "strerror", None) or str(exc))
        return
    log.info(event, rel=rel)
