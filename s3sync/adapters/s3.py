"""The S3 edge: every request s3sync makes goes through ``S3Store``.

Boto dicts and botocore errors stop here: callers get ``ObjectInfo``/``Bucket`` values
and ``s3sync.errors`` exceptions. Single requests are retried by botocore (standard
mode); this module never loops on errors itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import botocore.exceptions as bex
import structlog

from s3sync import errors
from s3sync.adapters import listing
from s3sync.adapters.fasts3 import Credentials, FastS3, StaticCredentials
from s3sync.adapters.listing import Listed
from s3sync.core.model import Bucket, ObjectInfo, RemoteEntry
from s3sync.core.own import TEMP_MARKER

log = structlog.get_logger()
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+)")
T = TypeVar("T")

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 16 * MiB
MIN_PART_SIZE = 8 * MiB
MAX_PARTS = 10_000
CHUNK = 1 * MiB
OFFLOAD_BYTES = 256 * 1024  # from here on, hashing and writing go to a thread
MTIME_KEY = "mtime"  # rclone's convention: Unix seconds with a fraction
MD5_KEY = "md5chksum"  # rclone's convention: base64 of the MD5 digest
MODE_KEY = "mode"  # rclone's convention (-M): st_mode in octal, file-type bits included
PUT_VERIFY_ATTEMPTS = 3  # sends of a body the server keeps storing other bytes of


@dataclass(frozen=True, slots=True)
class Connection:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    addressing_style: str | None = None  # None: path-style when an endpoint is given
    verify: bool | str = True  # False, or a CA bundle path
    max_pool_connections: int = 64
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @property
    def effective_addressing_style(self) -> str:
        if self.addressing_style:
            return self.addressing_style
        return "path" if self.endpoint_url else "auto"

    def where(self) -> str:
        return self.endpoint_url or "the default AWS endpoint"


def resolve_endpoint(explicit: str | None, configured: str | None) -> str | None:
    return (
        explicit
        or configured
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def _client_config(conn: Connection) -> Any:
    from aiobotocore.config import AioConfig

    return AioConfig(
        s3={"addressing_style": conn.effective_addressing_style},
        retries={"mode": "standard", "max_attempts": conn.max_attempts},
        max_pool_connections=conn.max_pool_connections,
        connect_timeout=conn.connect_timeout,
        read_timeout=conn.read_timeout,
        # Many S3-compatible servers reject or ignore the newer default checksums;
        # integrity rests on Content-MD5 and our own MD5 in metadata instead.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        signature_version="s3v4",
    )


def md5_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def md5_hex_from_b64(text: str) -> str | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 16 else None


def plain_md5(etag: str) -> str | None:
    """The MD5 an ETag stands for, when it is a single-part one (32 hex digits)."""
    return etag.lower() if _MD5_HEX.fullmatch(etag) else None


def content_md5(info: ObjectInfo) -> str | None:
    stored = info.metadata.get(MD5_KEY)
    if stored:
        from_meta = md5_hex_from_b64(stored)
        if from_meta:
            return from_meta
    return plain_md5(info.etag)


def remote_entry_of(info: ObjectInfo, *, size: int | None = None) -> RemoteEntry:
    """What a HEAD or GET says of an object, as a sync compares it (``size``: as listed)."""
    return RemoteEntry(
        info.size if size is None else size, info.etag, mtime_ns_of(info), content_md5(info),
        modified_ns_of(info), mode_of(info),
    )


def modified_ns_of(info: ObjectInfo) -> int:
    """The object's LastModified in whole seconds, as a listing gives it (``Listed``)."""
    return int(info.modified.timestamp()) * 1_000_000_000


def mtime_ns_of(info: ObjectInfo) -> int:
    stored = info.metadata.get(MTIME_KEY)
    if stored:
        with contextlib.suppress(ValueError):
            return _seconds_text_to_ns(stored)
    return modified_ns_of(info)


def mode_of(info: ObjectInfo) -> int | None:
    """The permission bits an object's ``mode`` metadata holds (never setuid, setgid or
    sticky: a bucket is no place to take those from), or None."""
    stored = info.metadata.get(MODE_KEY)
    try:
        return int(stored.strip(), 8) & 0o777 if stored else None
    except ValueError:
        return None


def mode_text(permissions: int) -> str:
    """``mode`` metadata as rclone writes it: a regular file's st_mode in octal, ``100755``."""
    return f"{0o100000 | (permissions & 0o777):o}"


def _seconds_text_to_ns(text: str) -> int:
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def ns_to_seconds_text(mtime_ns: int) -> str:
    return f"{mtime_ns // 1_000_000_000}.{mtime_ns % 1_000_000_000:09d}"


def _strip_etag(raw: str | None) -> str:
    return (raw or "").strip('"')


def _code(exc: bex.ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def _message(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message") or "").strip()


_NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchVersion"}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "Forbidden"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


@contextlib.contextmanager
def translate_errors(what: str, endpoint: str) -> Iterator[None]:
    """Turn botocore's errors about ``what`` (a bucket or an s3:// URL) into ours."""
    try:
        yield
    except bex.ClientError as exc:
        raise _from_client_error(exc, what) from exc
    except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
        raise errors.CredentialsError(
            "no S3 credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "use --profile, or put them in the config)"
        ) from exc
    except bex.ProfileNotFound as exc:
        raise errors.CredentialsError(f"AWS profile not found: {exc.kwargs.get('profile')}") from exc
    except (bex.SSLError, aiohttp.ClientSSLError) as exc:
        raise errors.EndpointError(f"TLS failed with {endpoint}: {exc}") from exc
    # aiohttp's own connect error reaches here from requests made without botocore.
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError, aiohttp.ClientConnectorError) as exc:
        raise errors.EndpointError(f"cannot reach endpoint {endpoint}") from exc
    except (bex.ConnectionClosedError, bex.ReadTimeoutError, bex.ResponseStreamingError) as exc:
        raise errors.EndpointError(f"connection to {endpoint} failed during {what}") from exc
    except bex.ParamValidationError as exc:
        raise errors.UsageError(f"{what}: {exc}") from exc
    except (bex.HTTPClientError, bex.ConnectionError, aiohttp.ClientError, TimeoutError) as exc:
        raise errors.EndpointError(f"connection to {endpoint} failed during {what}: {exc}") from exc


def _from_client_error(exc: bex.ClientError, what: str) -> errors.S3SyncError:
    code = _code(exc)
    if code == "NoSuchBucket":
        bucket = exc.response.get("Error", {}).get("BucketName") or what
        return errors.NotFoundError(f"bucket does not exist: {bucket}")
    if code in _NOT_FOUND:
        return errors.NotFoundError(f"not found: {what}")
    if code in _BAD_CREDENTIALS:
        return errors.CredentialsError(f"{what}: the server refused the credentials ({code})")
    if code in _DENIED:
        return errors.AccessDeniedError(f"access denied: {what}")
    if code == "BucketNotEmpty":
        return errors.BucketNotEmptyError(
            f"bucket is not empty: {what} (use --force to delete its contents too)"
        )
    if code in _PRECONDITION:
        return errors.ConflictWriteError(f"{what} changed on the server meanwhile")
    if code in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
        return errors.S3SyncError(f"bucket already exists: {what}")
    if code in {"NotImplemented", "501"}:
        return errors.UnsupportedError(f"{what}: the server does not support this request")
    if code == "InvalidBucketName":
        return errors.UsageError(f"invalid bucket name: {what}")
    detail = _message(exc)
    return errors.S3SyncError(f"{what}: {code}" + (f": {detail}" if detail else ""))


def _info_from_listing(obj: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=obj["Key"],
        size=int(obj["Size"]),
        etag=_strip_etag(obj.get("ETag")),
        modified=obj["LastModified"],
    )


def _info_from_head(key: str, head: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=int(head["ContentLength"]),
        etag=_strip_etag(head.get("ETag")),
        modified=head["LastModified"],
        version_id=head.get("VersionId"),
        metadata={k.lower(): v for k, v in (head.get("Metadata") or {}).items()},
        content_type=head.get("ContentType"),
    )


def _info_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """The same as ``_info_from_head``, from raw (lower-cased) HTTP headers."""
    return ObjectInfo(
        key=key,
        size=int(headers.get("content-length", "0")),
        etag=_strip_etag(headers.get("etag")),
        modified=parsedate_to_datetime(headers["last-modified"]) if "last-modified" in headers else datetime.now().astimezone(),
        version_id=headers.get("x-amz-version-id"),
        metadata={k[len("x-amz-meta-"):]: v for k, v in headers.items() if k.startswith("x-amz-meta-")},
        content_type=headers.get("content-type"),
    )


def _response_of(headers: Mapping[str, str]) -> dict[str, Any]:
    """The fields of a PUT reply s3sync reads, from raw (lower-cased) headers."""
    return {
        "ETag": headers.get("etag"),
        "VersionId": headers.get("x-amz-version-id"),
        "ServerSideEncryption": headers.get("x-amz-server-side-encryption"),
        "SSECustomerAlgorithm": headers.get("x-amz-server-side-encryption-customer-algorithm"),
        "ResponseMetadata": {"HTTPHeaders": {"date": headers.get("date")}},
    }


def _written_at(response: Mapping[str, Any]) -> datetime:
    """When the server wrote an object, from its reply's Date header: a PUT's reply has no
    Last-Modified, and that header is the same server clock (seconds, like a listing)."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(date)
    return datetime.now().astimezone()


def _etag_contradicts(etag: str, sent_md5: str, response: Mapping[str, Any]) -> bool:
    """Does the ETag of a single-part write prove the server stored other bytes?

    It is the MD5 of the stored bytes only when it looks like one and the object is not
    encrypted with KMS or a customer key; anything else proves nothing.
    """
    if plain_md5(etag) is None:
        return False
    if str(response.get("ServerSideEncryption") or "").startswith("aws:kms"):
        return False
    if response.get("SSECustomerAlgorithm"):
        return False
    return etag.lower() != sent_md5


_PUT_HEADERS = {
    "ContentMD5": "Content-MD5",
    "ContentType": "Content-Type",
    "ACL": "x-amz-acl",
    "IfMatch": "If-Match",
    "IfNoneMatch": "If-None-Match",
}


def _put_headers(kwargs: Mapping[str, Any]) -> dict[str, str]:
    headers = {header: str(kwargs[name]) for name, header in _PUT_HEADERS.items() if name in kwargs}
    headers.update({f"x-amz-meta-{k.lower()}": v for k, v in kwargs.get("Metadata", {}).items()})
    return headers


def fast_path_wanted(conn: Connection) -> bool:
    """The lean path signs path-style requests only, and can be switched off."""
    return (
        conn.endpoint_url is not None
        and conn.effective_addressing_style == "path"
        and os.environ.get("S3SYNC_FAST_PATH", "1") != "0"
    )


def _static_credentials(conn: Connection) -> Credentials | None:
    """Keys that need no botocore session to find: given, or in the environment where
    botocore's own chain would take them from (no profile named)."""
    if conn.access_key_id and conn.secret_access_key:
        return Credentials(conn.access_key_id, conn.secret_access_key)
    env = os.environ
    if conn.profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"):
        return None
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN"))
    return None


def _region(conn: Connection) -> str:
    return conn.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


# botocore's rule for a region name; checked here too because with the lean path the
# botocore client (which would refuse it) may never be made.
_REGION_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


def _check_lean_settings(conn: Connection) -> None:
    region = _region(conn)
    if not _REGION_NAME.match(region):
        raise errors.UsageError(f"invalid region {region!r}")
    try:
        parts = urlsplit(conn.endpoint_url or "")
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise errors.UsageError(f"invalid endpoint URL: {conn.endpoint_url}")


@dataclass(frozen=True, slots=True)
class Precondition:
    """A conditional write: ``etag`` must be current, or ``absent`` the key must not exist."""

    etag: str | None = None
    absent: bool = False
    quote_etag: bool = True  # Ceph RGW 16 wants it unquoted

    def put_kwargs(self) -> dict[str, str]:
        if self.absent:
            return {"IfNoneMatch": "*"}
        if self.etag:
            return {"IfMatch": f'"{self.etag}"' if self.quote_etag else self.etag}
        return {}


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a key in a versioned bucket; ``etag`` None: a delete marker."""

    version_id: str
    etag: str | None
    modified: datetime


@dataclass(frozen=True, slots=True)
class DeleteFailure:
    key: str
    code: str
    message: str


class S3Store:
    """One S3 client and the operations s3sync needs on it."""

    def __init__(self, conn: Connection, resources: contextlib.AsyncExitStack, *, part_concurrency: int = 8) -> None:
        self.conn = conn
        self._resources = resources
        self._part_slots = asyncio.Semaphore(part_concurrency)
        self._fast: FastS3 | None = None
        self._session: Any = None
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, conn: Connection) -> AsyncIterator[S3Store]:
        """A store whose per-file calls and listings take the lean path where it serves
        the endpoint. The botocore client is then made only when something needs it
        (multipart, versions, buckets, ACLs): importing and building it is ~0.5 s of CPU,
        a third of a small sync's."""
        try:
            async with contextlib.AsyncExitStack() as resources:
                store = cls(conn, resources)
                await store._open_lean_path()
                if store._fast is None:
                    await store.botocore_client()
                yield store
        except ValueError as exc:
            if isinstance(exc, bex.InvalidRegionError):
                # Raised when the client is created, so it escaped as a traceback.
                raise errors.UsageError(f"invalid region {exc.kwargs.get('region_name')!r}") from exc
            # botocore raises a bare ValueError for an endpoint URL it cannot parse.
            if "endpoint" in str(exc).lower() or "url" in str(exc).lower():
                raise errors.UsageError(f"invalid endpoint URL: {conn.endpoint_url}") from exc
            raise

    async def _open_lean_path(self) -> None:
        conn = self.conn
        if not fast_path_wanted(conn) or conn.endpoint_url is None:
            return
        _check_lean_settings(conn)
        static = _static_credentials(conn)
        credentials: Any = StaticCredentials(static) if static else await self._botocore_session().get_credentials()
        if credentials is None:
            return  # no credentials yet: botocore's own path raises the clear error on first use
        self._fast = await self._resources.enter_async_context(FastS3.open(
            conn.endpoint_url, _region(conn), credentials,
            pool=conn.max_pool_connections, verify=conn.verify,
            connect_timeout=conn.connect_timeout, read_timeout=conn.read_timeout,
            max_attempts=conn.max_attempts,
        ))

    def _botocore_session(self) -> Any:
        if self._session is None:
            import aioboto3  # here, not at the top: see open()

            with translate_errors("the connection settings", self.conn.where()):
                self._session = aioboto3.Session(
                    profile_name=self.conn.profile,
                    aws_access_key_id=self.conn.access_key_id,
                    aws_secret_access_key=self.conn.secret_access_key,
                    region_name=_region(self.conn),
                )
        return self._session

    async def botocore_client(self) -> Any:
        """The aiobotocore client, made on first use (also for edge code such as the probe)."""
        if self._client is not None:
            return self._client  # every call on the botocore path comes here: no lock once made
        async with self._client_lock:
            if self._client is None:
                session = self._botocore_session()
                with translate_errors("the connection settings", self.conn.where()):
                    client_cm = session.client(
                        "s3", endpoint_url=self.conn.endpoint_url, config=_client_config(self.conn),
                        verify=self.conn.verify,
                    )
                self._client = await self._resources.enter_async_context(client_cm)
        return self._client

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return translate_errors(what, self.conn.where())

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
                if self._fast is not None:
                    headers: Mapping[str, Any] = (await self._fast.head_bucket(bucket)).headers
                else:
                    response = await (await self.botocore_client()).head_bucket(Bucket=bucket)
                    headers = response["ResponseMetadata"]["HTTPHeaders"]
            except bex.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    async with self._listing_fetch(bucket) as fetch:
                        await listing.confirm_s3(fetch, self.conn.where(), bucket)
                    raise errors.NotFoundError(f"bucket does not exist: {bucket}") from exc
                raise
            if not any(name.lower().startswith("x-amz") for name in headers):
                async with self._listing_fetch(bucket) as fetch:
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

    # -- listing -----------------------------------------------------------------

    async def iter_objects(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, page by page; raises if any page fails."""
        paginator = (await self.botocore_client()).get_paginator("list_objects_v2")
        where = f"s3://{bucket}/{prefix}"
        with self._errors(where):
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    yield _info_from_listing(obj)

    async def list_pages(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """Every object under ``prefix``, a page at a time, for syncs and polls.

        The cheap listing where the endpoint takes it, else botocore's paginator; either
        way, complete or raising.
        """
        endpoint = self.conn.endpoint_url
        if listing.available(endpoint):
            started = False
            try:
                async with self._listing_fetch(bucket) as fetch:
                    async for page in listing.list_prefix(fetch, bucket, prefix, self.conn.max_attempts):
                        started = True
                        yield page
                return
            except listing.FastListingUnavailable as exc:
                if started:  # pages already handed out cannot be taken back
                    raise errors.EndpointError(f"listing s3://{bucket}/{prefix} failed: {exc}") from exc
                log.info("fast_listing_refused", reason=str(exc))
                listing.refuse(endpoint)
        paginator = (await self.botocore_client()).get_paginator("list_objects_v2")
        with self._errors(f"s3://{bucket}/{prefix}"):
            async for raw in paginator.paginate(Bucket=bucket, Prefix=prefix):
                yield [
                    Listed(obj["Key"], int(obj["Size"]), _strip_etag(obj.get("ETag")), obj["LastModified"].isoformat())
                    for obj in raw.get("Contents", ())
                ]

    @contextlib.asynccontextmanager
    async def _listing_fetch(self, bucket: str) -> AsyncIterator[listing.Fetch]:
        if self._fast is not None:
            fast = self._fast

            async def fetch(query: dict[str, str]) -> tuple[int, bytes]:
                return await fast.get_once(bucket, query)

            yield fetch
            return
        timeout = aiohttp.ClientTimeout(sock_connect=self.conn.connect_timeout, sock_read=self.conn.read_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield listing.presigned_fetch(await self.botocore_client(), session, bucket, self.conn.verify)

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        with self._errors(f"s3://{bucket}/{key}"):
            try:
                if self._fast is not None:
                    reply = await self._fast.head(bucket, key)
                    return _info_from_headers(key, reply.headers)
                response = await (await self.botocore_client()).head_object(Bucket=bucket, Key=key)
            except bex.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
        return _info_from_head(key, response)

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
                if self._fast is not None:
                    reply = await self._fast.put(bucket, key, data, _put_headers(kwargs))
                    response = _response_of(reply.headers)
                else:
                    response = await (await self.botocore_client()).put_object(**kwargs)
            etag = _strip_etag(response.get("ETag"))
            if not _etag_contradicts(etag, digest.hexdigest(), response):
                return ObjectInfo(
                    key=key,
                    size=len(data),
                    etag=etag or digest.hexdigest(),
                    modified=_written_at(response),
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
        size = size_hint if size_hint is not None else _local_size(src)
        if size < MULTIPART_THRESHOLD:
            data = await _read_small(src, size)
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
            asyncio.to_thread(file_md5, src), asyncio.to_thread(_part_md5s, src, size)
        )
        return await self._put_multipart(
            bucket, key, _file_parts(src, size), size,
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
            bucket, key, _stream_parts(first, stream), None,
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
        etag = _strip_etag(response.get("ETag"))
        if not etag:
            # Ceph RGW answers CompleteMultipartUpload with an empty ETag; HEAD has it.
            head = await self.head(bucket, key)
            etag = head.etag if head else ""
        return ObjectInfo(
            key=key, size=size if size is not None else -1, etag=etag,
            modified=_written_at(response), version_id=response.get("VersionId"),
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
                    digest = await asyncio.to_thread(_md5_digest, body)
                content_md5 = base64.b64encode(digest).decode("ascii")
                if self._fast is not None:
                    reply = await self._fast.upload_part(bucket, key, upload_id, number, body, content_md5)
                    response = _response_of(reply.headers)
                else:
                    response = await (await self.botocore_client()).upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                        Body=body, ContentMD5=content_md5,
                    )
            if _etag_contradicts(_strip_etag(response["ETag"]), digest.hex(), response):
                raise errors.EndpointError(
                    f"s3://{bucket}/{key} part {number}: the server stored other bytes than were sent"
                )
            results[number] = response["ETag"]

        await self._side_by_side(parts, send)
        return [results[n] for n in range(1, len(results) + 1)]

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
            if isinstance(first, errors.S3SyncError | OSError | _RangesUnusable):
                raise first from failed
            raise

    async def _abort_quietly(self, bucket: str, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            await (await self.botocore_client()).abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    async def set_acl(self, bucket: str, key: str, acl: str) -> None:
        with self._errors(f"s3://{bucket}/{key}"):
            await (await self.botocore_client()).put_object_acl(Bucket=bucket, Key=key, ACL=acl)

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
            key=dst_key, size=head.size, etag=_strip_etag(result.get("ETag")) or head.etag,
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
            key=key, size=-1, etag=_strip_etag(result.get("ETag")) or etag,
            modified=modified if isinstance(modified, datetime) else datetime.now().astimezone(),
            version_id=response.get("VersionId"), metadata=dict(metadata),
        )

    # -- deleting ----------------------------------------------------------------

    async def delete(self, bucket: str, key: str, *, if_match: Precondition | None = None) -> str | None:
        """Delete ``key``; the version id of the delete marker, in a versioned bucket."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if if_match and if_match.etag:
            kwargs.update(if_match.put_kwargs())
        with self._errors(f"s3://{bucket}/{key}"):
            if self._fast is not None:
                headers = {"If-Match": kwargs["IfMatch"]} if "IfMatch" in kwargs else {}
                reply = await self._fast.delete(bucket, key, headers)
                return reply.headers.get("x-amz-version-id")
            response = await (await self.botocore_client()).delete_object(**kwargs)
        version = response.get("VersionId")
        return str(version) if version else None

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
                        etag = _strip_etag(item.get("ETag")) if kind == "Versions" else None
                        latest = bool(item.get("IsLatest"))
                        version = Version(item["VersionId"], etag, item["LastModified"])
                        found.append((version.modified, latest, -len(found), version))
        found.sort(key=lambda entry: entry[:3], reverse=True)
        return [entry[3] for entry in found]

    async def delete_many(self, bucket: str, keys: list[str]) -> list[DeleteFailure]:
        failures: list[DeleteFailure] = []
        for start in range(0, len(keys), 1000):
            refs = [{"Key": k} for k in keys[start : start + 1000]]
            failures.extend(await self._delete_batch(bucket, refs))
        return failures

    # -- reading -----------------------------------------------------------------

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
                except _RangesUnusable:
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
        must come from the listed version, else ``_RangesUnusable``."""
        where = f"s3://{bucket}/{key}"
        etag, size = listed
        part = part_size_for(size)
        digest = _InOrderMD5()
        first: list[ObjectInfo] = []

        async def starts() -> AsyncIterator[int]:
            for start in range(0, size, part):
                yield start

        with _create_exclusive(tmp) as out:

            async def fetch(number: int, start: int) -> None:
                with self._errors(where):
                    info, data = await self._get_range(bucket, key, start, min(part, size - start))
                if (info.etag, info.size) != (etag, size):
                    raise _RangesUnusable  # replaced since the listing, or between parts
                await _to_thread_to_the_end(_write_at, out.fileno(), data, start)
                flusher.kick()
                await digest.add(number, data)
                if number == 1:
                    first.append(info)

            flusher = _EarlyFlush(out.fileno())
            try:
                await self._side_by_side(starts(), fetch)
            finally:
                await flusher.done()
            await _to_thread_to_the_end(_flush, out.fileno(), mode_for(first[0]) if mode_for else None)
        md5 = digest.hexdigest()
        _verify(where, first[0], size, md5, listed)
        return tmp, first[0], md5

    async def _get_range(self, bucket: str, key: str, start: int, length: int) -> tuple[ObjectInfo, bytes]:
        """``length`` bytes from ``start``, and what the GET described, with the whole
        object's size. ``_RangesUnusable`` if the server did not answer with that range."""
        spec = f"bytes={start}-{start + length - 1}"
        try:
            if self._fast is not None:
                async with self._fast.get(bucket, key, {"Range": spec}) as response:
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    # Checked before the body is read: a server that ignores Range sends it all.
                    total = _range_total(headers.get("content-range") if response.status == 206 else None, start)
                    data = await response.read()
                info = _info_from_headers(key, headers)
            else:
                reply = await (await self.botocore_client()).get_object(Bucket=bucket, Key=key, Range=spec)
                async with reply["Body"] as body:
                    total = _range_total(reply.get("ContentRange"), start)
                    data = await body.read()
                info = _info_from_head(key, reply)
        except bex.ClientError as exc:
            if _code(exc) in {"InvalidRange", "416"}:
                raise _RangesUnusable from exc  # the object shrank since the listing
            raise
        if len(data) != length:
            raise _RangesUnusable
        return dataclasses.replace(info, size=total), data

    async def _download_whole(
        self, bucket: str, key: str, tmp: Path, listed: tuple[str, int] | None,
        mode_for: Callable[[ObjectInfo], int] | None,
    ) -> tuple[Path, ObjectInfo, str]:
        where = f"s3://{bucket}/{key}"
        with self._errors(where):
            async with self._get(bucket, key) as (info, chunks):
                mode = mode_for(info) if mode_for else None
                if 0 < info.size < OFFLOAD_BYTES:
                    body = b"".join([chunk async for chunk in chunks])
                    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
                    _verify(where, info, len(body), md5, listed)
                    # Off the event loop: there, each file's fsync, and every open
                    # queued behind the journal it flushes, stalled all transfers.
                    await _to_thread_to_the_end(_write_new_file, tmp, body, mode)
                    return tmp, info, md5
                written, md5 = await _stream_into_new_file(tmp, chunks, mode)
        _verify(where, info, written, md5, listed)
        return tmp, info, md5

    async def stream_to(self, bucket: str, key: str, out: Callable[[bytes], object]) -> ObjectInfo:
        where = f"s3://{bucket}/{key}"
        with self._errors(where):
            async with self._get(bucket, key) as (info, chunks):
                async for chunk in chunks:
                    out(chunk)
        return info

    @contextlib.asynccontextmanager
    async def _get(
        self, bucket: str, key: str
    ) -> AsyncIterator[tuple[ObjectInfo, AsyncIterator[bytes]]]:
        """An open GET: what it describes, and its body as chunks."""
        if self._fast is not None:
            async with self._fast.get(bucket, key) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                yield _info_from_headers(key, headers), response.content.iter_chunked(CHUNK)
            return
        response = await (await self.botocore_client()).get_object(Bucket=bucket, Key=key)
        body = response["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await body.read(CHUNK):
                yield chunk

        async with body:
            yield _info_from_head(key, response), chunks()

    # -- URLs --------------------------------------------------------------------

    async def presign(self, bucket: str, key: str, expires: int) -> str:
        with self._errors(f"s3://{bucket}/{key}"):
            url: str = await (await self.botocore_client()).generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
            )
        return url

    def unsigned_url(self, bucket: str, key: str) -> str:
        endpoint = (self.conn.endpoint_url or self._client.meta.endpoint_url).rstrip("/")
        return f"{endpoint}/{quote(bucket, safe='')}/{quote(key, safe='/~')}"


def temp_path_for(dest: Path) -> Path:
    """A hidden name beside ``dest`` (never taken for a sync's own: it bears no pair's tag)."""
    stem = dest.name if len(dest.name.encode("utf-8", "surrogateescape")) <= 200 else ""
    return dest.with_name(f".{stem}{TEMP_MARKER}{secrets.token_hex(4)}")


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


class _RangesUnusable(Exception):
    """Ranged GETs cannot give one consistent copy here: the server ignored Range, or
    the object changed since it was listed. One whole GET is then taken instead."""


def _range_total(content_range: str | None, start: int) -> int:
    """The object's size from a Content-Range that answers a range from ``start``."""
    match = _CONTENT_RANGE.fullmatch(content_range or "")
    if match is None or int(match.group(1)) != start:
        raise _RangesUnusable
    return int(match.group(2))


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


class _EarlyFlush:
    """Keeps one flush of ``fd`` to disk under way while parts are still arriving: a
    large file otherwise waits for the disk in its final fsync, after the network."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._running: asyncio.Future[None] | None = None

    def kick(self) -> None:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(_to_thread_to_the_end(os.fdatasync, self._fd))

    async def done(self) -> None:
        if self._running is not None:
            await self._running


async def _to_thread_to_the_end(func: Callable[..., T], *args: Any) -> T:
    """``asyncio.to_thread``, but a cancelled caller still waits for the thread: its
    clean-up must not run while the thread writes (or closes a reused fd)."""
    job = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await job
        raise


def _write_new_file(tmp: Path, body: bytes, mode: int | None = None) -> None:
    with _create_exclusive(tmp) as out:
        out.write(body)
        out.flush()
        _flush(out.fileno(), mode)


def _flush(fd: int, mode: int | None) -> None:
    """Give the new file its permission bits (where chosen), then flush it to disk."""
    if mode is not None:
        os.fchmod(fd, mode)
    os.fsync(fd)


async def _stream_into_new_file(
    tmp: Path, chunks: AsyncIterator[bytes], mode: int | None = None
) -> tuple[int, str]:
    """Write ``chunks`` to the new file ``tmp`` and flush it to disk; (bytes, MD5 hex)."""
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    with _create_exclusive(tmp) as out:

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
                pending = asyncio.ensure_future(_to_thread_to_the_end(sink, chunk))
        finally:
            if pending is not None:
                await pending  # never close the file under a writing thread
        out.flush()
        await _to_thread_to_the_end(_flush, out.fileno(), mode)
    return written, digest.hexdigest()


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


@contextlib.contextmanager
def _create_exclusive(tmp: Path) -> Iterator[IO[bytes]]:
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot write {tmp.parent}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        try:
            yield out
        except OSError as exc:
            raise errors.LocalIOError(f"cannot write {tmp.parent}: {exc.strerror}") from exc


def _local_size(src: Path) -> int:
    try:
        return src.stat().st_size
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read {src}: {exc.strerror}") from exc


async def _read_small(src: Path, size: int) -> bytes:
    try:
        if size < MiB:
            # A thread hop costs more than reading a small file from the page cache.
            return src.read_bytes()
        return await asyncio.to_thread(src.read_bytes)
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read {src}: {exc.strerror}") from exc


def part_size_for(size: int) -> int:
    needed = -(-size // MAX_PARTS)
    return max(MIN_PART_SIZE, -(-needed // MiB) * MiB)


async def _file_parts(src: Path, size: int) -> AsyncIterator[bytes]:
    part = part_size_for(size)
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


async def _stream_parts(first: bytes, stream: IO[bytes]) -> AsyncIterator[bytes]:
    for start in range(0, len(first), MIN_PART_SIZE):
        yield first[start : start + MIN_PART_SIZE]
    # A buffered reader's read(n) returns n bytes unless the pipe hit EOF.
    while data := await asyncio.to_thread(stream.read, MIN_PART_SIZE):
        yield data


def _part_md5s(src: Path, size: int) -> list[bytes]:
    """The MD5 of each part ``_file_parts`` reads, in order."""
    part = part_size_for(size)
    fd = os.open(src, os.O_RDONLY)
    try:
        return [_md5_digest(os.pread(fd, part, offset)) for offset in range(0, size, part)]
    finally:
        os.close(fd)


def _md5_digest(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def file_md5(src: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(src, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _bounded_gather(jobs: list[Awaitable[Any]], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def run(job: Awaitable[Any]) -> Any:
        async with slots:
            return await job

    return list(await asyncio.gather(*(run(j) for j in jobs)))

