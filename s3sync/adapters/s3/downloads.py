"""Reading an object into a new local temp file, verified (size, MD5) and flushed to
disk: whole, or in ranged parts side by side for a large listed object."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import botocore.exceptions as bex

from s3sync import errors
from s3sync.adapters.localio import (
    OFFLOAD_BYTES,
    EarlyFlush,
    create_exclusive,
    flush_to_disk,
    stream_into_new_file,
    temp_path_for,
    to_thread_to_the_end,
    write_at,
    write_new_file,
)
from s3sync.adapters.s3.error_table import error_code
from s3sync.adapters.s3.metadata import content_md5
from s3sync.adapters.s3.objects import Objects
from s3sync.adapters.s3.wire import MULTIPART_THRESHOLD, RangesUnusable, part_size_for
from s3sync.core.model import ObjectInfo


class Downloads(Objects):

    async def download_to_temp(
        self, bucket: str, key: str, dest: Path, *, listed: tuple[str, int] | None = None,
        temp: Path | None = None, mode_for: Callable[[ObjectInfo], int] | None = None,
    ) -> tuple[Path, ObjectInfo, str]:
        """Fetch the object into a new temp file beside ``dest``; verify it; return it.

        Returns (temp path, what the GET described, MD5 hex of the bytes written). The
        caller renames the temp file into place; on any error it is already gone.
        ``listed``: the (ETag, size) a listing gave; the same ETag must bring that size,
        whatever the GET's own headers claim (an object whose MD5 is unknown has no
        other check against a short body). A large listed object is fetched in parts.
        ``temp``: the temp file's path (a sync's carries its pair's tag), else a new name.
        ``mode_for``: the permission bits the file gets, from what the GET described (set
        in the thread that flushes it: a chmod on the event loop waits for the journal).
        """
        tmp = temp or temp_path_for(dest)
        try:
            if listed is not None and listed[1] >= MULTIPART_THRESHOLD:
                try:
                    return await self._download_in_parts(bucket, key, tmp, listed, mode_for)
                except RangesUnusable:
                    tmp.unlink(missing_ok=True)
            return await self._download_whole(bucket, key, tmp, listed, mode_for)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    async def _download_in_parts(
        self, bucket: str, key: str, tmp: Path, listed: tuple[str, int],
        mode_for: Callable[[ObjectInfo], int] | None,
    ) -> tuple[Path, ObjectInfo, str]:
        """Ranged GETs side by side, each part written at its offset: one GET stream
        goes at one connection's pace, half of what a large file can get. Every part
        must come from the listed version, else ``RangesUnusable``."""
        where = f"s3://{bucket}/{key}"
        etag, size = listed
        part = part_size_for(size)
        digest = _InOrderMD5()
        first: list[ObjectInfo] = []

        async def starts() -> AsyncIterator[int]:
            for start in range(0, size, part):
                yield start

        with create_exclusive(tmp) as out:

            async def fetch(number: int, start: int) -> None:
                with self._errors(where):
                    info, data = await self._get_range(bucket, key, start, min(part, size - start))
                if (info.etag, info.size) != (etag, size):
                    raise RangesUnusable  # replaced since the listing, or between parts
                await to_thread_to_the_end(write_at, out.fileno(), data, start)
                flusher.kick()
                await digest.add(number, data)
                if number == 1:
                    first.append(info)

            flusher = EarlyFlush(out.fileno())
            try:
                await self._side_by_side(starts(), fetch)
            finally:
                await flusher.done()
            await to_thread_to_the_end(flush_to_disk, out.fileno(), mode_for(first[0]) if mode_for else None)
        md5 = digest.hexdigest()
        _verify(where, first[0], size, md5, listed)
        return tmp, first[0], md5

    async def _get_range(self, bucket: str, key: str, start: int, length: int) -> tuple[ObjectInfo, bytes]:
        """``length`` bytes from ``start``, and what the GET described, with the whole
        object's size. ``RangesUnusable`` if the server did not answer with that range."""
        spec = f"bytes={start}-{start + length - 1}"
        try:
            info, total, data = await self._transport.get_range(bucket, key, spec, start)
        except bex.ClientError as exc:
            if error_code(exc) in {"InvalidRange", "416"}:
                raise RangesUnusable from exc  # the object shrank since the listing
            raise
        if len(data) != length:
            raise RangesUnusable
        return dataclasses.replace(info, size=total), data

    async def _download_whole(
        self, bucket: str, key: str, tmp: Path, listed: tuple[str, int] | None,
        mode_for: Callable[[ObjectInfo], int] | None,
    ) -> tuple[Path, ObjectInfo, str]:
        where = f"s3://{bucket}/{key}"
        with self._errors(where):
            async with self._transport.get(bucket, key) as (info, chunks):
                mode = mode_for(info) if mode_for else None
                if 0 < info.size < OFFLOAD_BYTES:
                    body = b"".join([chunk async for chunk in chunks])
                    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
                    _verify(where, info, len(body), md5, listed)
                    # Off the event loop: there, each file's fsync, and every open
                    # queued behind the journal it flushes, stalled all transfers.
                    await to_thread_to_the_end(write_new_file, tmp, body, mode)
                    return tmp, info, md5
                written, md5 = await stream_into_new_file(tmp, chunks, mode)
        _verify(where, info, written, md5, listed)
        return tmp, info, md5

    async def stream_to(self, bucket: str, key: str, out: Callable[[bytes], object]) -> ObjectInfo:
        where = f"s3://{bucket}/{key}"
        with self._errors(where):
            async with self._transport.get(bucket, key) as (info, chunks):
                async for chunk in chunks:
                    out(chunk)
        return info

def _verify(
    where: str, info: ObjectInfo, written: int, md5_hex: str, listed: tuple[str, int] | None = None
) -> None:
    if written != info.size:
        raise errors.EndpointError(
            f"{where}: download truncated ({written} of {info.size} bytes)"
        )
    if listed is not None and info.etag == listed[0] and written != listed[1]:
        raise errors.EndpointError(
            f"{where}: download truncated ({written} of {listed[1]} bytes listed)"
        )
    expected = content_md5(info)
    if expected and expected != md5_hex:
        raise errors.EndpointError(f"{where}: downloaded content does not match its checksum")

class _InOrderMD5:
    """The MD5 of parts that arrive in any order, taken in file order. ``add`` returns
    once its part is hashed, so callers that hold a slot per part bound what waits here."""

    def __init__(self) -> None:
        self._digest = hashlib.md5(usedforsecurity=False)
        self._next = 1
        self._waiting: dict[int, bytes] = {}
        self._turn = asyncio.Condition()

    async def add(self, number: int, data: bytes) -> None:
        async with self._turn:
            self._waiting[number] = data
            while self._next in self._waiting:
                await asyncio.to_thread(self._digest.update, self._waiting.pop(self._next))
                self._next += 1
            self._turn.notify_all()
            await self._turn.wait_for(lambda: self._next > number)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
