"""What a sync did, in one type for every reader: ``SyncSummary`` (the API's value, the
CLI's ``--json`` and one-line report, the service's log and status all come from it).

The JSON keys (``upload``, ``download``, …) are a contract; ``COUNTS`` names them, in
the order they are reported, with the words the one-line report uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from s3sync.core.plan import Plan
from s3sync.execute.base import Tally

# JSON key -> the words of the one-line report, in report order.
COUNTS = {
    "upload": "uploaded", "download": "downloaded", "delete_local": "deleted locally",
    "delete_remote": "deleted remotely", "conflict": "conflicts", "metadata": "permissions updated",
    "failed": "failed",
}
TRANSFERS = ("upload", "download", "delete_local", "delete_remote", "conflict")


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

    def counts(self) -> dict[str, int]:
        """The action counts by their JSON key."""
        return {"upload": self.uploaded, "download": self.downloaded, "delete_local": self.deleted_local,
                "delete_remote": self.deleted_remote, "conflict": self.conflicts, "metadata": self.metadata,
                "failed": self.failed}

    def as_json(self) -> dict[str, object]:
        """``s3sync sync --json``'s object (without the dry run's ``plan``)."""
        return {
            "pair": self.pair, "dry_run": self.dry_run, **self.counts(), "skipped": self.skipped,
            "bytes_up": self.bytes_up, "bytes_down": self.bytes_down, "seconds": round(self.seconds, 3),
            "conflict_copies": list(self.conflict_copies),
            "failures": [{"rel": f.path, "action": f.action, "reason": f.reason} for f in self.failures],
        }

    def report(self) -> str:
        """The one-line report: ``3 uploaded, 1 conflicts (0.4 s)``."""
        return report_counts({**self.counts(), "skipped": self.skipped}, ("skipped",))


def report_counts(counts: dict[str, int], extra: Iterable[str] = ()) -> str:
    """``3 uploaded, 1 deleted locally``: the non-zero counts in report order."""
    labels = {**COUNTS, **{name: name for name in extra}}
    order = [*(k for k in COUNTS if k != "failed"), *extra, "failed"]
    return ", ".join(f"{counts[k]} {labels[k]}" for k in order if counts.get(k))


def outcome(pair: str, tally: Tally, seconds: float, dry_run: bool, plan: Plan | None,
            unmapped: int) -> SyncSummary:
    """A run's ``SyncSummary``: a copy of the tally, so it cannot change later.
    ``unmapped``: paths no side could map (skipped, as the executor's skips are)."""
    counts = tally.counts
    return SyncSummary(
        pair=pair,
        dry_run=dry_run,
        uploaded=counts.get("upload", 0),
        downloaded=counts.get("download", 0),
        deleted_local=counts.get("delete_local", 0),
        deleted_remote=counts.get("delete_remote", 0),
        conflicts=counts.get("conflict", 0),
        skipped=counts.get("skipped", 0) + unmapped,
        failed=counts.get("failed", 0),
        bytes_up=tally.bytes_up,
        bytes_down=tally.bytes_down,
        seconds=seconds,
        conflict_copies=tuple(sorted(tally.conflict_copies)),
        failures=tuple(SyncFailure(f.rel, f.action, f.reason) for f in tally.failures),
        planned=tuple(PlannedChange(a.action, a.rel, a.reason) for a in plan.changes()) if plan is not None else (),
        metadata=counts.get("metadata", 0),
    )
