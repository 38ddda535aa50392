"""The one-step check for plain ASCII key names must agree with the full diagnosis."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from s3sync.core.paths import _PLAIN_ASCII, _diagnose

NAMES = st.one_of(
    st.text(alphabet="ab./\\\x00 \n", max_size=12),
    st.lists(st.sampled_from(["a", ".", "..", "...", "", ".a", "x" * 255, "x" * 256]), max_size=4).map("/".join),
)


@given(NAMES)
@example("..\n")
@example("a/.\n")
def test_the_ascii_shortcut_accepts_exactly_what_the_diagnosis_accepts(name: str) -> None:
    assert (_PLAIN_ASCII.fullmatch(name) is not None) == (_diagnose(name) is None)
