"""What changed on each side since the last sync, and which paths a decision needs the
content of (hashes, HEADs): the questions asked of every path before the three-way merge
(``reconcile``) decides. The options of a merge are here too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry
from s3sync.core.paths import RelPath


class Mode(enum.Enum):
    BOTH = "both"
    PUSH = "push"  # make remote match local; local is never touched
    PULL = "pull"  # make local match remote; remote is never touched


class Policy(enum.Enum):
    KEEP_BOTH = "keep-both"
    NEWER = "newer"
    LOCAL = "local"
    REMOTE = "remote"


@dataclass(frozen=True, slots=True)
class Options:
    mode: Mode = Mode.BOTH
    no_delete: bool = False
    conflict: Policy = Policy.KEEP_BOTH
    checksum: bool = False
    stamp: str = "19700101-000000"  # UTC YYYYMMDD-HHMMSS for conflict copy names
    # The local side ignores case (macOS, Windows): names equal but for case are one file
    # there, so only one of them may be written or deleted locally.
    casefold: bool = False
    # File modes are part of a file: a change of them alone is carried to the other side.
    permissions: bool = False


class Change(enum.Enum):
    ABSENT = "absent"
    SAME = "same"
    TOUCHED = "touched"
    NEW = "new"
    CHANGED = "changed"
    DELETED = "deleted"

    @property
    def unchanged(self) -> bool:
        return self in (Change.SAME, Change.TOUCHED)

    @property
    def edited(self) -> bool:
        return self in (Change.NEW, Change.CHANGED)


def classify_local(base: BaseEntry | None, now: LocalEntry | None, checksum: bool) -> Change:
    if base is None:
        return Change.ABSENT if now is None else Change.NEW
    if now is None:
        return Change.DELETED
    if now.size != base.local.size:
        return Change.CHANGED
    if now.mtime_ns == base.local.mtime_ns and not checksum:
        return Change.SAME
    if now.md5 is not None and now.md5 == base.md5:
        return Change.SAME if now.mtime_ns == base.local.mtime_ns else Change.TOUCHED
    return Change.CHANGED


def classify_remote(base: BaseEntry | None, now: RemoteEntry | None) -> Change:
    if base is None:
        return Change.ABSENT if now is None else Change.NEW
    if now is None:
        return Change.DELETED
    if now.size != base.remote.size:
        return Change.CHANGED
    if now.etag == base.remote.etag:
        return Change.SAME
    if now.md5 is not None and now.md5 == base.md5:
        return Change.TOUCHED
    return Change.CHANGED


def _content_may_match(local: LocalEntry | None, remote: RemoteEntry | None) -> bool:
    return local is not None and remote is not None and local.size == remote.size


def paths_needing_hash(
    base: Mapping[RelPath, BaseEntry],
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
    checksum: bool,
) -> list[RelPath]:
    """Local files whose MD5 a decision needs: metadata changed at equal size, or a
    same-size file on the other side whose content might be equal."""
    needed = []
    for rel, entry in local.items():
        if entry.md5 is not None:
            continue
        row = base.get(rel)
        if row is not None and entry.size == row.local.size and (
            checksum or entry.mtime_ns != row.local.mtime_ns
        ):
            needed.append(rel)
            continue
        other = remote.get(rel)
        if _content_may_match(entry, other) and not both_unchanged(row, entry, other):
            needed.append(rel)
    return needed


def paths_needing_remote_md5(
    base: Mapping[RelPath, BaseEntry],
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
) -> list[RelPath]:
    """Objects a decision needs a HEAD for (one request each).

    - The MD5, where the ETag is no plain one and the content must be compared.
    - The ``mtime`` metadata, where the path is a conflict for sure (changed on both
      sides since the base, or on both sides with no base and other sizes): the newer
      version keeps the name, and a listing shows only the upload time. A same-size
      pair with no base is left out: it is most often equal content being adopted,
      which a HEAD per file would make slow; if it is a conflict after all, its
      winner is picked by LastModified.
    """
    needed = []
    for rel, entry in remote.items():
        row = base.get(rel)
        mine = local.get(rel)
        if mine is None or both_unchanged(row, mine, entry):
            continue
        if entry.md5 is None and mine.size == entry.size:
            needed.append(rel)
        elif row is None:
            if mine.size != entry.size:
                needed.append(rel)
        elif entry.etag != row.remote.etag and (
            mine.size != row.local.size or mine.mtime_ns != row.local.mtime_ns
        ):
            needed.append(rel)
    return needed


def both_unchanged(
    row: BaseEntry | None, local: LocalEntry | None, remote: RemoteEntry | None
) -> bool:
    return (
        row is not None
        and local is not None
        and remote is not None
        and local.size == row.local.size
        and local.mtime_ns == row.local.mtime_ns
        and remote.etag == row.remote.etag
    )
