"""Back a folder up to a bucket with the s3sync API, then show what the bucket holds.

    python examples/api_example.py FOLDER s3://BUCKET[/PREFIX] [--create] [--dry-run]

The connection comes from the environment, as for the ``s3sync`` command:
AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
Exit codes follow ``s3sync sync``: 0 done, 1 some files failed or an error, 2 bad
arguments, 3 a safety rail refused the plan.

The test suite runs this against its S3 server and type-checks it with mypy --strict.
"""

from __future__ import annotations

import argparse
import sys

from s3sync import Client, ObjectInfo, SyncSummary
from s3sync.errors import NotFoundError, S3SyncError, SafetyAbort


def backup(s3: Client, folder: str, remote: str, *, create: bool, dry_run: bool) -> SyncSummary:
    bucket = remote.removeprefix("s3://").split("/", 1)[0]
    if create and bucket not in {b.name for b in s3.buckets()}:
        s3.create_bucket(bucket)
    # A backup: the bucket follows the folder, but files deleted locally stay in the bucket.
    return s3.sync(folder, remote, mode="push", no_delete=True, exclude=["*.tmp"],
                   dry_run=dry_run)


def largest(objects: list[ObjectInfo], count: int = 3) -> list[ObjectInfo]:
    return sorted(objects, key=lambda o: (-o.size, o.key))[:count]


def report(s3: Client, remote: str, summary: SyncSummary) -> None:
    verb = "would upload" if summary.dry_run else "uploaded"
    print(f"{verb} {summary.uploaded} files ({summary.bytes_up} bytes) in {summary.seconds:.2f} s")
    for change in summary.planned:
        print(f"  {change.action} {change.path}: {change.reason}")
    for failure in summary.failures:
        print(f"  failed: {failure.action} {failure.path}: {failure.reason}", file=sys.stderr)
    bucket, _, prefix = remote.removeprefix("s3://").partition("/")
    objects = list(s3.list(bucket, prefix.rstrip("/") + "/" if prefix else ""))
    print(f"{len(objects)} objects, {sum(o.size for o in objects)} bytes under {remote}")
    for obj in largest(objects):
        print(f"  {obj.key}\t{obj.size}\t{obj.modified:%Y-%m-%d %H:%M}")
    if objects:
        # A link to share the biggest file for a day, without making it public.
        print("share:", s3.url(bucket, largest(objects)[0].key, expires=24 * 3600))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder")
    parser.add_argument("remote", help="s3://BUCKET[/PREFIX]")
    parser.add_argument("--create", action="store_true", help="create the bucket if missing")
    parser.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    args = parser.parse_args(argv)
    try:
        with Client() as s3:
            summary = backup(s3, args.folder, args.remote, create=args.create,
                             dry_run=args.dry_run)
            report(s3, args.remote, summary)
    except SafetyAbort as refused:
        print("refused, nothing was changed:", *refused.reasons, sep="\n  ", file=sys.stderr)
        return refused.exit_code
    except NotFoundError as exc:
        print(f"error: {exc} (--create makes a missing bucket)", file=sys.stderr)
        return exc.exit_code
    except S3SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
