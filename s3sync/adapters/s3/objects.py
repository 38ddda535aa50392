"""One endpoint's objects, a request each: look, write, copy, delete, list.

Boto dicts and botocore errors stop at this package: callers get ``ObjectInfo`` values
and ``s3sync.errors`` exceptions (``error_table``). Single requests are retried by the
transport (botocore's standard mode, or the lean path's same rule); this package never
loops on errors itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import botocore.exceptions as bex
import structlog

from s3sync import errors
from s3sync.adapters.s3 import listing
from s3sync.adapters.s3.connection import Connection
from s3sync.adapters.s3.error_table import NOT_FOUND, error_code, translate_errors
from s3sync.adapters.s3.listing import Listed
from s3sync.adapters.s3.metadata import MD5_KEY
from s3sync.adapters.s3.transport import Botocore, BotocoreTransport, Transport
from s3sync.adapters.s3.wire import (
    Precondition,
    RangesUnusable,
    Version,
    etag_contradicts,
    strip_etag,
    written_at,
)
from s3sync.core.model import ObjectInfo

log = structlog.get_logger()
T = TypeVar("T")
PUT_VERIFY_ATTEMPTS = 3  # sends of a body the server keeps storing other bytes of


class Objects:
    """The requests on single objects and listings, over the store's transport."""

    def __init__(self, conn: Connection, resources: contextlib.AsyncExitStack, *, part_concurrency: int = 8) -> None:
        self.conn = conn
        self._resources = resources
        self._part_slots = asyncio.Semaphore(part_concurrency)
        self._boto = Botocore(conn, resources)
        self._transport: Transport = BotocoreTransport(self._boto)
        self._cheap_listing = True  # False once the endpoint refused it (``listing``)

    async def botocore_client(self) -> Any:
        """The aiobotocore client, made on first use (also for edge code such as the probe)."""
        return await self._boto.client()

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return translate_errors(what, self.conn.where())

    # -- looking and listing ------------------------------------------------------

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        with self._errors(f"s3://{bucket}/{key}"):
            try:
                return await self._transport.head(bucket, key)
            except bex.ClientError as exc:
                if error_code(exc) in NOT_FOUND:
                    return None
                raise

    async def iter_objects(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix`` (``list_pages``, one object at a time)."""
        async for page in self.list_pages(bucket, prefix):
            for item in page:
                yield ObjectInfo(key=item.key, size=item.size, etag=item.etag, modified=item.modified_at)

    async def list_pages(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """Every object under ``prefix``, a page at a time, for syncs and polls.

        The cheap listing where the endpoint takes it, else botocore's paginator; either
        way, complete or raising.
        """
        if self._cheap_listing:
            started = False
            try:
                async with self._transport.listing_fetch(bucket) as fetch:
                    async for page in listing.list_prefix(fetch, bucket, prefix, self.conn.max_attempts):
                        started = True
                        yield page
                return
            except listing.FastListingUnavailable as exc:
                if started:  # pages already handed out cannot be taken back
                    raise errors.EndpointError(f"listing s3://{bucket}/{prefix} failed: {exc}") from exc
                log.info("fast_listing_refused", reason=str(exc))
                self._cheap_listing = False
        paginator = (await self.botocore_client()).get_paginator("list_objects_v2")
        with self._errors(f"s3://{bucket}/{prefix}"):
            async for raw in paginator.paginate(Bucket=bucket, Prefix=prefix):
                yield [
                    Listed(obj["Key"], int(obj["Size"]), strip_etag(obj.get("ETag")), obj["LastModified"].isoformat())
                    for obj in raw.get("Contents", ())
                ]

    # -- writing -----------------------------------------------------------------

    async def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        acl: str | None = None,
        content_type: str | None = None,
        precondition: Precondition | None = None,
    ) -> ObjectInfo:
        digest = hashlib.md5(data, usedforsecurity=False)
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": data,
            "ContentMD5": base64.b64encode(digest.digest()).decode("ascii"),
            "Metadata": {MD5_KEY: base64.b64encode(digest.digest()).decode("ascii"), **(metadata or {})},
        }
        if acl:
            kwargs["ACL"] = acl
        if content_type:
            kwargs["ContentType"] = content_type
        if precondition:
            kwargs.update(precondition.put_kwargs())
        where = f"s3://{bucket}/{key}"
        for _ in range(PUT_VERIFY_ATTEMPTS):
            with self._errors(where):
                response = await self._transport.put(kwargs)
            etag = strip_etag(response.get("ETag"))
            if not etag_contradicts(etag, digest.hexdigest(), response):
                return ObjectInfo(
                    key=key,
                    size=len(data),
                    etag=etag or digest.hexdigest(),
                    modified=written_at(response),
                    version_id=response.get("VersionId"),
                    metadata=kwargs["Metadata"],
                )
            # The server stored other bytes than were sent (a server that does not check
            # Content-MD5, and a corrupting network): send them again, over that object.
            if precondition:
                kwargs.pop("IfNoneMatch", None)
                kwargs.update(Precondition(etag=etag, quote_etag=precondition.quote_etag).put_kwargs())
        # Its metadata claims our MD5: left in place, it would pass for a good copy.
        with contextlib.suppress(errors.S3SyncError):
            await self.delete(bucket, key, if_match=Precondition(etag=etag) if precondition else None)
        raise errors.EndpointError(
            f"{where}: the server stored other bytes than were sent (ETag {etag}, "
            f"MD5 {digest.hexdigest()}); the object was removed"
        )

    async def copy(
        self, bucket: str, src_key: str, dst_key: str, *, precondition: Precondition | None = None,
        src_version: str | None = None, src_etag: str | None = None,
    ) -> ObjectInfo:
        source = {"Bucket": bucket, "Key": src_key}
        if src_version is not None:
            source["VersionId"] = src_version
        kwargs: dict[str, Any] = {
            "Bucket": bucket, "Key": dst_key, "CopySource": source, "MetadataDirective": "COPY",
        }
        if src_etag:
            kwargs["CopySourceIfMatch"] = f'"{src_etag}"'
        if precondition:
            kwargs.update(precondition.put_kwargs())
        with self._errors(f"s3://{bucket}/{src_key}"):
            response = await (await self.botocore_client()).copy_object(**kwargs)
        result = response.get("CopyObjectResult", {})
        head = await self.head(bucket, dst_key)
        if head is None:
            raise errors.NotFoundError(f"not found after copy: s3://{bucket}/{dst_key}")
        return ObjectInfo(
            key=dst_key, size=head.size, etag=strip_etag(result.get("ETag")) or head.etag,
            modified=head.modified, version_id=head.version_id, metadata=head.metadata,
        )

    async def replace_metadata(
        self, bucket: str, key: str, etag: str, metadata: Mapping[str, str], content_type: str | None
    ) -> ObjectInfo:
        """The object copied onto itself with ``metadata`` instead of its own: no content
        moves. Only if it still is ``etag`` (else ``ConflictWriteError``)."""
        kwargs: dict[str, Any] = {
            "Bucket": bucket, "Key": key, "CopySource": {"Bucket": bucket, "Key": key},
            "CopySourceIfMatch": f'"{etag}"', "MetadataDirective": "REPLACE", "Metadata": dict(metadata),
        }
        if content_type:
            kwargs["ContentType"] = content_type
        with self._errors(f"s3://{bucket}/{key}"):
            response = await (await self.botocore_client()).copy_object(**kwargs)
        result = response.get("CopyObjectResult", {})
        modified = result.get("LastModified")
        return ObjectInfo(
            key=key, size=-1, etag=strip_etag(result.get("ETag")) or etag,
            modified=modified if isinstance(modified, datetime) else datetime.now().astimezone(),
            version_id=response.get("VersionId"), metadata=dict(metadata),
        )

    # -- deleting and versions -----------------------------------------------------

    async def delete(self, bucket: str, key: str, *, if_match: Precondition | None = None) -> str | None:
        """Delete ``key``; the version id of the delete marker, in a versioned bucket."""
        condition = if_match.put_kwargs().get("IfMatch") if if_match and if_match.etag else None
        with self._errors(f"s3://{bucket}/{key}"):
            return await self._transport.delete(bucket, key, condition)

    async def versions(self, bucket: str, key: str) -> list[Version]:
        """Every version and delete marker of exactly ``key``, newest first."""
        # The server lists each kind newest first; the two lists are merged by time, and
        # within one list its own order settles equal times.
        found: list[tuple[datetime, bool, int, Version]] = []
        paginator = (await self.botocore_client()).get_paginator("list_object_versions")
        with self._errors(f"s3://{bucket}/{key}"):
            async for page in paginator.paginate(Bucket=bucket, Prefix=key):
                for kind in ("Versions", "DeleteMarkers"):
                    for item in page.get(kind, ()):
                        if item["Key"] != key:
                            continue
                        etag = strip_etag(item.get("ETag")) if kind == "Versions" else None
                        latest = bool(item.get("IsLatest"))
                        version = Version(item["VersionId"], etag, item["LastModified"])
                        found.append((version.modified, latest, -len(found), version))
        found.sort(key=lambda entry: entry[:3], reverse=True)
        return [entry[3] for entry in found]

    async def _side_by_side(self, parts: AsyncIterator[T], send: Callable[[int, T], Awaitable[None]]) -> None:
        """``send(number, part)`` for each part, numbered from 1, at most ``part_concurrency``
        at once across the store: the next part is read only once this one has a slot,
        and a slot is held until ``send`` returns, so parts in memory stay bounded."""

        async def run(number: int, part: T) -> None:
            try:
                await send(number, part)
            finally:
                self._part_slots.release()

        try:
            async with asyncio.TaskGroup() as group:
                number = 0
                async for part in parts:
                    await self._part_slots.acquire()
                    number += 1
                    group.create_task(run(number, part))
        except BaseExceptionGroup as failed:
            # The task group wraps what failed; callers expect our own errors, one at a time.
            first = failed.exceptions[0]
            if isinstance(first, errors.S3SyncError | OSError | RangesUnusable):
                raise first from failed
            raise
