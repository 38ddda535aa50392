"""An in-memory object store behind the engine's port (``s3sync.ports.ObjectStore``):
the engine tier runs the real pipeline against it, with no server. It keeps what the
engine relies on: ETags that are the content's MD5, rclone's metadata as written,
conditional writes and deletes, LastModified that moves with every write, and complete
listings in key order. ``fail`` makes the writes of a key fail, as a server would."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from s3sync import errors
from s3sync.adapters.s3 import MD5_KEY, Connection, Precondition, Version
from s3sync.adapters.s3.listing import Listed
from s3sync.core.dialect import Dialect
from s3sync.core.model import ObjectInfo

PAGE = 1000


@dataclass
class Stored:
    body: bytes
    metadata: dict[str, str]
    content_type: str | None
    modified: datetime

    @property
    def etag(self) -> str:
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()


@dataclass
class FakeStore:
    bucket: str
    conn: Connection = field(default_factory=lambda: Connection(endpoint_url="http://fake.invalid"))
    objects: dict[str, Stored] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)  # keys whose writes fail
    support: Dialect = field(default_factory=lambda: Dialect(True, True, False))
    refuse_quoted: bool = False  # an If-Match with a quoted ETag fails even when it matches (Ceph RGW 16)
    refused: int = 0  # conditions refused so far
    probes: int = 0  # write_support calls so far
    _clock: int = 1_700_000_000

    # -- helpers for tests ----------------------------------------------------------

    def put(self, key: str, body: bytes) -> None:
        """Another client writes ``key``."""
        self.objects[key] = Stored(body, {}, None, self._tick())

    def body(self, key: str) -> bytes:
        return self.objects[key].body

    def _tick(self) -> datetime:
        self._clock += 2  # LastModified has whole seconds: a write is always seen to move it
        return datetime.fromtimestamp(self._clock, UTC)

    def _info(self, key: str, stored: Stored) -> ObjectInfo:
        return ObjectInfo(key, len(stored.body), stored.etag, stored.modified, None, dict(stored.metadata),
                          stored.content_type)

    def _check(self, bucket: str, key: str, precondition: Precondition | None) -> None:
        if bucket != self.bucket:
            raise errors.NotFoundError(f"bucket does not exist: {bucket}")
        if key in self.fail:
            raise errors.EndpointError(f"s3://{bucket}/{key}: injected failure")
        current = self.objects.get(key)
        if precondition is None:
            return
        if precondition.etag and precondition.quote_etag and self.refuse_quoted:
            self.refused += 1
            raise errors.ConflictWriteError(f"s3://{bucket}/{key} changed on the server meanwhile")
        if precondition.absent and current is not None:
            raise errors.ConflictWriteError(f"s3://{bucket}/{key} changed on the server meanwhile")
        if precondition.etag and (current is None or current.etag != precondition.etag):
            raise errors.ConflictWriteError(f"s3://{bucket}/{key} changed on the server meanwhile")

    # -- the port -------------------------------------------------------------------

    async def bucket_exists(self, bucket: str) -> None:
        if bucket != self.bucket:
            raise errors.NotFoundError(f"bucket does not exist: {bucket}")

    async def list_pages(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        await self.bucket_exists(bucket)
        keys = sorted(k for k in self.objects if k.startswith(prefix))
        for start in range(0, len(keys), PAGE):
            yield [Listed(k, len(self.objects[k].body), self.objects[k].etag, self.objects[k].modified.isoformat())
                   for k in keys[start:start + PAGE]]

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        await self.bucket_exists(bucket)
        stored = self.objects.get(key)
        return None if stored is None else self._info(key, stored)

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, *, metadata: Mapping[str, str] | None = None,
        acl: str | None = None, content_type: str | None = None, precondition: Precondition | None = None,
    ) -> ObjectInfo:
        self._check(bucket, key, precondition)
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        stored = Stored(data, {MD5_KEY: digest, **(metadata or {})}, content_type, self._tick())
        self.objects[key] = stored
        return self._info(key, stored)

    async def put_file(
        self, bucket: str, key: str, src: Path, *, metadata: Mapping[str, str] | None = None,
        acl: str | None = None, content_type: str | None = None, precondition: Precondition | None = None,
        size_hint: int | None = None, before_complete: Callable[[], None] | None = None,
    ) -> ObjectInfo:
        try:
            data = src.read_bytes()
        except OSError as exc:
            raise errors.LocalIOError(f"cannot read {src}: {exc.strerror}") from exc
        if before_complete is not None:
            before_complete()
        return await self.put_bytes(bucket, key, data, metadata=metadata, acl=acl,
                                    content_type=content_type, precondition=precondition)

    async def download_to_temp(
        self, bucket: str, key: str, dest: Path, *, listed: tuple[str, int] | None = None,
        temp: Path | None = None, mode_for: Callable[[ObjectInfo], int] | None = None,
    ) -> tuple[Path, ObjectInfo, str]:
        info = await self.head(bucket, key)
        if info is None:
            raise errors.NotFoundError(f"not found: s3://{bucket}/{key}")
        body = self.objects[key].body
        tmp = temp or dest.with_name(f".{dest.name}.fake-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, body)
            if mode_for is not None:
                os.fchmod(fd, mode_for(info))
        finally:
            os.close(fd)
        return tmp, info, hashlib.md5(body, usedforsecurity=False).hexdigest()

    async def copy(
        self, bucket: str, src_key: str, dst_key: str, *, precondition: Precondition | None = None,
        src_version: str | None = None, src_etag: str | None = None,
    ) -> ObjectInfo:
        source = self.objects.get(src_key)
        if source is None or (src_etag is not None and source.etag != src_etag):
            raise errors.ConflictWriteError(f"s3://{bucket}/{src_key} changed on the server meanwhile")
        self._check(bucket, dst_key, precondition)
        stored = Stored(source.body, dict(source.metadata), source.content_type, self._tick())
        self.objects[dst_key] = stored
        return self._info(dst_key, stored)

    async def replace_metadata(
        self, bucket: str, key: str, etag: str, metadata: Mapping[str, str], content_type: str | None
    ) -> ObjectInfo:
        self._check(bucket, key, Precondition(etag=etag))
        stored = Stored(self.objects[key].body, dict(metadata), content_type, self._tick())
        self.objects[key] = stored
        return self._info(key, stored)

    async def delete(self, bucket: str, key: str, *, if_match: Precondition | None = None) -> str | None:
        self._check(bucket, key, if_match if if_match and if_match.etag else None)
        self.objects.pop(key, None)
        return None

    async def versions(self, bucket: str, key: str) -> list[Version]:
        return []

    async def write_support(self, bucket: str, prefix: str) -> Dialect:
        self.probes += 1
        return self.support

    async def versioning(self, bucket: str) -> bool:
        return self.support.versioning
