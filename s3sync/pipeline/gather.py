"""Gather, for a full sync: what the whole pair looks like on both sides and in the base."""

from __future__ import annotations

import asyncio

import structlog

from s3sync import errors
from s3sync.adapters import localfs
from s3sync.core.paths import RelPath, nfc
from s3sync.core.plan import Action, Forget
from s3sync.pipeline.context import Context, Counts, Gathered
from s3sync.snapshot import Snapshots

log = structlog.get_logger()


async def gather_all(ctx: Context) -> Gathered:
    """The whole pair: the local scan and the remote listing side by side, and the base."""
    scan_job = asyncio.to_thread(
        localfs.scan, ctx.spec.local_root, ctx.filter.excluded,
        follow_symlinks=ctx.spec.options.follow_symlinks, is_temp=ctx.own.is_temp,
        links=ctx.spec.options.links,
    )
    scan, listed = await asyncio.gather(scan_job, ctx.list_remote())
    base = ctx.state.load_base()
    recorded = ctx.state.get_json("identity")
    if recorded is not None and base and recorded != ctx.identity():
        if not scan.entries and not ctx.force:
            # An empty folder that is not the one this pair synced is what the mount
            # point of an unmounted disk looks like. Dropping the base here would blind
            # the emptied-root rail (and fill the mount point from the bucket).
            raise errors.SafetyAbort([
                f"the local folder {ctx.spec.local_root} is empty and is not the folder "
                f"this pair synced before ({len(base)} files; unmounted disk?)",
                "nothing was changed; use --force to sync it as a new folder",
            ])
        log.warning("state_identity_changed", reason="treating this run as a first sync")
        base = {}
        if not ctx.dry_run:
            ctx.state.clear()
    retired: list[Action] = []
    for rel in list(base):
        if ctx.filter.excluded_file(rel):
            del base[rel]
            retired.append(Forget(rel, "excluded"))
    snaps = Snapshots(base, scan.entries, listed.entries, retired, [*scan.skipped, *listed.skipped],
                      scan.disk_names, scan.temp_files, listed.key_names, listed.markers,
                      scan.folders, scan.empty)
    # A path the scan skipped (unreadable folder, symlink not followed, FIFO, file we
    # could not stat) or two keys of one name are unknown, not deleted. Below a
    # symlinked folder that matters twice: its base rows must not become remote
    # deletes, and its remote keys must not be downloaded through the link.
    blocked = {RelPath(nfc(disk.rstrip("/"))) for disk, _why in scan.skipped}
    blocked.update(scan.unreadable, listed.collided)
    snaps.leave_alone(blocked, set(scan.links), ctx.spec.prefix)
    for message in snaps.skipped:
        log.warning("path_skipped", rel=message[0], reason=message[1])
    return Gathered(snaps, Counts(len(snaps.base), len(snaps.local), len(snaps.remote)))
