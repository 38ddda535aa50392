"""The S3 edge, as a package split at its transport seam.

``S3Store`` (``store``) is every request s3sync makes. It is built in layers, one module
each: ``objects`` (a request per object, listings), ``uploads`` and ``downloads`` (files,
multipart and ranged), ``admin`` (buckets, ACLs, URLs). The requests that have two paths
go through one ``transport`` chosen when the store opens: the lean SigV4 path (``lean``)
or botocore. S3's errors become s3sync's in one table (``error_table``); what an object's
metadata means is ``metadata``; requests and replies in S3's terms are ``wire``. Local
file reading and writing is the local adapter's (``adapters.localio``).
"""

from s3sync.adapters.s3.connection import Connection, resolve_endpoint
from s3sync.adapters.s3.error_table import translate_errors
from s3sync.adapters.s3.metadata import (
    MD5_KEY,
    MODE_KEY,
    MTIME_KEY,
    content_md5,
    mode_of,
    mode_text,
    modified_ns_of,
    mtime_ns_of,
    ns_to_seconds_text,
    plain_md5,
    remote_entry_of,
)
from s3sync.adapters.s3.store import S3Store
from s3sync.adapters.s3.wire import MULTIPART_THRESHOLD, DeleteFailure, Precondition, Version

__all__ = [
    "MD5_KEY", "MODE_KEY", "MTIME_KEY", "MULTIPART_THRESHOLD", "Connection", "DeleteFailure", "Precondition",
    "S3Store", "Version", "content_md5", "mode_of", "mode_text", "modified_ns_of", "mtime_ns_of",
    "ns_to_seconds_text", "plain_md5", "remote_entry_of", "resolve_endpoint", "translate_errors",
]
