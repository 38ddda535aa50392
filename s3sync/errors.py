"""The exceptions s3sync raises, and the exit code the CLI gives each.

    S3SyncError                 exit 1 unless a subclass says otherwise
    ├── UsageError              exit 2: a malformed argument (bad s3:// URL, bad option value)
    ├── ConfigError             exit 2: the config file is missing, unparsable or invalid
    ├── CredentialsError        exit 1: no credentials, or the server refused them
    ├── EndpointError           exit 1: the endpoint cannot be reached or spoke no S3
    ├── NotFoundError           exit 1: a bucket, key or local path that does not exist
    ├── AccessDeniedError       exit 1
    ├── BucketNotEmptyError     exit 1
    ├── ConflictWriteError      exit 1: a conditional write or delete lost a race (HTTP 412)
    ├── UnsupportedError        exit 1: the server does not implement a request or header
    ├── LocalIOError            exit 1: a local file could not be read or written
    ├── StateError              exit 1: the state DB is locked, corrupt or from a newer schema
    ├── LockedError             exit 1: another process is syncing the same pair
    └── SafetyAbort             exit 3: a safety rail stopped a sync before any change

Adapters translate library errors (botocore, OSError, SQLAlchemy) into these at the
edge, always chaining the cause; the CLI maps them to one line on stderr and an exit
code. Anything else escaping is a bug and is allowed to show its traceback.
"""

from __future__ import annotations


class S3SyncError(Exception):
    exit_code = 1


class UsageError(S3SyncError):
    exit_code = 2


class ConfigError(S3SyncError):
    exit_code = 2


class CredentialsError(S3SyncError):
    pass


class EndpointError(S3SyncError):
    pass


class NotFoundError(S3SyncError):
    pass


class AccessDeniedError(S3SyncError):
    pass


class BucketNotEmptyError(S3SyncError):
    pass


class ConflictWriteError(S3SyncError):
    pass


class UnsupportedError(S3SyncError):
    pass


class LocalIOError(S3SyncError):
    pass


class StateError(S3SyncError):
    pass


class LockedError(S3SyncError):
    pass


class SafetyAbort(S3SyncError):
    exit_code = 3

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
