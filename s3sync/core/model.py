"""Value types shared by the core, the adapters and the public API.

Rule: frozen, slotted dataclasses only; no behaviour beyond small derived properties.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from s3sync.core.paths import RelPath


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    created: datetime


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object as a listing or a HEAD describes it. ``metadata`` is only filled by HEAD/GET."""

    key: str
    size: int
    etag: str  # without quotes; may be empty where a server gives none
    modified: datetime
    version_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None  # filled only by HEAD/GET


class Side(enum.Enum):
    LOCAL = "local"
    REMOTE = "remote"

    @property
    def other(self) -> Side:
        return Side.REMOTE if self is Side.LOCAL else Side.LOCAL


# One int object per permission value, shared by every entry that has it: a tree of
# 100,000 files would otherwise hold as many copies of 420 (0o644), 28 bytes each.
PERMISSION_BITS: tuple[int, ...] = tuple(range(0o1000))


@dataclass(frozen=True, slots=True)
class LocalEntry:
    size: int
    mtime_ns: int
    md5: str | None = None  # hex; filled only when a decision needed it
    mode: int | None = None  # permission bits (0o777), where they were looked at


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    size: int
    etag: str
    mtime_ns: int  # from s3sync/rclone ``mtime`` metadata when known, else LastModified
    md5: str | None = None  # hex; from our metadata, or the ETag when it is a plain MD5
    # LastModified as listed (0: unknown, as after our own PUT, whose reply has none): a
    # metadata-only change (a chmod elsewhere) moves it and nothing else.
    modified_ns: int = 0
    mode: int | None = None  # permission bits of its ``mode`` metadata, where looked at


@dataclass(frozen=True, slots=True)
class BaseEntry:
    """What both sides were at the last successful sync of a path."""

    local: LocalEntry
    remote: RemoteEntry
    md5: str | None


LocalSnapshot = Mapping[RelPath, LocalEntry]
RemoteSnapshot = Mapping[RelPath, RemoteEntry]
BaseSnapshot = Mapping[RelPath, BaseEntry]
