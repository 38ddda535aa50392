"""What a scoped pass looks at: the paths a hint named (files, and folders standing for
everything below them), as named on disk; ``hint_paths`` makes one from watcher events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from s3sync.core.own import IGNORE_FILE


@dataclass
class Scope:
    """Paths to look at, relative to the root as named on disk (not yet NFC).

    ``folders`` stand for everything below them (a folder created, moved or deleted
    as a whole sends no event for its files). ``full`` asks for a full sync instead.
    """

    files: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    full: bool = False

    def merge(self, other: Scope) -> None:
        self.files |= other.files
        self.folders |= other.folders
        self.full = self.full or other.full

    def __len__(self) -> int:
        return len(self.files) + len(self.folders)

    def __bool__(self) -> bool:
        return self.full or bool(self.files) or bool(self.folders)

    def take(self) -> Scope:
        """Hand the collected paths over and start empty again."""
        taken = Scope(self.files, self.folders, self.full)
        self.files, self.folders, self.full = set(), set(), False
        return taken

    def without(self, folder: str) -> Scope:
        """The scope less ``folder`` and everything below it."""
        def kept(disk: str) -> bool:
            return disk != folder and not disk.startswith(folder + "/")

        return Scope({f for f in self.files if kept(f)}, {f for f in self.folders if kept(f)}, self.full)

    def narrowed(self) -> Scope:
        """Drop paths already covered by a folder of the scope."""
        folders = {f for f in self.folders if not _under_any(f, self.folders - {f})}
        files = {f for f in self.files if not _under_any(f, folders)}
        return Scope(files, folders, self.full)


def _under_any(disk: str, folders: Iterable[str]) -> bool:
    return any(disk.startswith(folder + "/") for folder in folders)


def hint_paths(event_paths: Iterable[tuple[str, bool]], root: str) -> Scope:
    """Turn (absolute path, is a folder) pairs from the watcher into a scope.

    A change to the root itself or to ``.s3syncignore`` (which changes what the whole
    pair sees) asks for a full sync. s3sync's own names (our temp files among them) are
    dropped by the pass, by the same rule as every pass (``core.own``).
    """
    scope = Scope()
    prefix = root.rstrip("/") + "/"
    for raw, is_dir in event_paths:
        if raw.rstrip("/") == root.rstrip("/"):
            scope.full = True
            continue
        if not raw.startswith(prefix):
            continue
        disk = raw[len(prefix):].rstrip("/")
        if not disk:
            continue
        if disk == IGNORE_FILE:
            scope.full = True
        (scope.folders if is_dir else scope.files).add(disk)
    return scope
