"""Conflicts and displaced files: every version is kept (as the file itself, a conflict
copy on both sides, or in the trash) before any name is given up."""

from __future__ import annotations

import os

import structlog

from s3sync import errors
from s3sync.adapters import localfs
from s3sync.core.model import LocalEntry, Side
from s3sync.core.paths import RelPath
from s3sync.core.plan import Conflict, Displace, Preserve
from s3sync.execute.base import Stale
from s3sync.execute.changes import Changes

log = structlog.get_logger()


class Conflicts(Changes):

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

    async def _conflict_to_trash(self, c: Conflict) -> None:
        if c.winner is Side.LOCAL:
            await self._upload(c.rel, c.remote, Preserve.TRASH)
        else:
            await self._download(c.rel, c.remote, c.local, Preserve.TRASH)
