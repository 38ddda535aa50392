"""The public Python API: the toolbox of the Ceph "Python S3 Examples" page, and sync.

``AsyncClient`` is the implementation; ``Client`` runs it on a private event loop for
scripts. The CLI is a thin layer over ``AsyncClient``: there is one code path per
operation (``s3sync sync`` goes through ``AsyncClient.run_pair``, as ``sync`` does).
Results are frozen dataclasses; every error raised on purpose is an
``s3sync.errors.S3SyncError``, never a botocore exception.

Stable names: ``Client``, ``AsyncClient``, ``SyncSummary``, ``SyncFailure``,
``PlannedChange`` and ``CANNED_ACLS`` here, ``Bucket``/``ObjectInfo`` from the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, ParamSpec, Self, TypeVar

import structlog

from s3sync import config, errors, preflight
from s3sync.adapters.s3 import Connection, S3Store, resolve_endpoint
from s3sync.adapters.statedb import pair_id, state_dir_default
from s3sync.config import ConflictPolicy, Mode
from s3sync.core.model import Bucket, ObjectInfo
from s3sync.core.paths import BadS3Url, parse_s3_url
from s3sync.core.plan import Plan
from s3sync.engine import PairSpec, PairSync, Result

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
]

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


# -- results -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncFailure:
    """One action of a sync that failed; the rest of the sync still ran."""

    path: str  # relative to the pair's folder and prefix, with / separators
    action: str  # upload, download, delete_local, delete_remote, conflict
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """What a dry run would do to one path, and why."""

    action: str
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """The outcome of one sync of a pair: what ``s3sync sync --json`` prints, typed.

    In a dry run the counts are what the plan would do, no bytes move, and ``planned``
    lists the changes; after a real run ``planned`` is empty.
    """

    pair: str
    dry_run: bool
    uploaded: int
    downloaded: int
    deleted_local: int
    deleted_remote: int
    conflicts: int
    skipped: int
    failed: int
    bytes_up: int
    bytes_down: int
    seconds: float
    conflict_copies: tuple[str, ...] = ()
    failures: tuple[SyncFailure, ...] = ()
    planned: tuple[PlannedChange, ...] = ()
    metadata: int = 0  # files whose permissions alone were carried over, no data moved

    @property
    def ok(self) -> bool:
        """No action failed (the CLI's exit code 0)."""
        return not self.failures

    @property
    def changes(self) -> int:
        """Files moved, deleted or resolved (done, or planned in a dry run)."""
        return (self.uploaded + self.downloaded + self.deleted_local + self.deleted_remote
                + self.conflicts + self.metadata)


def summarize(result: Result) -> SyncSummary:
    """The engine's ``Result`` as the public value: a copy, so it cannot change later."""
    counts = result.tally.counts
    return SyncSummary(
        pair=result.pair,
        dry_run=result.dry_run,
        uploaded=counts.get("upload", 0),
        downloaded=counts.get("download", 0),
        deleted_local=counts.get("delete_local", 0),
        deleted_remote=counts.get("delete_remote", 0),
        conflicts=counts.get("conflict", 0),
        # As in Result.summary(): paths the executor skipped plus paths no side could map.
        skipped=counts.get("skipped", 0) + len(result.skipped),
        failed=counts.get("failed", 0),
        bytes_up=result.tally.bytes_up,
        bytes_down=result.tally.bytes_down,
        seconds=result.seconds,
        conflict_copies=tuple(sorted(result.tally.conflict_copies)),
        failures=tuple(SyncFailure(f.rel, f.action, f.reason) for f in result.tally.failures),
        planned=tuple(
            PlannedChange(a.action, a.rel, a.reason) for a in result.plan.changes()
        ) if result.plan is not None else (),
        metadata=counts.get("metadata", 0),
    )


# -- connection ----------------------------------------------------------------------


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


def _library_logging() -> None:
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


# -- the async client ----------------------------------------------------------------


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
        _library_logging()
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
            bucket, key, path, acl=_acl_or_none(acl), content_type=content_type
        )

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return await self.store.put_bytes(
            bucket, key, data, acl=_acl_or_none(acl), content_type=content_type
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
            bucket, key, stream, acl=_acl_or_none(acl), content_type=content_type
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
            os.chmod(tmp, _mode_for(target))
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


def _acl_or_none(acl: str | None) -> str | None:
    # Checked here so a typo is a UsageError before any bytes are sent.
    return None if acl is None else check_acl(acl)


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)  # the only way to read the umask: set it, then restore it
        os.umask(mask)
        return 0o666 & ~mask


async def _next(items: AsyncIterator[T]) -> T | None:
    # A coroutine (which asyncio.Runner.run requires), ending in None, not an exception.
    return await anext(items, None)


# -- the sync facade -----------------------------------------------------------------


class Client:
    """The synchronous face of ``AsyncClient``, for scripts.

    ``with Client(...) as s3:`` closes it at the end; ``s3 = Client(...)`` opens on first
    use and needs ``s3.close()``. It runs a private event loop, so it cannot be used
    inside a running one (use ``AsyncClient`` there), nor from several threads at once.
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
        self._async = AsyncClient(
            endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            profile=profile,
            verify=verify,
            addressing_style=addressing_style,
            max_pool_connections=max_pool_connections,
            conn=conn,
        )
        self._runner: asyncio.Runner | None = None
        self._closed = False

    def __enter__(self) -> Self:
        self._open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and the loop; the client cannot be used again."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            runner.run(self._async.__aexit__(None, None, None))
        finally:
            runner.close()

    def _open(self) -> asyncio.Runner:
        if self._runner is not None:
            return self._runner
        if self._closed:
            # Re-opening silently after `with` would leak a pool nobody closes.
            raise errors.UsageError("this Client is closed; make a new one")
        _no_running_loop()
        runner = asyncio.Runner()
        try:
            runner.run(self._async.__aenter__())
        except BaseException:
            runner.close()
            raise
        self._runner = runner
        return runner

    def _call(
        self, method: Callable[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # Open (and check for a running loop) before the coroutine exists, so a failure
        # here never leaves a coroutine that was not awaited.
        runner = self._open()
        return runner.run(method(*args, **kwargs))

    # Each method below is AsyncClient's, run to completion; see there for the details.

    def buckets(self) -> list[Bucket]:
        return self._call(self._async.buckets)

    def create_bucket(self, bucket: str) -> None:
        self._call(self._async.create_bucket, bucket)

    def delete_bucket(self, bucket: str, *, force: bool = False) -> int:
        return self._call(self._async.delete_bucket, bucket, force=force)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        self._open()
        pages = self._async.list(bucket, prefix)
        try:
            while (item := self._call(_next, pages)) is not None:
                yield item
        finally:
            # Stopping early (break) must not leave the listing's request open.
            close = getattr(pages, "aclose", None)
            if close is not None and self._runner is not None:
                with contextlib.suppress(RuntimeError):  # finalised inside another call
                    self._runner.run(close())

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        return self._call(self._async.head, bucket, key)

    def put_file(
        self, bucket: str, key: str, src: StrPath, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return self._call(self._async.put_file, bucket, key, src, acl=acl,
                          content_type=content_type)

    def put_bytes(
        self, bucket: str, key: str, data: bytes, *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return self._call(self._async.put_bytes, bucket, key, data, acl=acl,
                          content_type=content_type)

    def put_text(self, bucket: str, key: str, text: str, *, acl: str | None = None) -> ObjectInfo:
        return self._call(self._async.put_text, bucket, key, text, acl=acl)

    def put_stream(
        self, bucket: str, key: str, stream: IO[bytes], *, acl: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        return self._call(self._async.put_stream, bucket, key, stream, acl=acl,
                          content_type=content_type)

    def set_acl(self, bucket: str, key: str, acl: str) -> None:
        self._call(self._async.set_acl, bucket, key, acl)

    def download(self, bucket: str, key: str, dest: StrPath) -> ObjectInfo:
        return self._call(self._async.download, bucket, key, dest)

    def download_stream(
        self, bucket: str, key: str, out: Callable[[bytes], object]
    ) -> ObjectInfo:
        return self._call(self._async.download_stream, bucket, key, out)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return self._call(self._async.get_bytes, bucket, key)

    def get_text(self, bucket: str, key: str) -> str:
        return self._call(self._async.get_text, bucket, key)

    def delete(self, bucket: str, *keys: str) -> None:
        self._call(self._async.delete, bucket, *keys)

    def url(self, bucket: str, key: str, *, signed: bool = True, expires: int = 3600) -> str:
        return self._call(self._async.url, bucket, key, signed=signed, expires=expires)

    def sync(
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
        concurrency: int = 64,
        dry_run: bool = False,
        force: bool = False,
        wait: bool = False,
        state_dir: StrPath | None = None,
        name: str | None = None,
    ) -> SyncSummary:
        return self._call(
            self._async.sync, local, remote, mode=mode, no_delete=no_delete,
            conflict=conflict, max_delete=max_delete, exclude=exclude, checksum=checksum,
            follow_symlinks=follow_symlinks, links=links, trash=trash, permissions=permissions, empty_dirs=empty_dirs,
            concurrency=concurrency,
            dry_run=dry_run, force=force, wait=wait, state_dir=state_dir, name=name,
        )


def _no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise errors.UsageError(
        "Client runs its own event loop and cannot be used inside a running one; "
        "use AsyncClient with 'async with' there"
    )
