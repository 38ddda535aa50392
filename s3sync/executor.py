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
from collections.abc import Iterable, Iterator

import structlog

from s3sync import errors
from s3sync.core.model import BaseEntry
from s3sync.core.plan import (
    FREEING,
    Action,
    Conflict,
    DeleteLocal,
    DeleteRemote,
    Displace,
    Download,
    Forget,
    Record,
    SetMode,
    Skip,
    Upload,
)
from s3sync.execute.base import Failure, Stale, Tally, Target
from s3sync.execute.conflicts import Conflicts

__all__ = ["Executor", "Failure", "Tally", "Target"]

log = structlog.get_logger()


class Executor(Conflicts):
    """Runs a plan: each action by the layer that knows its kind (``s3sync.execute``:
    transfers, changes, conflicts), at most ``concurrency`` at once."""

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
