"""Generate the benchmark's local data sets and derive per-run copies of them.

A Manifest (relative POSIX path -> size) describes a tree; it is what a tool's
result is checked against after each timed run.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

Manifest = dict[str, int]

# Every generated file gets this old mtime: the copies then look identical to
# every tool, and "the remote copy is newer than the local file" holds, which
# is what aws s3 sync needs to treat already-uploaded files as up to date.
FIXED_MTIME = 1_700_000_000
FILES_PER_DIR = 100
DIRS_PER_PARENT = 10
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    manifest: Manifest

    @property
    def total_bytes(self) -> int:
        return sum(self.manifest.values())


def nested_rel_path(index: int) -> str:
    """File `index` lives in dNN/sN/: FILES_PER_DIR files per leaf folder, leaf
    folders grouped under parents, so the trees are nested, not flat."""
    leaf = index // FILES_PER_DIR
    return f"d{leaf // DIRS_PER_PARENT:03d}/s{leaf % DIRS_PER_PARENT}/f{index % FILES_PER_DIR:03d}.bin"


def write_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def make_tree(name: str, root: Path, count: int, size: int, seed: int = 1) -> Dataset:
    """`count` files of `size` random bytes (random so no tool can compress)."""
    rng = random.Random(seed)
    manifest: Manifest = {}
    for index in range(count):
        rel = nested_rel_path(index)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, rng.randbytes(size))
        manifest[rel] = size
    return Dataset(name, root, manifest)


def make_large_file(name: str, root: Path, size: int) -> Dataset:
    rel = "large/blob.bin"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        while remaining:
            step = min(CHUNK, remaining)
            out.write(os.urandom(step))
            remaining -= step
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    return Dataset(name, root, {rel: size})


def copy_tree(dataset: Dataset, dest: Path) -> Path:
    """A private copy per run so no tool sees another's local changes
    (copy2 keeps the fixed mtimes)."""
    shutil.copytree(dataset.root, dest, copy_function=shutil.copy2)
    return dest


def change_fraction(root: Path, manifest: Manifest, fraction: float, seed: int = 2) -> Manifest:
    """Rewrite every 1/fraction-th file with new content, 16 bytes longer and a
    current mtime, so every tool's change test (size, mtime or hash) sees it.
    Returns the manifest after the change."""
    step = max(1, round(1 / fraction))
    rng = random.Random(seed)
    now = time.time()
    changed = dict(manifest)
    for rel in sorted(manifest)[::step]:
        size = manifest[rel] + 16
        path = root / rel
        path.write_bytes(rng.randbytes(size))
        os.utime(path, (now, now))
        changed[rel] = size
    return changed


def local_manifest(root: Path) -> Manifest:
    sizes: Manifest = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            sizes[path.relative_to(root).as_posix()] = path.stat().st_size
    return sizes
