"""The ports: what the engine needs from the object store, sized to what it calls.

The engine (``engine``, ``pipeline``, ``execute``, ``markers``) types its store as
``ObjectStore``; ``adapters.s3.S3Store`` implements it, and the engine test tier runs the
real pipeline against an in-memory one (``tests/engine/fakes.py``). Every method raises
``s3sync.errors`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Protocol

from s3sync.adapters.s3 import Connection, Precondition, Version
from s3sync.adapters.s3.listing import Listed
from s3sync.core.dialect import Dialect
from s3sync.core.model import ObjectInfo


class ObjectStore(Protocol):
    conn: Connection

    async def bucket_exists(self, bucket: str) -> None:
        """Raise ``NotFoundError`` (or another project error) unless the bucket is usable."""

    def list_pages(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """Every object under ``prefix``, a page at a time; complete, or raising."""

    async def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, *, metadata: Mapping[str, str] | None = None,
        acl: str | None = None, content_type: str | None = None, precondition: Precondition | None = None,
    ) -> ObjectInfo: ...

    async def put_file(
        self, bucket: str, key: str, src: Path, *, metadata: Mapping[str, str] | None = None,
        acl: str | None = None, content_type: str | None = None, precondition: Precondition | None = None,
        size_hint: int | None = None, before_complete: Callable[[], None] | None = None,
    ) -> ObjectInfo: ...

    async def download_to_temp(
        self, bucket: str, key: str, dest: Path, *, listed: tuple[str, int] | None = None,
        temp: Path | None = None, mode_for: Callable[[ObjectInfo], int] | None = None,
    ) -> tuple[Path, ObjectInfo, str]:
        """(temp file beside ``dest``, what the GET described, MD5 hex of what was written)."""

    async def copy(
        self, bucket: str, src_key: str, dst_key: str, *, precondition: Precondition | None = None,
        src_version: str | None = None, src_etag: str | None = None,
    ) -> ObjectInfo: ...

    async def replace_metadata(
        self, bucket: str, key: str, etag: str, metadata: Mapping[str, str], content_type: str | None
    ) -> ObjectInfo: ...

    async def delete(self, bucket: str, key: str, *, if_match: Precondition | None = None) -> str | None: ...

    async def versions(self, bucket: str, key: str) -> list[Version]: ...

    async def write_support(self, bucket: str, prefix: str) -> Dialect:
        """Which write conditions the server honours (asked without side effects)."""

    async def versioning(self, bucket: str) -> bool:
        """Does the bucket keep the versions a write or delete supersedes?"""
