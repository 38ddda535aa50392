"""What both clients share: the connection, ACL names, the options of a sync."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import structlog

from s3sync import config, errors, preflight
from s3sync.adapters.s3 import Connection, resolve_endpoint
from s3sync.core.paths import BadS3Url, parse_s3_url
from s3sync.core.plan import Plan
from s3sync.engine import PairSpec

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)


MAX_EXPIRES = 604_800  # SigV4 presigned URLs: S3 refuses a longer validity


AddressingStyle = Literal["path", "virtual", "auto"]


StrPath = str | os.PathLike[str]


OnPlan = Callable[[Plan], Callable[[int, int], None] | None]


T = TypeVar("T")


P = ParamSpec("P")


def connection(
    endpoint_url: str | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    verify: bool | str = True,
    addressing_style: AddressingStyle | None = None,
    max_pool_connections: int = 64,
) -> Connection:
    """Connection settings, checked and resolved; the CLI's are made here too.

    Without ``endpoint_url``: ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``, then AWS.
    A given endpoint means path-style addressing unless ``addressing_style`` says otherwise.
    Keys left out come from the usual AWS chain (environment, ``profile``, files).
    """
    endpoint = preflight.endpoint_url(resolve_endpoint(endpoint_url, None))
    if isinstance(verify, str):
        verify = preflight.ca_bundle(verify)
    return Connection(
        endpoint_url=endpoint,
        region=region,
        profile=profile,
        access_key_id=access_key,
        secret_access_key=secret_key,
        addressing_style=addressing_style,
        verify=verify,
        max_pool_connections=max_pool_connections,
    )


def library_logging() -> None:
    """Keep s3sync's log lines off the host program's stdout.

    The engine logs through structlog, whose unconfigured default prints every event,
    info included, to stdout: in a script that writes its own output there, a sync would
    interleave one line per file. A program that configured structlog (the CLI does) is
    left alone; otherwise s3sync's events go to the standard ``logging`` module under the
    ``s3sync.*`` loggers, where, like any library's, they stay quiet below WARNING until
    the program configures logging.
    """
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def pair_spec(local: StrPath, remote: str, *, name: str | None = None, **options: Any) -> PairSpec:
    """A pair as the engine takes it; ``options`` are ``SyncOptions`` fields.

    Raises ``UsageError`` for a bad URL or option, as the CLI does for its arguments.
    """
    try:
        url = parse_s3_url(remote)
    except BadS3Url as exc:
        raise errors.UsageError(str(exc)) from exc
    validated = config.sync_options(options)
    try:
        root = config.local_folder(local).absolute()
    except ValueError as exc:
        raise errors.UsageError(str(exc)) from exc
    return PairSpec(name or str(url), root, url.bucket, url.prefix, validated)


def check_acl(acl: str) -> str:
    if acl not in CANNED_ACLS:
        raise errors.UsageError(f"unknown canned ACL {acl!r} (one of: {', '.join(CANNED_ACLS)})")
    return acl


def acl_or_none(acl: str | None) -> str | None:
    # Checked here so a typo is a UsageError before any bytes are sent.
    return None if acl is None else check_acl(acl)


def new_file_mode(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)  # the only way to read the umask: set it, then restore it
        os.umask(mask)
        return 0o666 & ~mask
