"""The pair's folder as a plan's actions see it: where each path is on disk, whether it
is a symlink kept as a link (``--links``), and a fresh look at what is there now.

With ``links`` a symlink ``NAME`` is the path ``NAME.rclonelink`` (``core.paths.link_name``)
whose content is the link's target: it is looked at with ``lstat``, hashed by its
target, written as a new symlink renamed into place, and never followed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from s3sync import errors
from s3sync.adapters import localfs
from s3sync.core.model import LocalEntry
from s3sync.core.own import OwnNames
from s3sync.core.paths import RelPath, link_name

MAX_LINK_TARGET = 4096  # PATH_MAX: a longer body is no symlink's target


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One path of the tree, checked against the root rule once, for one action."""

    path: Path
    link: bool  # a symlink kept as a link: looked at with lstat, hashed by its target

    def stat(self) -> LocalEntry | None:
        return localfs.stat_entry(self.path, link=self.link)

    def hash(self) -> str | None:
        return localfs.hash_file(self.path, link=self.link)


@dataclass(frozen=True)
class LocalTree:
    root: Path
    disk_names: Mapping[RelPath, str]
    follow_symlinks: bool = False
    links: bool = False

    def is_link(self, rel: RelPath) -> bool:
        return self.links and link_name(rel) is not None

    def disk(self, rel: RelPath) -> str:
        """``rel``'s name on disk: as the scan found it, else the link's own name, else ``rel``."""
        known = self.disk_names.get(rel)
        if known is not None:
            return known
        return (link_name(rel) if self.links else None) or rel

    def path(self, rel: RelPath) -> Path:
        """Where ``rel`` is. Every local read, write, move and delete of a plan goes through
        here: a path below a symlinked folder is refused, whatever planned it."""
        if self.follow_symlinks:
            return self.root / self.disk(rel)
        return localfs.path_in_root(self.root, self.disk(rel))

    def file(self, rel: RelPath) -> LocalFile:
        return LocalFile(self.path(rel), self.is_link(rel))

    def taken(self, rel: RelPath) -> bool:
        """Is there anything at all (file, folder, link) at ``rel``'s name?"""
        return os.path.lexists(self.path(rel))


def symlink_from(tmp: Path, own: OwnNames) -> Path:
    """A new symlink, beside ``tmp`` under a temp name, to the target ``tmp`` holds; ``tmp``
    is removed. Its target is never looked at: a link is content, not a way in."""
    try:
        target = tmp.read_bytes()
        if len(target) > MAX_LINK_TARGET or not target or b"\x00" in target:
            raise errors.LocalIOError(f"the object is no symlink target ({len(target)} bytes)")
        link = localfs.temp_path(tmp, own)
        try:
            os.symlink(target, link)
        except OSError as exc:
            raise errors.LocalIOError(f"cannot make the symlink {link}: {exc.strerror}") from exc
        return link
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
