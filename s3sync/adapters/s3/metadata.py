"""What an object's metadata and ETag say, by rclone's conventions (``mtime``,
``md5chksum``, ``mode``), and the values a sync compares."""

from __future__ import annotations

import base64
import contextlib
import re

from s3sync.core.model import ObjectInfo, RemoteEntry

MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
MTIME_KEY = "mtime"  # rclone's convention: Unix seconds with a fraction
MD5_KEY = "md5chksum"  # rclone's convention: base64 of the MD5 digest
MODE_KEY = "mode"  # rclone's convention (-M): st_mode in octal, file-type bits included


def md5_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def md5_hex_from_b64(text: str) -> str | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 16 else None


def plain_md5(etag: str) -> str | None:
    """The MD5 an ETag stands for, when it is a single-part one (32 hex digits)."""
    return etag.lower() if MD5_HEX.fullmatch(etag) else None


def content_md5(info: ObjectInfo) -> str | None:
    stored = info.metadata.get(MD5_KEY)
    if stored:
        from_meta = md5_hex_from_b64(stored)
        if from_meta:
            return from_meta
    return plain_md5(info.etag)


def remote_entry_of(info: ObjectInfo, *, size: int | None = None) -> RemoteEntry:
    """What a HEAD or GET says of an object, as a sync compares it (``size``: as listed)."""
    return RemoteEntry(
        info.size if size is None else size, info.etag, mtime_ns_of(info), content_md5(info),
        modified_ns_of(info), mode_of(info),
    )


def modified_ns_of(info: ObjectInfo) -> int:
    """The object's LastModified in whole seconds, as a listing gives it (``Listed``)."""
    return int(info.modified.timestamp()) * 1_000_000_000


def mtime_ns_of(info: ObjectInfo) -> int:
    stored = info.metadata.get(MTIME_KEY)
    if stored:
        with contextlib.suppress(ValueError):
            return _seconds_text_to_ns(stored)
    return modified_ns_of(info)


def mode_of(info: ObjectInfo) -> int | None:
    """The permission bits an object's ``mode`` metadata holds (never setuid, setgid or
    sticky: a bucket is no place to take those from), or None."""
    stored = info.metadata.get(MODE_KEY)
    try:
        return int(stored.strip(), 8) & 0o777 if stored else None
    except ValueError:
        return None


def mode_text(permissions: int) -> str:
    """``mode`` metadata as rclone writes it: a regular file's st_mode in octal, ``100755``."""
    return f"{0o100000 | (permissions & 0o777):o}"


def _seconds_text_to_ns(text: str) -> int:
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def ns_to_seconds_text(mtime_ns: int) -> str:
    return f"{mtime_ns // 1_000_000_000}.{mtime_ns % 1_000_000_000:09d}"
