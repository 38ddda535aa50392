"""What every stage of a pass reads (``Context``), and what gather hands on (``Gathered``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from s3sync.adapters.statedb import StateStore, lock_name
from s3sync.config import SyncOptions
from s3sync.core.own import OwnNames
from s3sync.filters import Filter
from s3sync.ports import ObjectStore
from s3sync.snapshot import RemoteListing, Snapshots


@dataclass(frozen=True)
class PairSpec:
    name: str
    local_root: Path
    bucket: str
    prefix: str
    options: SyncOptions

    def lock_file(self, state_dir: Path, endpoint: str | None, kind: str = "") -> Path:
        """A lock of this pair, named from its folder's resolved path (``lock_name``)."""
        return state_dir / f"{lock_name(self.local_root, endpoint, self.bucket, self.prefix)}{kind}.lock"


class FullSyncNeeded(Exception):
    """A scoped pass cannot be trusted here (no history yet, or foreign state)."""


class NothingChanged(Exception):
    """A poll found the listing equal to the base and had no paths to look at."""


@dataclass(frozen=True)
class Context:
    """One pass of one pair, under its lock: the store, the state, the pair's own names
    and its filter (keyed and read once the lock is held)."""

    store: ObjectStore
    spec: PairSpec
    state: StateStore
    own: OwnNames
    filter: Filter
    force: bool = False
    dry_run: bool = False

    def identity(self) -> dict[str, object]:
        """What the pair's history belongs to: the folder (device and inode) and the bucket."""
        st = self.spec.local_root.stat()
        return {"dev": st.st_dev, "ino": st.st_ino, "root": str(self.spec.local_root),
                "endpoint": self.store.conn.endpoint_url, "bucket": self.spec.bucket,
                "prefix": self.spec.prefix}

    async def list_remote(self, under: str = "") -> RemoteListing:
        """The keys below the prefix (and ``under``, a folder prefix relative to it), complete."""
        listing = RemoteListing(self.spec.prefix, self.filter)
        async for page in self.store.list_pages(self.spec.bucket, self.spec.prefix + under):
            for info in page:
                listing.add(info)
        return listing


@dataclass(frozen=True)
class Counts:
    """How many files each side holds, for the rails: exact where known, else estimated."""

    base: int
    local: int
    remote: int


@dataclass
class Gathered:
    """What gather found: the snapshots, each side's population for the rails, and for a
    scoped pass the paths it left for later (still being written) and how many it saw."""

    snaps: Snapshots
    counts: Counts
    deferred: set[str] = field(default_factory=set)
    looked_at: int = -1  # -1: everything (a full sync)
