"""Folder markers, three-way: what a sync does to folders, one row per case."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from s3sync.core.change import Mode
from s3sync.core.folders import FolderPlan, plan_folders
from s3sync.core.paths import RelPath

F = RelPath("photos")


def plan(base: bool, marked: bool, here: bool, empty: bool, mode: Mode = Mode.BOTH,
         no_delete: bool = False, empty_dirs: bool = True) -> FolderPlan:
    def one(flag: bool) -> set[RelPath]:
        return {F} if flag else set()

    return plan_folders(one(base), one(marked), one(here or empty), one(empty),
                        mode=mode, no_delete=no_delete, empty_dirs=empty_dirs)


def test_a_new_marker_makes_its_folder_once() -> None:
    assert plan(False, True, False, False).make_local == [F]
    assert plan(False, True, False, False, empty_dirs=False).make_local == [F]
    assert plan(True, True, False, False, empty_dirs=False).make_local == []  # removed since: not again
    assert plan(False, True, False, False, mode=Mode.PUSH).make_local == []


def test_an_empty_folder_makes_a_marker() -> None:
    assert plan(False, False, True, True).make_remote == [F]
    assert plan(False, False, True, True, mode=Mode.PULL).make_remote == []
    assert plan(False, False, True, True, empty_dirs=False).make_remote == []


def test_a_folder_removed_here_removes_its_marker() -> None:
    done = plan(True, True, False, False)
    assert (done.remove_remote, done.synced) == ([F], set())
    assert plan(True, True, False, False, no_delete=True).remove_remote == []
    assert plan(True, True, False, False, mode=Mode.PULL).make_local == [F]  # pull restores it


def test_a_marker_removed_there_removes_the_folder_only_while_empty() -> None:
    assert plan(True, False, True, True).remove_local == [F]
    kept = plan(True, False, True, False)  # it has content now
    assert (kept.remove_local, kept.synced) == ([], set())
    assert plan(True, False, True, True, no_delete=True).remove_local == []
    assert plan(True, False, True, True, mode=Mode.PUSH).make_remote == [F]  # push restores it


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.sampled_from(list(Mode)), st.booleans())
def test_a_folder_is_never_removed_where_it_has_content(
    base: bool, marked: bool, here: bool, empty: bool, mode: Mode, no_delete: bool
) -> None:
    done = plan(base, marked, here, empty and here, mode=mode, no_delete=no_delete)
    if not (empty and here):
        assert done.remove_local == []
    if mode is Mode.PULL:
        assert done.make_remote == done.remove_remote == []
    if mode is Mode.PUSH:
        assert done.make_local == done.remove_local == []
