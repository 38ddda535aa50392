"""The service process: one loop, one S3 client, one scheduler, one ``PairService`` per pair.

Lifetimes nest in an ``AsyncExitStack``: the S3 client outlives the scheduler, which
outlives the pairs. Signals only set flags the main coroutine waits on: SIGTERM/SIGINT
stop (each pair finishes or cancels its pass in flight), SIGHUP reloads the config
(new pairs start, removed or changed ones stop, stopped ones get a fresh start).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from s3sync import errors, preflight
from s3sync.adapters.s3 import Connection, S3Store
from s3sync.engine import PairSpec
from s3sync.service.pair import PairService, PairState

log = structlog.get_logger()

SpecLoader = Callable[[], list[PairSpec]]


class Daemon:
    def __init__(
        self, connection: Connection, load_specs: SpecLoader, state_dir: Path, *, force_first: bool = False
    ) -> None:
        self.connection = connection
        self.load_specs = load_specs
        self.state_dir = state_dir
        self.force_first = force_first
        self.pairs: dict[str, PairService] = {}
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._store: S3Store | None = None

    async def run(self, specs: list[PairSpec]) -> int:
        # APScheduler logs every skipped (coalesced) tick as a warning on stdlib logging;
        # skipping is the point, and those lines are not JSON.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self._install_signals()
        async with contextlib.AsyncExitStack() as stack:
            self._store = await stack.enter_async_context(S3Store.open(self.connection))
            self._scheduler = AsyncIOScheduler()
            self._scheduler.start()
            stack.callback(self._scheduler.shutdown, wait=False)
            stack.push_async_callback(self._close_all)
            log.info("service_started", pairs=[s.name for s in specs])
            refused = await self._apply(specs, force=self.force_first)
            if specs and not self.pairs:
                # A service serving nothing would look alive to systemd and do nothing.
                raise _none_can_run(refused)
            for name, exc in refused.items():
                log.error("pair_stopped", pair=name, reasons=[str(exc)])
            # Move what start-up loaded (botocore's models are large) out of the
            # collector's sight: idle collections then have less to walk, and so does
            # the collection at exit, which took seconds of a 10 s stop budget.
            gc.freeze()
            await self._serve()
            log.info("stop_requested")
        log.info("service_stopped")
        return 0

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)

    async def _serve(self) -> None:
        while not self._stop.is_set():
            stop = asyncio.ensure_future(self._stop.wait())
            reload = asyncio.ensure_future(self._reload.wait())
            await asyncio.wait({stop, reload}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stop, reload):
                waiter.cancel()
            if self._reload.is_set() and not self._stop.is_set():
                self._reload.clear()
                await self._reload_config()

    async def _reload_config(self) -> None:
        try:
            specs = self.load_specs()
        except errors.S3SyncError as exc:
            log.error("config_reload_failed", error=str(exc), reason="kept the running pairs")
            return
        log.info("config_reloaded", pairs=[s.name for s in specs])
        for name, problem in (await self._apply(specs, force=False)).items():
            log.error("pair_stopped", pair=name, reasons=[str(problem)])

    async def _apply(self, specs: list[PairSpec], *, force: bool) -> dict[str, errors.S3SyncError]:
        """Start and stop pairs to match ``specs``; the pairs that could not start, and why."""
        wanted = {spec.name: spec for spec in specs}
        for name, pair in list(self.pairs.items()):
            spec = wanted.get(name)
            if spec is None or spec != pair.spec or pair.state is PairState.STOPPED:
                await self._remove(name)
        refused: dict[str, errors.S3SyncError] = {}
        for name, spec in wanted.items():
            if name not in self.pairs:
                problem = await self._add(spec, force=force)
                if problem is not None:
                    refused[name] = problem
        return refused

    async def _add(self, spec: PairSpec, *, force: bool) -> errors.S3SyncError | None:
        assert self._store is not None
        assert self._scheduler is not None
        pair = PairService(self._store, spec, self.state_dir)
        try:
            preflight.local_root(spec.local_root, self.state_dir / f"{pair.id}.db")
            await pair.start(force=force)
        except (errors.S3SyncError, OSError) as exc:
            # This pair cannot be served (claimed by another watch, state dir not
            # writable): the caller says so and goes on with the others.
            await pair.close(grace=0)
            return errors.LocalIOError(str(exc)) if isinstance(exc, OSError) else exc
        self.pairs[spec.name] = pair
        options = spec.options
        self._scheduler.add_job(
            pair.poll, "interval", seconds=options.interval, id=f"poll:{spec.name}",
            coalesce=True, max_instances=1, misfire_grace_time=None,
        )
        self._scheduler.add_job(
            pair.rescan, "interval", seconds=options.rescan, id=f"rescan:{spec.name}",
            coalesce=True, max_instances=1, misfire_grace_time=None,
        )
        return None

    async def _remove(self, name: str) -> None:
        pair = self.pairs.pop(name)
        if self._scheduler is not None:
            for job in (f"poll:{name}", f"rescan:{name}"):
                with contextlib.suppress(Exception):
                    self._scheduler.remove_job(job)
        await pair.close()

    async def _close_all(self) -> None:
        if self._scheduler is not None:
            self._scheduler.remove_all_jobs()
        pairs, self.pairs = list(self.pairs.values()), {}
        await asyncio.gather(*(pair.close() for pair in pairs))


def _none_can_run(refused: dict[str, errors.S3SyncError]) -> errors.S3SyncError:
    if len(refused) == 1:
        return next(iter(refused.values()))
    reasons = "; ".join(f"{name}: {exc}" for name, exc in refused.items())
    return errors.S3SyncError(f"no pair can run: {reasons}")
