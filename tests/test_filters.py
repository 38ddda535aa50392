"""The filter's shortcut for "no patterns but the trash" must answer as pathspec does."""

from __future__ import annotations

import pathspec
from hypothesis import given
from hypothesis import strategies as st

from s3sync.adapters.localfs import TRASH_DIR
from s3sync.filters import ALWAYS, Filter

SEGMENTS = st.sampled_from([TRASH_DIR, TRASH_DIR + "x", "x" + TRASH_DIR, "a", "b.txt", ".s3sync-tmp-1", "ü"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join)


@given(PATHS, st.booleans())
def test_the_trash_only_shortcut_agrees_with_pathspec(rel: str, is_dir: bool) -> None:
    spec = pathspec.GitIgnoreSpec.from_lines(ALWAYS)
    fast = Filter([])
    assert fast.excluded(rel, is_dir) == spec.match_file(rel + "/" if is_dir else rel)
    assert fast.excluded_file(rel) == spec.match_file(rel)


def test_the_trash_is_hidden_and_names_like_it_are_not() -> None:
    fast = Filter([])
    assert fast.excluded_file(f"{TRASH_DIR}/2026/a.txt")
    assert fast.excluded(TRASH_DIR, is_dir=True)
    assert not fast.excluded_file(f"a/{TRASH_DIR}/x")
    assert not fast.excluded_file(f"{TRASH_DIR}x/y")
