"""The public Python API: the toolbox of the Ceph "Python S3 Examples" page, and sync.

``AsyncClient`` is the implementation; ``Client`` runs it on a private event loop for
scripts. The CLI is a thin layer over ``AsyncClient``: there is one code path per
operation (``s3sync sync`` goes through ``AsyncClient.run_pair``, as ``sync`` does).
Results are frozen dataclasses; every error raised on purpose is an
``s3sync.errors.S3SyncError``, never a botocore exception.

Stable names: ``Client``, ``AsyncClient``, ``SyncSummary``, ``SyncFailure``,
``PlannedChange`` and ``CANNED_ACLS`` here, ``Bucket``/``ObjectInfo`` from the model.
"""

from s3sync.api.aclient import AsyncClient
from s3sync.api.client import Client
from s3sync.api.common import CANNED_ACLS, connection, pair_spec
from s3sync.api.summary import PlannedChange, SyncFailure, SyncSummary, summarize
from s3sync.core.model import Bucket, ObjectInfo

__all__ = [
    "CANNED_ACLS",
    "AsyncClient",
    "Bucket",
    "Client",
    "ObjectInfo",
    "PlannedChange",
    "SyncFailure",
    "SyncSummary",
    "connection",
    "pair_spec",
    "summarize",
]
