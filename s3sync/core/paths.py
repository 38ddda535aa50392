"""Names: ``s3://`` URLs, relative paths and keys, and which keys may become files.

Rule: this module is the only place that converts between a key and a relative path.
A relative path (``rel``) is POSIX, NFC-normalised and never escapes the root; a key
is the full S3 key including the pair's prefix.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import NewType

RelPath = NewType("RelPath", str)

MAX_SEGMENT_BYTES = 255


@dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    key: str  # may be empty (a whole bucket) or a prefix

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    @property
    def prefix(self) -> str:
        """The key as a folder prefix: empty, or ending in ``/``."""
        if not self.key or self.key.endswith("/"):
            return self.key
        return self.key + "/"


class BadS3Url(ValueError):
    pass


def parse_s3_url(text: str) -> S3Url:
    if not text.startswith("s3://"):
        raise BadS3Url(f"not an s3:// URL: {text!r}")
    bucket, _, key = text[len("s3://") :].partition("/")
    if not bucket:
        raise BadS3Url(f"no bucket in {text!r}")
    if not _valid_bucket_name(bucket):
        raise BadS3Url(f"invalid bucket name {bucket!r} in {text!r}")
    return S3Url(bucket, key)


def _valid_bucket_name(name: str) -> bool:
    # Loose on purpose: S3-compatible servers accept names AWS would refuse (underscores,
    # capitals); we only reject what can never be a bucket in a path-style URL.
    return 1 <= len(name) <= 255 and not any(c in name for c in "/?#\\ \x00")


def nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def key_for(rel: RelPath, prefix: str) -> str:
    return prefix + rel


def why_unmappable(name: str) -> str | None:
    """Why ``name`` (a key with the prefix removed) cannot be a file under the root."""
    if name.isascii() and _PLAIN_ASCII.fullmatch(name):
        return None  # the common case, in one step: it runs for every key of every listing
    return _diagnose(name)


def _diagnose(name: str) -> str | None:
    if not name:
        return "empty name"
    if name.endswith("/"):
        return "folder marker"
    if name.startswith("/"):
        return "absolute path"
    if "\x00" in name:
        return "NUL in name"
    if "\\" in name:
        # On POSIX a backslash is a legal file-name byte, but keys written on Windows use
        # it as a separator; taking it literally would silently flatten their folders.
        return "backslash in name"
    for segment in name.split("/"):
        if segment == "":
            return "empty path segment"
        if segment in (".", ".."):
            return f"{segment!r} path segment"
        if len(segment.encode("utf-8", "surrogateescape")) > MAX_SEGMENT_BYTES:
            return "path segment longer than 255 bytes"
    return None


# ASCII names whose segments are non-empty, at most 255 bytes, not "." or "..", and free
# of NUL and backslash: what the checks of ``why_unmappable`` let through, for ASCII.
_PLAIN_ASCII = re.compile(r"(?:(?!\.\.?/)[^/\x00\\]{1,255}/)*(?!\.\.?\Z)[^/\x00\\]{1,255}")


def rel_for(key: str, prefix: str) -> RelPath | None:
    """The relative path a key maps to, or None when it is outside the prefix or unmappable."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if why_unmappable(name) is not None:
        return None
    return RelPath(nfc(name))


# rclone's ``-l`` convention: a symlink ``NAME`` travels as the object ``NAME.rclonelink``
# whose body is the link's target.
LINK_SUFFIX = ".rclonelink"


def link_name(rel: str) -> str | None:
    """The symlink's own path for ``rel`` when ``rel`` is a link object's (``NAME.rclonelink``
    with a non-empty ``NAME``); else None. Only where the pair keeps links (``--links``)."""
    if not rel.endswith(LINK_SUFFIX) or rel.endswith("/" + LINK_SUFFIX) or rel == LINK_SUFFIX:
        return None
    return rel[: -len(LINK_SUFFIX)]


def conflict_name(rel: RelPath, stamp: str, side: str) -> RelPath:
    """``dir/report.conflict-20261127-134500-local.txt`` for ``dir/report.txt``.

    ``stamp`` is ``YYYYMMDD-HHMMSS`` in UTC. The extension is the part after the last dot
    of the final segment, unless that dot starts the name (``.bashrc`` has none).
    """
    head, sep, leaf = rel.rpartition("/")
    dot = leaf.rfind(".")
    if dot <= 0:
        stem, ext = leaf, ""
    else:
        stem, ext = leaf[:dot], leaf[dot:]
    return RelPath(f"{head}{sep}{stem}.conflict-{stamp}-{side}{ext}")
