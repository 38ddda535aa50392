"""Gather, for a scoped pass: the paths a hint named, or the keys a poll found different.

A watch pass looks only at the touched paths: it re-stats them (``look``), HEADs their
keys (or lists a narrow prefix) and loads their base rows. A poll lists the whole prefix
(a complete listing, or the pass fails) and looks only at the keys whose size, ETag or
LastModified differ from the base. Nothing outside the scope is read, so nothing outside
it can be mistaken for a delete; inside it, absence is only believed from a fresh stat,
a HEAD that said 404, or a complete listing. The rest of the pipeline is a full sync's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

import structlog

from s3sync.adapters.s3 import plain_md5, remote_entry_of
from s3sync.adapters.s3.listing import Listed
from s3sync.adapters.statedb import StateStore
from s3sync.core.model import BaseEntry, RemoteEntry
from s3sync.core.paths import RelPath, nfc, why_unmappable
from s3sync.core.plan import Action, Forget
from s3sync.core.scope import Scope
from s3sync.filters import Filter
from s3sync.pipeline.context import Context, Counts, FullSyncNeeded, Gathered, NothingChanged
from s3sync.pipeline.look import LocalLook, LocalView, other_name
from s3sync.snapshot import RemoteListing, Snapshots, metadata_replaced

log = structlog.get_logger()

# Above this many paths one listing of the prefix is cheaper than a HEAD per key.
HEAD_LIMIT = 256


class ScopedGather:
    """One scoped gather: ``run`` returns what the scope (or the poll) saw."""

    def __init__(self, ctx: Context, scope: Scope, *, poll: bool, settle: float) -> None:
        self.ctx = ctx
        self.store, self.spec, self.filter = ctx.store, ctx.spec, ctx.filter
        self.scope = scope.narrowed()
        self.poll = poll
        self.settle = settle
        self.deferred: set[str] = set()  # disk paths still being written: looked at later

    async def run(self) -> Gathered:
        state = self.ctx.state
        self._require_history(state)
        base_count = state.count()
        view: RemoteView | None = None
        files = set(self.scope.files)
        if self.poll:
            view = await self._poll_listing(state.remote_tags())
            files |= view.changed
        # Hidden paths (the trash, excludes) are not looked at; base rows a new exclude
        # hides are retired by the next full sync, as `s3sync sync` would.
        if self.spec.options.links:
            files |= {other_name(f) for f in files}  # ``NAME`` may be a link, ``NAME.rclonelink`` is one
        files = {f for f in files if not self.filter.excluded_file(nfc(f))}
        visible = {f for f in self.scope.folders if not self.filter.excluded(nfc(f), True)}
        if not files and not visible:
            raise NothingChanged  # e.g. only our own trash moved: nothing to plan
        local = await asyncio.to_thread(LocalLook(self.spec, self.filter).look, files, visible)
        rels = set(local.entries) | local.unknown | {RelPath(nfc(f)) for f in files}
        folders = {RelPath(nfc(f)) for f in visible}
        base = state.load_rows(rels, folders)
        if view is not None:
            remote = view.snapshot(rels | set(base), folders, base)
        else:
            remote = await self._look_remotely(rels | set(base), folders)
        snaps = self._assemble(base, local, remote)
        counts = _estimate(base_count, snaps, view.total if view is not None else None)
        looked_at = len(set(snaps.base) | set(snaps.local) | set(snaps.remote))
        return Gathered(snaps, counts, self.deferred, looked_at)

    def _require_history(self, state: StateStore) -> None:
        recorded = state.get_json("identity")
        if recorded is None or recorded != self.ctx.identity():
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
            return (await self.ctx.list_remote()).picked(rels, folders)
        # A key whose name is not plain ASCII may be stored in another Unicode form
        # than our NFC name; a HEAD would miss it, a listing of its folder does not.
        prefixes = tuple(f + "/" for f in folders)
        loose = {r for r in rels if not (prefixes and r.startswith(prefixes))}
        by_listing = {r for r in loose if not r.isascii()}
        parents = {RelPath(r.rpartition("/")[0]) for r in by_listing}
        remote = RemoteListing(self.spec.prefix, self.filter)
        for folder in {*folders, *parents}:
            remote.merge((await self.ctx.list_remote(folder + "/" if folder else "")).picked(by_listing, folders))
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


def _estimate(base_count: int, snaps: Snapshots, remote_total: int | None) -> Counts:
    """Each side's file count: the base count moved by what the scope saw appear or vanish."""
    base, local, remote = snaps.base, snaps.local, snaps.remote
    local_count = base_count + sum(r not in base for r in local) - sum(r not in local for r in base)
    remote_count = base_count + sum(r not in base for r in remote) - sum(r not in remote for r in base)
    return Counts(base_count, max(local_count, 0), remote_total if remote_total is not None else max(remote_count, 0))
