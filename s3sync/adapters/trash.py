"""The local trash: deleted and replaced versions kept under ``.s3sync-trash/<stamp>/``
(owner-only folders, never an overwrite), and the clean-up after deletes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from s3sync import errors
from s3sync.core.own import TRASH_DIR

__all__ = ["TRASH_DIR"]


def make_private_dirs(folder: Path) -> None:
    """``mkdir -p`` where every folder created is owner-only.

    ``Path.mkdir(parents=True, mode=...)`` applies the mode to the last folder only; the
    trash holds the pair's deleted files and must not be readable by others anywhere.
    """
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)


def trash_slot(trash_root: Path, stamp: str, rel: str) -> Path:
    """A free path for ``rel`` under ``trash_root/stamp[-n]/``, its folders created owner-only.

    Never an existing file: two versions trashed under the same stamp must both survive.
    """
    target = trash_root / stamp / rel
    n = 1
    while target.exists():
        n += 1
        target = trash_root / f"{stamp}-{n}" / rel
    try:
        make_private_dirs(target.parent)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot create the trash folder {target.parent}: {exc.strerror}") from exc
    return target


def move_to_trash(path: Path, trash_root: Path, stamp: str, rel: str) -> Path:
    """Move ``path`` under ``trash_root/stamp/rel``; never overwrites an earlier trashed file."""
    target = trash_slot(trash_root, stamp, rel)
    try:
        os.rename(path, target)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot move {path} to the trash: {exc.strerror}") from exc
    return target


def prune_empty_parents(path: Path, root: Path) -> None:
    """Remove folders left empty by a delete, up to (not including) the root."""
    folder = path.parent
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def remove_temp_files(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed
