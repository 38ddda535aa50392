from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli


def test_put_ls_get_round_trip(cli: Cli, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_bytes(b"Hello World!")
    assert cli("put", str(src), f"s3://{bucket}/hello.txt").code == 0
    listing = cli("ls", f"s3://{bucket}")
    assert listing.code == 0
    key, size, modified = listing.out.strip().split("\t")
    assert (key, size) == ("hello.txt", "12")
    assert modified.endswith("Z")
    assert len(modified) == len("2011-04-21T18:05:39.000Z")
    dest = tmp_path / "copy.txt"
    assert cli("get", f"s3://{bucket}/hello.txt", str(dest)).code == 0
    assert dest.read_bytes() == b"Hello World!"


def test_missing_bucket_is_one_line_and_exit_1(cli: Cli) -> None:
    result = cli("ls", "s3://no-such-bucket-s3sync")
    assert result.code == 1
    assert result.err.strip() == "s3sync: error: bucket does not exist: no-such-bucket-s3sync"
    assert "Traceback" not in result.err
