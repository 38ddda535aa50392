"""The one retry rule for the requests s3sync sends itself (the lean path, the cheap
listing), botocore's standard mode's: throttling, 5xx, dropped connections and bodies
cut short are tried again, up to the connection's ``max_attempts``, after a capped
exponential backoff with full jitter. What botocore sends, botocore retries by the same
rule (``connection.client_config``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
RETRYABLE_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"})
MAX_BACKOFF = 5.0  # seconds


def retryable(status: int, code: str | None) -> bool:
    """Is an S3 error reply worth another try?"""
    return status in RETRYABLE_STATUS or code in RETRYABLE_CODES


async def retrying(attempts: int, once: Callable[[], Awaitable[T]], transient: Callable[[Exception], bool]) -> T:
    """``once()``, tried again while it raises what ``transient`` calls worth it; the
    last try's error (or the first that is not transient) is raised as it came."""
    attempt = 1
    while True:
        try:
            return await once()
        except Exception as exc:
            if attempt >= attempts or not transient(exc):
                raise
        await backoff(attempt)
        attempt += 1


async def backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(MAX_BACKOFF, 0.1 * 2**attempt)))
