"""The local event source: a watchdog observer per root, handed to the loop, debounced.

watchdog calls handlers on its own dispatcher thread. The handler therefore does one
thing, schedule a put on the loop's queue; everything else (filtering, coalescing,
deciding) happens on the loop. Events are hints: a batch only says which paths to
look at again, never what happened to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from s3sync.core.scope import Scope, hint_paths

# A folder's own modify/attrib events only say that its listing changed; the files
# that changed send their own events, so those two are not worth waking up for.
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileDeletedEvent, FileMovedEvent,
    FileClosedEvent, FileAttribEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]


class _Bridge(FileSystemEventHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[FileSystemEvent]) -> None:
        self._loop = loop
        self._queue = queue

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Runs on watchdog's thread: hand over and return, nothing else.
        with contextlib.suppress(RuntimeError):  # the loop closed while we stopped
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)


@contextlib.asynccontextmanager
async def watching(root: Path) -> AsyncIterator[asyncio.Queue[FileSystemEvent]]:
    """Watch ``root`` recursively for the duration of the block; yield the event queue."""
    queue: asyncio.Queue[FileSystemEvent] = asyncio.Queue()
    observer: BaseObserver = Observer()
    observer.schedule(
        _Bridge(asyncio.get_running_loop(), queue), str(root), recursive=True,
        event_filter=WATCHED_EVENTS,
    )
    await asyncio.to_thread(observer.start)
    try:
        yield queue
    finally:
        await _stop(observer)


async def _stop(observer: BaseObserver, timeout: float = 2.0) -> None:
    """Stop and join the observer on a thread of its own, waiting at most ``timeout``.

    ``stop`` joins watchdog's emitter threads, so it must not run on the loop; and not
    on the loop's executor either, whose threads ``asyncio.run`` waits for without a
    limit: a stuck emitter must not keep the process from exiting.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finished() -> None:
        if not done.done():
            done.set_result(None)

    def stop() -> None:
        try:
            observer.stop()
            observer.join(timeout)
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(finished)

    threading.Thread(target=stop, name="s3sync-observer-stop", daemon=True).start()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout + 0.5):
            await asyncio.shield(done)


async def batches(
    queue: asyncio.Queue[FileSystemEvent], root: Path, settle: float, max_wait: float
) -> AsyncIterator[Scope]:
    """Yield the paths touched, once no event arrived for ``settle`` seconds.

    ``max_wait`` caps how long a batch may keep growing, so that a folder that never
    goes quiet (a log being appended to) still lets its other changes through; files
    still being written then are deferred by the pass itself.
    """
    loop = asyncio.get_running_loop()
    top = os.fspath(root)
    while True:
        scope = _scope_of(await queue.get(), top)
        deadline = loop.time() + max_wait
        while (left := min(settle, deadline - loop.time())) > 0:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancellation that races a completed get, and a stop would hang.
                async with asyncio.timeout(left):
                    event = await queue.get()
            except TimeoutError:
                break
            scope.merge(_scope_of(event, top))
        while not queue.empty():
            scope.merge(_scope_of(queue.get_nowait(), top))
        if scope:
            yield scope


def _scope_of(event: FileSystemEvent, root: str) -> Scope:
    paths = [(os.fsdecode(event.src_path), event.is_directory)]
    if event.dest_path:
        paths.append((os.fsdecode(event.dest_path), event.is_directory))
    return hint_paths(paths, root)
