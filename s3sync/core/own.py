"""s3sync's own names: never synced in either direction, whatever a filter says.

Rule: this module is the only place that decides whether a path is one of s3sync's
own. Every pass (full sync, scoped watch pass, poll, rescan) asks it, through the
pair's ``Filter``, on both sides and for the base rows, before anything else:

- the trash ``.s3sync-trash`` at the root (a folder, or a key of that name: either
  would make every later local delete fail or leak deleted files to the bucket);
- the ignore file ``.s3syncignore`` at the root: it is the pair's local configuration,
  so whoever can write to the bucket cannot plant rules in it;
- the capability probe's keys ``.s3sync-probe-<12 hex>`` at the root;
- the state folder, where it lies inside the root;
- download temp files this pair made. Such a name carries a tag keyed with the pair's
  secret (kept in its state DB): a name that merely looks like one, the user's own
  ``.draft.s3sync-tmp-0123abcd`` or a key planted in the bucket, is an ordinary file.
  Only a tagged name is ever removed as a leftover.
"""

from __future__ import annotations

import hashlib
import hmac
import re

TRASH_DIR = ".s3sync-trash"
IGNORE_FILE = ".s3syncignore"
TEMP_MARKER = ".s3sync-tmp-"
PROBE_MARKER = ".s3sync-probe-"

NONCE_HEX = 8
TAG_HEX = 12
_TEMP = re.compile(
    r"\.(.*)" + re.escape(TEMP_MARKER) + rf"([0-9a-f]{{{NONCE_HEX}}})([0-9a-f]{{{TAG_HEX}}})", re.DOTALL
)
_PROBE = re.compile(re.escape(PROBE_MARKER) + r"[0-9a-f]{12}")
_RESERVED_ROOT = (TRASH_DIR, IGNORE_FILE)


class OwnNames:
    """The own names of one pair: ``key`` tags its temp files, ``state_folder`` is the
    state dir relative to the root (None where it lies outside)."""

    def __init__(self, key: bytes, state_folder: str | None = None) -> None:
        self._key = key
        self._state = state_folder

    def temp_name(self, leaf: str, nonce: str) -> str:
        """The temp name for a download of ``leaf``; ``nonce`` is NONCE_HEX random hex."""
        return f".{leaf}{TEMP_MARKER}{nonce}{self._tag(leaf, nonce)}"

    def is_temp(self, leaf: str) -> bool:
        """Is ``leaf`` (a file name, no folders) a temp file this pair made?"""
        if TEMP_MARKER not in leaf:
            return False
        found = _TEMP.fullmatch(leaf)
        return found is not None and hmac.compare_digest(found[3], self._tag(found[1], found[2]))

    def is_own(self, rel: str) -> bool:
        """Is ``rel`` (relative to the root, a file or a folder) one of s3sync's own?"""
        if rel[:7].lower() == ".s3sync":
            top = rel.partition("/")[0]
            # Compared without case: on a folder that ignores case ".S3SYNC-TRASH" is the trash.
            if top.casefold() in _RESERVED_ROOT or _PROBE.fullmatch(top):
                return True
        state = self._state
        if state is not None and (rel == state or rel.startswith(state + "/")):
            return True
        return TEMP_MARKER in rel and self.is_temp(rel.rpartition("/")[2])

    def _tag(self, leaf: str, nonce: str) -> str:
        # Keyed BLAKE2 is a MAC in one C call: it runs once per download.
        message = (nonce + leaf).encode("utf-8", "surrogateescape")
        return hashlib.blake2b(message, key=self._key, digest_size=TAG_HEX // 2).hexdigest()
