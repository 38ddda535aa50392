"""The lean request path must sign exactly as botocore does (moto checks no signatures)."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from s3sync.adapters.fasts3 import Credentials, FastS3


@pytest.mark.parametrize(
    ("method", "key", "body", "headers"),
    [
        ("PUT", "dir/a b+%ü~.txt", b"hello", {"Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==", "x-amz-meta-mtime": "1.5", "If-None-Match": "*"}),
        ("GET", "plain.txt", b"", {}),
        ("HEAD", "x/y/z", b"", {}),
        ("DELETE", "del me", b"", {"If-Match": '"abc"'}),
    ],
)
@pytest.mark.parametrize("token", [None, "session-token"])
def test_signature_matches_botocore(
    method: str, key: str, body: bytes, headers: dict[str, str], token: str | None
) -> None:
    path = f"/bucket/{quote(key, safe='/~')}"
    request = AWSRequest(method=method, url=f"http://127.0.0.1:9000{path}", data=body, headers=dict(headers))
    S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "secret/key+x", token), "s3", "eu-west-1").add_auth(request)
    signed_at = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)

    fast = FastS3(mock.Mock(), "http://127.0.0.1:9000", "eu-west-1", None, 1)
    ours = fast._sign(method, path, body, headers, Credentials("AKIDEXAMPLE", "secret/key+x", token), now=signed_at)

    assert ours["authorization"] == request.headers["Authorization"]
