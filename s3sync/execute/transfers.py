"""Uploads and downloads, each checked against the state it was planned on; and the
fallback where the server takes no conditions (a versioned bucket shows what a write
superseded)."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import time
from pathlib import Path

import structlog

from s3sync import errors
from s3sync.adapters import atomic, localfs, trash
from s3sync.adapters.localtree import MAX_LINK_TARGET, LocalFile, symlink_from
from s3sync.adapters.s3 import (
    MODE_KEY,
    MTIME_KEY,
    Precondition,
    content_md5,
    mode_of,
    mode_text,
    modified_ns_of,
    mtime_ns_of,
    ns_to_seconds_text,
)
from s3sync.core.model import BaseEntry, LocalEntry, ObjectInfo, RemoteEntry
from s3sync.core.paths import RelPath
from s3sync.core.plan import Preserve
from s3sync.execute.base import NO_LOCAL_VERSION, Base, Stale

log = structlog.get_logger()

UPLOAD_ATTEMPTS = 3
RACY_SECONDS = 2.0  # an mtime this fresh may not show a write in the same clock tick


class Transfers(Base):

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
                self.dialect = self.dialect.without_conditional_writes(self.dialect.versioning)
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
                if precondition is None and self.dialect.versioning:
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
            self.dialect = self.dialect.unquoted()
        elif self.dialect.conditional_writes:
            log.warning("conditional_writes_disabled", reason="the server refuses an If-Match that matches")
            self.dialect = self.dialect.without_conditional_writes(await self.store.versioning(self.t.bucket))
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

    async def _racy_mismatch(self, source: LocalFile, before: LocalEntry, info: ObjectInfo) -> bool:
        if time.time() - before.mtime_ns / 1e9 > RACY_SECONDS:
            return False
        uploaded = content_md5(info)
        now = await asyncio.to_thread(source.hash)
        return uploaded is not None and now != uploaded

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
                trash.move_to_trash(dest, self.t.trash_root, self.t.stamp, self._trash_name(rel))
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
        dest = trash.trash_slot(self.t.trash_root, self.t.stamp, rel)
        tmp, info, _ = await self.store.download_to_temp(
            self.t.bucket, self.key(rel), dest, listed=(expect.etag, expect.size)
        )
        if info.etag != expect.etag:
            tmp.unlink(missing_ok=True)
            raise Stale("changed remotely since planning")
        atomic.install(tmp, dest, mtime_ns_of(info))
        log.info("remote_version_trashed", key=self.key(rel), trash=str(dest))

def guess_content_type(rel: str) -> str:
    """What a browser needs to show a presigned URL of the object: from the name."""
    guessed, _encoding = mimetypes.guess_type(rel, strict=False)
    return guessed or "application/octet-stream"
