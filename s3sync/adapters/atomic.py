"""Replacing a file in one step, on the condition that it is still what was checked.

Where the kernel has ``renameat2`` the check and the rename are one step (RENAME_NOREPLACE
for a new name, RENAME_EXCHANGE for a replacement, then the displaced file is checked and
put back if the user wrote it meanwhile); elsewhere check, then rename (a window of
microseconds). Every install of a download and every move of a file aside goes through
here, so a write by the user in that moment is never lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import sys
from pathlib import Path

from s3sync import errors
from s3sync.adapters.localfs import same_file_state, stat_entry
from s3sync.core.model import LocalEntry


def install(tmp: Path, dest: Path, mtime_ns: int, *, link: bool = False) -> LocalEntry:
    """Give ``tmp`` its source mtime and rename it over ``dest`` in one step.

    ``link``: ``tmp`` is a symlink (``localfs.link_entry``), never followed."""
    try:
        os.utime(tmp, ns=(mtime_ns, mtime_ns), follow_symlinks=not link)
        os.replace(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno == errno.EISDIR or dest.is_dir():
            raise errors.LocalIOError(f"a folder stands where file {dest} should go") from exc
        raise errors.LocalIOError(f"cannot write {dest}: {exc.strerror}") from exc
    entry = stat_entry(dest, link=link)
    if entry is None:
        raise errors.LocalIOError(f"{dest} vanished right after it was written")
    return entry


class Changed(Exception):
    """The destination moved on since it was checked; the temp file is left in place."""


class _NoAtomicRename(Exception):
    pass


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_renameat2 = getattr(_libc, "renameat2", None)


def _rename2(src: Path, dst: Path, flags: int) -> None:
    if _renameat2 is None:
        raise _NoAtomicRename
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        raise _NoAtomicRename  # a filesystem without these flags
    raise OSError(err, os.strerror(err), str(dst))


def install_if(tmp: Path, dest: Path, mtime_ns: int, expect: LocalEntry | None, *, link: bool = False) -> LocalEntry:
    """``install``, on the condition that ``dest`` still is ``expect`` (None: absent).

    Where the kernel has ``renameat2`` the check and the rename are one step: a new file
    goes in only if nothing appeared at ``dest`` meanwhile (RENAME_NOREPLACE), and a
    replacement is exchanged with ``dest`` (RENAME_EXCHANGE) and the file it displaced
    checked after: if the user wrote it between the caller's check and now, it is
    exchanged back. Elsewhere: check, then rename (a window of microseconds).
    Raises ``Changed``, with ``tmp`` still holding the new content, when ``dest`` moved on.
    """
    try:
        os.utime(tmp, ns=(mtime_ns, mtime_ns), follow_symlinks=not link)
        _rename2(tmp, dest, _RENAME_NOREPLACE if expect is None else _RENAME_EXCHANGE)
    except _NoAtomicRename:
        if dest.is_dir():
            raise errors.LocalIOError(f"a folder stands where file {dest} should go") from None
        current = stat_entry(dest, link=link)
        if not same_file_state(current, expect) or (expect is None and os.path.lexists(dest)):
            raise Changed from None
        return install(tmp, dest, mtime_ns, link=link)
    except (FileExistsError, FileNotFoundError) as exc:
        if dest.is_dir():
            raise errors.LocalIOError(f"a folder stands where file {dest} should go") from exc
        raise Changed from exc
    except OSError as exc:
        raise errors.LocalIOError(f"cannot write {dest}: {exc.strerror}") from exc
    if expect is not None:
        displaced = stat_entry(tmp, link=link)
        if displaced is None or not same_file_state(displaced, expect):
            # Written (or replaced by a folder) after the caller looked: put it back.
            try:
                _rename2(tmp, dest, _RENAME_EXCHANGE)
            except OSError as exc:
                raise errors.LocalIOError(f"cannot restore {dest}: {exc.strerror}") from exc
            if dest.is_dir():
                raise errors.LocalIOError(f"a folder stands where file {dest} should go")
            raise Changed
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # the version the caller expected: the one that was synced
    entry = stat_entry(dest, link=link)
    if entry is None:
        raise errors.LocalIOError(f"{dest} vanished right after it was written")
    return entry


def move_aside_if(path: Path, aside: Path, expect: LocalEntry, *, link: bool = False) -> bool:
    """Move ``path`` to the free name ``aside`` if it still is ``expect``; True if so.

    Checked on what was moved, after the move: a version the user wrote between the
    caller's look and the rename is put back (False). Where its name was taken again
    meanwhile, that version stays at ``aside`` (False, and ``aside`` exists): kept.
    """
    try:
        try:
            _rename2(path, aside, _RENAME_NOREPLACE)
        except _NoAtomicRename:
            os.rename(path, aside)
    except FileNotFoundError:
        return False  # gone meanwhile: nothing of the user's was moved
    except OSError as exc:
        raise errors.LocalIOError(f"cannot move {path} to {aside}: {exc.strerror}") from exc
    if same_file_state(stat_entry(aside, link=link), expect):
        return True
    with contextlib.suppress(FileExistsError):
        try:
            _rename2(aside, path, _RENAME_NOREPLACE)
        except _NoAtomicRename:
            if not os.path.lexists(path):
                os.rename(aside, path)
    return False
