"""The lean request path must sign exactly as botocore does (moto checks no signatures)."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from s3sync.adapters.s3.lean import Credentials, FastS3, canonical_query_string


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


def test_a_listing_query_is_signed_as_botocore_signs_it() -> None:
    query = {
        "list-type": "2", "prefix": "a b/ü+%~", "encoding-type": "url", "max-keys": "1000",
        "continuation-token": "1/x+y==",
    }
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/bucket", params=query)
    S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "secret"), "s3", "us-east-1").add_auth(request)
    signed_at = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)

    fast = FastS3(mock.Mock(), "http://127.0.0.1:9000", "us-east-1", None, 1)
    ours = fast._sign(
        "GET", "/bucket", b"", {}, Credentials("AKIDEXAMPLE", "secret"), now=signed_at,
        query=canonical_query_string(query),
    )

    assert ours["authorization"] == request.headers["Authorization"]
