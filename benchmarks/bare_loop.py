"""The bare aioboto3 loop: the library's own limit, for comparison with s3sync.

    python benchmarks/bare_loop.py push|pull LOCAL_DIR s3://BUCKET/PREFIX --endpoint-url URL

It is deliberately naive: one client with a 64-connection pool, 64 worker
coroutines, one put_object/get_object per file, and a "diff" that is just a
listing of both sides compared by size. Anything s3sync does on top of this
(state, hashing, conflict handling) is overhead measured against it.
Credentials and region come from the usual AWS_* environment variables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import aioboto3
from botocore.config import Config

CONCURRENCY = 64
# Above this size a single PUT/GET would hold the whole file in memory, so the
# client's managed (multipart, streaming) transfer is used instead.
MANAGED_TRANSFER_BYTES = 8 * 1024 * 1024

Job = Callable[[], Awaitable[None]]


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split s3://bucket/prefix into (bucket, prefix without trailing slash)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def key_for(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def list_local(root: Path) -> dict[str, int]:
    """Relative POSIX path -> size for every regular file under root."""
    sizes: dict[str, int] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            sizes[path.relative_to(root).as_posix()] = path.stat().st_size
    return sizes


async def list_remote(client: object, bucket: str, prefix: str) -> dict[str, int]:
    """Relative key -> size for every object under prefix."""
    start = f"{prefix}/" if prefix else ""
    sizes: dict[str, int] = {}
    paginator = client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    async for page in paginator.paginate(Bucket=bucket, Prefix=start):
        for obj in page.get("Contents", []):
            sizes[obj["Key"][len(start) :]] = obj["Size"]
    return sizes


async def run_pool(jobs: Iterable[Job], workers: int) -> None:
    """Run jobs on a fixed number of coroutines (not one task per file), so
    100,000 files cost 64 coroutines, like a real bounded worker pool."""
    shared = iter(jobs)

    async def worker() -> None:
        # Safe without a lock: next() never awaits, so no two workers interleave in it.
        for job in shared:
            await job()

    await asyncio.gather(*(worker() for _ in range(workers)))


def upload_job(client: object, path: Path, bucket: str, key: str, size: int) -> Job:
    async def job() -> None:
        if size >= MANAGED_TRANSFER_BYTES:
            await client.upload_file(str(path), bucket, key)  # type: ignore[attr-defined]
        else:
            await client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())  # type: ignore[attr-defined]

    return job


def download_job(client: object, path: Path, bucket: str, key: str, size: int) -> Job:
    async def job() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if size >= MANAGED_TRANSFER_BYTES:
            await client.download_file(bucket, key, str(path))  # type: ignore[attr-defined]
            return
        response = await client.get_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
        async with response["Body"] as body:
            path.write_bytes(await body.read())

    return job


async def sync(direction: str, root: Path, bucket: str, prefix: str, endpoint: str) -> int:
    """Copy every file whose size differs (or is missing) on the other side."""
    config = Config(max_pool_connections=CONCURRENCY)
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=endpoint, config=config) as client:
        remote = await list_remote(client, bucket, prefix)
        local = list_local(root)
        if direction == "push":
            todo = {rel: size for rel, size in local.items() if remote.get(rel) != size}
            make = upload_job
        else:
            todo = {rel: size for rel, size in remote.items() if local.get(rel) != size}
            make = download_job
        jobs = (make(client, root / rel, bucket, key_for(prefix, rel), size) for rel, size in todo.items())
        await run_pool(jobs, CONCURRENCY)
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("direction", choices=["push", "pull"])
    parser.add_argument("local", type=Path)
    parser.add_argument("remote", help="s3://BUCKET/PREFIX")
    parser.add_argument("--endpoint-url", required=True)
    args = parser.parse_args(argv)
    bucket, prefix = parse_s3_url(args.remote)
    args.local.mkdir(parents=True, exist_ok=True)
    copied = asyncio.run(sync(args.direction, args.local, bucket, prefix, args.endpoint_url))
    print(f'{{"copied": {copied}}}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
