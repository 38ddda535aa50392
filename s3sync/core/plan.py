"""Actions and plans: what a sync intends to do, each with the reason why.

Rule: an action carries the state it expects to replace (its precondition), so the
executor can refuse to act on a path that changed after planning.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from s3sync.core.model import LocalEntry, RemoteEntry, Side
from s3sync.core.paths import RelPath


class Preserve(enum.Enum):
    """Where the version an action replaces or removes is kept first."""

    NOTHING = "nothing"  # the version is already on the other side, or is the user's own delete
    TRASH = "trash"  # moved (local) or downloaded (remote) into the pair's trash


@dataclass(frozen=True, slots=True)
class Upload:
    rel: RelPath
    local: LocalEntry
    expect_remote: RemoteEntry | None  # what the key must still be; None: must be absent
    reason: str
    preserve_remote: Preserve = Preserve.NOTHING
    action = "upload"


@dataclass(frozen=True, slots=True)
class Download:
    rel: RelPath
    remote: RemoteEntry
    expect_local: LocalEntry | None  # what the file must still be; None: must be absent
    reason: str
    preserve_local: Preserve = Preserve.NOTHING
    action = "download"


@dataclass(frozen=True, slots=True)
class DeleteLocal:
    rel: RelPath
    expect_local: LocalEntry
    reason: str
    action = "delete_local"


@dataclass(frozen=True, slots=True)
class DeleteRemote:
    rel: RelPath
    expect_remote: RemoteEntry
    reason: str
    preserve_remote: Preserve = Preserve.NOTHING
    action = "delete_remote"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Both sides changed differently: ``winner`` keeps the name on both sides.

    With ``copy_rel`` (keep-both) the loser becomes that conflict copy on both sides;
    without it the loser goes to the trash.
    """

    rel: RelPath
    local: LocalEntry
    remote: RemoteEntry
    winner: Side
    copy_rel: RelPath | None
    reason: str
    action = "conflict"


@dataclass(frozen=True, slots=True)
class Displace:
    """A file stands where a folder must be (files below ``rel`` exist on some side).

    The folder keeps the name: the file's versions move aside to conflict copies on
    both sides — the local file to ``local_copy``, the object to ``remote_copy`` — and
    ``rel`` is freed. ``same``: both sides hold one version; it moves to ``local_copy``
    alone.
    """

    rel: RelPath
    local: LocalEntry | None
    remote: RemoteEntry | None
    local_copy: RelPath | None
    remote_copy: RelPath | None
    same: bool
    reason: str
    action = "conflict"


@dataclass(frozen=True, slots=True)
class SetMode:
    """Only the permissions changed: ``mode`` is carried to ``side``, no content moves.

    ``local`` and ``remote`` are what both sides must still be (the remote one by ETag)."""

    rel: RelPath
    local: LocalEntry
    remote: RemoteEntry
    side: Side
    mode: int
    md5: str | None
    reason: str
    action = "metadata"


@dataclass(frozen=True, slots=True)
class Record:
    """Both sides hold the same content: write the base row, move no data."""

    rel: RelPath
    local: LocalEntry
    remote: RemoteEntry
    md5: str | None
    reason: str
    action = "record"


@dataclass(frozen=True, slots=True)
class Forget:
    rel: RelPath
    reason: str
    action = "forget"


@dataclass(frozen=True, slots=True)
class Skip:
    rel: RelPath
    reason: str
    action = "skipped"


Action = Upload | Download | DeleteLocal | DeleteRemote | Conflict | Displace | SetMode | Record | Forget | Skip

TRANSFERS = (Upload, Download, DeleteLocal, DeleteRemote, Conflict, Displace, SetMode)
# Actions that free a name: where a plan also creates something at or below that name,
# they must be done first (a file deleted before a folder of its name is made).
FREEING = (DeleteLocal, DeleteRemote, Displace)


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...]

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def counts(self) -> Counter[str]:
        return Counter(a.action for a in self.actions)

    def changes(self) -> list[Action]:
        """The actions that move or delete data (what a dry run lists)."""
        return [a for a in self.actions if isinstance(a, TRANSFERS)]

    def deletes(self, side: Side) -> int:
        kind = DeleteLocal if side is Side.LOCAL else DeleteRemote
        return sum(1 for a in self.actions if isinstance(a, kind))

    def is_quiet(self) -> bool:
        """Nothing to move, delete or record: both sides and the base already agree."""
        return all(isinstance(a, Skip) for a in self.actions)

    @classmethod
    def of(cls, actions: Iterable[Action]) -> Plan:
        return cls(tuple(sorted(actions, key=lambda a: a.rel)))
