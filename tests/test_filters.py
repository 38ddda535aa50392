"""The filter: s3sync's own names first, and no pattern brings them back."""

from __future__ import annotations

import pathspec
from hypothesis import given
from hypothesis import strategies as st

from s3sync.core.own import IGNORE_FILE, TRASH_DIR, OwnNames
from s3sync.filters import Filter

OWN = OwnNames(b"k" * 16)
SEGMENTS = st.sampled_from([TRASH_DIR, TRASH_DIR + "x", "x" + TRASH_DIR, "a", "b.txt", ".s3sync-tmp-1", "ü"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join)
PATTERNS = st.lists(st.sampled_from(["*.txt", "!/.s3sync-trash/", "!.s3syncignore", "a/", "!*", "ü"]), max_size=4)


@given(PATHS, st.booleans(), PATTERNS)
def test_own_names_are_hidden_and_patterns_decide_the_rest(rel: str, is_dir: bool, patterns: list[str]) -> None:
    hidden = Filter(patterns, OWN)
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    expected = OWN.is_own(rel) or spec.match_file(rel + "/" if is_dir else rel)
    assert hidden.excluded(rel, is_dir) == expected
    assert hidden.excluded_file(rel) == (OWN.is_own(rel) or spec.match_file(rel))


def test_a_negation_cannot_bring_back_the_trash_or_the_ignore_file() -> None:
    hidden = Filter(["!/.s3sync-trash/", "!.s3sync-trash", f"!{IGNORE_FILE}", "!**"], OWN)
    assert hidden.excluded_file(f"{TRASH_DIR}/2026/a.txt")
    assert hidden.excluded(TRASH_DIR, is_dir=True)
    assert hidden.excluded_file(TRASH_DIR)  # a key of that name, a file
    assert hidden.excluded_file(IGNORE_FILE)
    assert not hidden.excluded_file(f"a/{TRASH_DIR}/x")
    assert not hidden.excluded_file(f"{TRASH_DIR}x/y")
    assert not hidden.excluded_file(f"sub/{IGNORE_FILE}")


def test_with_links_a_link_is_hidden_by_either_of_its_names() -> None:
    kept = Filter(["*.log", "build/"], OWN, links=True)
    assert kept.excluded_file("app.log.rclonelink")  # the link ``app.log``
    assert kept.excluded("app.log.rclonelink", is_dir=False)
    assert kept.excluded_file("build/current.rclonelink")
    assert not kept.excluded_file("app.txt.rclonelink")
    assert not Filter(["*.log"], OWN).excluded_file("app.log.rclonelink")  # no links: a plain name
