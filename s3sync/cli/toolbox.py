"""The everyday S3 commands, one per section of the Ceph "Python S3 Examples" page."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from s3sync.api import CANNED_ACLS, AsyncClient
from s3sync.cli.common import Common, common_options, group, run_async, s3_url
from s3sync.errors import NotFoundError, UsageError

TOOLBOX_ATTEMPTS = 3


def s3_time(moment: datetime) -> str:
    """``2011-04-21T18:05:39.000Z``, the seed page's format."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _client(common: Common) -> AsyncClient:
    cfg = common.load_config()
    common.configure_logging(cfg)
    # One command typed by a person: give up on an unreachable endpoint within seconds
    # (the AWS CLI's 3 attempts), not after the adapter's patient default for syncs.
    return AsyncClient(conn=common.connection(cfg, attempts=TOOLBOX_ATTEMPTS))


@group.command()
@common_options
def buckets(common: Common) -> int:
    """List your buckets: NAME<TAB>CREATED."""

    async def job() -> None:
        async with _client(common) as s3:
            for bucket in await s3.buckets():
                click.echo(f"{bucket.name}\t{s3_time(bucket.created)}")

    run_async(job())
    return 0


@group.command()
@click.argument("bucket")
@common_options
def mb(common: Common, bucket: str) -> int:
    """Create BUCKET."""
    name = s3_url(f"s3://{bucket.removeprefix('s3://')}").bucket

    async def job() -> None:
        async with _client(common) as s3:
            await s3.create_bucket(name)

    run_async(job())
    return 0


@group.command()
@click.argument("bucket")
@click.option("--force", is_flag=True, help="Delete every object, version and pending upload first.")
@common_options
def rb(common: Common, bucket: str, force: bool) -> int:
    """Delete BUCKET (it must be empty unless --force)."""
    name = s3_url(f"s3://{bucket.removeprefix('s3://')}").bucket

    async def job() -> None:
        async with _client(common) as s3:
            await s3.delete_bucket(name, force=force)

    run_async(job())
    return 0


@group.command()
@click.argument("url")
@common_options
def ls(common: Common, url: str) -> int:
    """List objects under s3://BUCKET[/PREFIX]: KEY<TAB>SIZE<TAB>MODIFIED."""
    target = s3_url(url)

    async def job() -> None:
        async with _client(common) as s3:
            await s3.store.bucket_exists(target.bucket)
            out = sys.stdout
            async for obj in s3.list(target.bucket, target.key):
                out.write(f"{obj.key}\t{obj.size}\t{s3_time(obj.modified)}\n")

    run_async(job())
    return 0


@group.command()
@click.argument("source")
@click.argument("url")
@click.option("--acl", type=click.Choice(CANNED_ACLS), help="Canned ACL for the new object.")
@click.option("--content-type", metavar="TYPE", help="Content-Type of the new object.")
@common_options
def put(common: Common, source: str, url: str, acl: str | None, content_type: str | None) -> int:
    """Upload FILE (or - for stdin) to s3://BUCKET/KEY."""
    target = s3_url(url, need_key=True)
    if source != "-" and not Path(source).is_file():
        if Path(source).exists():
            raise UsageError(f"not a file: {source}")
        raise NotFoundError(f"no such file: {source}")

    async def job() -> None:
        async with _client(common) as s3:
            if source == "-":
                await s3.put_stream(target.bucket, target.key, sys.stdin.buffer, acl=acl, content_type=content_type)
            else:
                await s3.put_file(target.bucket, target.key, source, acl=acl, content_type=content_type)

    run_async(job())
    return 0


@group.command()
@click.argument("url")
@click.argument("acl", type=click.Choice(CANNED_ACLS))
@common_options
def acl(common: Common, url: str, acl: str) -> int:
    """Set a canned ACL on s3://BUCKET/KEY."""
    target = s3_url(url, need_key=True)

    async def job() -> None:
        async with _client(common) as s3:
            await s3.set_acl(target.bucket, target.key, acl)

    run_async(job())
    return 0


@group.command()
@click.argument("url")
@click.argument("dest")
@common_options
def get(common: Common, url: str, dest: str) -> int:
    """Download s3://BUCKET/KEY to FILE (atomically) or to stdout with -."""
    target = s3_url(url, need_key=True)

    async def job() -> None:
        async with _client(common) as s3:
            if dest == "-":
                await s3.download_stream(target.bucket, target.key, sys.stdout.buffer.write)
                sys.stdout.buffer.flush()
            else:
                await s3.download(target.bucket, target.key, dest)

    run_async(job())
    return 0


@group.command()
@click.argument("urls", nargs=-1, required=True)
@common_options
def rm(common: Common, urls: tuple[str, ...]) -> int:
    """Delete one or more objects: s3://BUCKET/KEY..."""
    targets = [s3_url(u, need_key=True) for u in urls]

    async def job() -> None:
        async with _client(common) as s3:
            by_bucket: dict[str, list[str]] = {}
            for t in targets:
                by_bucket.setdefault(t.bucket, []).append(t.key)
            for bucket, keys in by_bucket.items():
                await s3.store.bucket_exists(bucket)
                await s3.delete(bucket, *keys)

    run_async(job())
    return 0


@group.command()
@click.argument("url")
@click.option("--expires", type=int, default=3600, show_default=True, help="Seconds a signed URL stays valid (at most 604800, 7 days).")
@click.option("--unsigned", is_flag=True, help="The plain ENDPOINT/BUCKET/KEY URL (for public-read objects).")
@common_options
def url(common: Common, url: str, expires: int, unsigned: bool) -> int:
    """Print a download URL for s3://BUCKET/KEY (presigned unless --unsigned)."""
    target = s3_url(url, need_key=True)

    async def job() -> str:
        async with _client(common) as s3:
            return await s3.url(target.bucket, target.key, signed=not unsigned, expires=expires)

    click.echo(run_async(job()))
    return 0
