"""Which paths a pair ignores: gitignore-style patterns from options and ``.s3syncignore``.

Filters apply to both sides before the diff, so a hidden path is invisible to delete
logic everywhere; its base rows are retired without touching any file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pathspec

from s3sync import errors
from s3sync.adapters.localfs import TRASH_DIR

IGNORE_FILE = ".s3syncignore"
ALWAYS = (f"/{TRASH_DIR}/",)


class Filter:
    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = list(patterns)
        # With nothing but the trash to hide, a prefix test answers what pathspec would,
        # at a fraction of its cost (it runs for every path of both sides, every sync).
        self._trash_only = not patterns
        lines = [*ALWAYS, *patterns]
        try:
            self._spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except (ValueError, TypeError) as exc:
            raise errors.UsageError(f"bad exclude pattern: {exc}") from exc

    @classmethod
    def for_root(cls, root: Path, patterns: Iterable[str]) -> Filter:
        extra: list[str] = []
        ignore_file = root / IGNORE_FILE
        try:
            extra = ignore_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.UsageError(f"cannot read {ignore_file}: {exc}") from exc
        return cls([*patterns, *extra])

    @staticmethod
    def literal_folder(rel: str) -> str:
        """A pattern matching exactly the folder ``rel`` (relative to the root) and its content."""
        escaped = "".join("\\" + c if c in "\\*?[]!# " else c for c in rel)
        return f"/{escaped}/"

    def excluded(self, rel: str, is_dir: bool) -> bool:
        path = rel + "/" if is_dir else rel
        if self._trash_only:
            return path.startswith(_TRASH_PREFIX)
        return bool(self._spec.match_file(path))

    def excluded_file(self, rel: str) -> bool:
        # gitignore semantics: a file under an excluded folder is excluded too.
        if self._trash_only:
            return rel.startswith(_TRASH_PREFIX)
        return bool(self._spec.match_file(rel))


_TRASH_PREFIX = f"{TRASH_DIR}/"
