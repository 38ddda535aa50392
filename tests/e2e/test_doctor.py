from __future__ import annotations

import json

from tests.conftest import Cli
from tests.s3server import S3Server


def test_doctor_reports_what_the_test_probes_find(cli: Cli, bucket: str, s3server: S3Server) -> None:
    result = cli("doctor", f"s3://{bucket}/some/prefix", "--json")
    assert result.code == 0, result.err
    found = json.loads(result.out)
    assert found["conditional_create"] is s3server.supports("conditional_put")
    assert found["signatures_checked"] is s3server.supports("signature_check")
    assert found["signature_version"] == "s3v4"
    assert found["versioning"] == "off"  # a fresh bucket
    assert found["multipart_etag"].startswith("md5-of-parts-N")
    # The probe cleans up after itself.
    assert s3server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_doctor_table_has_one_line_per_capability(cli: Cli, bucket: str) -> None:
    result = cli("doctor", f"s3://{bucket}")
    assert result.code == 0, result.err
    names = [line.split("\t")[0] for line in result.out.splitlines()]
    assert names == [
        "conditional_create", "conditional_replace", "if_match_quoted", "versioning",
        "checksum_headers", "multipart_etag", "signature_version", "signatures_checked",
    ]


def test_doctor_on_a_missing_bucket_is_one_line(cli: Cli) -> None:
    result = cli("doctor", "s3://no-such-bucket-for-doctor")
    assert result.code == 1
    assert result.err.strip() == "s3sync: error: bucket does not exist: no-such-bucket-for-doctor"
