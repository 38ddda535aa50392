"""Changes that move no content: a mode carried over, a file or an object deleted
(moved aside first and checked there, or deleted on the condition of its ETag)."""

from __future__ import annotations

import dataclasses
import os

import structlog

from s3sync import errors
from s3sync.adapters import atomic, localfs, trash
from s3sync.adapters.s3 import MODE_KEY, mode_text, modified_ns_of
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry, Side
from s3sync.core.paths import RelPath
from s3sync.core.plan import Preserve, SetMode
from s3sync.execute.base import Stale
from s3sync.execute.transfers import Transfers

log = structlog.get_logger()

MAX_COPY_BYTES = 5 * 1024**3  # the most one CopyObject request copies


class Changes(Transfers):

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
        aside = (trash.trash_slot(self.t.trash_root, self.t.stamp, self._trash_name(rel)) if self.t.use_trash
                 else localfs.temp_path(path, self.t.own))
        if not atomic.move_aside_if(path, aside, expect, link=target.link):
            if os.path.lexists(aside) and not self.t.use_trash:
                trash.move_to_trash(aside, self.t.trash_root, self.t.stamp, self._trash_name(rel))
            raise Stale("changed locally while it was deleted; kept")
        if not self.t.use_trash:
            try:
                aside.unlink()
            except OSError as exc:
                raise errors.LocalIOError(f"cannot delete {path}: {exc.strerror}") from exc
        trash.prune_empty_parents(path, self.t.root)
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
            condition = self._precondition(expect) if self.dialect.conditional_delete else None
            try:
                marker = await self.store.delete(self.t.bucket, key, if_match=condition)
            except errors.NotFoundError:
                marker = None  # gone meanwhile, or our own retried delete: nothing to do
            except errors.UnsupportedError:
                if condition is None:
                    raise
                self.dialect = self.dialect.without_conditional_delete()
                continue
            except errors.ConflictWriteError as exc:
                if await self._matching_if_match_refused(rel, expect, condition):
                    continue
                raise Stale("changed remotely since planning; kept") from exc
            break
        if marker is not None and condition is None and self.dialect.versioning:
            await self._undo_superseding_delete(rel, expect, marker)
        self.state.forget(rel)
        log.info("object_deleted", key=key)

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
