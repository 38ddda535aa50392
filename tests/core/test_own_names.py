"""s3sync's own names: only what this pair made is its own; look-alikes are the user's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from s3sync.core.own import TEMP_MARKER, TRASH_DIR, OwnNames

OURS = OwnNames(b"\x01" * 16)
OTHER = OwnNames(b"\x02" * 16)
LEAVES = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=40)
NONCES = st.text("0123456789abcdef", min_size=8, max_size=8)


@given(LEAVES, NONCES)
def test_a_temp_name_we_made_is_ours_and_no_one_elses(leaf: str, nonce: str) -> None:
    name = OURS.temp_name(leaf, nonce)
    assert OURS.is_temp(name)
    assert OURS.is_own(f"some/folder/{name}")
    assert not OTHER.is_temp(name)


@given(LEAVES, st.text("0123456789abcdef", min_size=0, max_size=24))
def test_a_name_that_only_looks_like_a_temp_file_is_not_ours(leaf: str, tail: str) -> None:
    looks_alike = f".{leaf}{TEMP_MARKER}{tail}"
    assert not OURS.is_temp(looks_alike)
    assert not OURS.is_own(looks_alike)


def test_the_user_s_look_alikes_are_ordinary_files() -> None:
    for name in (".draft.s3sync-tmp-0123abcd", ".evil.s3sync-tmp-0badcafe", "report.s3sync-tmp-v2.txt",
                 "notes.s3sync-tmp-draft.txt", ".x.s3sync-tmp-0123abcd0123456789ab"):
        assert not OURS.is_own(name), name


def test_reserved_names_at_the_root_whatever_their_case() -> None:
    for rel in (TRASH_DIR, f"{TRASH_DIR}/x/y", ".S3SYNC-TRASH/a", ".s3syncignore", ".s3sync-probe-0123456789ab"):
        assert OURS.is_own(rel), rel
    for rel in (f"a/{TRASH_DIR}/x", "a/.s3syncignore", ".s3sync-probe-x", ".s3syncignored", "s3sync-trash"):
        assert not OURS.is_own(rel), rel


def test_the_state_folder_inside_the_root_is_own() -> None:
    own = OwnNames(b"k", ".local/state/s3sync")
    assert own.is_own(".local/state/s3sync")
    assert own.is_own(".local/state/s3sync/x.db")
    assert not own.is_own(".local/state/s3syncx")
