"""Writing an object from a file or a pipe: one PUT below the multipart threshold, else
parts side by side with bounded memory, every part checked against its MD5."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, Any

from s3sync import errors
from s3sync.adapters.localio import (
    file_md5,
    file_parts,
    local_size,
    md5_digest,
    md5s_of_parts,
    read_small,
    stream_parts,
)
from s3sync.adapters.s3.metadata import MD5_KEY, md5_b64
from s3sync.adapters.s3.objects import Objects
from s3sync.adapters.s3.wire import (
    MIN_PART_SIZE,
    MULTIPART_THRESHOLD,
    Precondition,
    etag_contradicts,
    part_size_for,
    strip_etag,
    written_at,
)
from s3sync.core.model import ObjectInfo


class Uploads(Objects):

    async def put_file(
        self,
        bucket: str,
        key: str,
        src: Path,
        *,
        metadata: Mapping[str, str] | None = None,
        acl: str | None = None,
        content_type: str | None = None,
        precondition: Precondition | None = None,
        size_hint: int | None = None,
        before_complete: Callable[[], None] | None = None,
    ) -> ObjectInfo:
        """Upload ``src``; multipart above the threshold with bounded memory.

        Raises ``LocalIOError`` for an unreadable file. The caller checks that the file
        did not change meanwhile: this method uploads whatever bytes it reads.
        """
        size = size_hint if size_hint is not None else local_size(src)
        if size < MULTIPART_THRESHOLD:
            data = await read_small(src, size)
            if before_complete is not None:
                # As for parts: a source that changed while it was read may have given a
                # torn mix of two versions; refuse it before it replaces a good object.
                before_complete()
            return await self.put_bytes(
                bucket, key, data, metadata=metadata, acl=acl,
                content_type=content_type, precondition=precondition,
            )
        # The object's MD5 goes in its metadata, so it is known before the upload
        # starts; the parts' own MD5s are taken on the other core meanwhile. A file
        # that changes after this pass fails its parts' Content-MD5 checks.
        md5, part_md5s = await asyncio.gather(
            asyncio.to_thread(file_md5, src), asyncio.to_thread(md5s_of_parts, src, size, part_size_for(size))
        )
        return await self._put_multipart(
            bucket, key, file_parts(src, size, part_size_for(size)), size,
            metadata={MD5_KEY: md5_b64(md5), **(metadata or {})},
            acl=acl, content_type=content_type, precondition=precondition,
            before_complete=before_complete, part_md5s=part_md5s,
        )

    async def put_stream(
        self, bucket: str, key: str, stream: IO[bytes], *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Upload from a pipe of unknown length, holding at most a few parts in memory."""
        first = await asyncio.to_thread(stream.read, MULTIPART_THRESHOLD)
        if len(first) < MULTIPART_THRESHOLD:
            return await self.put_bytes(bucket, key, first, acl=acl, content_type=content_type)
        return await self._put_multipart(
            bucket, key, stream_parts(first, stream, MIN_PART_SIZE), None,
            metadata={}, acl=acl, content_type=content_type, precondition=None,
        )

    async def _put_multipart(
        self,
        bucket: str,
        key: str,
        parts: AsyncIterator[bytes],
        size: int | None,
        *,
        metadata: Mapping[str, str],
        acl: str | None,
        content_type: str | None,
        precondition: Precondition | None,
        before_complete: Callable[[], None] | None = None,
        part_md5s: list[bytes] | None = None,
    ) -> ObjectInfo:
        where = f"s3://{bucket}/{key}"
        create: dict[str, Any] = {"Bucket": bucket, "Key": key, "Metadata": dict(metadata)}
        if acl:
            create["ACL"] = acl
        if content_type:
            create["ContentType"] = content_type
        with self._errors(where):
            upload_id = (await (await self.botocore_client()).create_multipart_upload(**create))["UploadId"]
        try:
            etags = await self._upload_parts(bucket, key, upload_id, parts, part_md5s)
            if before_complete is not None:
                # The last chance to refuse a source that changed while its parts went up.
                before_complete()
            complete: dict[str, Any] = {
                "Bucket": bucket, "Key": key, "UploadId": upload_id,
                "MultipartUpload": {
                    "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
                },
            }
            if precondition:
                complete.update(precondition.put_kwargs())
            with self._errors(where):
                response = await (await self.botocore_client()).complete_multipart_upload(**complete)
        except BaseException:
            await asyncio.shield(self._abort_quietly(bucket, key, upload_id))
            raise
        etag = strip_etag(response.get("ETag"))
        if not etag:
            # Ceph RGW answers CompleteMultipartUpload with an empty ETag; HEAD has it.
            head = await self.head(bucket, key)
            etag = head.etag if head else ""
        return ObjectInfo(
            key=key, size=size if size is not None else -1, etag=etag,
            modified=written_at(response), version_id=response.get("VersionId"),
            metadata=dict(metadata),
        )

    async def _upload_parts(
        self, bucket: str, key: str, upload_id: str, parts: AsyncIterator[bytes],
        part_md5s: list[bytes] | None,
    ) -> list[str]:
        results: dict[int, str] = {}

        async def send(number: int, body: bytes) -> None:
            with self._errors(f"s3://{bucket}/{key} part {number}"):
                if part_md5s is not None:
                    digest = part_md5s[number - 1]
                else:
                    # In a thread: hashing 8 MiB holds the event loop for tens of ms.
                    digest = await asyncio.to_thread(md5_digest, body)
                content_md5 = base64.b64encode(digest).decode("ascii")
                response = await self._transport.upload_part(bucket, key, upload_id, number, body, content_md5)
            if etag_contradicts(strip_etag(response["ETag"]), digest.hex(), response):
                raise errors.EndpointError(
                    f"s3://{bucket}/{key} part {number}: the server stored other bytes than were sent"
                )
            results[number] = response["ETag"]

        await self._side_by_side(parts, send)
        return [results[n] for n in range(1, len(results) + 1)]

    async def _abort_quietly(self, bucket: str, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            await (await self.botocore_client()).abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
