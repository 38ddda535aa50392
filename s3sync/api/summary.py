"""What a sync returns: ``SyncSummary``, its failures and (for a dry run) its planned changes."""

from __future__ import annotations

from dataclasses import dataclass

from s3sync.engine import Result


@dataclass(frozen=True, slots=True)
class SyncFailure:
    """One action of a sync that failed; the rest of the sync still ran."""

    path: str  # relative to the pair's folder and prefix, with / separators
    action: str  # upload, download, delete_local, delete_remote, conflict
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """What a dry run would do to one path, and why."""

    action: str
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """The outcome of one sync of a pair: what ``s3sync sync --json`` prints, typed.

    In a dry run the counts are what the plan would do, no bytes move, and ``planned``
    lists the changes; after a real run ``planned`` is empty.
    """

    pair: str
    dry_run: bool
    uploaded: int
    downloaded: int
    deleted_local: int
    deleted_remote: int
    conflicts: int
    skipped: int
    failed: int
    bytes_up: int
    bytes_down: int
    seconds: float
    conflict_copies: tuple[str, ...] = ()
    failures: tuple[SyncFailure, ...] = ()
    planned: tuple[PlannedChange, ...] = ()
    metadata: int = 0  # files whose permissions alone were carried over, no data moved

    @property
    def ok(self) -> bool:
        """No action failed (the CLI's exit code 0)."""
        return not self.failures

    @property
    def changes(self) -> int:
        """Files moved, deleted or resolved (done, or planned in a dry run)."""
        return (self.uploaded + self.downloaded + self.deleted_local + self.deleted_remote
                + self.conflicts + self.metadata)


def summarize(result: Result) -> SyncSummary:
    """The engine's ``Result`` as the public value: a copy, so it cannot change later."""
    counts = result.tally.counts
    return SyncSummary(
        pair=result.pair,
        dry_run=result.dry_run,
        uploaded=counts.get("upload", 0),
        downloaded=counts.get("download", 0),
        deleted_local=counts.get("delete_local", 0),
        deleted_remote=counts.get("delete_remote", 0),
        conflicts=counts.get("conflict", 0),
        # As in Result.summary(): paths the executor skipped plus paths no side could map.
        skipped=counts.get("skipped", 0) + len(result.skipped),
        failed=counts.get("failed", 0),
        bytes_up=result.tally.bytes_up,
        bytes_down=result.tally.bytes_down,
        seconds=result.seconds,
        conflict_copies=tuple(sorted(result.tally.conflict_copies)),
        failures=tuple(SyncFailure(f.rel, f.action, f.reason) for f in result.tally.failures),
        planned=tuple(
            PlannedChange(a.action, a.rel, a.reason) for a in result.plan.changes()
        ) if result.plan is not None else (),
        metadata=counts.get("metadata", 0),
    )
