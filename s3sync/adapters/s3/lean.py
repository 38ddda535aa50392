"""A lean request path for the per-file S3 calls: PUT, GET, HEAD and DELETE of one object.

Why it exists: botocore spends 2–4 ms of CPU per small request (endpoint rule sets,
event hooks, user-agent assembly); on a sync of thousands of small files that, not the
network, is the bottleneck. These four calls are simple enough to sign (SigV4) and send
directly over aiohttp at a fraction of that cost, and so is a listing page (parsed by
``listing``). Everything else — multipart, ACLs, buckets, presigning — stays on botocore.

Errors come back as botocore ``ClientError``s with the S3 error code, so the adapter's
single translation table applies unchanged. Retries follow ``retry``'s one rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import botocore.exceptions as bex
from yarl import URL

from s3sync.adapters.s3.retry import retryable, retrying

_log = logging.getLogger(__name__)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
_BUCKET = re.compile(rb"<BucketName>([^<]*)</BucketName>")


def tls_setting(verify: bool | str) -> ssl.SSLContext | bool:
    """aiohttp's ``ssl`` argument for botocore's ``verify`` (False, True, or a CA bundle):
    one rule for every request s3sync makes outside botocore."""
    if verify is False:
        return False
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return True


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


class StaticCredentials:
    """Keys known up front (given, or in the environment): no botocore session needed."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def get_frozen_credentials(self) -> Credentials:
        return self._credentials


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]


class FastS3:
    """Path-style requests to one endpoint, signed with SigV4."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        region: str,
        credentials: Any,
        max_attempts: int,
    ) -> None:
        self._session = session
        self._endpoint = endpoint.rstrip("/")
        parts = urlsplit(self._endpoint)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self._region = region
        self._credentials = credentials  # botocore (refreshable) credentials
        self._max_attempts = max(1, max_attempts)
        self._keys: dict[str, bytes] = {}

    @classmethod
    @asynccontextmanager
    async def open(
        cls, endpoint: str, region: str, credentials: Any, *, pool: int, verify: bool | str,
        connect_timeout: float, read_timeout: float, max_attempts: int,
    ) -> AsyncIterator[FastS3]:
        connector = aiohttp.TCPConnector(limit=pool, ssl=tls_setting(verify), ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent",),
        ) as session:
            yield cls(session, endpoint, region, credentials, max_attempts)

    # -- the four calls ---------------------------------------------------------

    async def put(self, bucket: str, key: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        return await self._call("PutObject", "PUT", bucket, key, body, headers)

    async def head(self, bucket: str, key: str) -> Reply:
        return await self._call("HeadObject", "HEAD", bucket, key, b"", {})

    async def delete(self, bucket: str, key: str, headers: Mapping[str, str]) -> Reply:
        return await self._call("DeleteObject", "DELETE", bucket, key, b"", headers)

    @asynccontextmanager
    async def get(
        self, bucket: str, key: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The open response of a GET; the caller streams its body."""

        async def opened() -> aiohttp.ClientResponse:
            response = await self._send("GET", bucket, key, b"", headers or {})
            if response.status >= 300:
                async with response:
                    body = await response.read()
                raise _client_error("GetObject", response.status, body)
            return response

        response = await retrying(self._max_attempts, opened, _transient)
        async with response:
            yield response

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, body: bytes, content_md5: str
    ) -> Reply:
        """One part of a multipart upload. Its payload goes unsigned: Content-MD5 already
        guards the bytes, and a SHA-256 of every part would double the hashing."""
        return await self._call(
            "UploadPart", "PUT", bucket, key, body, {"Content-MD5": content_md5},
            query={"partNumber": str(number), "uploadId": upload_id}, unsigned_payload=True,
        )

    async def head_bucket(self, bucket: str) -> Reply:
        return await self._call("HeadBucket", "HEAD", bucket, "", b"", {})

    async def get_once(self, bucket: str, query: Mapping[str, str]) -> tuple[int, bytes]:
        """One bucket-level GET (a listing page): status and body, no retries — the
        caller decides what a failed or cut-short page means."""
        response = await self._send("GET", bucket, "", b"", {}, query)
        async with response:
            return response.status, await response.read()

    # -- plumbing ---------------------------------------------------------------

    async def _call(
        self, operation: str, method: str, bucket: str, key: str, body: bytes, headers: Mapping[str, str],
        *, query: Mapping[str, str] | None = None, unsigned_payload: bool = False,
    ) -> Reply:
        async def once() -> Reply:
            response = await self._send(method, bucket, key, body, headers, query, unsigned_payload)
            async with response:
                payload = await response.read()
            if response.status < 300:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()})
            raise _client_error(operation, response.status, payload)

        return await retrying(self._max_attempts, once, _transient)

    async def _send(
        self, method: str, bucket: str, key: str, body: bytes, headers: Mapping[str, str],
        query: Mapping[str, str] | None = None, unsigned_payload: bool = False,
    ) -> aiohttp.ClientResponse:
        path = f"{self._base_path}/{quote(bucket, safe='')}"
        if key:
            path += f"/{quote(key, safe='/~')}"
        canonical_query = canonical_query_string(query or {})
        # Like botocore's, for -v; never the headers (they carry the signature).
        _log.debug("%s %s%s", method, path, f"?{canonical_query}" if canonical_query else "")
        creds = await self._frozen()
        signed = self._sign(
            method, path, body, headers, creds, query=canonical_query, unsigned_payload=unsigned_payload
        )
        # encoded=True: the path and query must go out byte for byte as they were signed.
        url = URL(self._origin + path + (f"?{canonical_query}" if canonical_query else ""), encoded=True)
        return await self._session.request(method, url, data=body or None, headers=signed)

    async def _frozen(self) -> Credentials:
        frozen = await self._credentials.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _sign(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str], creds: Credentials,
        now: dt.datetime | None = None, query: str = "", unsigned_payload: bool = False,
    ) -> dict[str, str]:
        now = now or dt.datetime.now(dt.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        if unsigned_payload:
            payload_hash = "UNSIGNED-PAYLOAD"
        else:
            payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        all_headers = {k.lower(): str(v).strip() for k, v in headers.items()}
        all_headers.update({"host": self._host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
        if creds.token:
            all_headers["x-amz-security-token"] = creds.token
        names = sorted(all_headers)
        canonical = "\n".join([
            method,
            path,
            query,
            "".join(f"{n}:{all_headers[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ])
        scope = f"{day}/{self._region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        all_headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        del all_headers["host"]  # aiohttp sets it from the URL
        return all_headers

    def _signing_key(self, secret: str, day: str) -> bytes:
        cache_key = f"{day}/{secret}"
        key = self._keys.get(cache_key)
        if key is None:
            key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (self._region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {cache_key: key}
        return key


def canonical_query_string(query: Mapping[str, str]) -> str:
    """SigV4's canonical form, which is also what goes on the wire."""
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def _transient(exc: Exception) -> bool:
    if isinstance(exc, aiohttp.ClientConnectionError):
        return True
    if not isinstance(exc, bex.ClientError):
        return False
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return retryable(status, exc.response.get("Error", {}).get("Code"))


def _client_error(operation: str, status: int, body: bytes) -> bex.ClientError:
    code_match = _CODE.search(body)
    message_match = _MESSAGE.search(body)
    code = code_match.group(1).decode() if code_match else str(status)
    message = message_match.group(1).decode("utf-8", "replace") if message_match else ""
    error = {"Code": code, "Message": message}
    bucket_match = _BUCKET.search(body)
    if bucket_match:
        error["BucketName"] = bucket_match.group(1).decode("utf-8", "replace")
    response: Any = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}
    return bex.ClientError(response, operation)
