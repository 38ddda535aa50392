"""One pair inside the service: its watcher, its single worker, its backoff and its status.

Theory of operation. Triggers (a batch of watched paths, a poll tick, a rescan tick,
start-up) never run a sync themselves: they merge into the pair's pending ``Work`` and
wake the worker. The worker runs one pass at a time under the pair's lock, taking
everything pending at once, so triggers that arrive meanwhile coalesce into the next
pass. A full trigger swallows the rest (a full sync looks at everything). A pass that
fails puts its work back and the worker waits out an exponential, capped backoff;
other pairs are not affected. A tripped safety rail stops the pair until the config
is reloaded: the rail exists for a human to look first.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from s3sync import errors
from s3sync.adapters.s3 import S3Store
from s3sync.adapters.statedb import PairLock, StateStore, pair_id
from s3sync.core.scope import Scope
from s3sync.engine import FullSyncNeeded, NothingChanged, PairSpec, PairSync, Result
from s3sync.outcome import TRANSFERS
from s3sync.service.watcher import batches, watching

log = structlog.get_logger()

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 300.0
# Seconds an in-flight pass may take to finish before it is cancelled: with the
# observer's join, this keeps a stop well inside systemd's and the 10 s.
SHUTDOWN_GRACE = 3.0


class PairState(enum.StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    SYNCING = "syncing"
    FAILING = "failing"  # backing off after an error; work is kept and retried
    STOPPED = "stopped"  # a rail tripped, or the service is not serving this pair


@dataclass
class Work:
    scope: Scope = field(default_factory=Scope)
    full: str | None = None  # the trigger of a pending full sync
    poll: bool = False
    force: bool = False
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def merge(self, other: Work) -> None:
        self.scope.merge(other.scope)
        self.full = self.full or other.full
        self.poll = self.poll or other.poll
        self.force = self.force or other.force
        self.waiters += other.waiters

    def __bool__(self) -> bool:
        return bool(self.scope) or self.full is not None or self.poll

    @property
    def trigger(self) -> str:
        if self.full is not None:
            return self.full
        if self.scope.full:
            return "rescan"
        return "poll" if self.poll else "watch"

    def finish(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []


@dataclass
class Backoff:
    cap: float
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, BACKOFF_FIRST * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return delay


def backoff_cap(interval: float) -> float:
    # Waiting much longer than the poll interval gains nothing and delays recovery.
    return min(BACKOFF_CAP, max(5.0, 2 * interval))


class PairService:
    def __init__(self, store: S3Store, spec: PairSpec, state_dir: Path) -> None:
        self.store = store
        self.spec = spec
        self.state_dir = state_dir
        self.id = pair_id(spec.local_root, store.conn.endpoint_url, spec.bucket, spec.prefix)
        self.state = PairState.STARTING
        self._pending = Work()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._lock = asyncio.Lock()
        self._backoff = Backoff(backoff_cap(spec.options.interval))
        self._retry_at = 0.0
        self._error_kind: str | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._stack = contextlib.AsyncExitStack()
        self._status = StatusWriter(state_dir / f"{self.id}.db", spec.name)
        self._watching = False

    @property
    def log(self) -> Any:
        return log.bind(pair=self.spec.name)

    # -- lifetime ----------------------------------------------------------------

    async def start(self, *, force: bool = False) -> None:
        """Claim the pair, start the worker and ask for the start-up full sync."""
        claim = PairLock(self.spec.lock_file(self.state_dir, self.store.conn.endpoint_url, ".watch"))
        try:
            await asyncio.to_thread(claim.acquire, False, self.describe)
        except errors.LockedError:
            raise errors.LockedError(f"another s3sync watch is already serving {self.describe}") from None
        self._stack.callback(claim.release)
        self._stack.callback(self._status.close)
        self._status.open()
        self._spawn(self._work_loop())
        if self.spec.local_root.is_dir():
            # Watch before the first scan, so nothing written during it is missed.
            await self._start_watching()
        self._set_state(PairState.STARTING)
        self.submit(Work(full="startup", force=force))
        self.log.info("pair_started", local=str(self.spec.local_root),
                      remote=f"s3://{self.spec.bucket}/{self.spec.prefix}")

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Take no new work; let the pass in flight finish within ``grace``, else cancel it."""
        self._closing = True
        for timer in self._timers:
            timer.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        if not self._idle.is_set():
            self.log.info("pass_cancelled", reason="the service is stopping")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task that ignored its cancellation must not hold up the exit.
            await asyncio.wait(tasks, timeout=1.0)
        self._pending.finish()
        if self.state is not PairState.STOPPED:
            self._set_state(PairState.STOPPED, reason="the service stopped")
        await self._stack.aclose()
        self.log.info("pair_closed")

    @property
    def describe(self) -> str:
        return f"{self.spec.local_root} <-> s3://{self.spec.bucket}/{self.spec.prefix}"

    def _spawn(self, job: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_watching(self) -> None:
        self._watching = True  # tried once per run of the pair, not once per pass
        try:
            queue = await self._stack.enter_async_context(watching(self.spec.local_root))
        except OSError as exc:
            # Typically ENOSPC: out of inotify watches. Polls and rescans still run.
            self.log.warning("watch_failed", reason=exc.strerror or str(exc),
                             hint="raise fs.inotify.max_user_watches; until then local changes wait for the rescan")
            return
        self._spawn(self._consume(queue))

    async def _consume(self, queue: Any) -> None:
        settle = self.spec.options.settle
        own = _inside(self.state_dir, self.spec.local_root)
        async for scope in batches(queue, self.spec.local_root, settle, max_wait=max(5.0, 5 * settle)):
            if own is not None:
                # The state dir inside the root: our own DB writes must not wake us, or
                # each pass's status write would trigger the next pass.
                scope = scope.without(own)
            if scope:
                self.submit(Work(scope=scope))

    # -- triggers ----------------------------------------------------------------

    def submit(self, work: Work) -> None:
        if self._closing or self.state is PairState.STOPPED:
            work.finish()
            return
        self._pending.merge(work)
        self._wake.set()

    async def poll(self) -> None:
        """The scheduled listing: returns once a pass covering it is over."""
        await self._request(Work(poll=True))

    async def rescan(self) -> None:
        await self._request(Work(full="rescan"))

    async def _request(self, work: Work) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        work.waiters.append(waiter)
        self.submit(work)
        await waiter

    def _later(self, delay: float, work: Work) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            self.submit(work)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    # -- the worker --------------------------------------------------------------

    async def _work_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            await self._wake.wait()
            if (wait := self._retry_at - loop.time()) > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            if self._closing or self.state is PairState.STOPPED:
                break
            work, self._pending = self._pending, Work()
            if not work:
                work.finish()
                continue
            self._idle.clear()
            try:
                async with self._lock:
                    await self._pass(work)
            finally:
                work.finish()
                self._idle.set()

    async def _pass(self, work: Work) -> None:
        if not self._watching and self.spec.local_root.is_dir():
            await self._start_watching()
        self._set_state(PairState.SYNCING, pending=len(work.scope) or None)
        started = time.monotonic()
        try:
            result, looked_at = await self._run(work)
        except NothingChanged:
            self._succeeded()
            self._status.update(last_checked=time.time())
            return
        except errors.SafetyAbort as exc:
            self._stop(exc.reasons)
            return
        except (errors.S3SyncError, OSError) as exc:
            self._failed(work, exc)
            return
        except Exception as exc:
            # A bug: log it with its traceback, but keep serving this and other pairs.
            self.log.exception("pass_crashed", trigger=work.trigger)
            self._failed(work, exc)
            return
        self._finished(work, result, looked_at, time.monotonic() - started)

    async def _run(self, work: Work) -> tuple[Result, int]:
        if work.full is None and not work.scope.full:
            runner = PairSync(self.store, self.spec, self.state_dir, scope=work.scope,
                              poll=work.poll, settle=self.spec.options.settle)
            try:
                result = await runner.run()
            except FullSyncNeeded:
                self.log.info("scope_widened", trigger=work.trigger)
            else:
                if runner.deferred:
                    self._later(self.spec.options.settle, Work(scope=Scope(files=runner.deferred)))
                return result, runner.looked_at
        full = PairSync(self.store, self.spec, self.state_dir, force=work.force)
        result = await full.run()
        return result, -1

    # -- outcomes ----------------------------------------------------------------

    def _finished(self, work: Work, result: Result, looked_at: int, seconds: float) -> None:
        done = result.summary().counts()
        counts = {k: done[k] for k in (*TRANSFERS, "failed")}
        self.log.info("pass_finished", trigger=work.trigger, paths=looked_at,
                      seconds=round(seconds, 3), **counts)
        conflicts = len(result.tally.conflict_copies)
        self._status.update(
            last_pass={"trigger": work.trigger, "finished": time.time(), "paths": looked_at,
                       "seconds": round(seconds, 3), **counts},
            conflicts_created=self._status.get("conflicts_created", 0) + conflicts,
        )
        if not result.failed:
            self._succeeded()
            return
        # Some actions failed (the rest were done): retry just those paths, later.
        first = result.tally.failures[0]
        self._enter_failing("actions_failed", f"{len(result.tally.failures)} actions failed; first: {first.action} {first.rel}: {first.reason}")
        self._set_state(PairState.IDLE)
        retry = Scope(files={f.rel for f in result.tally.failures})
        self._later(self._backoff.next_delay(), Work(scope=retry))

    def _succeeded(self) -> None:
        if self._error_kind is not None:
            self.log.info("pair_recovered", after_attempts=self._backoff.failures)
        self._error_kind = None
        self._backoff.failures = 0
        self._retry_at = 0.0
        self._set_state(PairState.IDLE)

    def _failed(self, work: Work, exc: BaseException) -> None:
        self._enter_failing(type(exc).__name__, str(exc) or type(exc).__name__)
        delay = self._backoff.next_delay()
        self._retry_at = asyncio.get_running_loop().time() + delay
        # Keep the work: nothing a failed pass was asked to look at is forgotten.
        work.finish()
        self._pending.merge(Work(scope=work.scope, full=work.full, poll=work.poll, force=work.force))
        self._wake.set()
        self._set_state(PairState.FAILING, retry_in=delay)

    def _enter_failing(self, kind: str, message: str) -> None:
        """Log an error once per change of state, not once per retry."""
        if kind != self._error_kind:
            self.log.warning("pair_failed", error=message, error_kind=kind)
        else:
            self.log.debug("retry_failed", error=message, error_kind=kind)
        self._error_kind = kind
        self._status.update(last_error=message, last_error_at=time.time())

    def _stop(self, reasons: list[str]) -> None:
        self.log.error("pair_stopped", reasons=reasons)
        self._set_state(PairState.STOPPED, reason="; ".join(reasons))
        self._status.update(last_error="; ".join(reasons), last_error_at=time.time())
        self._pending.finish()
        self._pending = Work()

    def _set_state(self, state: PairState, **extra: Any) -> None:
        self.state = state
        pending = extra.pop("pending", None)
        if pending is None:
            pending = len(self._pending.scope) + (1 if self._pending.full or self._pending.poll else 0)
        self._status.update(state=state.value, pending=pending, **extra)


def _inside(folder: Path, root: Path) -> str | None:
    """``folder`` relative to ``root`` as the watcher names it, if it lies inside."""
    try:
        inside = folder.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return inside.as_posix() if inside.parts else None


class StatusWriter:
    """The ``service`` meta row of a pair's state DB, which `s3sync status` reads."""

    def __init__(self, db: Path, name: str) -> None:
        self._store = StateStore(db)
        self._values: dict[str, Any] = {"name": name, "pid": os.getpid()}
        self._open = False

    def open(self) -> None:
        self._store.open()
        self._open = True
        previous = self._store.get_json("service") or {}
        # Totals survive restarts of the service; the rest describes this run.
        self._values["conflicts_created"] = int(previous.get("conflicts_created", 0))
        self._values["started"] = time.time()

    def close(self) -> None:
        if self._open:
            self._store.close()
            self._open = False

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def update(self, **values: Any) -> None:
        self._values.update(values)
        for key in ("reason", "retry_in"):
            if key not in values and "state" in values:
                self._values.pop(key, None)
        self._values["updated"] = time.time()
        if self._open:
            try:
                self._store.set_json("service", self._values)
            except errors.StateError as exc:
                log.warning("status_not_written", reason=str(exc))
