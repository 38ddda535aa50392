"""Scoped passes: the engine's sync, restricted to the paths a hint named.

A watch pass looks only at the touched paths: it re-stats them, HEADs their keys (or
lists a narrow prefix), loads their base rows and hands that small snapshot to the
same reconciler, rails and executor as a full sync. A poll pass lists the whole prefix
(a complete listing, or the pass fails) and looks only at the keys whose size or ETag
differ from the base. Nothing outside the scope is read, so nothing outside it can be
mistaken for a delete; inside it, absence is only believed from a fresh stat, a HEAD
that said 404, or a complete listing.

``ScopedSync`` is a ``PairSync`` whose snapshot step is scoped: the lock, the root and
bucket checks, hashing, planning, execution and the ``last_run`` record are the engine's.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy import func, select

from s3sync import errors
from s3sync.adapters import localfs
from s3sync.adapters.s3 import S3Store, plain_md5, remote_entry_of
from s3sync.adapters.s3.listing import Listed
from s3sync.adapters.statedb import StateStore, entries, row_to_base
from s3sync.core import safety
from s3sync.core.model import PERMISSION_BITS, BaseEntry, LocalEntry, RemoteEntry
from s3sync.core.paths import LINK_SUFFIX, RelPath, link_name, nfc, why_unmappable
from s3sync.core.plan import Action, Forget, Plan
from s3sync.engine import PairSpec, PairSync
from s3sync.filters import IGNORE_FILE, Filter
from s3sync.snapshot import RemoteListing, Snapshots, metadata_replaced

log = structlog.get_logger()

# Above this many paths one listing of the prefix is cheaper than a HEAD per key.
HEAD_LIMIT = 256
# SQLite caps bound parameters; load base rows in chunks below that.
SQL_CHUNK = 500


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


class FullSyncNeeded(Exception):
    """A scoped pass cannot be trusted here (no history yet, or foreign state)."""


class NothingChanged(Exception):
    """A poll found the listing equal to the base and had no paths to look at."""


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


@dataclass
class Counts:
    """How many files each side holds, for the rails: exact where known, else estimated."""

    base: int
    local: int
    remote: int


class ScopedSync(PairSync):
    """One pass over a scope (a watch batch), or over what a listing shows changed (a poll)."""

    def __init__(
        self,
        store: S3Store,
        spec: PairSpec,
        state_dir: Path,
        scope: Scope,
        *,
        poll: bool = False,
        settle: float = 0.0,
    ) -> None:
        super().__init__(store, spec, state_dir, dry_run=False, force=False, wait=False)
        self.scope = scope.narrowed()
        self.poll = poll
        self.settle = settle
        self.deferred: set[str] = set()  # disk paths still being written: looked at later
        self.looked_at = 0
        self._counts = Counts(0, 0, 0)

    # -- the scoped snapshot -----------------------------------------------------

    async def _gather(self, state: StateStore) -> Snapshots:
        self._require_history(state)
        base_count = _count_rows(state)
        view: RemoteView | None = None
        files = set(self.scope.files)
        if self.poll:
            view = await self._poll_listing(_remote_tags(state))
            files |= view.changed
        # Hidden paths (the trash, excludes) are not looked at; base rows a new exclude
        # hides are retired by the next full sync, as `s3sync sync` would.
        if self.spec.options.links:
            files |= {_other_name(f) for f in files}  # ``NAME`` may be a link, ``NAME.rclonelink`` is one
        files = {f for f in files if not self.filter.excluded_file(nfc(f))}
        visible = {f for f in self.scope.folders if not self.filter.excluded(nfc(f), True)}
        if not files and not visible:
            raise NothingChanged  # e.g. only our own trash moved: nothing to plan
        local = await asyncio.to_thread(self._look_locally, files, visible)
        rels = set(local.entries) | local.unknown | {RelPath(nfc(f)) for f in files}
        folders = {RelPath(nfc(f)) for f in visible}
        base = _load_rows(state, rels, folders)
        if view is not None:
            remote = view.snapshot(rels | set(base), folders, base)
        else:
            remote = await self._look_remotely(rels | set(base), folders)
        snaps = self._assemble(base, local, remote)
        self._counts = _estimate(base_count, snaps, view.total if view is not None else None)
        self.looked_at = len(set(snaps.base) | set(snaps.local) | set(snaps.remote))
        return snaps

    def _require_history(self, state: StateStore) -> None:
        recorded = state.get_json("identity")
        if recorded is None or recorded != self._identity():
            # No history yet, or someone else's: only a full (first) sync is safe.
            raise FullSyncNeeded("no matching sync history for this pair")

    def _assemble(self, base: dict[RelPath, BaseEntry], local: LocalView, remote: RemoteListing) -> Snapshots:
        retired: list[Action] = []
        for rel in list(base):
            if self.filter.excluded_file(rel):
                del base[rel]
                retired.append(Forget(rel, "excluded"))
        for rel in [r for r in remote.entries if self.filter.excluded_file(r)]:
            del remote.entries[rel]
        fresh = self._fresh(local)
        for snapshot in (base, remote.entries, local.entries):
            for rel in fresh.intersection(snapshot):
                del snapshot[rel]  # looked at again after the settle time: not retired
        snaps = Snapshots(base, local.entries, remote.entries, retired, local.skipped, local.disk_names, [],
                          remote.key_names)
        snaps.leave_alone(local.unknown | local.unknown_folders | remote.collided, local.links, self.spec.prefix)
        for disk, why in local.skipped:
            log.warning("path_skipped", rel=disk, reason=why)
        return snaps

    def _fresh(self, local: LocalView) -> set[RelPath]:
        """Files written within the settle time: maybe still being written, so wait."""
        if self.settle <= 0:
            return set()
        cutoff = time.time_ns() - int(self.settle * 1e9)
        fresh = {rel for rel, e in local.entries.items() if e.mtime_ns > cutoff}
        self.deferred |= {local.disk_names.get(rel, rel) for rel in fresh}
        return fresh

    # -- local side --------------------------------------------------------------

    def _look_locally(self, files: Iterable[str], folders: Iterable[str]) -> LocalView:
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
        if not _is_utf8(disk) or self._below_link(disk, view):
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
        if not _is_utf8(disk) or self.filter.excluded(rel, True) or self._below_link(disk, view):
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

    # -- remote side -------------------------------------------------------------

    async def _poll_listing(self, tags: Mapping[RelPath, tuple[int, str, int | None]]) -> RemoteView:
        """The whole prefix, complete, compared with the base as it streams in."""
        view = RemoteView(tags)
        cut = len(self.spec.prefix)
        async for page in self.store.list_pages(self.spec.bucket, self.spec.prefix):
            for item in page:
                view.add(item.key[cut:], item, self.filter)
        return view

    async def _look_remotely(self, rels: set[RelPath], folders: set[RelPath]) -> RemoteListing:
        if len(rels) + len(folders) > HEAD_LIMIT:
            return (await self._list_remote()).picked(rels, folders)
        # A key whose name is not plain ASCII may be stored in another Unicode form
        # than our NFC name; a HEAD would miss it, a listing of its folder does not.
        prefixes = tuple(f + "/" for f in folders)
        loose = {r for r in rels if not (prefixes and r.startswith(prefixes))}
        by_listing = {r for r in loose if not r.isascii()}
        parents = {RelPath(r.rpartition("/")[0]) for r in by_listing}
        remote = RemoteListing(self.spec.prefix, self.filter)
        for folder in {*folders, *parents}:
            remote.merge((await self._list_remote(folder + "/" if folder else "")).picked(by_listing, folders))
        remote.entries.update(await self._heads(loose - by_listing))
        return remote

    async def _heads(self, rels: Iterable[RelPath]) -> dict[RelPath, RemoteEntry]:
        slots = asyncio.Semaphore(self.spec.options.concurrency)
        found: dict[RelPath, RemoteEntry] = {}

        async def head(rel: RelPath) -> None:
            async with slots:
                info = await self.store.head(self.spec.bucket, self.spec.prefix + rel)
            if info is not None:
                found[rel] = remote_entry_of(info)

        await asyncio.gather(*(head(r) for r in rels))
        return found

    # -- rails -------------------------------------------------------------------

    def _check_rails(self, plan: Plan, snaps: Snapshots) -> None:
        # The same rails as a full sync, over the whole pair's (estimated) populations:
        # a scope of 10,000 local deletes must trip max-delete like a full run would.
        limit = safety.DeleteLimit.parse(self.spec.options.max_delete)
        reasons = safety.check(
            plan,
            base_count=self._counts.base,
            local_count=self._counts.local,
            remote_count=self._counts.remote,
            limit=limit,
        )
        if reasons:
            log.warning("safety_aborted", reasons=reasons)
            raise errors.SafetyAbort([*reasons, "nothing was changed"])


class RemoteView:
    """A poll's listing, kept small: only keys that differ from their base row are held.

    A key equal to its base row (same name, size and ETag) is only remembered by name;
    its remote entry, where a pass needs it, is the base row's, which is the same thing.
    """

    def __init__(self, tags: Mapping[RelPath, tuple[int, str, int | None]]) -> None:
        self._tags = tags
        self.entries: dict[RelPath, RemoteEntry] = {}
        self.key_names: dict[RelPath, str] = {}
        self.unchanged: set[RelPath] = set()
        self.collided: set[RelPath] = set()

    def add(self, name: str, listed: Listed, hidden: Filter) -> None:
        size, etag = listed.size, listed.etag
        tag = self._tags.get(RelPath(name))
        # Equal to its row: same size and ETag, and the same LastModified where the row
        # knows it (else a chmod elsewhere, a metadata-only change, would go unseen).
        if (tag is not None and tag[:2] == (size, etag) and not metadata_replaced(listed.modified_ns, tag[2])
                and RelPath(name) not in self.collided):
            if RelPath(name) in self.entries:  # its other spelling came first
                self._collide(RelPath(name))
            else:
                self.unchanged.add(RelPath(name))
            return
        if why_unmappable(name) is not None:
            return
        rel = RelPath(nfc(name))
        if hidden.excluded_file(rel):
            return
        if rel in self.entries or rel in self.unchanged or rel in self.collided:
            self._collide(rel)
            return
        modified = listed.modified_ns
        self.entries[rel] = RemoteEntry(size, etag, modified, plain_md5(etag), modified)
        if rel != name:
            self.key_names[rel] = name

    def _collide(self, rel: RelPath) -> None:
        """Two keys, one name after Unicode normalisation: neither is acted on."""
        self.entries.pop(rel, None)
        self.key_names.pop(rel, None)
        self.unchanged.discard(rel)
        self.collided.add(rel)

    @property
    def total(self) -> int:
        return len(self.entries) + len(self.unchanged)

    @property
    def changed(self) -> set[str]:
        seen = self.unchanged | self.entries.keys() | self.collided
        return set(self.entries) | {rel for rel in self._tags if rel not in seen}

    def snapshot(
        self, rels: set[RelPath], folders: set[RelPath], base: Mapping[RelPath, BaseEntry]
    ) -> RemoteListing:
        remote = RemoteListing.of(self.entries, self.key_names, self.collided).picked(rels, folders)
        for rel, row in base.items():
            if rel in self.unchanged:
                remote.entries[rel] = row.remote
        return remote


def _other_name(disk: str) -> str:
    """The other name a file hint may stand for where links are kept: ``NAME`` for
    ``NAME.rclonelink`` and the other way round."""
    return link_name(disk) or disk + LINK_SUFFIX


def _is_utf8(disk: str) -> bool:
    try:
        disk.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _estimate(base_count: int, snaps: Snapshots, remote_total: int | None) -> Counts:
    """Each side's file count: the base count moved by what the scope saw appear or vanish."""
    base, local, remote = snaps.base, snaps.local, snaps.remote
    local_count = base_count + sum(r not in base for r in local) - sum(r not in local for r in base)
    remote_count = base_count + sum(r not in base for r in remote) - sum(r not in remote for r in base)
    return Counts(base_count, max(local_count, 0), remote_total if remote_total is not None else max(remote_count, 0))


# -- state DB reads the scoped pass needs (the store has no scoped queries) -------


def _count_rows(state: StateStore) -> int:
    with state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())


def _remote_tags(state: StateStore) -> dict[RelPath, tuple[int, str, int | None]]:
    # Every poll reads every row: the plain DB-API cursor is several times cheaper
    # than SQLAlchemy's result rows here.
    raw = state.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT rel, remote_size, remote_etag, remote_modified_ns FROM entries")
        return {RelPath(rel): (size, etag, modified) for rel, size, etag, modified in cursor.fetchall()}
    finally:
        raw.close()


def _load_rows(
    state: StateStore, rels: set[RelPath], folders: set[RelPath]
) -> dict[RelPath, BaseEntry]:
    found: dict[RelPath, BaseEntry] = {}
    wanted = sorted(rels)
    with state.engine.connect() as conn:
        for start in range(0, len(wanted), SQL_CHUNK):
            chunk = wanted[start : start + SQL_CHUNK]
            found.update(map(row_to_base, conn.execute(select(entries).where(entries.c.rel.in_(chunk)))))
        for folder in folders:
            # A range on the primary key, not LIKE: names may hold % and _.
            low, high = folder + "/", folder + "0"  # "0" sorts right after "/"
            query = select(entries).where(entries.c.rel >= low, entries.c.rel < high)
            found.update(map(row_to_base, conn.execute(query)))
    return found
