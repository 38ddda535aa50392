"""The write dialects s3sync has learned, remembered per endpoint and bucket in the
state dir (``dialects.json``), so every pair on the same bucket, and every run within
``TTL``, starts from what the last one learned instead of probing again.

Written whole under a temp name and renamed into place: a reader sees the old file or
the new one. Two processes writing at once lose one's entry, which is harmless: it is
probed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s3sync.core.dialect import Dialect

FILE = "dialects.json"
TTL = 600.0  # seconds a learned dialect is trusted before the server is asked again


class DialectBook:
    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / FILE
        self._clock = clock

    def recall(self, endpoint: str, bucket: str) -> Dialect | None:
        entry = self._read().get(_name(endpoint, bucket))
        if not isinstance(entry, dict):
            return None
        learned = entry.get("learned")
        if not isinstance(learned, int | float) or not 0 <= self._clock() - learned < TTL:
            return None
        return Dialect.from_dict(entry)

    def remember(self, endpoint: str, bucket: str, dialect: Dialect) -> None:
        book = self._read()
        book[_name(endpoint, bucket)] = {"learned": self._clock(), **dialect.as_dict()}
        temp = self.path.with_name(f"{FILE}.{os.getpid()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(book, out, indent=1, sort_keys=True)
            os.replace(temp, self.path)
        except OSError:
            # Only a cache: a state dir that refuses it costs a probe next run, not the sync.
            with contextlib.suppress(OSError):
                temp.unlink()

    def _read(self) -> dict[str, Any]:
        try:
            book = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return book if isinstance(book, dict) else {}


def _name(endpoint: str, bucket: str) -> str:
    return f"{endpoint or 'aws'} {bucket}"
