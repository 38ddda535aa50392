"""The one table from S3's errors (botocore's, and the lean path's, which raises the
same ``ClientError``s) to s3sync's own: nothing else leaves the adapter."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
import botocore.exceptions as bex

from s3sync import errors


def error_code(exc: bex.ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def _message(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message") or "").strip()


NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchVersion"}


_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "Forbidden"}


_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


@contextlib.contextmanager
def translate_errors(what: str, endpoint: str) -> Iterator[None]:
    """Turn botocore's errors about ``what`` (a bucket or an s3:// URL) into ours."""
    try:
        yield
    except bex.ClientError as exc:
        raise _from_client_error(exc, what) from exc
    except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
        raise errors.CredentialsError(
            "no S3 credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "use --profile, or put them in the config)"
        ) from exc
    except bex.ProfileNotFound as exc:
        raise errors.CredentialsError(f"AWS profile not found: {exc.kwargs.get('profile')}") from exc
    except (bex.SSLError, aiohttp.ClientSSLError) as exc:
        raise errors.EndpointError(f"TLS failed with {endpoint}: {exc}") from exc
    # aiohttp's own connect error reaches here from requests made without botocore.
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError, aiohttp.ClientConnectorError) as exc:
        raise errors.EndpointError(f"cannot reach endpoint {endpoint}") from exc
    except (bex.ConnectionClosedError, bex.ReadTimeoutError, bex.ResponseStreamingError) as exc:
        raise errors.EndpointError(f"connection to {endpoint} failed during {what}") from exc
    except bex.ParamValidationError as exc:
        raise errors.UsageError(f"{what}: {exc}") from exc
    except (bex.HTTPClientError, bex.ConnectionError, aiohttp.ClientError, TimeoutError) as exc:
        raise errors.EndpointError(f"connection to {endpoint} failed during {what}: {exc}") from exc


def _from_client_error(exc: bex.ClientError, what: str) -> errors.S3SyncError:
    code = error_code(exc)
    if code == "NoSuchBucket":
        bucket = exc.response.get("Error", {}).get("BucketName") or what
        return errors.NotFoundError(f"bucket does not exist: {bucket}")
    if code in NOT_FOUND:
        return errors.NotFoundError(f"not found: {what}")
    if code in _BAD_CREDENTIALS:
        return errors.CredentialsError(f"{what}: the server refused the credentials ({code})")
    if code in _DENIED:
        return errors.AccessDeniedError(f"access denied: {what}")
    if code == "BucketNotEmpty":
        return errors.BucketNotEmptyError(
            f"bucket is not empty: {what} (use --force to delete its contents too)"
        )
    if code in _PRECONDITION:
        return errors.ConflictWriteError(f"{what} changed on the server meanwhile")
    if code in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
        return errors.S3SyncError(f"bucket already exists: {what}")
    if code in {"NotImplemented", "501"}:
        return errors.UnsupportedError(f"{what}: the server does not support this request")
    if code == "InvalidBucketName":
        return errors.UsageError(f"invalid bucket name: {what}")
    detail = _message(exc)
    return errors.S3SyncError(f"{what}: {code}" + (f": {detail}" if detail else ""))
