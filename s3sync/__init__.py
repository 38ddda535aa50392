"""s3sync: keep local folders and S3-compatible buckets mirrored, both ways.

The public API (see docs/python.md): ``Client`` for scripts, ``AsyncClient`` for asyncio
code; they return the frozen dataclasses below and raise ``s3sync.errors`` exceptions.
"""

from s3sync import errors
from s3sync.api import AsyncClient, Client, PlannedChange, SyncFailure, SyncSummary
from s3sync.core.model import Bucket, ObjectInfo

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Bucket",
    "Client",
    "ObjectInfo",
    "PlannedChange",
    "SyncFailure",
    "SyncSummary",
    "__version__",
    "errors",
]
