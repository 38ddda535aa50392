"""A cheap complete listing: ListObjectsV2 pages parsed by ElementTree.

Why: every sync and every poll lists the whole prefix, and botocore's generic XML parser
costs about 150 µs of CPU per object: 15 s for a no-op sync of 100,000 files, and ~5% of
a core for an idle service polling 10,000 every 30 s. The same requests, parsed by the C
ElementTree, cost a few milliseconds a page. They are signed by the lean path
(``lean``) where it serves the endpoint, else presigned by the store's botocore client.

The rule stays: a listing counts only when every page arrived. Any transport error, an
error status, or a page that does not parse raises, and the sync or poll fails without
deleting anything. A server that refuses such a listing (403, 501) is remembered by the
store, which falls back to botocore's paginator.
"""

from __future__ import annotations

import asyncio
import functools
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

import aiohttp

from s3sync import errors
from s3sync.adapters.s3.lean import tls_setting
from s3sync.adapters.s3.retry import retryable, retrying

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
PAGE = 1000


class FastListingUnavailable(Exception):
    """This endpoint refused the cheap ListObjectsV2; use botocore's paginator."""


@dataclass(frozen=True, slots=True)
class Listed:
    """One listed object; its date is converted only where it is needed."""

    key: str
    size: int
    etag: str
    modified: str  # ISO 8601 as listed; parsed only for the few keys a pass looks at

    @property
    def modified_ns(self) -> int:
        return _iso_to_ns(self.modified)

    @property
    def modified_at(self) -> datetime:
        return datetime.fromisoformat(self.modified.replace("Z", "+00:00"))


@functools.lru_cache(maxsize=4096)
def _iso_to_ns(text: str) -> int:
    # Cached: the objects of a tree written in one go share a few hundred distinct dates.
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(stamp.timestamp()) * 1_000_000_000


# One GET of a listing page, with its query in wire form: (HTTP status, body). Raises
# aiohttp/OS errors for a connection that failed.
Fetch = Callable[[dict[str, str]], Awaitable[tuple[int, bytes]]]


async def list_prefix(fetch: Fetch, bucket: str, prefix: str, attempts: int) -> AsyncIterator[list[Listed]]:
    """Every object under ``prefix``, a page at a time; raises unless every page arrived."""
    where = f"s3://{bucket}/{prefix}"

    def query(token: str | None) -> dict[str, str]:
        wanted = {"list-type": "2", "prefix": prefix, "encoding-type": "url", "max-keys": str(PAGE)}
        if token is not None:
            wanted["continuation-token"] = token
        return wanted

    next_page: asyncio.Task[ET.Element] | None = asyncio.ensure_future(_fetch(fetch, query(None), where, attempts))
    try:
        while next_page is not None:
            page = await next_page
            next_page = None
            if _text(page, "IsTruncated") == "true":
                token = _text(page, "NextContinuationToken")
                if not token:
                    raise errors.EndpointError(f"{where}: a truncated listing page came without a continuation token")
                # The next page is asked for before this one is handed out: the server
                # works on it while the caller goes through this one.
                next_page = asyncio.ensure_future(_fetch(fetch, query(token), where, attempts))
                await asyncio.sleep(0)  # let its request go out
            yield [_listed(item, where) for item in page.iter(f"{NS}Contents")]
    finally:
        if next_page is not None:  # the caller stopped early, or a page failed
            next_page.add_done_callback(_retrieved)
            next_page.cancel()


def _retrieved(task: asyncio.Task[ET.Element]) -> None:
    """A page nobody will read: fetch its outcome so asyncio does not report it lost."""
    if not task.cancelled():
        task.exception()


def presigned_fetch(client: Any, session: aiohttp.ClientSession, bucket: str, verify: bool | str) -> Fetch:
    """Pages fetched through URLs presigned by the store's botocore client (same
    credentials, endpoint and addressing as every other request), for endpoints the lean
    path does not serve."""
    tls = tls_setting(verify)

    async def fetch(query: dict[str, str]) -> tuple[int, bytes]:
        params: dict[str, Any] = {_BOTO_PARAMS[k]: v for k, v in query.items() if k != "list-type"}
        params["MaxKeys"] = int(params["MaxKeys"])
        url: str = await client.generate_presigned_url(
            "list_objects_v2", Params={"Bucket": bucket, **params}, ExpiresIn=300
        )
        async with session.get(url, ssl=tls) as response:
            return response.status, await response.read()

    return fetch


_BOTO_PARAMS = {
    "prefix": "Prefix", "encoding-type": "EncodingType", "max-keys": "MaxKeys",
    "continuation-token": "ContinuationToken",
}


async def _fetch(fetch: Fetch, query: dict[str, str], where: str, attempts: int) -> ET.Element:
    """One page, by ``retry``'s rule: a dropped connection, throttling, a 5xx and a body
    that does not parse (cut short) are tried again."""

    async def once() -> ET.Element:
        return _page(await _get(fetch, query, where), where)

    try:
        return await retrying(attempts, once, lambda exc: isinstance(exc, _Transient))
    except _Transient as exc:
        raise errors.EndpointError(str(exc)) from exc


class _Transient(Exception):
    pass


async def _get(fetch: Fetch, query: dict[str, str], where: str) -> bytes:
    try:
        status, body = await fetch(query)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise _Transient(f"connection failed while listing {where}: {exc}") from exc
    if status == 200:
        return body
    code = _error_code(body) or str(status)
    if retryable(status, code):
        raise _Transient(f"listing {where} failed: {code}")
    if code == "NoSuchBucket":
        raise errors.NotFoundError(f"bucket does not exist: {where}")
    if code in ("AccessDenied", "SignatureDoesNotMatch", "403", "NotImplemented", "501", "400", "InvalidArgument"):
        raise FastListingUnavailable(code)
    raise errors.EndpointError(f"listing {where} failed: {code}")


def _page(body: bytes, where: str) -> ET.Element:
    try:
        page = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _Transient(f"{where}: a listing page did not parse") from exc
    if page.tag != f"{NS}ListBucketResult":
        # Not the document we know how to read: never guess what an odd one means.
        raise FastListingUnavailable(page.tag)
    return page


async def confirm_s3(fetch: Fetch, endpoint: str, bucket: str) -> None:
    """Raise EndpointError unless a listing GET is answered in S3's XML (a listing or an
    error document): a HEAD's bare status cannot tell an S3 server from any web server,
    whose 404 page read as "bucket does not exist"."""
    status, body = await fetch({"list-type": "2", "max-keys": "1"})
    try:
        tag = ET.fromstring(body).tag.rpartition("}")[2] if body else ""
    except ET.ParseError:
        tag = ""
    if tag not in ("ListBucketResult", "Error"):
        raise errors.EndpointError(
            f"{endpoint} is not an S3 endpoint (HTTP {status} without an S3 answer to listing bucket {bucket})"
        )


_KEY, _SIZE, _ETAG, _MODIFIED = (f"{NS}{n}" for n in ("Key", "Size", "ETag", "LastModified"))


def _listed(item: ET.Element, where: str) -> Listed:
    # One pass over the few children: this runs once per object on every poll.
    fields = {child.tag: child.text or "" for child in item}
    try:
        key, size, modified = fields[_KEY], int(fields[_SIZE]), fields[_MODIFIED]
    except (KeyError, ValueError) as exc:
        raise errors.EndpointError(f"{where}: a listing entry lacks its key, size or date") from exc
    return Listed(_decoded(key), size, fields.get(_ETAG, "").strip('"'), modified)


def _decoded(text: str) -> str:
    # EncodingType=url: keys and prefixes may hold what XML cannot.
    return unquote_plus(text) if "%" in text or "+" in text else text


def _text(node: ET.Element, name: str) -> str | None:
    found = node.find(f"{NS}{name}")
    return None if found is None else (found.text or "")


def _error_code(body: bytes) -> str | None:
    """The ``Code`` of an error document (which S3 sends without the listing's namespace)."""
    try:
        root = ET.fromstring(body) if body else None
    except ET.ParseError:
        return None
    if root is None:
        return None
    found = root.find("Code")
    return found.text if found is not None and found.text else _text(root, "Code")
