"""What an endpoint can do, found by asking it — never assumed from a vendor name.

The probe writes a few tiny objects under a random ``.s3sync-probe-`` key beside the
pair's prefix and removes them again. The sync engine remembers the write dialect
(``adapters.dialects``).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bex

from s3sync import errors
from s3sync.adapters.s3.error_table import translate_errors
from s3sync.adapters.s3.wire import Precondition
from s3sync.core.dialect import Dialect
from s3sync.core.own import PROBE_MARKER

if TYPE_CHECKING:
    from s3sync.adapters.s3.store import S3Store

NO_SUCH_ETAG = Precondition(etag="0" * 32)


@dataclass(frozen=True, slots=True)
class Capabilities:
    conditional_create: bool  # PUT with If-None-Match: * refuses an existing key
    conditional_replace: bool  # PUT with If-Match refuses a stale ETag and accepts the current one
    if_match_quoted: bool  # the current ETag is accepted in quotes (RFC 7232) — RGW 16 wants none
    versioning: str  # Enabled | Suspended | off | unsupported
    checksum_headers: bool  # x-amz-checksum-* stored and returned
    multipart_etag: str  # md5-of-parts-N, with "(empty on complete)" where the server omits it
    signature_version: str  # what s3sync signs with
    signatures_checked: bool  # a wrong secret is refused

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def probe_writes(store: S3Store, bucket: str, prefix: str) -> Dialect:
    """Ask the server whether it honours conditional writes and deletes, without side effects
    where it does: a PUT and a DELETE of a key that does not exist, each on the condition
    that it has an ETag nobody has. A server that honours the condition refuses both (412,
    or 404 for the missing key); one that ignores it creates the key (removed at once) and
    answers the DELETE with 204. Versioning is asked only where a condition is missing:
    it is the fallback then.
    """
    key = f"{prefix}{PROBE_MARKER}{secrets.token_hex(6)}"
    try:
        await store.put_bytes(bucket, key, b"s3sync probe", precondition=NO_SUCH_ETAG)
    except (errors.ConflictWriteError, errors.NotFoundError):
        writes = True
    except errors.EndpointError:
        raise
    except errors.S3SyncError:
        writes = False  # NotImplemented, or a 400 for a header the server does not know
    else:
        writes = False
        await _remove_all_versions(await store.botocore_client(), bucket, key)
    try:
        await store.delete(bucket, key + "-d", if_match=NO_SUCH_ETAG)
    except (errors.ConflictWriteError, errors.NotFoundError):
        deletes = True
    except errors.EndpointError:
        raise
    except errors.S3SyncError:
        deletes = False
    else:
        deletes = False
    versioning = False
    if not (writes and deletes):
        versioning = await versioning_enabled(store, bucket)
    return Dialect(writes, deletes, versioning)


def _status(exc: bex.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


async def probe(store: S3Store, bucket: str, prefix: str) -> Capabilities:
    client = await store.botocore_client()
    key = f"{prefix}{PROBE_MARKER}{secrets.token_hex(6)}"
    with translate_errors(f"s3://{bucket}/{prefix}", store.conn.where()):
        first = await client.put_object(Bucket=bucket, Key=key, Body=b"probe-1")
        try:
            etag = str(first["ETag"]).strip('"')
            create = await _refuses(client.put_object(Bucket=bucket, Key=key, Body=b"x", IfNoneMatch="*"))
            quoted = await _accepts(client.put_object(Bucket=bucket, Key=key, Body=b"probe-2", IfMatch=f'"{etag}"'))
            if not quoted:
                await _accepts(client.put_object(Bucket=bucket, Key=key, Body=b"probe-2", IfMatch=etag))
            stale = await _refuses(client.put_object(Bucket=bucket, Key=key, Body=b"x", IfMatch=etag))
            current = str((await client.head_object(Bucket=bucket, Key=key))["ETag"])
            replace_ok = await _accepts(
                client.put_object(Bucket=bucket, Key=key, Body=b"probe-3",
                                  IfMatch=current if quoted else current.strip('"'))
            )
            checksums = await _checksum_headers(client, bucket, key)
            multipart = await _multipart_etag(client, bucket, key)
        finally:
            await _remove_all_versions(client, bucket, key)
        versioning = await _versioning(client, bucket)
    return Capabilities(
        conditional_create=create,
        conditional_replace=stale and replace_ok,
        if_match_quoted=quoted,
        versioning=versioning,
        checksum_headers=checksums,
        multipart_etag=multipart,
        signature_version="s3v4",
        signatures_checked=await _signatures_checked(store, bucket),
    )


async def _accepts(request: Any) -> bool:
    try:
        await request
    except bex.ClientError as exc:
        if _status(exc) in (400, 412, 501):
            return False
        raise
    return True


async def _refuses(request: Any) -> bool:
    try:
        await request
    except bex.ClientError as exc:
        if _status(exc) == 412:
            return True
        if _status(exc) in (400, 501):
            return False
        raise
    return False


async def _checksum_headers(client: Any, bucket: str, key: str) -> bool:
    try:
        await client.put_object(Bucket=bucket, Key=key, Body=b"probe-4", ChecksumAlgorithm="SHA256")
        head = await client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except bex.ClientError:
        return False
    return bool(head.get("ChecksumSHA256"))


async def _multipart_etag(client: Any, bucket: str, key: str) -> str:
    upload = await client.create_multipart_upload(Bucket=bucket, Key=key)
    try:
        part = await client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"probe-5"
        )
        done = await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
    except bex.ClientError:
        with contextlib.suppress(bex.ClientError):
            await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        return "unsupported"
    head = str((await client.head_object(Bucket=bucket, Key=key))["ETag"]).strip('"')
    form = "md5-of-parts-N" if head.endswith("-1") else f"other ({head})"
    if not str(done.get("ETag") or "").strip('"'):
        form += " (empty on complete)"
    return form


async def versioning_enabled(store: S3Store, bucket: str) -> bool:
    with translate_errors(f"bucket {bucket}", store.conn.where()):
        return await _versioning(await store.botocore_client(), bucket) == "Enabled"


async def _versioning(client: Any, bucket: str) -> str:
    try:
        status = (await client.get_bucket_versioning(Bucket=bucket)).get("Status")
    except bex.ClientError:
        return "unsupported"
    return str(status) if status else "off"


async def _remove_all_versions(client: Any, bucket: str, key: str) -> None:
    with contextlib.suppress(bex.ClientError):
        listing = await client.list_object_versions(Bucket=bucket, Prefix=key)
        refs = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in (*listing.get("Versions", ()), *listing.get("DeleteMarkers", ()))
            if v["Key"] == key
        ]
        if refs:
            await client.delete_objects(Bucket=bucket, Delete={"Objects": refs, "Quiet": True})
    with contextlib.suppress(bex.ClientError):
        await client.delete_object(Bucket=bucket, Key=key)


async def _signatures_checked(store: S3Store, bucket: str) -> bool:
    """Does the server refuse the same request signed with a wrong secret?"""
    conn = store.conn
    if not conn.secret_access_key:
        import aioboto3  # only for doctor: the engine's imports stay light

        credentials = await aioboto3.Session(profile_name=conn.profile).get_credentials()
        if credentials is None:
            return False
        frozen = await credentials.get_frozen_credentials()
        conn = replace(conn, access_key_id=frozen.access_key, secret_access_key=frozen.secret_key)
    wrong = replace(conn, secret_access_key=(conn.secret_access_key or "") + "-wrong", max_attempts=1)
    async with type(store).open(wrong) as other:
        try:
            await (await other.botocore_client()).head_bucket(Bucket=bucket)
        except bex.ClientError as exc:
            return _status(exc) == 403
    return False
