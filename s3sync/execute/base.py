"""The executor's shared ground: its values (``Target``, ``Tally``, ``Failure``), the
``Stale`` signal, and the parts every kind of action uses (names, conditions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from s3sync.adapters.localtree import LocalTree
from s3sync.adapters.s3 import Precondition
from s3sync.adapters.statedb import StateStore
from s3sync.core.dialect import UNPROBED, Dialect
from s3sync.core.model import LocalEntry, RemoteEntry, Side
from s3sync.core.own import OwnNames
from s3sync.core.paths import RelPath, conflict_name, key_for, link_name
from s3sync.ports import ObjectStore

# The local side of a base row that no file can match (size -1): the next run sees any
# local version as an edit, never as "unchanged".
NO_LOCAL_VERSION = LocalEntry(-1, 0)

@dataclass(frozen=True, slots=True)
class Failure:
    rel: str
    action: str
    reason: str

@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    bytes_up: int = 0
    bytes_down: int = 0
    failures: list[Failure] = field(default_factory=list)
    conflict_copies: list[str] = field(default_factory=list)

    def add(self, action: str, n: int = 1) -> None:
        self.counts[action] = self.counts.get(action, 0) + n

class Stale(Exception):
    """The path changed after planning; the action stepped aside and the next run re-plans it."""

@dataclass
class Target:
    bucket: str
    prefix: str
    root: Path
    trash_root: Path
    use_trash: bool
    disk_names: dict[RelPath, str]
    stamp: str
    key_names: Mapping[RelPath, str] = field(default_factory=dict)
    own: OwnNames = field(default_factory=lambda: OwnNames(b""))
    follow_symlinks: bool = False
    links: bool = False  # symlinks are ``NAME.rclonelink`` paths (``localtree``)
    permissions: bool = True  # file modes travel as rclone's ``mode`` metadata
    content_types: bool = True  # uploads carry a Content-Type guessed from the name

class Base:
    """What every kind of action shares: the store, the pair's folder and state, the
    server's write dialect as learned so far (``core.dialect``), and the run's tally."""

    def __init__(
        self,
        store: ObjectStore,
        target: Target,
        state: StateStore,
        *,
        concurrency: int,
        on_progress: Callable[[int, int], None] | None = None,
        dialect: Dialect = UNPROBED,
    ) -> None:
        self.store = store
        self.t = target
        self.state = state
        self.concurrency = concurrency
        self.tally = Tally()
        self.local = LocalTree(target.root, target.disk_names, target.follow_symlinks, target.links)
        self._on_progress = on_progress or (lambda files, nbytes: None)
        # Replaced, never changed in place, when a refusal teaches something: the engine
        # remembers the run's last value for the next run.
        self.dialect = dialect

    def key(self, rel: RelPath) -> str:
        """The object's key: as the bucket spells it where it was listed, else from ``rel``."""
        return key_for(RelPath(self.t.key_names.get(rel, rel)), self.t.prefix)

    def _precondition(self, expect: RemoteEntry | None) -> Precondition | None:
        if not self.dialect.conditional_writes:
            return None
        if expect is None:
            return Precondition(absent=True)
        return Precondition(etag=expect.etag, quote_etag=self.dialect.quote_etag)

    async def _free_copy_name(self, rel: RelPath) -> RelPath:
        stamp, n = self.t.stamp, 1
        while True:
            copy = conflict_name(rel, stamp, Side.REMOTE.value)
            if not self.local.taken(copy) and await self.store.head(
                self.t.bucket, self.key(copy)
            ) is None:
                return copy
            n += 1
            stamp = f"{self.t.stamp}-{n}"

    def _trash_name(self, rel: RelPath) -> str:
        """Where in the trash a local version goes: its own name (a link's, for a link)."""
        return link_name(rel) or rel if self.local.is_link(rel) else rel
