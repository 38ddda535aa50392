"""What the toolbox does when something is wrong: one line on stderr naming the thing,
exit 2 for usage errors and 1 for the rest, no traceback, and no file left behind."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tests.conftest import Cli, needs, one_error_line
from tests.s3server import S3Server, free_port


def missing_bucket_name() -> str:
    return f"s3sync-missing-{uuid.uuid4().hex[:16]}"


def test_missing_bucket(cli: Cli, tmp_path: Path) -> None:
    name = missing_bucket_name()
    (tmp_path / "src.txt").write_text("x")

    line = one_error_line(cli("ls", f"s3://{name}/some/prefix"), 1)
    assert line == f"s3sync: error: bucket does not exist: {name}"
    dest = tmp_path / "dest.txt"
    one_error_line(cli("get", f"s3://{name}/k", str(dest)), 1, name)
    assert sorted(os.listdir(tmp_path)) == ["src.txt"]  # no dest, no temp file


def test_missing_key_leaves_no_file(cli: Cli, bucket: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.txt").write_text("untouched")

    result = cli("get", f"s3://{bucket}/no/such key", str(out / "wanted.txt"))
    one_error_line(result, 1, f"s3://{bucket}/no/such key")
    assert sorted(os.listdir(out)) == ["other.txt"]
    assert (out / "other.txt").read_text() == "untouched"

    piped = cli("get", f"s3://{bucket}/no/such key", "-")
    one_error_line(piped, 1, f"s3://{bucket}/no/such key")
    assert piped.out_bytes == b""


def test_access_denied_with_a_wrong_secret_key(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    needs(s3server, "signature_check")
    s3server.client().put_object(Bucket=bucket, Key="k", Body=b"secret data")
    wrong = {"AWS_SECRET_ACCESS_KEY": "wrong-" + s3server.secret_key}

    line = one_error_line(cli("ls", f"s3://{bucket}", env=wrong), 1, bucket)
    assert wrong["AWS_SECRET_ACCESS_KEY"] not in line
    dest = tmp_path / "k.txt"
    one_error_line(cli("get", f"s3://{bucket}/k", str(dest), env=wrong), 1, f"s3://{bucket}/k")
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unreachable_endpoint(cli: Cli, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # bound, then closed: nobody listens
    dest = tmp_path / "dest.txt"
    result = cli("get", "s3://some-bucket/k", str(dest), "--endpoint-url", endpoint)
    one_error_line(result, 1, "cannot reach", endpoint)
    assert not dest.exists()
    assert sorted(os.listdir(tmp_path)) == []


def test_malformed_s3_urls_are_usage_errors(cli: Cli, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("x")
    one_error_line(cli("ls", f"{bucket}/no-scheme"), 2, f"{bucket}/no-scheme", "s3://")
    # A bucket but no key, where an object is needed.
    one_error_line(cli("put", str(src), f"s3://{bucket}/"), 2, f"s3://{bucket}/")
    assert sorted(os.listdir(tmp_path)) == ["src.txt"]


def test_bad_endpoint_url_and_region_are_usage_errors(cli: Cli, bucket: str) -> None:
    one_error_line(cli("ls", f"s3://{bucket}", "--endpoint-url", "ftp://example"), 2, "ftp://example")
    from_env = cli("ls", f"s3://{bucket}", env={"AWS_ENDPOINT_URL": "http://[::1"})
    one_error_line(from_env, 2, "http://[::1")
    one_error_line(cli("ls", f"s3://{bucket}", "--region", "no such region"), 2, "no such region")


def test_put_of_a_missing_or_non_file_source(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    one_error_line(cli("put", str(tmp_path / "absent.txt"), f"s3://{bucket}/k"), 1, "absent.txt")
    one_error_line(cli("put", str(tmp_path), f"s3://{bucket}/k"), 2, str(tmp_path))
    assert s3server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
