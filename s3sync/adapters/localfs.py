"""The local edge: scanning a root, hashing, the root rule for paths, and the trash
(the atomic installs are in ``atomic``).

A scan is a streaming ``os.scandir`` walk recording size and mtime only; hashes are
computed later, for the few paths a decision needs. Symlinks are not followed unless
asked; FIFOs, sockets and devices are skipped; an unreadable folder is reported so
that its files are not mistaken for deleted ones.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3sync import errors
from s3sync.adapters.localio import file_md5
from s3sync.core.model import PERMISSION_BITS, LocalEntry
from s3sync.core.own import NONCE_HEX, TRASH_DIR, OwnNames
from s3sync.core.paths import LINK_SUFFIX, RelPath, link_name, nfc

__all__ = ["TRASH_DIR"]


def temp_path(dest: Path, own: OwnNames) -> Path:
    """A hidden name beside ``dest``, tagged as this pair's own (see ``core.own``)."""
    leaf = dest.name if len(dest.name.encode("utf-8", "surrogateescape")) <= 200 else ""
    return dest.with_name(own.temp_name(leaf, os.urandom(NONCE_HEX // 2).hex()))


def ignores_case(root: Path, own: OwnNames) -> bool:
    """Does the folder's filesystem take names equal but for case as one (macOS, FAT)?

    Asked by making a temp-named file (removed at once, and by the next start if we are
    killed) and looking for it under its upper-case name. A folder we cannot write to
    receives no downloads, so there the answer does not matter: False.
    """
    probe = temp_path(root / "case", own)
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        return False
    try:
        return (root / probe.name.upper()).exists()
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


Excluded = Callable[[str, bool], bool]  # (relative path, is a folder) -> hidden?


@dataclass
class Scan:
    entries: dict[RelPath, LocalEntry] = field(default_factory=dict)
    # rel -> the name on disk, where the disk's name is not already NFC.
    disk_names: dict[RelPath, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    unreadable: list[RelPath] = field(default_factory=list)  # folders whose content is unknown
    links: list[RelPath] = field(default_factory=list)  # symlinks not followed
    folders: set[RelPath] = field(default_factory=set)  # every folder walked, the root aside
    empty: set[RelPath] = field(default_factory=set)  # those of them with no entry at all
    temp_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Walk:
    """How a scan treats what it finds (one value, passed down the walk)."""

    excluded: Excluded
    is_temp: Callable[[str], bool]
    follow_symlinks: bool
    links: bool  # symlinks kept as links (``NAME.rclonelink`` entries), never followed


def scan(
    root: Path, excluded: Excluded, *, follow_symlinks: bool = False, is_temp: Callable[[str], bool] | None = None,
    links: bool = False,
) -> Scan:
    """Walk ``root``; ``is_temp`` tells this pair's own leftover temp files (collected in
    ``temp_files``), which are otherwise hidden like every own name. With ``links`` a
    symlink is an entry of its own (see ``link_entry``)."""
    walk = Walk(excluded, is_temp or _never, follow_symlinks, links)
    result = Scan()
    stack = [""]
    seen_dirs: set[tuple[int, int]] = set()
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(root / folder if folder else root) as entries:
                items = list(entries)
        except FileNotFoundError:
            continue  # vanished while we walked: its files are simply gone
        except OSError as exc:
            if not folder:
                raise errors.LocalIOError(f"cannot read {root}: {exc.strerror}") from exc
            result.unreadable.append(RelPath(nfc(folder)))
            result.skipped.append((folder + "/", f"unreadable folder: {exc.strerror}"))
            continue
        if folder:
            result.folders.add(RelPath(nfc(folder)))
            if not items:
                result.empty.add(RelPath(nfc(folder)))
        for item in items:
            _visit(root, folder, item, walk, result, stack, seen_dirs)
    return result


def _never(name: str) -> bool:
    return False


def _visit(
    root: Path,
    folder: str,
    item: os.DirEntry[str],
    walk: Walk,
    result: Scan,
    stack: list[str],
    seen_dirs: set[tuple[int, int]],
) -> None:
    disk = f"{folder}/{item.name}" if folder else item.name
    if walk.is_temp(item.name):
        result.temp_files.append(root / disk)
        return
    try:
        if item.is_symlink() and not walk.follow_symlinks:
            # Never followed; below it nothing is acted on (``Snapshots.leave_alone``).
            result.links.append(RelPath(nfc(disk)))
            if walk.links:
                _add_link(root, disk, walk, result)
            else:
                result.skipped.append((disk, "symlink (not followed)"))
            return
        st = item.stat(follow_symlinks=True)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP):
            result.skipped.append((disk, f"cannot stat: {exc.strerror}"))
        else:
            result.skipped.append((disk, "broken symlink" if item.is_symlink() else "vanished"))
        return
    if not _is_utf8(disk, result):
        return
    rel = nfc(disk)
    if stat.S_ISDIR(st.st_mode):
        if walk.excluded(rel, True):
            return
        if _unkeyable(item.name, disk, result):
            return
        if (st.st_dev, st.st_ino) in seen_dirs:
            result.skipped.append((disk, "symlink loop"))
            return
        seen_dirs.add((st.st_dev, st.st_ino))
        stack.append(disk)
        return
    if not stat.S_ISREG(st.st_mode):
        result.skipped.append((disk, "not a regular file"))
        return
    if walk.excluded(rel, False):
        return
    if _unkeyable(item.name, disk, result):
        return
    if walk.links and link_name(rel) is not None:
        result.skipped.append((disk, f"a file named *{LINK_SUFFIX} (that name stands for a symlink with --links)"))
        return
    _add(result, RelPath(rel), disk, LocalEntry(st.st_size, st.st_mtime_ns, mode=PERMISSION_BITS[st.st_mode & 0o777]))


def _add(result: Scan, rel: RelPath, disk: str, entry: LocalEntry) -> None:
    if rel in result.entries:
        # Two names equal after Unicode normalisation: syncing either would overwrite
        # the other somewhere, so neither is synced.
        result.skipped.append((disk, "name collides with another after Unicode normalisation"))
        del result.entries[rel]
        return
    result.entries[rel] = entry
    if rel != disk:
        result.disk_names[rel] = disk


def _add_link(root: Path, disk: str, walk: Walk, result: Scan) -> None:
    if not _is_utf8(disk, result):
        return
    rel = RelPath(nfc(disk) + LINK_SUFFIX)
    if walk.excluded(rel, False) or _unkeyable(disk.rpartition("/")[2], disk, result):
        return
    entry = link_entry(root / disk)
    if entry is None:
        result.skipped.append((disk, "vanished"))
        return
    _add(result, rel, disk, entry)


def _is_utf8(disk: str, result: Scan) -> bool:
    try:
        disk.encode("utf-8")
    except UnicodeEncodeError:
        result.skipped.append((disk.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), "name is not valid UTF-8"))
        return False
    return True


def link_entry(path: Path) -> LocalEntry | None:
    """A symlink as a file: its target is the content (size in bytes), its own mtime the
    mtime; no mode (a link has none of its own). None where ``path`` is no symlink."""
    try:
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):
            return None
        return LocalEntry(len(os.fsencode(os.readlink(path))), st.st_mtime_ns)
    except (FileNotFoundError, NotADirectoryError):
        return None


def link_target(path: Path) -> bytes:
    try:
        return os.fsencode(os.readlink(path))
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read the symlink {path}: {exc.strerror}") from exc


def _unkeyable(name: str, disk: str, result: Scan) -> bool:
    """Skip a name whose key the remote listing would refuse to map back to a file.

    Uploaded, such a file would be missing from the next listing, and "remote deleted,
    local unchanged" would move it to the trash. Of the reasons ``why_unmappable``
    knows, only a backslash can occur in a name a directory listing returns.
    """
    if "\\" not in name:
        return False
    result.skipped.append((disk, "backslash in name (a key with one is not mapped back to a file)"))
    return True


def stat_entry(path: Path, *, link: bool = False) -> LocalEntry | None:
    """The regular file at ``path`` (or, with ``link``, the symlink: ``link_entry``)."""
    if link:
        return link_entry(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return LocalEntry(st.st_size, st.st_mtime_ns, mode=PERMISSION_BITS[st.st_mode & 0o777])


def _process_umask() -> int:
    """The umask, read without changing it (``os.umask`` sets it for every thread)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


# A new file without recorded permissions gets what any program here would create.
NEW_FILE_MODE = 0o666 & ~_process_umask()


def set_mode(path: Path, mode: int) -> None:
    """chmod of a regular file, never through a symlink put in its place."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot change the mode of {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, mode & 0o777)
    finally:
        os.close(fd)


def same_file_state(a: LocalEntry | None, b: LocalEntry | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.size == b.size and a.mtime_ns == b.mtime_ns


def hash_file(path: Path, *, link: bool = False) -> str | None:
    """The MD5 of the file's content (with ``link``: of the symlink's target)."""
    try:
        if link:
            return hashlib.md5(os.fsencode(os.readlink(path)), usedforsecurity=False).hexdigest()
        return file_md5(path)
    except OSError:
        return None


def linked_folder(root: Path, disk: str) -> str | None:
    """The first folder on the way from ``root`` to ``disk`` that is a symlink (or cannot
    be looked at), relative to the root; None where the way holds real folders only.

    A path below such a folder is outside the tree s3sync syncs: it is never read,
    written, moved or deleted (unless symlinks are followed). A way that ends early at a
    missing folder or at a file is fine: nothing below it can exist.
    """
    cut = disk.find("/")
    while cut != -1:
        try:
            mode = os.lstat(root / disk[:cut]).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return disk[:cut]
        if stat.S_ISLNK(mode):
            return disk[:cut]
        if not stat.S_ISDIR(mode):
            return None
        cut = disk.find("/", cut + 1)
    return None


def path_in_root(root: Path, disk: str) -> Path:
    """``root / disk``, refused where a folder on the way is a symlink (``linked_folder``)."""
    link = linked_folder(root, disk)
    if link is not None:
        raise errors.LocalIOError(f"{root / link} is a symlink; s3sync does not act below it")
    return root / disk


def ensure_parent(path: Path, root: Path) -> None:
    """Create the folders above ``path``; refuse to step outside ``root`` or through links.

    Each folder is checked from the root down before anything is created in it: a
    symlinked folder (which the scan does not follow) would otherwise carry a download,
    and the folders ``mkdir -p`` creates below it, outside the root.
    """
    make_folders(root, path.parent)


def make_folders(root: Path, folder: Path) -> None:
    """``mkdir -p folder`` below ``root``, checked as ``ensure_parent`` says."""
    if folder == root:
        return
    parent = folder
    folder = root
    for part in parent.relative_to(root).parts:
        folder = folder / part
        try:
            mode = _lstat_mode(folder)
        except OSError as exc:
            raise errors.LocalIOError(f"cannot create folder {folder}: {exc.strerror}") from exc
        if stat.S_ISLNK(mode):
            raise errors.LocalIOError(f"{folder} is a symlink; s3sync does not write through it")
        if not stat.S_ISDIR(mode):
            raise errors.LocalIOError(f"a file stands where folder {folder} is needed")


def _lstat_mode(folder: Path) -> int:
    """The mode of ``folder``, created first if it is missing (looked at first: most
    downloads go into folders that exist, and a failing mkdir costs a syscall too)."""
    try:
        return folder.lstat().st_mode
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):
        folder.mkdir()
    return folder.lstat().st_mode
