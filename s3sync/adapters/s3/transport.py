"""The seam between the object store and the wire: the requests that have two paths.

A store chooses its transport once, when it opens. ``LeanTransport`` signs and sends the
per-file requests itself (``lean``: SigV4 over aiohttp, a fraction of botocore's CPU per
request, which is what a sync of many small files spends its time on);
``BotocoreTransport`` sends them through the aiobotocore client. Both raise botocore
``ClientError``s carrying S3's error code, which the store translates in one place
(``error_table``). What has one path only (multipart set-up, versions, buckets, ACLs,
presigning) goes to the botocore client (``Botocore``), made on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import aiohttp

from s3sync.adapters.localio import CHUNK
from s3sync.adapters.s3 import listing
from s3sync.adapters.s3.connection import Connection, client_config, region_of
from s3sync.adapters.s3.error_table import translate_errors
from s3sync.adapters.s3.lean import FastS3
from s3sync.adapters.s3.wire import (
    info_from_head,
    info_from_headers,
    put_headers,
    range_total,
    response_of,
)
from s3sync.core.model import ObjectInfo

Body = tuple[ObjectInfo, AsyncIterator[bytes]]


class Transport(Protocol):
    async def head_bucket(self, bucket: str) -> Mapping[str, Any]:
        """The reply's headers."""

    async def head(self, bucket: str, key: str) -> ObjectInfo: ...

    async def put(self, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
        """A PutObject (botocore's arguments); the reply's fields (``wire.response_of``)."""

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, body: bytes, content_md5: str
    ) -> Mapping[str, Any]: ...

    async def delete(self, bucket: str, key: str, if_match: str | None) -> str | None:
        """The version id of the delete marker, in a versioned bucket."""

    async def get_range(self, bucket: str, key: str, spec: str, start: int) -> tuple[ObjectInfo, int, bytes]:
        """(what the GET described, the whole object's size, the bytes) of a ranged GET
        (``spec``: ``bytes=a-b``); ``wire.RangesUnusable`` where the reply is not that range."""

    def get(self, bucket: str, key: str) -> AbstractAsyncContextManager[Body]:
        """An open GET: what it describes, and its body as chunks."""

    def listing_fetch(self, bucket: str) -> AbstractAsyncContextManager[listing.Fetch]:
        """One GET of a listing page at a time (``listing.list_prefix``)."""


class Botocore:
    """The aiobotocore session and client of one store, made on first use: importing and
    building them is ~0.5 s of CPU, a third of a small sync's."""

    def __init__(self, conn: Connection, resources: contextlib.AsyncExitStack) -> None:
        self.conn = conn
        self._resources = resources
        self._session: Any = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    def session(self) -> Any:
        if self._session is None:
            import aioboto3  # here, not at the top: see the class's docstring

            with translate_errors("the connection settings", self.conn.where()):
                self._session = aioboto3.Session(
                    profile_name=self.conn.profile,
                    aws_access_key_id=self.conn.access_key_id,
                    aws_secret_access_key=self.conn.secret_access_key,
                    region_name=region_of(self.conn),
                )
        return self._session

    async def client(self) -> Any:
        if self._client is not None:
            return self._client  # every call on the botocore path comes here: no lock once made
        async with self._lock:
            if self._client is None:
                with translate_errors("the connection settings", self.conn.where()):
                    client_cm = self.session().client(
                        "s3", endpoint_url=self.conn.endpoint_url, config=client_config(self.conn),
                        verify=self.conn.verify,
                    )
                self._client = await self._resources.enter_async_context(client_cm)
        return self._client

    @property
    def endpoint_url(self) -> str:
        return str(self.conn.endpoint_url or self._client.meta.endpoint_url)


class BotocoreTransport:
    def __init__(self, boto: Botocore) -> None:
        self._boto = boto

    async def head_bucket(self, bucket: str) -> Mapping[str, Any]:
        response = await (await self._boto.client()).head_bucket(Bucket=bucket)
        headers: Mapping[str, Any] = response["ResponseMetadata"]["HTTPHeaders"]
        return headers

    async def head(self, bucket: str, key: str) -> ObjectInfo:
        return info_from_head(key, await (await self._boto.client()).head_object(Bucket=bucket, Key=key))

    async def put(self, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
        response: Mapping[str, Any] = await (await self._boto.client()).put_object(**kwargs)
        return response

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, body: bytes, content_md5: str
    ) -> Mapping[str, Any]:
        response: Mapping[str, Any] = await (await self._boto.client()).upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, ContentMD5=content_md5,
        )
        return response

    async def delete(self, bucket: str, key: str, if_match: str | None) -> str | None:
        kwargs = {"IfMatch": if_match} if if_match else {}
        response = await (await self._boto.client()).delete_object(Bucket=bucket, Key=key, **kwargs)
        version = response.get("VersionId")
        return str(version) if version else None

    async def get_range(self, bucket: str, key: str, spec: str, start: int) -> tuple[ObjectInfo, int, bytes]:
        reply = await (await self._boto.client()).get_object(Bucket=bucket, Key=key, Range=spec)
        async with reply["Body"] as body:
            total = range_total(reply.get("ContentRange"), start)
            data = await body.read()
        return info_from_head(key, reply), total, data

    @contextlib.asynccontextmanager
    async def get(self, bucket: str, key: str) -> AsyncIterator[Body]:
        response = await (await self._boto.client()).get_object(Bucket=bucket, Key=key)
        body = response["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await body.read(CHUNK):
                yield chunk

        async with body:
            yield info_from_head(key, response), chunks()

    @contextlib.asynccontextmanager
    async def listing_fetch(self, bucket: str) -> AsyncIterator[listing.Fetch]:
        conn = self._boto.conn
        timeout = aiohttp.ClientTimeout(sock_connect=conn.connect_timeout, sock_read=conn.read_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield listing.presigned_fetch(await self._boto.client(), session, bucket, conn.verify)


class LeanTransport:
    def __init__(self, fast: FastS3) -> None:
        self._fast = fast

    async def head_bucket(self, bucket: str) -> Mapping[str, Any]:
        return (await self._fast.head_bucket(bucket)).headers

    async def head(self, bucket: str, key: str) -> ObjectInfo:
        return info_from_headers(key, (await self._fast.head(bucket, key)).headers)

    async def put(self, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
        reply = await self._fast.put(kwargs["Bucket"], kwargs["Key"], kwargs["Body"], put_headers(kwargs))
        return response_of(reply.headers)

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, body: bytes, content_md5: str
    ) -> Mapping[str, Any]:
        return response_of((await self._fast.upload_part(bucket, key, upload_id, number, body, content_md5)).headers)

    async def delete(self, bucket: str, key: str, if_match: str | None) -> str | None:
        reply = await self._fast.delete(bucket, key, {"If-Match": if_match} if if_match else {})
        return reply.headers.get("x-amz-version-id")

    async def get_range(self, bucket: str, key: str, spec: str, start: int) -> tuple[ObjectInfo, int, bytes]:
        async with self._fast.get(bucket, key, {"Range": spec}) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            # Checked before the body is read: a server that ignores Range sends it all.
            total = range_total(headers.get("content-range") if response.status == 206 else None, start)
            data = await response.read()
        return info_from_headers(key, headers), total, data

    @contextlib.asynccontextmanager
    async def get(self, bucket: str, key: str) -> AsyncIterator[Body]:
        async with self._fast.get(bucket, key) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            yield info_from_headers(key, headers), response.content.iter_chunked(CHUNK)

    @contextlib.asynccontextmanager
    async def listing_fetch(self, bucket: str) -> AsyncIterator[listing.Fetch]:
        fast = self._fast

        async def fetch(query: dict[str, str]) -> tuple[int, bytes]:
            return await fast.get_once(bucket, query)

        yield fetch
