"""Requests and replies in S3's own terms: conditions, the fields s3sync reads from a
reply (as botocore dicts or raw headers), and the rules that judge them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from s3sync.adapters.s3.metadata import plain_md5
from s3sync.core.model import ObjectInfo

CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+)")
MiB = 1024 * 1024
MULTIPART_THRESHOLD = 16 * MiB
MIN_PART_SIZE = 8 * MiB
MAX_PARTS = 10_000


def strip_etag(raw: str | None) -> str:
    return (raw or "").strip('"')


def info_from_head(key: str, head: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=int(head["ContentLength"]),
        etag=strip_etag(head.get("ETag")),
        modified=head["LastModified"],
        version_id=head.get("VersionId"),
        metadata={k.lower(): v for k, v in (head.get("Metadata") or {}).items()},
        content_type=head.get("ContentType"),
    )


def info_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """The same as ``info_from_head``, from raw (lower-cased) HTTP headers."""
    return ObjectInfo(
        key=key,
        size=int(headers.get("content-length", "0")),
        etag=strip_etag(headers.get("etag")),
        modified=parsedate_to_datetime(headers["last-modified"]) if "last-modified" in headers else datetime.now().astimezone(),
        version_id=headers.get("x-amz-version-id"),
        metadata={k[len("x-amz-meta-"):]: v for k, v in headers.items() if k.startswith("x-amz-meta-")},
        content_type=headers.get("content-type"),
    )


def response_of(headers: Mapping[str, str]) -> dict[str, Any]:
    """The fields of a PUT reply s3sync reads, from raw (lower-cased) headers."""
    return {
        "ETag": headers.get("etag"),
        "VersionId": headers.get("x-amz-version-id"),
        "ServerSideEncryption": headers.get("x-amz-server-side-encryption"),
        "SSECustomerAlgorithm": headers.get("x-amz-server-side-encryption-customer-algorithm"),
        "ResponseMetadata": {"HTTPHeaders": {"date": headers.get("date")}},
    }


def written_at(response: Mapping[str, Any]) -> datetime:
    """When the server wrote an object, from its reply's Date header: a PUT's reply has no
    Last-Modified, and that header is the same server clock (seconds, like a listing)."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(date)
    return datetime.now().astimezone()


def etag_contradicts(etag: str, sent_md5: str, response: Mapping[str, Any]) -> bool:
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


PUT_HEADERS = {
    "ContentMD5": "Content-MD5",
    "ContentType": "Content-Type",
    "ACL": "x-amz-acl",
    "IfMatch": "If-Match",
    "IfNoneMatch": "If-None-Match",
}


def put_headers(kwargs: Mapping[str, Any]) -> dict[str, str]:
    headers = {header: str(kwargs[name]) for name, header in PUT_HEADERS.items() if name in kwargs}
    headers.update({f"x-amz-meta-{k.lower()}": v for k, v in kwargs.get("Metadata", {}).items()})
    return headers


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


class RangesUnusable(Exception):
    """Ranged GETs cannot give one consistent copy here: the server ignored Range, or
    the object changed since it was listed. One whole GET is then taken instead."""


def range_total(content_range: str | None, start: int) -> int:
    """The object's size from a Content-Range that answers a range from ``start``."""
    match = CONTENT_RANGE.fullmatch(content_range or "")
    if match is None or int(match.group(1)) != start:
        raise RangesUnusable
    return int(match.group(2))


def part_size_for(size: int) -> int:
    needed = -(-size // MAX_PARTS)
    return max(MIN_PART_SIZE, -(-needed // MiB) * MiB)
