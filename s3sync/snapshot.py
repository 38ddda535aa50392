"""What a pass sees: the base, the local and the remote snapshot of a pair, and the
rule for paths that no pass may act on.

Rule: ``Snapshots.leave_alone`` is the only place that takes a path out of a pass
because it could not be looked at safely; every pass (full, scoped, poll) calls it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from s3sync.adapters.s3 import plain_md5
from s3sync.adapters.s3.listing import Listed
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry
from s3sync.core.own import OwnNames
from s3sync.core.paths import RelPath, nfc, why_unmappable
from s3sync.core.plan import Action, Forget
from s3sync.filters import Filter


@dataclass
class Snapshots:
    base: dict[RelPath, BaseEntry]
    local: dict[RelPath, LocalEntry]
    remote: dict[RelPath, RemoteEntry]
    retired: list[Action]
    skipped: list[tuple[str, str]]
    disk_names: dict[RelPath, str]
    temp_files: list[Path]
    # rel -> the key's name below the prefix, where the bucket spells it otherwise (NFD):
    # every request for an object uses the key as listed.
    key_names: dict[RelPath, str] = field(default_factory=dict)
    markers: set[RelPath] | None = None  # the listing's folder markers; None: not listed whole
    local_folders: set[RelPath] = field(default_factory=set)
    local_empty: set[RelPath] = field(default_factory=set)

    def leave_alone(self, blocked: set[RelPath], links: set[RelPath], prefix: str) -> None:
        """Nothing at or below a ``blocked`` path or one of ``links`` (symlinks not
        followed) is acted on, on either side: such a path is unknown, not deleted.
        Below a link the base rows are retired too: what was synced there is not what
        the link shows (the next sync that sees a real folder there treats it as a first
        sync: nothing is deleted). Other blocked paths (unreadable, vanished during the
        scan, two keys of one name) keep their rows for when they can be seen again."""
        blocked = blocked | links
        if not blocked:
            return
        for rel in [r for r in self.base if _at_or_below(r, blocked)]:
            del self.base[rel]
            if _at_or_below(rel, links):
                self.retired.append(Forget(rel, "at or below a symlink"))
        for rel in [r for r in self.local if _at_or_below(r, blocked)]:
            del self.local[rel]
        if self.markers:
            self.markers = {rel for rel in self.markers if not _at_or_below(rel, blocked)}
        self.local_empty = {rel for rel in self.local_empty if not _at_or_below(rel, blocked)}
        for rel in [r for r in self.remote if _at_or_below(r, blocked)]:
            del self.remote[rel]
            if rel not in blocked:
                self.skipped.append((prefix + self.key_names.get(rel, rel), "below a local path that is skipped"))


def _at_or_below(rel: RelPath, blocked: set[RelPath]) -> bool:
    """Is ``rel`` one of ``blocked`` or inside one of them?"""
    if rel in blocked:
        return True
    cut = rel.find("/")
    while cut != -1:
        if rel[:cut] in blocked:
            return True
        cut = rel.find("/", cut + 1)
    return False


def reuse_recorded_hashes(snaps: Snapshots) -> None:
    """A file with the size and mtime of its base row has the row's MD5: no need to hash
    it. Only where the remote side changed can a decision ask for it; a path unchanged on
    both sides is left as it is (on a no-op sync that is every path)."""
    local, remote = snaps.local, snaps.remote
    for rel, row in snaps.base.items():
        entry = local.get(rel)
        if entry is None or not row.md5 or entry.size != row.local.size or entry.mtime_ns != row.local.mtime_ns:
            continue
        other = remote.get(rel)
        if other is not None and other.size == row.remote.size and other.etag == row.remote.etag:
            continue
        local[rel] = dataclasses.replace(entry, md5=row.md5)


def metadata_replaced(listed_ns: int, known_ns: int | None) -> bool:
    """Did an object whose content is its base row's have its metadata replaced since?

    Its LastModified moved on. Our own upload's row has the time of the PUT's reply,
    which may be a second short of it: a second's difference is no change. A row that
    does not know the time (0 or None) cannot tell: no.
    """
    return known_ns is not None and known_ns != 0 and listed_ns > known_ns + 1_000_000_000


def carry_remote_metadata(snaps: Snapshots, look_at_touched: bool) -> list[RelPath]:
    """An object listed as its base row knows it (name, size, ETag, LastModified) has the
    row's mode: no HEAD. One whose LastModified moved on while its content did not had
    its metadata replaced (a chmod elsewhere): returned, to be looked at (HEAD), where
    ``look_at_touched`` (``metadata_replaced``); the plan records the listed time."""
    touched: list[RelPath] = []
    remote = snaps.remote
    for rel, row in snaps.base.items():
        entry = remote.get(rel)
        if entry is None or entry.etag != row.remote.etag or entry.size != row.remote.size:
            continue
        if look_at_touched and metadata_replaced(entry.modified_ns, row.remote.modified_ns):
            touched.append(rel)
        elif entry.mode != row.remote.mode:
            remote[rel] = dataclasses.replace(entry, mode=row.remote.mode)
    return touched


class RemoteListing:
    """A listing's keys as relative paths: what cannot be a file, or is hidden, left out;
    two keys that are one name after Unicode normalisation both left out (``collided``)."""

    def __init__(self, prefix: str, hidden: Filter) -> None:
        self._prefix = prefix
        self._hidden = hidden
        self.entries: dict[RelPath, RemoteEntry] = {}
        self.key_names: dict[RelPath, str] = {}
        self.skipped: list[tuple[str, str]] = []
        self.collided: set[RelPath] = set()
        self.markers: set[RelPath] = set()  # folders that ``name/`` keys stand for

    def add(self, info: Listed) -> None:
        name = info.key[len(self._prefix):]
        if name.endswith("/") and info.size == 0:
            self._add_marker(name[:-1])
            return
        why = why_unmappable(name)
        if why is not None:
            self.skipped.append((info.key, f"key cannot be a local file: {why}"))
            return
        rel = RelPath(nfc(name))
        if self._hidden.excluded_file(rel):
            return
        if rel in self.entries or rel in self.collided:
            self.skipped.append((info.key, "key collides with another after Unicode normalisation"))
            self.entries.pop(rel, None)
            self.collided.add(rel)
            return
        modified = info.modified_ns
        self.entries[rel] = RemoteEntry(info.size, info.etag, modified, plain_md5(info.etag), modified)
        if rel != name:
            self.key_names[rel] = name

    def _add_marker(self, folder: str) -> None:
        """A zero-byte ``folder/`` key, as web consoles make for an empty folder: never a
        file; the folder it names (when it can be one, and is not hidden)."""
        if not folder or why_unmappable(folder) is not None:
            return
        rel = RelPath(nfc(folder))
        if not self._hidden.excluded(rel, True):
            self.markers.add(rel)

    @classmethod
    def of(cls, entries: dict[RelPath, RemoteEntry], key_names: dict[RelPath, str],
           collided: set[RelPath]) -> RemoteListing:
        listing = cls("", Filter([], OwnNames(b"")))
        listing.entries, listing.key_names, listing.collided = entries, key_names, collided
        return listing

    def picked(self, rels: set[RelPath], folders: set[RelPath]) -> RemoteListing:
        """Only what is one of ``rels`` or below one of ``folders``."""
        prefixes = tuple(f + "/" for f in folders)

        def wanted(rel: RelPath) -> bool:
            return rel in rels or bool(prefixes and rel.startswith(prefixes))

        entries = {rel: entry for rel, entry in self.entries.items() if wanted(rel)}
        names = {rel: name for rel, name in self.key_names.items() if rel in entries}
        return RemoteListing.of(entries, names, {rel for rel in self.collided if wanted(rel)})

    def merge(self, other: RemoteListing) -> None:
        self.entries.update(other.entries)
        self.key_names.update(other.key_names)
        self.collided |= other.collided
