"""Every row of the toolbox table (issue 2), end to end: the CLI in a subprocess against
the session's real S3 server. Objects are set up and checked with boto3, not the CLI."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from s3sync import __version__
from tests.conftest import Cli, needs, one_error_line
from tests.s3server import S3Server, force_delete

S3_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# Spaces, '+', a literal '%20', unicode from three planes: each breaks a naive encoder.
AWKWARD_KEY = "dir/a b+c%20d ü €😀.txt"


def seed_time(moment: datetime) -> str:
    """The seed page's format, computed independently of s3sync's own helper."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


def bucket_exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


def unsigned_url(s3server: S3Server, bucket: str, key: str) -> str:
    """ENDPOINT/BUCKET/KEY, path-style, the key URL-encoded: no raw space or '+' left
    for a server to misread, and a literal '%' encoded too."""
    return f"{s3server.endpoint}/{bucket}/" + quote(key, safe="/~")


def operations(verbose_log: str) -> list[str]:
    """The S3 operations a ``-v`` run made, from botocore's debug lines."""
    return re.findall(r"Making request for OperationModel\(name=(\w+)\)", verbose_log)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- buckets, mb, rb -------------------------------------------------------------------


def test_mb_then_buckets_lists_it_with_its_creation_time_then_rb_deletes_it(
    cli: Cli, s3server: S3Server
) -> None:
    s3 = s3server.client()
    name = f"t-mb-{uuid.uuid4().hex[:16]}"
    try:
        made = cli("mb", name)
        assert (made.code, made.out) == (0, ""), made.err
        assert bucket_exists(s3, name)

        listing = cli("buckets")
        assert listing.code == 0, listing.err
        rows: dict[str, str] = {}
        for line in listing.out.splitlines():
            bucket_name, created = line.split("\t")
            assert S3_TIME.match(created), line
            rows[bucket_name] = created
        created_at = next(b["CreationDate"] for b in s3.list_buckets()["Buckets"] if b["Name"] == name)
        assert rows[name] == seed_time(created_at)

        removed = cli("rb", name)
        assert (removed.code, removed.out) == (0, ""), removed.err
        assert not bucket_exists(s3, name)
    finally:
        force_delete(s3server, name)


def test_rb_refuses_a_non_empty_bucket_and_deletes_nothing(
    cli: Cli, s3server: S3Server, bucket: str
) -> None:
    s3 = s3server.client()
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"keep")
    one_error_line(cli("rb", bucket), 1, bucket, "not empty")
    assert s3.get_object(Bucket=bucket, Key="keep.txt")["Body"].read() == b"keep"


def test_rb_force_deletes_versions_delete_markers_and_pending_uploads(
    cli: Cli, s3server: S3Server, bucket: str
) -> None:
    needs(s3server, "versioning")
    s3 = s3server.client()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"22", b"333"):
        s3.put_object(Bucket=bucket, Key="k", Body=body)
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone")  # only a version and a delete marker left
    s3.delete_object(Bucket=bucket, Key="k")
    s3.put_object(Bucket=bucket, Key="live/obj", Body=b"y")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pending")
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    versions = s3.list_object_versions(Bucket=bucket)
    assert (len(versions["Versions"]), len(versions["DeleteMarkers"])) == (5, 2)
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1

    # -v shows the requests: the servers at hand delete a bucket with an upload still
    # pending, so only the log tells whether it was aborted first (not leaked).
    result = cli("rb", bucket, "--force", "-v")
    assert (result.code, result.out) == (0, ""), result.err
    assert not bucket_exists(s3, bucket)
    assert operations(result.err).count("AbortMultipartUpload") == 1


# -- ls --------------------------------------------------------------------------------


def test_ls_prints_key_size_modified_for_every_key_under_the_prefix(
    cli: Cli, s3server: S3Server, bucket: str
) -> None:
    s3 = s3server.client()
    bodies = {"a/1.txt": b"1", "a/2.txt": b"22" * 11, "a/b/3.txt": b"", "ab.txt": b"ab", "b/1.txt": b"b"}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    modified = {o["Key"]: o["LastModified"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}

    def expected(*keys: str) -> str:
        return "".join(f"{k}\t{len(bodies[k])}\t{seed_time(modified[k])}\n" for k in keys)

    whole = cli("ls", f"s3://{bucket}")
    assert (whole.code, whole.err) == (0, "")
    assert whole.out == expected("a/1.txt", "a/2.txt", "a/b/3.txt", "ab.txt", "b/1.txt")
    # A prefix is a prefix of the key, not a folder name; and everything below it.
    prefix = cli("ls", f"s3://{bucket}/a")
    assert (prefix.code, prefix.err) == (0, "")
    assert prefix.out == expected("a/1.txt", "a/2.txt", "a/b/3.txt", "ab.txt")


def test_ls_pages_past_1000_keys_and_rb_force_deletes_them_all(
    cli: Cli, s3server: S3Server, bucket: str
) -> None:
    s3 = s3server.client()
    keys = [f"many/{i:05d}" for i in range(1010)]  # just past one page of 1000
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"."), keys))
    s3.put_object(Bucket=bucket, Key="other", Body=b"not listed")

    listing = cli("ls", f"s3://{bucket}/many/")
    assert listing.code == 0, listing.err
    lines = listing.out.splitlines()
    assert [line.split("\t")[0] for line in lines] == keys
    assert all(line.split("\t")[1] == "1" for line in lines)

    removed = cli("rb", bucket, "--force", "-v")
    assert removed.code == 0, removed.err
    assert not bucket_exists(s3, bucket)
    assert operations(removed.err).count("DeleteObjects") == 2  # batches of up to 1000


# -- put, acl --------------------------------------------------------------------------


def test_put_from_a_file_and_from_stdin_with_acl_and_content_type(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3 = s3server.client()
    src = tmp_path / "report.bin"
    src.write_bytes(os.urandom(3000))

    from_file = cli(
        "put", str(src), f"s3://{bucket}/docs/report.bin",
        "--acl", "public-read", "--content-type", "application/x-s3sync-test",
    )
    assert (from_file.code, from_file.out) == (0, ""), from_file.err
    head = s3.head_object(Bucket=bucket, Key="docs/report.bin")
    assert head["ContentType"] == "application/x-s3sync-test"
    assert head["ContentLength"] == 3000
    assert s3.get_object(Bucket=bucket, Key="docs/report.bin")["Body"].read() == src.read_bytes()

    from_stdin = cli(
        "put", "-", f"s3://{bucket}/piped.txt", "--content-type", "text/plain; charset=utf-8",
        input=b"from a pipe\n",
    )
    assert (from_stdin.code, from_stdin.out) == (0, ""), from_stdin.err
    head = s3.head_object(Bucket=bucket, Key="piped.txt")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert s3.get_object(Bucket=bucket, Key="piped.txt")["Body"].read() == b"from a pipe\n"

    if s3server.supports("anonymous_acl"):  # else the server ignores canned ACLs
        assert http_get(unsigned_url(s3server, bucket, "docs/report.bin"))[0] == 200
        assert http_get(unsigned_url(s3server, bucket, "piped.txt"))[0] == 403


def test_acl_opens_and_closes_anonymous_reads_through_the_unsigned_url(
    cli: Cli, s3server: S3Server, bucket: str
) -> None:
    needs(s3server, "anonymous_acl")
    s3 = s3server.client()
    s3.put_object(Bucket=bucket, Key=AWKWARD_KEY, Body=b"for everyone", ACL="private")

    url = unsigned_url(s3server, bucket, AWKWARD_KEY)  # what `url --unsigned` prints (tested below)
    assert http_get(url)[0] == 403

    opened = cli("acl", f"s3://{bucket}/{AWKWARD_KEY}", "public-read")
    assert (opened.code, opened.out) == (0, ""), opened.err
    assert http_get(url) == (200, b"for everyone")

    closed = cli("acl", f"s3://{bucket}/{AWKWARD_KEY}", "private")
    assert closed.code == 0, closed.err
    assert http_get(url)[0] == 403


# -- get, rm ---------------------------------------------------------------------------


def test_get_to_a_file_and_to_stdout(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    s3server.client().put_object(Bucket=bucket, Key="data.bin", Body=data)
    out = tmp_path / "out"
    out.mkdir()

    # (A new file is written in test_awkward_key_round_trips...: here, an existing one.)
    old = out / "old.bin"
    old.write_bytes(b"old content")
    old.chmod(0o640)
    replaced = cli("get", f"s3://{bucket}/data.bin", str(old))
    assert (replaced.code, replaced.out) == (0, ""), replaced.err
    assert old.read_bytes() == data
    assert stat.S_IMODE(old.stat().st_mode) == 0o640  # the file keeps its mode
    assert os.listdir(out) == ["old.bin"]  # no temp file left

    piped = cli("get", f"s3://{bucket}/data.bin", "-")
    assert piped.code == 0, piped.err
    assert piped.out_bytes == data


def test_rm_deletes_several_keys_and_only_those(cli: Cli, s3server: S3Server, bucket: str) -> None:
    s3 = s3server.client()
    for key in ("k1", "k2", "with space", "keep"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = cli("rm", f"s3://{bucket}/k1", f"s3://{bucket}/k2", f"s3://{bucket}/with space")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]


# -- keys, URLs, sizes -----------------------------------------------------------------


def test_awkward_key_round_trips_through_put_ls_get_and_a_signed_url(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3 = s3server.client()
    src = tmp_path / "src.txt"
    src.write_bytes("ünïcode body\n".encode())
    url = f"s3://{bucket}/{AWKWARD_KEY}"

    assert cli("put", str(src), url).code == 0
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [AWKWARD_KEY]

    listing = cli("ls", f"s3://{bucket}/dir/")
    assert listing.code == 0, listing.err
    assert listing.out.split("\t")[:2] == [AWKWARD_KEY, str(src.stat().st_size)]

    dest = tmp_path / "dest.txt"
    got = cli("get", url, str(dest))
    assert (got.code, got.out) == (0, ""), got.err
    assert dest.read_bytes() == src.read_bytes()
    # A new file gets the usual mode, not the temp file's private 0600.
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~current_umask()

    signed = cli("url", url)
    assert signed.code == 0, signed.err
    link = signed.out.strip()
    assert link.startswith(unsigned_url(s3server, bucket, AWKWARD_KEY) + "?")
    assert "X-Amz-Expires=3600" in link
    assert http_get(link) == (200, src.read_bytes())

    # Checked here too, where no anonymous access is needed.
    plain = cli("url", "--unsigned", url)
    assert plain.out == unsigned_url(s3server, bucket, AWKWARD_KEY) + "\n"
    assert plain.out.endswith(f"/{bucket}/dir/a%20b%2Bc%2520d%20%C3%BC%20%E2%82%AC%F0%9F%98%80.txt\n")


def test_signed_url_works_then_expires(cli: Cli, s3server: S3Server, bucket: str) -> None:
    needs(s3server, "presign_expiry")
    s3server.client().put_object(Bucket=bucket, Key="k", Body=b"short-lived")
    # Long enough for the first fetch to come in time on a busy machine.
    result = cli("url", f"s3://{bucket}/k", "--expires", "6")
    assert result.code == 0, result.err
    link = result.out.strip()
    assert "X-Amz-Expires=6&" in link
    assert http_get(link) == (200, b"short-lived")
    deadline = time.monotonic() + 30  # generous: the server's clock may be behind ours
    while http_get(link)[0] != 403:
        assert time.monotonic() < deadline, "the signed URL never expired"
        time.sleep(0.25)


def test_20_mib_put_and_get_round_trip_through_multipart(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3 = s3server.client()
    data = os.urandom(20 * 1024 * 1024)
    digest = hashlib.md5(data).hexdigest()
    src = tmp_path / "big.bin"
    src.write_bytes(data)

    assert cli("put", str(src), f"s3://{bucket}/big.bin").code == 0
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert re.search(r"-\d+\"$", head["ETag"]), head["ETag"]  # a multipart upload's ETag

    dest = tmp_path / "back.bin"
    got = cli("get", f"s3://{bucket}/big.bin", str(dest))
    assert got.code == 0, got.err
    assert hashlib.md5(dest.read_bytes()).hexdigest() == digest

    piped = cli("put", "-", f"s3://{bucket}/piped.bin", input=data)
    assert piped.code == 0, piped.err
    head = s3.head_object(Bucket=bucket, Key="piped.bin")
    assert re.search(r"-\d+\"$", head["ETag"]), head["ETag"]
    body = s3.get_object(Bucket=bucket, Key="piped.bin")["Body"].read()
    assert hashlib.md5(body).hexdigest() == digest


# -- entry points ----------------------------------------------------------------------


def test_python_m_help_lists_every_toolbox_command(cli: Cli) -> None:
    result = cli("--help")
    assert (result.code, result.err) == (0, "")
    listed = set(re.findall(r"^  (\w+)\s", result.out, re.M))
    assert {"buckets", "mb", "ls", "rb", "put", "acl", "get", "rm", "url"} <= listed


def test_console_script_version(cli: Cli) -> None:
    script = Path(sys.executable).with_name("s3sync")
    if not script.exists():
        pytest.skip("the s3sync console script is not installed beside this Python")
    proc = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=cli.env(), timeout=60
    )
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, f"s3sync, version {__version__}", "")
