"""Buckets, ACLs and URLs: the toolbox's requests, none of them on a sync's path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from urllib.parse import quote

import botocore.exceptions as bex

from s3sync import errors
from s3sync.adapters.s3 import listing
from s3sync.adapters.s3.error_table import NOT_FOUND, error_code
from s3sync.adapters.s3.objects import Objects
from s3sync.adapters.s3.wire import DeleteFailure
from s3sync.core.model import Bucket


class Admin(Objects):

    # -- buckets -----------------------------------------------------------------

    async def list_buckets(self) -> list[Bucket]:
        with self._errors("the bucket list"):
            response = await (await self.botocore_client()).list_buckets()
        return [Bucket(b["Name"], b["CreationDate"]) for b in response.get("Buckets", [])]

    async def create_bucket(self, bucket: str) -> None:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        region = (await self.botocore_client()).meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with self._errors(f"bucket {bucket}"):
            await (await self.botocore_client()).create_bucket(**kwargs)

    async def bucket_exists(self, bucket: str) -> None:
        """Raise NotFoundError/AccessDeniedError unless ``bucket`` is usable, EndpointError
        when the endpoint is no S3 server (any web server answers a HEAD)."""
        with self._errors(f"bucket {bucket}"):
            try:
                headers = await self._transport.head_bucket(bucket)
            except bex.ClientError as exc:
                if error_code(exc) in NOT_FOUND:
                    async with self._transport.listing_fetch(bucket) as fetch:
                        await listing.confirm_s3(fetch, self.conn.where(), bucket)
                    raise errors.NotFoundError(f"bucket does not exist: {bucket}") from exc
                raise
            if not any(name.lower().startswith("x-amz") for name in headers):
                async with self._transport.listing_fetch(bucket) as fetch:
                    await listing.confirm_s3(fetch, self.conn.where(), bucket)

    async def delete_bucket(self, bucket: str) -> None:
        with self._errors(f"bucket {bucket}"):
            await (await self.botocore_client()).delete_bucket(Bucket=bucket)

    async def empty_bucket(self, bucket: str, *, concurrency: int = 8) -> int:
        """Delete every object, version and delete marker, and abort pending uploads."""
        await self.bucket_exists(bucket)
        deleted = 0
        batches: list[Awaitable[list[DeleteFailure]]] = []
        async for batch in self._all_versions_in_batches(bucket):
            batches.append(self._delete_batch(bucket, batch))
            deleted += len(batch)
        failures = [f for group in await _bounded_gather(batches, concurrency) for f in group]
        if failures:
            first = failures[0]
            raise errors.S3SyncError(
                f"could not delete s3://{bucket}/{first.key}: {first.code} "
                f"({len(failures)} objects left)"
            )
        await self._abort_uploads(bucket)
        return deleted

    async def _all_versions_in_batches(
        self, bucket: str
    ) -> AsyncIterator[list[dict[str, str]]]:
        batch: list[dict[str, str]] = []
        async for ref in self._every_version(bucket):
            batch.append(ref)
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _every_version(self, bucket: str) -> AsyncIterator[dict[str, str]]:
        paginator = (await self.botocore_client()).get_paginator("list_object_versions")
        try:
            with self._errors(f"bucket {bucket}"):
                async for page in paginator.paginate(Bucket=bucket):
                    for item in (*page.get("Versions", ()), *page.get("DeleteMarkers", ())):
                        yield {"Key": item["Key"], "VersionId": item["VersionId"]}
            return
        except errors.S3SyncError as exc:
            if isinstance(exc, errors.NotFoundError | errors.AccessDeniedError):
                raise
        # A server without versioning support: plain objects are all there is.
        async for info in self.iter_objects(bucket, ""):
            yield {"Key": info.key}

    async def _delete_batch(self, bucket: str, refs: list[dict[str, str]]) -> list[DeleteFailure]:
        with self._errors(f"bucket {bucket}"):
            response = await (await self.botocore_client()).delete_objects(
                Bucket=bucket, Delete={"Objects": refs, "Quiet": True}
            )
        return [
            DeleteFailure(e.get("Key", ""), e.get("Code", ""), e.get("Message", ""))
            for e in response.get("Errors", ())
        ]

    async def _abort_uploads(self, bucket: str) -> None:
        paginator = (await self.botocore_client()).get_paginator("list_multipart_uploads")
        with self._errors(f"bucket {bucket}"):
            async for page in paginator.paginate(Bucket=bucket):
                for upload in page.get("Uploads", ()):
                    await (await self.botocore_client()).abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )

    async def delete_many(self, bucket: str, keys: list[str]) -> list[DeleteFailure]:
        failures: list[DeleteFailure] = []
        for start in range(0, len(keys), 1000):
            refs = [{"Key": k} for k in keys[start : start + 1000]]
            failures.extend(await self._delete_batch(bucket, refs))
        return failures

    # -- ACLs and URLs ---------------------------------------------------------------

    async def set_acl(self, bucket: str, key: str, acl: str) -> None:
        with self._errors(f"s3://{bucket}/{key}"):
            await (await self.botocore_client()).put_object_acl(Bucket=bucket, Key=key, ACL=acl)

    async def presign(self, bucket: str, key: str, expires: int) -> str:
        with self._errors(f"s3://{bucket}/{key}"):
            url: str = await (await self.botocore_client()).generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
            )
        return url

    def unsigned_url(self, bucket: str, key: str) -> str:
        endpoint = self._boto.endpoint_url.rstrip("/")
        return f"{endpoint}/{quote(bucket, safe='')}/{quote(key, safe='/~')}"

async def _bounded_gather(jobs: list[Awaitable[Any]], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def run(job: Awaitable[Any]) -> Any:
        async with slots:
            return await job

    return list(await asyncio.gather(*(run(j) for j in jobs)))
