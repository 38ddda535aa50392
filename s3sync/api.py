"""The public Python API: the toolbox of the Ceph "Python S3 Examples" page, and sync.

``AsyncClient`` is the implementation; ``Client`` runs it on a private event loop for
scripts. The CLI is a thin layer over ``AsyncClient``: there is one code path per
operation. Results are frozen dataclasses; errors are ``s3sync.errors`` exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from s3sync import errors
from s3sync.adapters.s3 import Connection, S3Store
from s3sync.core.model import Bucket, ObjectInfo

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)

T = TypeVar("T")


def connection(
    endpoint_url: str | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    verify: bool | str = True,
    addressing_style: str | None = None,
    max_pool_connections: int = 64,
) -> Connection:
    """Connection settings; a given endpoint means path-style addressing by default."""
    return Connection(
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        access_key_id=access_key,
        secret_access_key=secret_key,
        addressing_style=addressing_style,
        verify=verify,
        max_pool_connections=max_pool_connections,
    )


class AsyncClient:
    """``async with AsyncClient(endpoint_url=...) as s3: await s3.buckets()``."""

    def __init__(self, endpoint_url: str | None = None, **settings: Any) -> None:
        self._conn = (
            settings.pop("conn") if "conn" in settings else connection(endpoint_url, **settings)
        )
        self._stack = contextlib.AsyncExitStack()
        self._store: S3Store | None = None

    async def __aenter__(self) -> Self:
        self._store = await self._stack.enter_async_context(S3Store.open(self._conn))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._store = None
        await self._stack.aclose()

    @property
    def store(self) -> S3Store:
        if self._store is None:
            raise RuntimeError("use the client inside 'async with'")
        return self._store

    async def buckets(self) -> list[Bucket]:
        return await self.store.list_buckets()

    async def create_bucket(self, bucket: str) -> None:
        await self.store.create_bucket(bucket)

    async def delete_bucket(self, bucket: str, *, force: bool = False) -> int:
        """Delete ``bucket``; with ``force``, everything in it first. Returns what was deleted."""
        deleted = await self.store.empty_bucket(bucket) if force else 0
        await self.store.delete_bucket(bucket)
        return deleted

    def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        return self.store.iter_objects(bucket, prefix)

    async def put_file(
        self, bucket: str, key: str, src: str | os.PathLike[str], *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return await self.store.put_file(bucket, key, Path(src), acl=acl, content_type=content_type)

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return await self.store.put_bytes(bucket, key, data, acl=acl, content_type=content_type)

    async def put_text(self, bucket: str, key: str, text: str, *, acl: str | None = None) -> ObjectInfo:
        return await self.put_bytes(
            bucket, key, text.encode("utf-8"), acl=acl, content_type="text/plain; charset=utf-8"
        )

    async def put_stream(
        self, bucket: str, key: str, stream: IO[bytes], *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return await self.store.put_stream(bucket, key, stream, acl=acl, content_type=content_type)

    async def set_acl(self, bucket: str, key: str, acl: str) -> None:
        await self.store.set_acl(bucket, key, check_acl(acl))

    async def download(self, bucket: str, key: str, dest: str | os.PathLike[str]) -> ObjectInfo:
        """Write the object to ``dest`` atomically: a temp file renamed into place."""
        target = Path(dest)
        if target.is_dir():
            raise errors.UsageError(f"{target} is a folder; give the file name to write")
        if not target.parent.is_dir():
            raise errors.NotFoundError(f"folder does not exist: {target.parent}")
        tmp, info, _ = await self.store.download_to_temp(bucket, key, target)
        try:
            # The temp file is created 0600 so nobody reads it half-written; the finished
            # file gets the mode `cp` would give it: the old file's, else 0666 less umask.
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise errors.LocalIOError(f"cannot write {target}: {exc.strerror}") from exc
        return info

    async def download_stream(self, bucket: str, key: str, out: Callable[[bytes], object]) -> ObjectInfo:
        return await self.store.stream_to(bucket, key, out)

    async def get_bytes(self, bucket: str, key: str) -> bytes:
        chunks: list[bytes] = []
        await self.store.stream_to(bucket, key, chunks.append)
        return b"".join(chunks)

    async def delete(self, bucket: str, *keys: str) -> None:
        failures = await self.store.delete_many(bucket, list(keys))
        if failures:
            first = failures[0]
            raise errors.S3SyncError(f"could not delete s3://{bucket}/{first.key}: {first.code}")

    async def url(
        self, bucket: str, key: str, *, signed: bool = True, expires: int = 3600
    ) -> str:
        """A download URL: presigned for ``expires`` seconds, or the plain path-style URL."""
        if not signed:
            return self.store.unsigned_url(bucket, key)
        if expires <= 0:
            raise errors.UsageError("expires must be a positive number of seconds")
        return await self.store.presign(bucket, key, expires)


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)  # the only way to read the umask: set it, then restore it
        os.umask(mask)
        return 0o666 & ~mask


def check_acl(acl: str) -> str:
    if acl not in CANNED_ACLS:
        raise errors.UsageError(f"unknown canned ACL {acl!r} (one of: {', '.join(CANNED_ACLS)})")
    return acl


class Client:
    """The synchronous face of ``AsyncClient``, for scripts: ``with Client(...) as s3:``."""

    def __init__(self, endpoint_url: str | None = None, **settings: Any) -> None:
        self._async = AsyncClient(endpoint_url, **settings)
        self._runner: asyncio.Runner | None = None

    def __enter__(self) -> Self:
        self._runner = asyncio.Runner()
        try:
            self._run(self._async.__aenter__())
        except BaseException:
            self._runner.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is None:
            return
        try:
            self._run(self._async.__aexit__(kind, exc, tb))
        finally:
            self._runner.close()
            self._runner = None

    def _run(self, job: Any) -> Any:
        if self._runner is None:
            raise RuntimeError("use the client inside 'with'")
        return self._runner.run(job)

    def buckets(self) -> list[Bucket]:
        result: list[Bucket] = self._run(self._async.buckets())
        return result

    def create_bucket(self, bucket: str) -> None:
        self._run(self._async.create_bucket(bucket))

    def delete_bucket(self, bucket: str, *, force: bool = False) -> int:
        deleted: int = self._run(self._async.delete_bucket(bucket, force=force))
        return deleted

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        pages = self._async.list(bucket, prefix)
        while True:
            try:
                yield self._run(anext(pages))
            except StopAsyncIteration:
                return

    def put_file(self, bucket: str, key: str, src: str | os.PathLike[str], **options: Any) -> ObjectInfo:
        info: ObjectInfo = self._run(self._async.put_file(bucket, key, src, **options))
        return info

    def put_bytes(self, bucket: str, key: str, data: bytes, **options: Any) -> ObjectInfo:
        info: ObjectInfo = self._run(self._async.put_bytes(bucket, key, data, **options))
        return info

    def put_text(self, bucket: str, key: str, text: str, *, acl: str | None = None) -> ObjectInfo:
        info: ObjectInfo = self._run(self._async.put_text(bucket, key, text, acl=acl))
        return info

    def set_acl(self, bucket: str, key: str, acl: str) -> None:
        self._run(self._async.set_acl(bucket, key, acl))

    def download(self, bucket: str, key: str, dest: str | os.PathLike[str]) -> ObjectInfo:
        info: ObjectInfo = self._run(self._async.download(bucket, key, dest))
        return info

    def get_bytes(self, bucket: str, key: str) -> bytes:
        data: bytes = self._run(self._async.get_bytes(bucket, key))
        return data

    def delete(self, bucket: str, *keys: str) -> None:
        self._run(self._async.delete(bucket, *keys))

    def url(self, bucket: str, key: str, *, signed: bool = True, expires: int = 3600) -> str:
        url: str = self._run(self._async.url(bucket, key, signed=signed, expires=expires))
        return url
