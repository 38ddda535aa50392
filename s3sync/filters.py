"""Which paths a pair ignores: s3sync's own names, then gitignore-style patterns from
options and the local ``.s3syncignore``.

Filters apply to both sides before the diff, so a hidden path is invisible to delete
logic everywhere; its base rows are retired without touching any file. The own names
(``core.own``) come first and no pattern can bring them back: a ``!/.s3sync-trash/``
line would otherwise upload the user's deleted files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pathspec

from s3sync import errors
from s3sync.core.own import IGNORE_FILE, OwnNames
from s3sync.core.paths import link_name

__all__ = ["IGNORE_FILE", "Filter"]


class Filter:
    """``links``: the pair keeps symlinks as ``NAME.rclonelink`` objects; such a path is
    hidden where either name is (``*.log`` hides the link ``app.log`` as well)."""

    def __init__(self, patterns: Iterable[str], own: OwnNames, *, links: bool = False) -> None:
        lines = list(patterns)
        self.own = own
        self.links = links
        # Most pairs have no patterns: then the own-name test alone answers (it runs for
        # every path of both sides, every sync).
        self._spec: pathspec.GitIgnoreSpec | None = None
        if lines:
            try:
                self._spec = pathspec.GitIgnoreSpec.from_lines(lines)
            except (ValueError, TypeError) as exc:
                raise errors.UsageError(f"bad exclude pattern: {exc}") from exc

    @classmethod
    def for_root(cls, root: Path, patterns: Iterable[str], own: OwnNames, *, links: bool = False) -> Filter:
        """The options' patterns and the root's ``.s3syncignore``, which is only ever the
        user's own file: s3sync never downloads one (it is an own name)."""
        extra: list[str] = []
        ignore_file = root / IGNORE_FILE
        try:
            extra = ignore_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.UsageError(f"cannot read {ignore_file}: {exc}") from exc
        return cls([*patterns, *extra], own, links=links)

    def excluded(self, rel: str, is_dir: bool) -> bool:
        if is_dir:
            return self.own.is_own(rel) or (self._spec is not None and bool(self._spec.match_file(rel + "/")))
        return self.excluded_file(rel)

    def excluded_file(self, rel: str) -> bool:
        # gitignore semantics: a file under an excluded folder is excluded too.
        if self.own.is_own(rel):
            return True
        if self._spec is None:
            return False
        link = link_name(rel) if self.links else None
        return bool(self._spec.match_file(rel)) or (link is not None and bool(self._spec.match_file(link)))
