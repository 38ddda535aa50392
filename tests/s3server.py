"""The S3 server the tests talk to: a real server process on 127.0.0.1.

By default the session starts moto's ``moto_server`` on a free port. With
``S3SYNC_TEST_ENDPOINT`` (+ ``S3SYNC_TEST_ACCESS_KEY``/``S3SYNC_TEST_SECRET_KEY``) the
suite runs against that server instead. What a server lacks is found by probing it,
never by its name.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    external: bool
    _features: dict[str, bool] = field(default_factory=dict)

    def client(self, signature_version: str | None = None) -> Any:
        """A boto3 client; ``signature_version="s3v4"`` presigns like s3sync does."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                signature_version=signature_version,
            ),
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3SYNC_"))}
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            PYTHONUNBUFFERED="1",
        )
        return env

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def supports(self, feature: str) -> bool:
        if feature not in self._features:
            self._features[feature] = _PROBES[feature](self)
        return self._features[feature]


def _probe_versioning(server: S3Server) -> bool:
    s3 = server.client()
    bucket = server.new_bucket()
    try:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key="k", Body=b"1")
        s3.put_object(Bucket=bucket, Key="k", Body=b"2")
        return len(s3.list_object_versions(Bucket=bucket).get("Versions", [])) == 2
    except ClientError:
        return False
    finally:
        force_delete(server, bucket)


def _probe_anonymous_acl(server: S3Server) -> bool:
    """Does a public-read object open anonymous GET while a private one stays closed?"""
    s3 = server.client()
    bucket = server.new_bucket()
    try:
        s3.put_object(Bucket=bucket, Key="pub", Body=b"x", ACL="public-read")
        s3.put_object(Bucket=bucket, Key="priv", Body=b"x", ACL="private")
        return _http_status(f"{server.endpoint}/{bucket}/pub") == 200 and _http_status(
            f"{server.endpoint}/{bucket}/priv"
        ) == 403
    except ClientError:
        return False
    finally:
        force_delete(server, bucket)


def _probe_presign_expiry(server: S3Server) -> bool:
    """Does the server refuse a presigned URL whose time is up?"""
    s3 = server.client(signature_version="s3v4")
    bucket = server.new_bucket()
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        params = {"Bucket": bucket, "Key": "k"}
        if _http_status(s3.generate_presigned_url("get_object", Params=params)) != 200:
            return False
        # Signed an hour ago for a minute: expired at once, whatever the clock skew, so
        # the probe needs no waiting (moto, which never expires URLs, would cost 10 s).
        past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(hours=1)
        try:
            with mock.patch("botocore.auth.get_current_datetime", return_value=past):
                old = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
        except AttributeError:  # a botocore that reads the clock elsewhere
            old = None
        if old is not None:
            return _http_status(old) == 403
        url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _http_status(url) == 403:
                return True
            time.sleep(0.5)
        return False
    finally:
        force_delete(server, bucket)


def _probe_conditional_put(server: S3Server) -> bool:
    s3 = server.client()
    bucket = server.new_bucket()
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*")
        try:
            s3.put_object(Bucket=bucket, Key="k", Body=b"y", IfNoneMatch="*")
        except ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        return False
    except ClientError:
        return False
    finally:
        force_delete(server, bucket)


def _probe_conditional_delete(server: S3Server) -> bool:
    """DELETE with a stale If-Match is refused and the object stays (Ceph RGW 16 deletes it)."""
    s3 = server.client()
    bucket = server.new_bucket()
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        try:
            s3.delete_object(Bucket=bucket, Key="k", IfMatch='"' + "0" * 32 + '"')
        except ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        return False
    finally:
        force_delete(server, bucket)


def _probe_signature_check(server: S3Server) -> bool:
    bad = S3Server(server.endpoint, server.access_key, server.secret_key + "x", True)
    try:
        bad.client().list_buckets()
    except ClientError:
        return True
    return False


_PROBES = {
    "versioning": _probe_versioning,
    "anonymous_acl": _probe_anonymous_acl,
    "presign_expiry": _probe_presign_expiry,
    "conditional_put": _probe_conditional_put,
    "conditional_delete": _probe_conditional_delete,
    "signature_check": _probe_signature_check,
}


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def force_delete(server: S3Server, bucket: str) -> None:
    s3 = server.client()
    with contextlib.suppress(ClientError):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            refs = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
            ]
            if refs:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": refs, "Quiet": True})
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for up in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        s3.delete_bucket(Bucket=bucket)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"S3 server exited with {proc.returncode}")
        try:
            _http_status(url)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"S3 server at {url} did not answer within {timeout}s")


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[S3Server]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = free_port()
    log = open(log_dir / "moto_server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_until_answers(endpoint, 30, proc)
        yield S3Server(endpoint, "testing", "testing", external=False)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def test_server(log_dir: Path) -> Iterator[S3Server]:
    endpoint = os.environ.get("S3SYNC_TEST_ENDPOINT")
    if endpoint:
        yield S3Server(
            endpoint,
            os.environ.get("S3SYNC_TEST_ACCESS_KEY", ""),
            os.environ.get("S3SYNC_TEST_SECRET_KEY", ""),
            external=True,
        )
        return
    with moto_server(log_dir) as server:
        yield server
