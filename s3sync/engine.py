"""One sync of one pair: gather snapshots, plan, check the rails, execute, record.

Theory of operation. Under the pair's lock: the local scan and the remote listing run
concurrently; a listing counts only when every page arrived (an error aborts the run
before any change). Filters hide paths on both sides and in the base. The few hashes
and HEADs a decision needs are fetched; then the pure reconciler plans, the rails may
refuse the plan (exit 3, nothing changed), and the executor carries it out, writing a
base row per completed action.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from s3sync import errors
from s3sync.adapters import localfs, trash
from s3sync.adapters.dialects import DialectBook
from s3sync.adapters.s3 import remote_entry_of
from s3sync.adapters.statedb import PairLock, StateStore, pair_id
from s3sync.config import SyncOptions
from s3sync.core.change import Mode, Options, Policy, paths_needing_hash, paths_needing_remote_md5
from s3sync.core.dialect import UNPROBED, Dialect
from s3sync.core.own import OwnNames
from s3sync.core.paths import RelPath, link_name, nfc
from s3sync.core.plan import Conflict, DeleteRemote, Plan, Upload
from s3sync.core.reconcile import reconcile
from s3sync.core.scope import Scope
from s3sync.executor import Executor, Tally, Target
from s3sync.filters import Filter
from s3sync.markers import carry_folders
from s3sync.outcome import SyncSummary, outcome
from s3sync.pipeline.context import Context, FullSyncNeeded, Gathered, NothingChanged, PairSpec
from s3sync.pipeline.gather import gather_all
from s3sync.pipeline.rails import check_rails
from s3sync.pipeline.scoped import ScopedGather
from s3sync.ports import ObjectStore
from s3sync.snapshot import Snapshots, carry_remote_metadata, reuse_recorded_hashes

__all__ = ["FullSyncNeeded", "NothingChanged", "PairSpec", "PairSync", "Result", "Scope"]

log = structlog.get_logger()

HASH_WORKERS = 4


@dataclass
class Result:
    pair: str
    tally: Tally
    seconds: float
    dry_run: bool
    plan: Plan | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.tally.failures)

    def summary(self) -> SyncSummary:
        """What this run did, as every reader reports it (``outcome``)."""
        return outcome(self.pair, self.tally, self.seconds, self.dry_run, self.plan, len(self.skipped))


def utc_stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%d-%H%M%S")


def core_options(options: SyncOptions, stamp: str, *, casefold: bool = False) -> Options:
    return Options(
        mode=Mode(options.mode),
        no_delete=options.no_delete,
        conflict=Policy(options.conflict),
        checksum=options.checksum,
        stamp=stamp,
        casefold=casefold,
        permissions=options.permissions,
    )


class PairSync:
    """Everything one sync of a pair needs; ``run`` is the whole cycle."""

    def __init__(
        self,
        store: ObjectStore,
        spec: PairSpec,
        state_dir: Path,
        *,
        dry_run: bool = False,
        force: bool = False,
        wait: bool = False,
        on_plan: Callable[[Plan], Callable[[int, int], None] | None] | None = None,
        scope: Scope | None = None,
        poll: bool = False,
        settle: float = 0.0,
    ) -> None:
        """``scope`` (or ``poll``) makes this a scoped pass (``pipeline.scoped``): only the
        scope's paths, or what a poll's listing shows changed, are looked at; ``settle``
        leaves files written that recently for later (``deferred``)."""
        self.store = store
        self.spec = spec
        self.id = pair_id(spec.local_root, store.conn.endpoint_url, spec.bucket, spec.prefix)
        self.state_dir = state_dir
        self.dialects = DialectBook(state_dir)
        self.dry_run = dry_run
        self.force = force
        self.wait = wait
        self.on_plan = on_plan
        self.scope = scope if scope is not None or not poll else Scope()
        self.poll = poll
        self.settle = settle
        self.deferred: set[str] = set()  # a scoped pass's paths still being written
        self.looked_at = -1  # the paths a scoped pass looked at; -1: all
        self.own = OwnNames(b"")  # keyed from the state DB once the pair's lock is held
        self.filter = Filter(spec.options.exclude, self.own, links=spec.options.links)

    @property
    def describe(self) -> str:
        return f"{self.spec.local_root} <-> s3://{self.spec.bucket}/{self.spec.prefix}"

    async def run(self) -> Result:
        lock = PairLock(self.spec.lock_file(self.state_dir, self.store.conn.endpoint_url))
        await asyncio.to_thread(lock.acquire, self.wait, self.describe)
        state = StateStore(self.state_dir / f"{self.id}.db")
        try:
            # Before the state DB is made: a wrong endpoint or bucket leaves nothing behind.
            await self.store.bucket_exists(self.spec.bucket)
            state.open()
            with structlog.contextvars.bound_contextvars(pair=self.spec.name):
                return await self._run_locked(state)
        finally:
            state.close()
            lock.release()

    async def _run_locked(self, state: StateStore) -> Result:
        started = time.monotonic()
        stamp = utc_stamp()
        self._check_root(state)
        self.own = OwnNames(state.temp_key(), self._state_inside_root())
        self.filter = Filter.for_root(self.spec.local_root, self.spec.options.exclude, self.own,
                                      links=self.spec.options.links)
        ctx = Context(self.store, self.spec, state, self.own, self.filter, self.force, self.dry_run)
        gathered = await self._gather(ctx)
        snaps = gathered.snaps
        # The local side is never written in push mode (the backup job): no clean-up of
        # leftovers there, no probe file.
        writes_locally = self.spec.options.mode != "push" and not self.dry_run
        if writes_locally:
            trash.remove_temp_files(snaps.temp_files)
        await self._fill_hashes(snaps)
        casefold = writes_locally and localfs.ignores_case(self.spec.local_root, self.own)
        options = core_options(self.spec.options, stamp, casefold=casefold)
        plan = reconcile(snaps.base, snaps.local, snaps.remote, options)
        if await self._fill_conflict_mtimes(plan, snaps):
            plan = reconcile(snaps.base, snaps.local, snaps.remote, options)
        log.info("plan_computed", **{k: v for k, v in plan.counts().items()})
        check_rails(plan, gathered.counts, self.spec.options.max_delete, force=self.force,
                    scoped=self.scope is not None)
        if self.dry_run:
            tally = Tally(counts=dict(plan.counts()))
            return Result(self.spec.name, tally, time.monotonic() - started, True, plan, snaps.skipped)
        progress = self.on_plan(plan) if self.on_plan else None
        dialect = await self._dialect(plan)
        executor = Executor(
            self.store,
            Target(
                bucket=self.spec.bucket,
                prefix=self.spec.prefix,
                root=self.spec.local_root,
                trash_root=self._trash_root(),
                use_trash=self.spec.options.trash,
                disk_names=snaps.disk_names,
                stamp=stamp,
                key_names=snaps.key_names,
                own=self.own,
                follow_symlinks=self.spec.options.follow_symlinks,
                links=self.spec.options.links,
                permissions=self.spec.options.permissions,
                content_types=self.spec.options.content_type == "guess",
            ),
            state,
            concurrency=self.spec.options.concurrency,
            on_progress=progress,
            dialect=dialect,
        )
        tally = await executor.run([*snaps.retired, *plan])
        if executor.dialect != dialect:
            self.dialects.remember(self._endpoint(), self.spec.bucket, executor.dialect)
        chosen = self.spec.options
        await carry_folders(self.store, state, snaps, root=self.spec.local_root, bucket=self.spec.bucket,
                            prefix=self.spec.prefix, mode=chosen.mode, no_delete=chosen.no_delete,
                            empty_dirs=chosen.empty_dirs)
        state.set_json("identity", ctx.identity())
        result = Result(self.spec.name, tally, time.monotonic() - started, False, None, snaps.skipped)
        summary = result.summary().as_json()
        state.set_json("last_run", {"finished": time.time(), **summary})
        log.info("sync_finished", **{k: v for k, v in summary.items() if isinstance(v, int | float)})
        return result

    async def _dialect(self, plan: Plan) -> Dialect:
        """The server's write dialect, asked of it before the first remote write unless a
        run within ``dialects.TTL`` learned it (a probe is two requests that change
        nothing where the conditions hold)."""
        if not any(isinstance(a, Upload | DeleteRemote | Conflict) for a in plan):
            return UNPROBED
        known = self.dialects.recall(self._endpoint(), self.spec.bucket)
        if known is not None:
            return known
        dialect = await self.store.write_support(self.spec.bucket, self.spec.prefix)
        if not dialect.conditional_writes:
            log.warning("no_conditional_writes", versioning=dialect.versioning,
                        reason="a concurrent change by another client is caught through bucket "
                        "versioning" if dialect.versioning else "a concurrent change by another "
                        "client in the moment between listing and writing cannot be detected")
        self.dialects.remember(self._endpoint(), self.spec.bucket, dialect)
        return dialect

    def _endpoint(self) -> str:
        return self.store.conn.endpoint_url or ""

    async def _gather(self, ctx: Context) -> Gathered:
        if self.scope is None:
            return await gather_all(ctx)
        gathered = await ScopedGather(ctx, self.scope, poll=self.poll, settle=self.settle).run()
        self.deferred, self.looked_at = gathered.deferred, gathered.looked_at
        return gathered

    def _state_inside_root(self) -> str | None:
        """The state dir relative to the root, when it lies inside (say the root is a home
        folder and the state is under ~/.local/state): the DB, its lock and the push trash
        are one of s3sync's own names, never synced."""
        try:
            inside = self.state_dir.resolve().relative_to(self.spec.local_root.resolve())
        except (ValueError, OSError):
            return None
        return nfc(inside.as_posix()) if inside.parts else None

    def _trash_root(self) -> Path:
        if self.spec.options.mode == "push":
            # A backup never writes into its source folder, not even a trash.
            return self.state_dir / "trash" / self.id
        return self.spec.local_root / trash.TRASH_DIR

    # -- rails -------------------------------------------------------------------

    def _check_root(self, state: StateStore) -> None:
        root = self.spec.local_root
        if root.is_dir():
            return
        if root.exists():
            raise errors.UsageError(f"local path is not a folder: {root}")
        if state.count():
            raise errors.SafetyAbort(
                [f"the local folder {root} has vanished (unmounted disk?); it synced before, so nothing was changed"]
            )
        if self.spec.options.mode == "push":
            raise errors.NotFoundError(f"local folder does not exist: {root}")
        if not self.dry_run:
            root.mkdir(parents=True)

    # -- snapshots ---------------------------------------------------------------

    async def _fill_conflict_mtimes(self, plan: Plan, snaps: Snapshots) -> bool:
        """HEAD the objects in conflict for their ``mtime`` metadata; True if any was found.

        The newer mtime keeps the name, but a listing only tells when an object was
        uploaded, not when its file was last written. Conflicts are few, so the few
        HEADs are cheap; the plan is then made again with the real times (and any
        content hash the metadata holds).
        """
        if self.spec.options.conflict not in ("keep-both", "newer"):
            return False
        rels = [a.rel for a in plan if isinstance(a, Conflict)]
        slots = asyncio.Semaphore(self.spec.options.concurrency)
        changed = False

        async def head_one(rel: RelPath) -> None:
            nonlocal changed
            async with slots:
                info = await self.store.head(self.spec.bucket, self.spec.prefix + snaps.key_names.get(rel, rel))
            entry = snaps.remote[rel]
            if info is not None and info.etag == entry.etag and info.metadata:
                head = remote_entry_of(info, size=entry.size)
                snaps.remote[rel] = dataclasses.replace(head, md5=head.md5 or entry.md5)
                changed = True

        await asyncio.gather(*(head_one(r) for r in rels))
        return changed

    async def _fill_hashes(self, snaps: Snapshots) -> None:
        """Hash local files and HEAD objects only where a decision needs their content."""
        if not self.spec.options.checksum:
            reuse_recorded_hashes(snaps)
        touched = carry_remote_metadata(snaps, self.spec.options.permissions)
        to_hash = paths_needing_hash(snaps.base, snaps.local, snaps.remote, self.spec.options.checksum)
        to_head = {*paths_needing_remote_md5(snaps.base, snaps.local, snaps.remote), *touched}
        slots = asyncio.Semaphore(HASH_WORKERS)
        head_slots = asyncio.Semaphore(self.spec.options.concurrency)

        async def hash_one(rel: RelPath) -> None:
            async with slots:
                entry = snaps.local[rel]
                path = self.spec.local_root / snaps.disk_names.get(rel, rel)
                link = self.spec.options.links and link_name(rel) is not None
                md5 = await asyncio.to_thread(localfs.hash_file, path, link=link)
                snaps.local[rel] = dataclasses.replace(entry, md5=md5)

        async def head_one(rel: RelPath) -> None:
            async with head_slots:
                info = await self.store.head(self.spec.bucket, self.spec.prefix + snaps.key_names.get(rel, rel))
                entry = snaps.remote[rel]
                if info is not None and info.etag == entry.etag:
                    snaps.remote[rel] = remote_entry_of(info, size=entry.size)

        await asyncio.gather(*(hash_one(r) for r in to_hash), *(head_one(r) for r in to_head))
