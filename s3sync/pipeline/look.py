"""A fresh look at some paths of the folder, for a scoped pass: each seen as the full
scan would see it (links, excludes, unreadable folders), nothing else read."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from s3sync import errors
from s3sync.adapters import localfs
from s3sync.core.model import PERMISSION_BITS, LocalEntry
from s3sync.core.paths import LINK_SUFFIX, RelPath, link_name, nfc
from s3sync.filters import Filter
from s3sync.pipeline.context import PairSpec


@dataclass
class LocalView:
    entries: dict[RelPath, LocalEntry] = field(default_factory=dict)
    disk_names: dict[RelPath, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unknown: set[RelPath] = field(default_factory=set)  # could not look: never a delete
    unknown_folders: set[RelPath] = field(default_factory=set)
    links: set[RelPath] = field(default_factory=set)  # symlinks not followed

    def add(self, disk: str, entry: LocalEntry, rel: RelPath | None = None) -> None:
        rel = rel or RelPath(nfc(disk))
        self.entries[rel] = entry
        if rel != disk:
            self.disk_names[rel] = disk

    def skip(self, disk: str, why: str) -> None:
        self.skipped.append((disk, why))
        self.unknown.add(RelPath(nfc(disk)))


class LocalLook:
    def __init__(self, spec: PairSpec, hidden: Filter) -> None:
        self.spec = spec
        self.filter = hidden

    def look(self, files: Iterable[str], folders: Iterable[str]) -> LocalView:
        view = LocalView()
        for disk in files:
            self._look_at_file(disk, view)
        for disk in folders:
            self._look_at_folder(disk, view)
        return view

    def _below_link(self, disk: str, view: LocalView) -> bool:
        """Is ``disk`` below a symlinked folder? Then that folder is unknown: never read
        through, and nothing below it is acted on (``Snapshots.leave_alone``)."""
        if self.spec.options.follow_symlinks:
            return False
        link = localfs.linked_folder(self.spec.local_root, disk)
        if link is None:
            return False
        view.links.add(RelPath(nfc(link)))
        view.skipped.append((link, "symlink (not followed)"))
        return True

    def _look_at_file(self, disk: str, view: LocalView) -> None:
        if not is_utf8(disk) or self._below_link(disk, view):
            return
        path = self.spec.local_root / disk
        link = link_name(disk) if self.spec.options.links else None
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if not self.spec.options.follow_symlinks:
                    self._look_at_link(disk, view)
                    return
                st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            if link is not None:
                self._look_at_link(link, view)
            return  # gone: absent is what a fresh stat says
        except OSError as exc:
            why = "broken symlink" if exc.errno in (errno.ENOENT, errno.ELOOP) else f"cannot stat: {exc.strerror}"
            view.skip(disk, why)
            return
        if stat.S_ISDIR(st.st_mode):
            self._look_at_folder(disk, view)
        elif not stat.S_ISREG(st.st_mode):
            view.skip(disk, "not a regular file")
        elif link is not None:
            view.skip(disk, f"a file named *{LINK_SUFFIX} (that name stands for a symlink with --links)")
        elif not self.filter.excluded_file(nfc(disk)):
            view.add(disk, LocalEntry(st.st_size, st.st_mtime_ns, mode=PERMISSION_BITS[st.st_mode & 0o777]))

    def _look_at_link(self, disk: str, view: LocalView) -> None:
        """The symlink ``disk``, never followed: with ``links`` the entry ``disk.rclonelink``.
        Nothing below it is acted on, either way (``Snapshots.leave_alone``)."""
        path = self.spec.local_root / disk
        if not self.spec.options.links:
            if os.path.islink(path):
                view.skip(disk, "symlink (not followed)")
                view.links.add(RelPath(nfc(disk)))
            return
        entry = localfs.link_entry(path)
        if entry is None:
            return  # no symlink there (any more): the link is absent
        view.links.add(RelPath(nfc(disk)))
        rel = RelPath(nfc(disk) + LINK_SUFFIX)
        if not self.filter.excluded_file(rel):
            view.add(disk, entry, rel)

    def _look_at_folder(self, disk: str, view: LocalView) -> None:
        rel = RelPath(nfc(disk))
        path = self.spec.local_root / disk
        if not is_utf8(disk) or self.filter.excluded(rel, True) or self._below_link(disk, view):
            return
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if not self.spec.options.follow_symlinks:
                    self._look_at_link(disk, view)
                    return
                st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return  # the whole folder is gone: a fresh look says absent
        except OSError as exc:
            view.unknown_folders.add(rel)
            view.skipped.append((disk + "/", f"cannot stat: {exc.strerror}"))
            return
        if not stat.S_ISDIR(st.st_mode):
            self._look_at_file(disk, view)
            return
        self._scan_folder(disk, rel, path, view)

    def _scan_folder(self, disk: str, rel: RelPath, path: Path, view: LocalView) -> None:
        try:
            found = localfs.scan(
                path,
                lambda sub, is_dir: self.filter.excluded(f"{rel}/{sub}", is_dir),
                follow_symlinks=self.spec.options.follow_symlinks,
                links=self.spec.options.links,
            )
        except errors.LocalIOError as exc:
            view.unknown_folders.add(rel)
            view.skipped.append((disk + "/", str(exc)))
            return
        for sub, entry in found.entries.items():
            view.add(f"{disk}/{found.disk_names.get(sub, sub)}", entry, RelPath(f"{rel}/{sub}"))
        for folder in found.unreadable:
            view.unknown_folders.add(RelPath(f"{rel}/{folder}"))
        view.links.update(RelPath(f"{rel}/{link}") for link in found.links)
        for sub_disk, why in found.skipped:
            view.skip(f"{disk}/{sub_disk}", why)


def other_name(disk: str) -> str:
    """The other name a file hint may stand for where links are kept: ``NAME`` for
    ``NAME.rclonelink`` and the other way round."""
    return link_name(disk) or disk + LINK_SUFFIX


def is_utf8(disk: str) -> bool:
    try:
        disk.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
