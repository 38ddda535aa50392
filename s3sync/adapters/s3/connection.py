"""How to reach an endpoint: the connection settings, and whether the lean path serves it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from s3sync import errors
from s3sync.adapters.s3.lean import Credentials


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


def client_config(conn: Connection) -> Any:
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


def fast_path_wanted(conn: Connection) -> bool:
    """The lean path signs path-style requests only, and can be switched off."""
    return (
        conn.endpoint_url is not None
        and conn.effective_addressing_style == "path"
        and os.environ.get("S3SYNC_FAST_PATH", "1") != "0"
    )


def static_credentials(conn: Connection) -> Credentials | None:
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


def region_of(conn: Connection) -> str:
    return conn.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


# botocore's rule for a region name; checked here too because with the lean path the
# botocore client (which would refuse it) may never be made.
_REGION_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


def check_lean_settings(conn: Connection) -> None:
    region = region_of(conn)
    if not _REGION_NAME.match(region):
        raise errors.UsageError(f"invalid region {region!r}")
    try:
        parts = urlsplit(conn.endpoint_url or "")
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise errors.UsageError(f"invalid endpoint URL: {conn.endpoint_url}")
