"""Worked examples of the model the property tests stand on.

If ``model_sync`` stopped mirroring ``executor.py`` / ``engine.py`` (say a conflict
copy no longer reached the remote, or an unchanged file got hashed), the properties
could pass for the wrong reason; these pin what the model does, case by case.
"""

from __future__ import annotations

import pytest

from s3sync.core.change import Mode, Options, Policy
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry, Side
from s3sync.core.paths import RelPath
from s3sync.core.plan import Conflict, Preserve, Record, Upload
from s3sync.core.reconcile import reconcile
from tests.core.model_sync import Trashed, World, gather, md5_of, simulate, sync

A = RelPath("d/a.txt")
STAMP = "20260101-000000"


def synced(content: int = 1, style: str = "plain") -> World:
    world = World()
    world.write_local(A, content)
    world.write_remote(A, content, style)
    plan, world = sync(world, Options(stamp=STAMP))
    assert [type(a) for a in plan] == [Record]
    return world


def test_unchanged_files_are_not_hashed_and_touched_ones_are() -> None:
    world = synced()
    snaps = gather(world, checksum=False)
    assert snaps.hashed == []
    assert snaps.local[A].md5 == md5_of(1)  # copied from the base row, as the engine does
    world.touch_local(A)
    snaps = gather(world, checksum=False)
    assert snaps.hashed == [A]
    assert gather(synced(), checksum=True).hashed == [A]


def test_listing_knows_only_plain_md5s_and_a_head_adds_the_metadata() -> None:
    world = World()
    world.write_remote(A, 5, "multipart", age=3)
    listed = world.listing()[A]
    assert listed.md5 is None
    assert listed.mtime_ns == world.remote[A].modified
    head = world.head(A)
    assert head.md5 == md5_of(5)
    assert head.mtime_ns == world.remote[A].modified - 4  # the file's own mtime
    world.write_remote(A, 5, "bare")
    assert world.head(A).md5 is None


@pytest.mark.parametrize("local_newer", [True, False])
def test_keep_both_leaves_winner_and_copy_on_both_sides(local_newer: bool) -> None:
    world = synced()
    if local_newer:
        world.write_remote(A, 2, "plain")
        world.write_local(A, 3)
    else:
        world.write_local(A, 3)
        world.write_remote(A, 2, "plain")
    plan, after = sync(world, Options(stamp=STAMP))
    (conflict,) = plan
    assert isinstance(conflict, Conflict)
    assert conflict.copy_rel is not None
    winner, loser = (3, 2) if local_newer else (2, 3)
    assert after.contents(Side.LOCAL) == {A: winner, conflict.copy_rel: loser}
    assert after.contents(Side.REMOTE) == {A: winner, conflict.copy_rel: loser}
    assert set(after.base) == {A, conflict.copy_rel}
    assert after.trash == []
    assert reconcile(*_snaps(after), Options(stamp=STAMP)).is_quiet()


@pytest.mark.parametrize(("policy", "kept", "trashed"), [
    (Policy.LOCAL, 3, Trashed(Side.REMOTE, A, 2)),
    (Policy.REMOTE, 2, Trashed(Side.LOCAL, A, 3)),
])
def test_other_policies_trash_the_loser(policy: Policy, kept: int, trashed: Trashed) -> None:
    world = synced()
    world.write_local(A, 3)
    world.write_remote(A, 2, "plain")
    _, after = sync(world, Options(conflict=policy, stamp=STAMP))
    assert after.contents(Side.LOCAL) == after.contents(Side.REMOTE) == {A: kept}
    assert after.trash == [trashed]


def test_push_keeps_a_remote_edit_in_the_trash_and_leaves_local_alone() -> None:
    world = synced()
    world.write_remote(A, 2, "s3sync")
    plan, after = sync(world, Options(mode=Mode.PUSH, stamp=STAMP))
    (upload,) = plan
    assert isinstance(upload, Upload)
    assert upload.preserve_remote is Preserve.TRASH
    assert after.local == world.local
    assert after.contents(Side.REMOTE) == {A: 1}
    assert after.trash == [Trashed(Side.REMOTE, A, 2)]


def test_download_sets_the_remote_mtime_and_records_it() -> None:
    world = World()
    world.write_remote(A, 7, "s3sync", age=2)
    _, after = sync(world, Options(stamp=STAMP))
    assert after.local[A].mtime == world.remote[A].meta_mtime
    assert after.base[A].local.mtime_ns == after.local[A].mtime
    assert after.base[A].md5 == md5_of(7)


def test_deletes_go_to_the_trash_unless_it_is_off() -> None:
    world = synced()
    world.delete_remote(A)
    plan = reconcile(*_snaps(world), Options(stamp=STAMP))
    assert simulate(world, plan).trash == [Trashed(Side.LOCAL, A, 1)]
    emptied = simulate(world, plan, use_trash=False)
    assert emptied.trash == []
    assert emptied.local == {}
    assert emptied.base == {}


def _snaps(
    world: World,
) -> tuple[dict[RelPath, BaseEntry], dict[RelPath, LocalEntry], dict[RelPath, RemoteEntry]]:
    snaps = gather(world, checksum=False)
    return snaps.base, snaps.local, snaps.remote
