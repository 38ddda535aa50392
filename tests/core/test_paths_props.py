"""The one-step check for plain ASCII key names must agree with the full diagnosis; a
link object's name gives the link's own name."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from s3sync.core.paths import _PLAIN_ASCII, _diagnose, link_name

NAMES = st.one_of(
    st.text(alphabet="ab./\\\x00 \n", max_size=12),
    st.lists(st.sampled_from(["a", ".", "..", "...", "", ".a", "x" * 255, "x" * 256]), max_size=4).map("/".join),
)


@given(NAMES)
@example("..\n")
@example("a/.\n")
def test_the_ascii_shortcut_accepts_exactly_what_the_diagnosis_accepts(name: str) -> None:
    assert (_PLAIN_ASCII.fullmatch(name) is not None) == (_diagnose(name) is None)


@pytest.mark.parametrize(
    ("rel", "name"),
    [("current.rclonelink", "current"), ("a/b.txt.rclonelink", "a/b.txt"), (".rclonelink", None),
     ("a/.rclonelink", None), ("current.rclonelink/x", None), ("current", None)],
)
def test_a_link_objects_name_is_the_links_own_name(rel: str, name: str | None) -> None:
    assert link_name(rel) == name
