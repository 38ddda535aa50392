"""Reading and writing local files for transfers: new files created exclusively and
flushed to disk, parts read at their offsets, MD5s taken on the way. Used by the S3
adapter's uploads and downloads; knows nothing of S3."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from s3sync import errors
from s3sync.core.own import TEMP_MARKER

T = TypeVar("T")
MiB = 1024 * 1024
CHUNK = 1 * MiB
OFFLOAD_BYTES = 256 * 1024  # from here on, hashing and writing go to a thread


def temp_path_for(dest: Path) -> Path:
    """A hidden name beside ``dest`` (never taken for a sync's own: it bears no pair's tag)."""
    stem = dest.name if len(dest.name.encode("utf-8", "surrogateescape")) <= 200 else ""
    return dest.with_name(f".{stem}{TEMP_MARKER}{secrets.token_hex(4)}")


class EarlyFlush:
    """Keeps one flush of ``fd`` to disk under way while parts are still arriving: a
    large file otherwise waits for the disk in its final fsync, after the network."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._running: asyncio.Future[None] | None = None

    def kick(self) -> None:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(to_thread_to_the_end(os.fdatasync, self._fd))

    async def done(self) -> None:
        if self._running is not None:
            await self._running


async def to_thread_to_the_end(func: Callable[..., T], *args: Any) -> T:
    """``asyncio.to_thread``, but a cancelled caller still waits for the thread: its
    clean-up must not run while the thread writes (or closes a reused fd)."""
    job = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await job
        raise


def write_new_file(tmp: Path, body: bytes, mode: int | None = None) -> None:
    with create_exclusive(tmp) as out:
        out.write(body)
        out.flush()
        flush_to_disk(out.fileno(), mode)


def flush_to_disk(fd: int, mode: int | None) -> None:
    """Give the new file its permission bits (where chosen), then flush it to disk."""
    if mode is not None:
        os.fchmod(fd, mode)
    os.fsync(fd)


async def stream_into_new_file(
    tmp: Path, chunks: AsyncIterator[bytes], mode: int | None = None
) -> tuple[int, str]:
    """Write ``chunks`` to the new file ``tmp`` and flush it to disk; (bytes, MD5 hex)."""
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    with create_exclusive(tmp) as out:

        def sink(chunk: bytes) -> None:
            digest.update(chunk)
            out.write(chunk)

        # Big chunks are hashed and written in a thread (both release the GIL) while
        # the next one arrives; small ones inline, cheaper than a thread hop. One chunk
        # in flight keeps the order.
        pending: asyncio.Future[None] | None = None
        try:
            async for chunk in chunks:
                written += len(chunk)
                if pending is None and len(chunk) < OFFLOAD_BYTES:
                    sink(chunk)
                    continue
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(to_thread_to_the_end(sink, chunk))
        finally:
            if pending is not None:
                await pending  # never close the file under a writing thread
        out.flush()
        await to_thread_to_the_end(flush_to_disk, out.fileno(), mode)
    return written, digest.hexdigest()


def write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


@contextlib.contextmanager
def create_exclusive(tmp: Path) -> Iterator[IO[bytes]]:
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot write {tmp.parent}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        try:
            yield out
        except OSError as exc:
            raise errors.LocalIOError(f"cannot write {tmp.parent}: {exc.strerror}") from exc


def local_size(src: Path) -> int:
    try:
        return src.stat().st_size
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read {src}: {exc.strerror}") from exc


async def read_small(src: Path, size: int) -> bytes:
    try:
        if size < MiB:
            # A thread hop costs more than reading a small file from the page cache.
            return src.read_bytes()
        return await asyncio.to_thread(src.read_bytes)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read {src}: {exc.strerror}") from exc


async def file_parts(src: Path, size: int, part: int) -> AsyncIterator[bytes]:
    """``src`` in parts of ``part`` bytes, each read at its offset in a thread."""
    try:
        fd = os.open(src, os.O_RDONLY)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read {src}: {exc.strerror}") from exc
    try:
        for offset in range(0, size, part):
            data = await asyncio.to_thread(os.pread, fd, part, offset)
            if not data:
                raise errors.LocalIOError(f"{src} shrank while it was being uploaded")
            yield data
    finally:
        os.close(fd)


async def stream_parts(first: bytes, stream: IO[bytes], part: int) -> AsyncIterator[bytes]:
    for start in range(0, len(first), part):
        yield first[start : start + part]
    # A buffered reader's read(n) returns n bytes unless the pipe hit EOF.
    while data := await asyncio.to_thread(stream.read, part):
        yield data


def md5s_of_parts(src: Path, size: int, part: int) -> list[bytes]:
    """The MD5 of each part ``file_parts`` reads, in order."""
    fd = os.open(src, os.O_RDONLY)
    try:
        return [md5_digest(os.pread(fd, part, offset)) for offset in range(0, size, part)]
    finally:
        os.close(fd)


def md5_digest(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def file_md5(src: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(src, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
