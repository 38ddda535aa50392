"""Carrying out a plan: bounded concurrency, preconditions checked, outcomes recorded.

Theory of operation. A fixed pool of workers takes actions one by one. Each action
re-checks the state it was planned against just before it changes anything; if the
path moved on meanwhile, the action steps aside (a download becomes a conflict copy,
an upload of a file that changed while it was read is retried) and the next sync
re-plans it. A base row is written only after its action fully succeeded, so a crash
at any instant leaves a state the next run converges from.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import mimetypes
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from s3sync import errors
from s3sync.adapters import atomic, localfs
from s3sync.adapters.localtree import MAX_LINK_TARGET, LocalFile, LocalTree, symlink_from
from s3sync.adapters.probe import WriteSupport, versioning_enabled
from s3sync.adapters.s3 import (
    MODE_KEY,
    MTIME_KEY,
    Precondition,
    S3Store,
    content_md5,
    mode_of,
    mode_text,
    modified_ns_of,
    mtime_ns_of,
    ns_to_seconds_text,
)
from s3sync.adapters.statedb import StateStore
from s3sync.core.model import BaseEntry, LocalEntry, ObjectInfo, RemoteEntry, Side
from s3sync.core.own import OwnNames
from s3sync.core.paths import RelPath, conflict_name, key_for, link_name
from s3sync.core.plan import (
    FREEING,
    Action,
    Conflict,
    DeleteLocal,
    DeleteRemote,
    Displace,
    Download,
    Forget,
    Preserve,
    Record,
    SetMode,
    Skip,
    Upload,
)

log = structlog.get_logger()

UPLOAD_ATTEMPTS = 3
RACY_SECONDS = 2.0  # an mtime this fresh may not show a write in the same clock tick
# The local side of a base row that no file can match (size -1): the next run sees any
# local version as an edit, never as "unchanged".
NO_LOCAL_VERSION = LocalEntry(-1, 0)
MAX_COPY_BYTES = 5 * 1024**3  # the most one CopyObject request copies


@dataclass(frozen=True, slots=True)
class Failure:
    rel: str
    action: str
    reason: str


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    bytes_up: int = 0
    bytes_down: int = 0
    failures: list[Failure] = field(default_factory=list)
    conflict_copies: list[str] = field(default_factory=list)

    def add(self, action: str, n: int = 1) -> None:
        self.counts[action] = self.counts.get(action, 0) + n


class Stale(Exception):
    """The path changed after planning; the action stepped aside and the next run re-plans it."""


@dataclass
class Target:
    bucket: str
    prefix: str
    root: Path
    trash_root: Path
    use_trash: bool
    disk_names: dict[RelPath, str]
    stamp: str
    key_names: Mapping[RelPath, str] = field(default_factory=dict)
    own: OwnNames = field(default_factory=lambda: OwnNames(b""))
    follow_symlinks: bool = False
    links: bool = False  # symlinks are ``NAME.rclonelink`` paths (``localtree``)
    permissions: bool = True  # file modes travel as rclone's ``mode`` metadata
    content_types: bool = True  # uploads carry a Content-Type guessed from the name


class Executor:
    def __init__(
        self,
        store: S3Store,
        target: Target,
        state: StateStore,
        *,
        concurrency: int,
        on_progress: Callable[[int, int], None] | None = None,
        support: WriteSupport | None = None,
    ) -> None:
        self.store = store
        self.t = target
        self.state = state
        self.concurrency = concurrency
        self.tally = Tally()
        self.local = LocalTree(target.root, target.disk_names, target.follow_symlinks, target.links)
        self._on_progress = on_progress or (lambda files, nbytes: None)
        # Without a probe: send the conditions, and learn at the first refusal.
        self._conditional = support.conditional_writes if support else True
        self._conditional_delete = support.conditional_delete if support else False
        # Where a condition is missing, a versioned bucket still shows what a write
        # superseded: the fallback looks there.
        self._versioned = support.versioning if support else False
        self._quote_etag = True

    async def run(self, actions: Iterable[Action]) -> Tally:
        async def worker(queue: Iterator[Action]) -> None:
            for action in queue:
                await self._run_one(action)

        for phase in _phases(list(actions)):
            queue = iter(phase)
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(phase))):
                    group.create_task(worker(queue))
        self.state.flush()
        return self.tally

    async def _run_one(self, action: Action) -> None:
        with structlog.contextvars.bound_contextvars(rel=action.rel, action=action.action):
            try:
                await self._dispatch(action)
            except Stale as exc:
                self.tally.add("skipped")
                log.info("action_deferred", reason=str(exc))
            except (errors.S3SyncError, OSError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self.tally.add("failed")
                self.tally.failures.append(Failure(action.rel, action.action, reason))
                log.warning("action_failed", reason=reason)
            finally:
                self._on_progress(1, 0)

    async def _dispatch(self, action: Action) -> None:
        match action:
            case Record():
                self.state.put(action.rel, BaseEntry(action.local, action.remote, action.md5))
            case Forget():
                self.state.forget(action.rel)
            case Skip():
                self.tally.add("skipped")
                log.debug("path_skipped", reason=action.reason)
            case Upload():
                await self._upload(action.rel, action.expect_remote, action.preserve_remote)
                self.tally.add("upload")
            case Download():
                await self._download(action.rel, action.remote, action.expect_local, action.preserve_local)
                self.tally.add("download")
            case DeleteLocal():
                self._delete_local(action.rel, action.expect_local)
                self.tally.add("delete_local")
            case DeleteRemote():
                await self._delete_remote(action.rel, action.expect_remote, action.preserve_remote)
                self.tally.add("delete_remote")
            case Conflict():
                await self._conflict(action)
                self.tally.add("conflict")
            case Displace():
                await self._displace(action)
                self.tally.add("conflict")
            case SetMode():
                await self._set_mode(action)
                self.tally.add("metadata")

    # -- paths -----------------------------------------------------------------


    def key(self, rel: RelPath) -> str:
        """The object's key: as the bucket spells it where it was listed, else from ``rel``."""
        return key_for(RelPath(self.t.key_names.get(rel, rel)), self.t.prefix)

    def _precondition(self, expect: RemoteEntry | None) -> Precondition | None:
        if not self._conditional:
            return None
        if expect is None:
            return Precondition(absent=True)
        return Precondition(etag=expect.etag, quote_etag=self._quote_etag)

    # -- upload ----------------------------------------------------------------

    async def _upload(
        self, rel: RelPath, expect: RemoteEntry | None, preserve: Preserve
    ) -> BaseEntry:
        if preserve is Preserve.TRASH and expect is not None:
            await self._remote_to_trash(rel, expect)
        source = self.local.file(rel)
        for _ in range(UPLOAD_ATTEMPTS):
            before = source.stat()
            if before is None:
                raise Stale("vanished before its upload")
            info = await self._put_checked(rel, source, before, expect)
            after = source.stat()
            if localfs.same_file_state(before, after) and not await self._racy_mismatch(source, before, info):
                md5 = content_md5(info)
                mode = before.mode if self.t.permissions else None
                size = info.size if info.size >= 0 else before.size
                written = modified_ns_of(info)  # the reply's Date
                row = BaseEntry(before, RemoteEntry(size, info.etag, before.mtime_ns, md5, written, mode), md5)
                self.state.put(rel, row)
                self.tally.bytes_up += before.size
                self._on_progress(0, before.size)
                log.info("object_uploaded", key=self.key(rel), bytes=before.size)
                return row
            # What went up may mix old and new bytes: send it again, over our own upload.
            expect = RemoteEntry(before.size, info.etag, before.mtime_ns, None)
            # Until then the object is ours but matches no local version. Record it with
            # a local side that matches nothing (size -1), so that if this run stops here
            # the next one sees a local edit to upload, never a "remote edit" to keep as
            # a conflict copy, and a local delete still deletes it.
            self.state.put(rel, BaseEntry(NO_LOCAL_VERSION, expect, None))
        raise errors.LocalIOError(f"{rel} kept changing while it was uploaded; will retry next run")

    async def _put_checked(
        self, rel: RelPath, source: LocalFile, before: LocalEntry, expect: RemoteEntry | None
    ) -> ObjectInfo:
        def unchanged_so_far() -> None:
            if not localfs.same_file_state(before, source.stat()):
                raise Stale("changed while it was read for its upload")

        metadata = {MTIME_KEY: ns_to_seconds_text(before.mtime_ns)}
        if self.t.permissions and before.mode is not None:
            metadata[MODE_KEY] = mode_text(before.mode)
        content_type = guess_content_type(rel) if self.t.content_types else None
        while True:
            precondition = self._precondition(expect)
            try:
                if source.link:
                    info = await self.store.put_bytes(
                        self.t.bucket, self.key(rel), localfs.link_target(source.path), metadata=metadata,
                        precondition=precondition, content_type=content_type,
                    )
                else:
                    info = await self.store.put_file(
                        self.t.bucket, self.key(rel), source.path, metadata=metadata,
                        precondition=precondition, size_hint=before.size,
                        before_complete=unchanged_so_far, content_type=content_type,
                    )
            except errors.UnsupportedError:
                if precondition is None:
                    raise
                log.warning("conditional_writes_disabled", reason="the server rejected them")
                self._conditional = False
            except errors.ConflictWriteError:
                if await self._matching_if_match_refused(rel, expect, precondition):
                    continue
                # A retry whose first try went through (its reply was lost) meets its
                # own write; the same bytes from anywhere else are no conflict either.
                same = await self._already_there(rel, source, before)
                if same is None:
                    raise
                return same
            except FileNotFoundError as exc:
                raise Stale("vanished during its upload") from exc
            else:
                if precondition is None and self._versioned:
                    await self._keep_superseded(rel, expect, info)
                return info

    async def _matching_if_match_refused(
        self, rel: RelPath, expect: RemoteEntry | None, tried: Precondition | None
    ) -> bool:
        """Does the server refuse an If-Match that does match? Then try again without it.

        Ceph RGW 16 refuses a quoted ETag (the unquoted one is tried next), and on a
        versioned bucket it refuses every If-Match. Where both forms were refused, the
        writes go on without conditions, guarded by the bucket's versioning as on a
        server that has none (see the README).
        """
        if expect is None or tried is None or tried.etag is None:
            return False
        current = await self.store.head(self.t.bucket, self.key(rel))
        if current is None or current.etag != expect.etag:
            return False
        if tried.quote_etag:
            self._quote_etag = False
        elif self._conditional:
            log.warning("conditional_writes_disabled", reason="the server refuses an If-Match that matches")
            self._conditional = False
            self._versioned = await versioning_enabled(self.store, self.t.bucket)
        return True

    async def _already_there(self, rel: RelPath, source: LocalFile, before: LocalEntry) -> ObjectInfo | None:
        """The object, if it already holds exactly the content of ``source``."""
        current = await self.store.head(self.t.bucket, self.key(rel))
        if current is None or current.size != before.size:
            return None
        theirs = content_md5(current)
        if theirs is None or theirs != await asyncio.to_thread(source.hash):
            return None
        log.info("upload_already_there", key=self.key(rel))
        return current

    # -- the fallback without conditions: what a versioned bucket shows -------------

    async def _keep_superseded(self, rel: RelPath, expect: RemoteEntry | None, ours: ObjectInfo) -> None:
        """After an unconditional write: if it superseded a version that was not the one
        planned against (another client wrote in between), keep that version as a
        conflict copy on both sides."""
        if ours.version_id is None:
            return
        versions = await self.store.versions(self.t.bucket, self.key(rel))
        index = next((i for i, v in enumerate(versions) if v.version_id == ours.version_id), None)
        if index is None:
            log.warning("superseded_unknown", key=self.key(rel), reason="our version is not listed")
            return
        older = [v for v in versions[index + 1 :] if v.etag != ours.etag]  # our own retries
        if not older or older[0].etag is None:
            return  # nothing was there, or a delete marker: nobody's version was replaced
        if expect is not None and older[0].etag == expect.etag:
            return
        copy = await self._free_copy_name(rel)
        copied = await self.store.copy(self.t.bucket, self.key(rel), self.key(copy),
                                       src_version=older[0].version_id, precondition=self._precondition(None))
        await self._download(copy, RemoteEntry(copied.size, copied.etag, mtime_ns_of(copied),
                                               content_md5(copied)), None, Preserve.NOTHING)
        self.tally.conflict_copies.append(copy)
        self.tally.add("conflict")
        log.warning("conflict_copy_created", copy=copy,
                    reason="another client wrote this key after it was listed; its version was superseded")

    async def _free_copy_name(self, rel: RelPath) -> RelPath:
        stamp, n = self.t.stamp, 1
        while True:
            copy = conflict_name(rel, stamp, Side.REMOTE.value)
            if not self.local.taken(copy) and await self.store.head(
                self.t.bucket, self.key(copy)
            ) is None:
                return copy
            n += 1
            stamp = f"{self.t.stamp}-{n}"

    async def _undo_superseding_delete(self, rel: RelPath, expect: RemoteEntry, marker: str) -> None:
        """After an unconditional delete: if the version it hid was not the one planned
        against (another client wrote in between), make that version current again —
        an edit beats a delete."""
        versions = await self.store.versions(self.t.bucket, self.key(rel))
        index = next((i for i, v in enumerate(versions) if v.version_id == marker), None)
        if index is None or index + 1 >= len(versions):
            return
        older = versions[index + 1]
        if older.etag is None or older.etag == expect.etag:
            return
        await self.store.copy(self.t.bucket, self.key(rel), self.key(rel), src_version=older.version_id)
        log.warning("delete_undone", key=self.key(rel),
                    reason="another client wrote this key after it was listed; its version was restored")

    async def _racy_mismatch(self, source: LocalFile, before: LocalEntry, info: ObjectInfo) -> bool:
        if time.time() - before.mtime_ns / 1e9 > RACY_SECONDS:
            return False
        uploaded = content_md5(info)
        now = await asyncio.to_thread(source.hash)
        return uploaded is not None and now != uploaded

    # -- download --------------------------------------------------------------

    async def _download(
        self, rel: RelPath, remote: RemoteEntry, expect: LocalEntry | None, preserve: Preserve,
        *, key: str | None = None,
    ) -> BaseEntry:
        # ensure_parent checks (and makes) every folder on the way, refusing a symlink as
        # LocalTree.path would: one look at each, not two.
        dest = self.t.root / self.local.disk(rel)
        localfs.ensure_parent(dest, self.t.root)
        key = key or self.key(rel)
        link = self.local.is_link(rel)
        if link and remote.size > MAX_LINK_TARGET:
            raise errors.LocalIOError(f"{key} is no symlink target ({remote.size} bytes)")
        tmp, info, md5 = await self.store.download_to_temp(
            self.t.bucket, key, dest, listed=(remote.etag, remote.size), temp=localfs.temp_path(dest, self.t.own),
            mode_for=None if link else lambda got: self._mode_for(got, dest),
        )
        if link:
            tmp = await asyncio.to_thread(symlink_from, tmp, self.t.own)
        try:
            current = localfs.stat_entry(dest, link=link)
            if not localfs.same_file_state(current, expect) and not (
                current is None and expect is None
            ):
                await self._keep_download_as_copy(rel, tmp, info, md5, key == self.key(rel))
            if current is not None and preserve is Preserve.TRASH:
                localfs.move_to_trash(dest, self.t.trash_root, self.t.stamp, self._trash_name(rel))
                current = None
            mtime = mtime_ns_of(info)
            try:
                # Replaced only if still what was checked just now, in one step.
                entry = atomic.install_if(tmp, dest, mtime, current, link=link)
            except atomic.Changed:
                await self._keep_download_as_copy(rel, tmp, info, md5, key == self.key(rel))
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        modified = modified_ns_of(info)
        row = BaseEntry(entry, RemoteEntry(info.size, info.etag, mtime, md5, modified, mode_of(info)), md5)
        self.state.put(rel, row)
        self.tally.bytes_down += info.size
        self._on_progress(0, info.size)
        log.info("file_downloaded", key=key, bytes=info.size)
        return row

    def _mode_for(self, info: ObjectInfo, dest: Path) -> int:
        """The object's recorded permissions; else those of the file it replaces; else a
        new file's default (0666 less the umask). Owner and group are never applied."""
        recorded = mode_of(info) if self.t.permissions else None
        if recorded is not None:
            return recorded
        current = localfs.stat_entry(dest)
        if current is not None and current.mode is not None:
            return current.mode
        return localfs.NEW_FILE_MODE

    async def _keep_download_as_copy(
        self, rel: RelPath, tmp: Path, info: ObjectInfo, md5: str, of_rel: bool
    ) -> None:
        """The user wrote the file while we downloaded: theirs keeps the name, and the
        downloaded version becomes a conflict copy. Always raises ``Stale``.

        ``of_rel``: the object was ``rel``'s own key. Its version is then recorded as
        synced, beside a local side that matches nothing: the next run sees the user's
        write as a local edit over a remote version that is already kept, not as a
        conflict that would keep the same version a second time."""
        for _ in range(3):
            copy = await self._free_copy_name(rel)
            try:
                atomic.install_if(tmp, self.local.path(copy), mtime_ns_of(info), None, link=self.local.is_link(copy))
            except atomic.Changed:
                continue  # the name was taken meanwhile
            if of_rel:
                remote = RemoteEntry(info.size, info.etag, mtime_ns_of(info), md5)
                self.state.put(rel, BaseEntry(NO_LOCAL_VERSION, remote, None))
            self.tally.conflict_copies.append(copy)
            log.warning("conflict_copy_created", copy=copy, reason="changed locally during download")
            raise Stale("changed locally during its download; remote version saved as " + copy)
        raise Stale("changed locally during its download; will re-plan")

    async def _remote_to_trash(self, rel: RelPath, expect: RemoteEntry) -> None:
        """Keep a remote version that is about to be replaced or deleted, in the trash."""
        # A free slot (never os.replace over an earlier trashed version), in owner-only folders.
        dest = localfs.trash_slot(self.t.trash_root, self.t.stamp, rel)
        tmp, info, _ = await self.store.download_to_temp(
            self.t.bucket, self.key(rel), dest, listed=(expect.etag, expect.size)
        )
        if info.etag != expect.etag:
            tmp.unlink(missing_ok=True)
            raise Stale("changed remotely since planning")
        atomic.install(tmp, dest, mtime_ns_of(info))
        log.info("remote_version_trashed", key=self.key(rel), trash=str(dest))

    # -- permissions alone -----------------------------------------------------

    async def _set_mode(self, a: SetMode) -> None:
        """Carry a mode to one side, moving no content: a chmod here, or the object copied
        onto itself with the new ``mode`` (conditional on its ETag) there."""
        local, remote = a.local, a.remote
        if a.side is Side.LOCAL:
            target = self.local.file(a.rel)
            if not localfs.same_file_state(target.stat(), a.local):
                raise Stale("changed locally since planning")
            if not target.link:  # a symlink has no mode of its own
                localfs.set_mode(target.path, a.mode)
                local = dataclasses.replace(local, mode=a.mode)
        elif a.remote.size > MAX_COPY_BYTES:
            # One CopyObject copies at most 5 GiB: such an object keeps its old mode, and
            # the row records the new local one, so the run does not try again each time.
            log.warning("mode_not_carried", key=self.key(a.rel), reason="objects over 5 GiB are not copied to change metadata")
            local = a.local
        else:
            key = self.key(a.rel)
            head = await self.store.head(self.t.bucket, key)
            if head is None or head.etag != a.remote.etag:
                raise Stale("changed remotely since planning")
            metadata = {**head.metadata, MODE_KEY: mode_text(a.mode)}
            try:
                info = await self.store.replace_metadata(self.t.bucket, key, head.etag, metadata, head.content_type)
            except errors.ConflictWriteError as exc:
                raise Stale("changed remotely since planning") from exc
            modified = modified_ns_of(info)
            remote = dataclasses.replace(remote, etag=info.etag, modified_ns=modified, mode=a.mode)
            log.info("object_metadata_replaced", key=key, bytes=0)
        self.state.put(a.rel, BaseEntry(local, remote, a.md5))

    # -- deletes ---------------------------------------------------------------

    def _delete_local(self, rel: RelPath, expect: LocalEntry) -> None:
        target = self.local.file(rel)
        path = target.path
        current = target.stat()
        if current is None:
            self.state.forget(rel)
            return
        if not localfs.same_file_state(current, expect):
            raise Stale("changed locally since planning; kept")
        # Moved aside first and checked there: a write in the moment after the look above
        # is never deleted (it is put back, or kept in the trash).
        aside = (localfs.trash_slot(self.t.trash_root, self.t.stamp, self._trash_name(rel)) if self.t.use_trash
                 else localfs.temp_path(path, self.t.own))
        if not atomic.move_aside_if(path, aside, expect, link=target.link):
            if os.path.lexists(aside) and not self.t.use_trash:
                localfs.move_to_trash(aside, self.t.trash_root, self.t.stamp, self._trash_name(rel))
            raise Stale("changed locally while it was deleted; kept")
        if not self.t.use_trash:
            try:
                aside.unlink()
            except OSError as exc:
                raise errors.LocalIOError(f"cannot delete {path}: {exc.strerror}") from exc
        localfs.prune_empty_parents(path, self.t.root)
        self.state.forget(rel)
        log.info("file_deleted", trash=self.t.use_trash)

    async def _delete_remote(self, rel: RelPath, expect: RemoteEntry, preserve: Preserve) -> None:
        key = self.key(rel)
        current = await self.store.head(self.t.bucket, key)
        if current is None:
            self.state.forget(rel)
            return
        if current.etag != expect.etag:
            raise Stale("changed remotely since planning; kept")
        if preserve is Preserve.TRASH:
            await self._remote_to_trash(rel, expect)
        while True:
            condition = self._precondition(expect) if self._conditional_delete else None
            try:
                marker = await self.store.delete(self.t.bucket, key, if_match=condition)
            except errors.NotFoundError:
                marker = None  # gone meanwhile, or our own retried delete: nothing to do
            except errors.UnsupportedError:
                if condition is None:
                    raise
                self._conditional_delete = False
                continue
            except errors.ConflictWriteError as exc:
                if await self._matching_if_match_refused(rel, expect, condition):
                    continue
                raise Stale("changed remotely since planning; kept") from exc
            break
        if marker is not None and condition is None and self._versioned:
            await self._undo_superseding_delete(rel, expect, marker)
        self.state.forget(rel)
        log.info("object_deleted", key=key)

    # -- conflicts -------------------------------------------------------------

    async def _conflict(self, c: Conflict) -> None:
        if c.copy_rel is None:
            await self._conflict_to_trash(c)
        elif c.winner is Side.LOCAL:
            # The remote loser is kept twice before anything overwrites it: downloaded
            # to the local copy, then uploaded from there to the copy's key — a PUT on
            # the condition that the key is new, never over a key another replica made
            # meanwhile (its copy of the same conflict, named for the same second);
            # a server-side copy is conditional on fewer servers.
            await self._download(c.copy_rel, c.remote, None, Preserve.NOTHING, key=self.key(c.rel))
            self.state.forget(c.copy_rel)  # that row described the key it came from
            await self._upload(c.copy_rel, None, Preserve.NOTHING)
            await self._upload(c.rel, c.remote, Preserve.NOTHING)
        else:
            self._rename_local(c.rel, c.local, c.copy_rel)
            await self._upload(c.copy_rel, None, Preserve.NOTHING)
            await self._download(c.rel, c.remote, None, Preserve.NOTHING)
        if c.copy_rel is not None:
            self.tally.conflict_copies.append(c.copy_rel)
        log.info("conflict_resolved", winner=c.winner.value, copy=c.copy_rel)

    async def _displace(self, d: Displace) -> None:
        """Free ``d.rel`` for the folder of that name: the file's versions become
        conflict copies on both sides before the name is given up anywhere."""
        if d.local is not None:
            assert d.local_copy is not None
            self._rename_local(d.rel, d.local, d.local_copy)
            self.tally.conflict_copies.append(d.local_copy)
            await self._upload(d.local_copy, None, Preserve.NOTHING)
        if d.remote is not None and not d.same:
            assert d.remote_copy is not None
            # As for a conflict: downloaded to the copy, uploaded from there (If-None-Match).
            await self._download(d.remote_copy, d.remote, None, Preserve.NOTHING, key=self.key(d.rel))
            self.state.forget(d.remote_copy)
            await self._upload(d.remote_copy, None, Preserve.NOTHING)
            self.tally.conflict_copies.append(d.remote_copy)
        if d.remote is not None:
            await self._delete_remote(d.rel, d.remote, Preserve.NOTHING)
        self.state.forget(d.rel)
        log.warning("file_displaced", copies=[c for c in (d.local_copy, d.remote_copy) if c],
                    reason=d.reason)

    def _rename_local(self, rel: RelPath, expect: LocalEntry, copy: RelPath) -> None:
        """The local version moves to the name of its conflict copy, if still ``expect``."""
        source, copy_path = self.local.file(rel), self.local.path(copy)
        if not localfs.same_file_state(source.stat(), expect):
            raise Stale("changed locally since planning")
        if os.path.lexists(copy_path):
            raise Stale("the name of its conflict copy was taken meanwhile")
        try:
            os.rename(source.path, copy_path)
        except OSError as exc:
            raise errors.LocalIOError(f"cannot rename {source.path}: {exc.strerror}") from exc

    def _trash_name(self, rel: RelPath) -> str:
        """Where in the trash a local version goes: its own name (a link's, for a link)."""
        return link_name(rel) or rel if self.local.is_link(rel) else rel

    async def _conflict_to_trash(self, c: Conflict) -> None:
        if c.winner is Side.LOCAL:
            await self._upload(c.rel, c.remote, Preserve.TRASH)
        else:
            await self._download(c.rel, c.remote, c.local, Preserve.TRASH)


def guess_content_type(rel: str) -> str:
    """What a browser needs to show a presigned URL of the object: from the name."""
    guessed, _encoding = mimetypes.guess_type(rel, strict=False)
    return guessed or "application/octet-stream"


def _phases(actions: list[Action]) -> list[list[Action]]:
    """Actions that free a name another action needs run first, as a phase of their own:
    a file deleted (or moved aside) before a folder of its name is made, the files of a
    folder deleted before a file of its name is put there."""
    names = {a.rel for a in actions}
    folders = {a.rel[:i] for a in actions for i, c in enumerate(a.rel) if c == "/"}

    def frees(a: Action) -> bool:
        if isinstance(a, Displace):
            return True
        if not isinstance(a, FREEING):
            return False
        return a.rel in folders or any(
            a.rel[:i] in names for i, c in enumerate(a.rel) if c == "/"
        )

    first = [a for a in actions if frees(a)]
    rest = [a for a in actions if not frees(a)]
    return [phase for phase in (first, rest) if phase]
