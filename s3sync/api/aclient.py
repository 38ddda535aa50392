"""``AsyncClient``: the implementation of the API, on the caller's event loop."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from s3sync import errors, preflight
from s3sync.adapters.s3 import Connection, S3Store
from s3sync.adapters.statedb import pair_id, state_dir_default
from s3sync.api.common import (
    MAX_EXPIRES,
    AddressingStyle,
    OnPlan,
    StrPath,
    acl_or_none,
    check_acl,
    connection,
    library_logging,
    new_file_mode,
    pair_spec,
)
from s3sync.api.summary import SyncSummary, summarize
from s3sync.config import ConflictPolicy, ContentTypes, Mode
from s3sync.core.model import Bucket, ObjectInfo
from s3sync.engine import PairSpec, PairSync, Result


class AsyncClient:
    """``async with AsyncClient(endpoint_url=...) as s3: await s3.buckets()``.

    One client holds one connection pool; use it from one event loop.
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        verify: bool | str = True,
        addressing_style: AddressingStyle | None = None,
        max_pool_connections: int = 64,
        conn: Connection | None = None,
    ) -> None:
        """Settings as for ``connection()``; or a ready ``conn`` (how the CLI passes its own)."""
        self._conn = conn if conn is not None else connection(
            endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            profile=profile,
            verify=verify,
            addressing_style=addressing_style,
            max_pool_connections=max_pool_connections,
        )
        self._stack = contextlib.AsyncExitStack()
        self._store: S3Store | None = None

    async def __aenter__(self) -> Self:
        library_logging()
        self._store = await self._stack.enter_async_context(S3Store.open(self._conn))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._store = None
        await self._stack.aclose()

    @property
    def store(self) -> S3Store:
        """The adapter underneath, for the CLI's few checks the API has no verb for."""
        if self._store is None:
            raise errors.UsageError("the client is not open: use it inside 'async with'")
        return self._store

    # -- buckets ---------------------------------------------------------------------

    async def buckets(self) -> list[Bucket]:
        """The buckets you own, as the server lists them."""
        return await self.store.list_buckets()

    async def create_bucket(self, bucket: str) -> None:
        await self.store.create_bucket(bucket)

    async def delete_bucket(self, bucket: str, *, force: bool = False) -> int:
        """Delete ``bucket``; with ``force``, everything in it first. Returns what was deleted.

        Without ``force`` a bucket with objects raises ``BucketNotEmptyError``. With it,
        every object, old version, delete marker and pending upload goes too.
        """
        deleted = await self.store.empty_bucket(bucket) if force else 0
        await self.store.delete_bucket(bucket)
        return deleted

    # -- objects ---------------------------------------------------------------------

    def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, fetched a page at a time."""
        return self.store.iter_objects(bucket, prefix)

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's size, ETag, date and metadata; ``None`` if there is no such key."""
        return await self.store.head(bucket, key)

    async def put_file(
        self, bucket: str, key: str, src: StrPath, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Upload a local file (multipart when large); ``acl`` is one of ``CANNED_ACLS``."""
        path = Path(src)
        if not path.is_file():
            if path.exists():
                raise errors.UsageError(f"not a file: {path}")
            raise errors.NotFoundError(f"no such file: {path}")
        return await self.store.put_file(
            bucket, key, path, acl=acl_or_none(acl), content_type=content_type
        )

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return await self.store.put_bytes(
            bucket, key, data, acl=acl_or_none(acl), content_type=content_type
        )

    async def put_text(
        self, bucket: str, key: str, text: str, *, acl: str | None = None
    ) -> ObjectInfo:
        """Upload ``text`` as UTF-8, ``text/plain``."""
        return await self.put_bytes(
            bucket, key, text.encode("utf-8"), acl=acl, content_type="text/plain; charset=utf-8"
        )

    async def put_stream(
        self, bucket: str, key: str, stream: IO[bytes], *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Upload what a binary stream yields until EOF (multipart when large)."""
        return await self.store.put_stream(
            bucket, key, stream, acl=acl_or_none(acl), content_type=content_type
        )

    async def set_acl(self, bucket: str, key: str, acl: str) -> None:
        """Apply a canned ACL (one of ``CANNED_ACLS``) to an existing object."""
        await self.store.set_acl(bucket, key, check_acl(acl))

    async def download(self, bucket: str, key: str, dest: StrPath) -> ObjectInfo:
        """Write the object to ``dest`` atomically: a temp file renamed into place."""
        target = Path(dest)
        if target.is_dir():
            raise errors.UsageError(f"{target} is a folder; give the file name to write")
        if not target.parent.is_dir():
            raise errors.NotFoundError(f"folder does not exist: {target.parent}")
        tmp, info, _ = await self.store.download_to_temp(bucket, key, target)
        try:
            # The temp file is created 0600 so nobody reads it half-written; the finished
            # file gets the mode `cp` would give it: the old file's, else 0666 less umask.
            os.chmod(tmp, new_file_mode(target))
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise errors.LocalIOError(f"cannot write {target}: {exc.strerror}") from exc
        return info

    async def download_stream(
        self, bucket: str, key: str, out: Callable[[bytes], object]
    ) -> ObjectInfo:
        """Hand the object's bytes to ``out`` chunk by chunk (e.g. ``file.write``)."""
        return await self.store.stream_to(bucket, key, out)

    async def get_bytes(self, bucket: str, key: str) -> bytes:
        """The whole object in memory: for small objects."""
        chunks: list[bytes] = []
        await self.store.stream_to(bucket, key, chunks.append)
        return b"".join(chunks)

    async def get_text(self, bucket: str, key: str) -> str:
        return (await self.get_bytes(bucket, key)).decode("utf-8")

    async def delete(self, bucket: str, *keys: str) -> None:
        """Delete objects. As in S3, a key that does not exist is not an error."""
        failures = await self.store.delete_many(bucket, list(keys))
        if failures:
            first = failures[0]
            raise errors.S3SyncError(f"could not delete s3://{bucket}/{first.key}: {first.code}")

    async def url(
        self, bucket: str, key: str, *, signed: bool = True, expires: int = 3600
    ) -> str:
        """A download URL: presigned for ``expires`` seconds, or the plain path-style URL.

        An unsigned URL only opens objects anyone may read (``public-read``).
        """
        if not 1 <= expires <= MAX_EXPIRES:
            raise errors.UsageError(f"expires must be 1 to {MAX_EXPIRES} seconds (7 days, S3's limit): {expires}")
        if not signed:
            return self.store.unsigned_url(bucket, key)
        return await self.store.presign(bucket, key, expires)

    # -- sync ------------------------------------------------------------------------

    async def sync(
        self,
        local: StrPath,
        remote: str,
        *,
        mode: Mode = "both",
        no_delete: bool = False,
        conflict: ConflictPolicy = "keep-both",
        max_delete: int | str = "50%",
        exclude: Sequence[str] = (),
        checksum: bool = False,
        follow_symlinks: bool = False,
        links: bool = False,
        trash: bool = True,
        permissions: bool = True,
        empty_dirs: bool = False,
        content_type: ContentTypes = "guess",
        concurrency: int = 64,
        dry_run: bool = False,
        force: bool = False,
        wait: bool = False,
        state_dir: StrPath | None = None,
        name: str | None = None,
    ) -> SyncSummary:
        """One sync of the folder ``local`` with ``remote`` (``s3://BUCKET[/PREFIX]``).

        The options are ``s3sync sync``'s, with its defaults. Failed actions do not raise:
        they are in ``failures`` (the rest of the sync still ran). Raises ``SafetyAbort``
        when a rail refuses the plan (nothing changed; ``force=True`` lifts the rails),
        ``LockedError`` when another process syncs the same pair (``wait=True`` waits),
        ``UsageError`` for a bad option, ``NotFoundError`` for a missing bucket.
        Transfers beyond the client's ``max_pool_connections`` wait for a connection, so
        raise that too when raising ``concurrency`` above its default.
        """
        spec = pair_spec(
            local,
            remote,
            name=name,
            mode=mode,
            no_delete=no_delete,
            conflict=conflict,
            max_delete=str(max_delete),
            # A lone pattern is a str, itself a Sequence[str]: do not split it into letters.
            exclude=(exclude,) if isinstance(exclude, str) else tuple(exclude),
            checksum=checksum,
            follow_symlinks=follow_symlinks,
            links=links,
            trash=trash,
            permissions=permissions,
            empty_dirs=empty_dirs,
            content_type=content_type,
            concurrency=concurrency,
        )
        result = await self.run_pair(spec, state_dir, dry_run=dry_run, force=force, wait=wait)
        return summarize(result)

    async def run_pair(
        self,
        spec: PairSpec,
        state_dir: StrPath | None = None,
        *,
        dry_run: bool = False,
        force: bool = False,
        wait: bool = False,
        on_plan: OnPlan | None = None,
    ) -> Result:
        """One sync of a prepared pair, returning the engine's own ``Result``.

        The level under ``sync`` that the CLI uses for config pairs (it needs the plan
        and a progress hook). ``PairSpec``/``Result`` are engine types, not the stable API.
        """
        states = Path(state_dir).expanduser() if state_dir is not None else state_dir_default()
        preflight.state_dir(states)
        db = states / f"{pair_id(spec.local_root, self.store.conn.endpoint_url, spec.bucket, spec.prefix)}.db"
        preflight.local_root(spec.local_root, db)
        runner = PairSync(self.store, spec, states, dry_run=dry_run, force=force, wait=wait,
                          on_plan=on_plan)
        return await runner.run()
