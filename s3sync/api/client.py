"""``Client``: ``AsyncClient`` run on a private event loop, for scripts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import IO, Any, Self

from s3sync import errors
from s3sync.adapters.s3 import Connection
from s3sync.api.aclient import AsyncClient
from s3sync.api.common import (
    AddressingStyle,
    P,
    StrPath,
    T,
)
from s3sync.api.summary import SyncSummary
from s3sync.config import ConflictPolicy, ContentTypes, Mode
from s3sync.core.model import Bucket, ObjectInfo


class Client:
    """The synchronous face of ``AsyncClient``, for scripts.

    ``with Client(...) as s3:`` closes it at the end; ``s3 = Client(...)`` opens on first
    use and needs ``s3.close()``. It runs a private event loop, so it cannot be used
    inside a running one (use ``AsyncClient`` there), nor from several threads at once.
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        verify: bool | str = True,
        addressing_style: AddressingStyle | None = None,
        max_pool_connections: int = 64,
        conn: Connection | None = None,
    ) -> None:
        self._async = AsyncClient(
            endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            profile=profile,
            verify=verify,
            addressing_style=addressing_style,
            max_pool_connections=max_pool_connections,
            conn=conn,
        )
        self._runner: asyncio.Runner | None = None
        self._closed = False

    def __enter__(self) -> Self:
        self._open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and the loop; the client cannot be used again."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            runner.run(self._async.__aexit__(None, None, None))
        finally:
            runner.close()

    def _open(self) -> asyncio.Runner:
        if self._runner is not None:
            return self._runner
        if self._closed:
            # Re-opening silently after `with` would leak a pool nobody closes.
            raise errors.UsageError("this Client is closed; make a new one")
        no_running_loop()
        runner = asyncio.Runner()
        try:
            runner.run(self._async.__aenter__())
        except BaseException:
            runner.close()
            raise
        self._runner = runner
        return runner

    def _call(
        self, method: Callable[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # Open (and check for a running loop) before the coroutine exists, so a failure
        # here never leaves a coroutine that was not awaited.
        runner = self._open()
        return runner.run(method(*args, **kwargs))

    # Each method below is AsyncClient's, run to completion; see there for the details.

    def buckets(self) -> list[Bucket]:
        return self._call(self._async.buckets)

    def create_bucket(self, bucket: str) -> None:
        self._call(self._async.create_bucket, bucket)

    def delete_bucket(self, bucket: str, *, force: bool = False) -> int:
        return self._call(self._async.delete_bucket, bucket, force=force)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        self._open()
        pages = self._async.list(bucket, prefix)
        try:
            while (item := self._call(_next, pages)) is not None:
                yield item
        finally:
            # Stopping early (break) must not leave the listing's request open.
            close = getattr(pages, "aclose", None)
            if close is not None and self._runner is not None:
                with contextlib.suppress(RuntimeError):  # finalised inside another call
                    self._runner.run(close())

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        return self._call(self._async.head, bucket, key)

    def put_file(
        self, bucket: str, key: str, src: StrPath, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return self._call(self._async.put_file, bucket, key, src, acl=acl,
                          content_type=content_type)

    def put_bytes(
        self, bucket: str, key: str, data: bytes, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return self._call(self._async.put_bytes, bucket, key, data, acl=acl,
                          content_type=content_type)

    def put_text(self, bucket: str, key: str, text: str, *, acl: str | None = None) -> ObjectInfo:
        return self._call(self._async.put_text, bucket, key, text, acl=acl)

    def put_stream(
        self, bucket: str, key: str, stream: IO[bytes], *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return self._call(self._async.put_stream, bucket, key, stream, acl=acl,
                          content_type=content_type)

    def set_acl(self, bucket: str, key: str, acl: str) -> None:
        self._call(self._async.set_acl, bucket, key, acl)

    def download(self, bucket: str, key: str, dest: StrPath) -> ObjectInfo:
        return self._call(self._async.download, bucket, key, dest)

    def download_stream(
        self, bucket: str, key: str, out: Callable[[bytes], object]
    ) -> ObjectInfo:
        return self._call(self._async.download_stream, bucket, key, out)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return self._call(self._async.get_bytes, bucket, key)

    def get_text(self, bucket: str, key: str) -> str:
        return self._call(self._async.get_text, bucket, key)

    def delete(self, bucket: str, *keys: str) -> None:
        self._call(self._async.delete, bucket, *keys)

    def url(self, bucket: str, key: str, *, signed: bool = True, expires: int = 3600) -> str:
        return self._call(self._async.url, bucket, key, signed=signed, expires=expires)

    def sync(
        self,
        local: StrPath,
        remote: str,
        *,
        mode: Mode = "both",
        no_delete: bool = False,
        conflict: ConflictPolicy = "keep-both",
        max_delete: int | str = "50%",
        exclude: Sequence[str] = (),
        checksum: bool = False,
        follow_symlinks: bool = False,
        links: bool = False,
        trash: bool = True,
        permissions: bool = True,
        empty_dirs: bool = False,
        content_type: ContentTypes = "guess",
        concurrency: int = 64,
        dry_run: bool = False,
        force: bool = False,
        wait: bool = False,
        state_dir: StrPath | None = None,
        name: str | None = None,
    ) -> SyncSummary:
        return self._call(
            self._async.sync, local, remote, mode=mode, no_delete=no_delete,
            conflict=conflict, max_delete=max_delete, exclude=exclude, checksum=checksum,
            follow_symlinks=follow_symlinks, links=links, trash=trash, permissions=permissions, empty_dirs=empty_dirs,
            content_type=content_type,
            concurrency=concurrency,
            dry_run=dry_run, force=force, wait=wait, state_dir=state_dir, name=name,
        )


def no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise errors.UsageError(
        "Client runs its own event loop and cannot be used inside a running one; "
        "use AsyncClient with 'async with' there"
    )


async def _next(items: AsyncIterator[T]) -> T | None:
    # A coroutine (which asyncio.Runner.run requires), ending in None, not an exception.
    return await anext(items, None)
