"""``S3Store``: every request s3sync makes goes through one (see the package's docstring)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import botocore.exceptions as bex

from s3sync import errors
from s3sync.adapters.probe import probe_writes, versioning_enabled
from s3sync.adapters.s3.admin import Admin
from s3sync.adapters.s3.connection import (
    Connection,
    check_lean_settings,
    fast_path_wanted,
    region_of,
    static_credentials,
)
from s3sync.adapters.s3.downloads import Downloads
from s3sync.adapters.s3.lean import FastS3, StaticCredentials
from s3sync.adapters.s3.transport import LeanTransport
from s3sync.adapters.s3.uploads import Uploads
from s3sync.core.dialect import Dialect


class S3Store(Uploads, Downloads, Admin):
    """One endpoint and the operations s3sync needs on it, over the transport chosen when
    it opens (``transport``)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, conn: Connection) -> AsyncIterator[S3Store]:
        """A store whose per-file calls and listings take the lean path where it serves
        the endpoint. The botocore client is then made only when something needs it
        (multipart, versions, buckets, ACLs): importing and building it is ~0.5 s of CPU,
        a third of a small sync's."""
        try:
            async with contextlib.AsyncExitStack() as resources:
                store = cls(conn, resources)
                if not await store._take_the_lean_path():
                    await store.botocore_client()
                yield store
        except ValueError as exc:
            if isinstance(exc, bex.InvalidRegionError):
                # Raised when the client is created, so it escaped as a traceback.
                raise errors.UsageError(f"invalid region {exc.kwargs.get('region_name')!r}") from exc
            # botocore raises a bare ValueError for an endpoint URL it cannot parse.
            if "endpoint" in str(exc).lower() or "url" in str(exc).lower():
                raise errors.UsageError(f"invalid endpoint URL: {conn.endpoint_url}") from exc
            raise

    async def _take_the_lean_path(self) -> bool:
        conn = self.conn
        if not fast_path_wanted(conn) or conn.endpoint_url is None:
            return False
        check_lean_settings(conn)
        static = static_credentials(conn)
        credentials: Any = StaticCredentials(static) if static else await self._boto.session().get_credentials()
        if credentials is None:
            return False  # no credentials yet: botocore's own path raises the clear error on first use
        fast = await self._resources.enter_async_context(FastS3.open(
            conn.endpoint_url, region_of(conn), credentials,
            pool=conn.max_pool_connections, verify=conn.verify,
            connect_timeout=conn.connect_timeout, read_timeout=conn.read_timeout,
            max_attempts=conn.max_attempts,
        ))
        self._transport = LeanTransport(fast)
        return True

    async def write_support(self, bucket: str, prefix: str) -> Dialect:
        """The server's write dialect for this bucket, asked of it (``probe.probe_writes``)."""
        return await probe_writes(self, bucket, prefix)

    async def versioning(self, bucket: str) -> bool:
        return await versioning_enabled(self, bucket)
