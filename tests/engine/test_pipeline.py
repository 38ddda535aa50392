"""The engine tier: the real pipeline (gather, fill, reconcile, rails, execute, record)
on a real folder and state DB, against the in-memory store of ``fakes`` (the same port
the S3 adapter implements, type-checked), with no server."""

from __future__ import annotations

import pytest

from s3sync import errors
from s3sync.core.scope import Scope
from tests.engine.pair import PREFIX, Pair


def test_a_first_sync_goes_both_ways_and_the_next_does_nothing(pair: Pair) -> None:
    pair.write("mine.txt", b"local")
    pair.store.put(PREFIX + "theirs.txt", b"remote")
    assert pair.run() == {"upload": 1, "download": 1}
    assert pair.local() == pair.remote() == {"mine.txt": b"local", "theirs.txt": b"remote"}
    assert pair.run() == {}


def test_an_edit_on_both_sides_keeps_both_versions_on_both_sides(pair: Pair) -> None:
    pair.write("doc.txt", b"v1", mtime=1_600_000_000)
    pair.run()
    pair.write("doc.txt", b"mine", mtime=1_600_000_100)
    pair.store.put(PREFIX + "doc.txt", b"theirs")
    assert pair.run() == {"conflict": 1}
    assert sorted(pair.local().values()) == sorted(pair.remote().values()) == [b"mine", b"theirs"]
    assert pair.run() == {}


def test_a_file_that_became_a_folder_elsewhere_is_kept_as_a_copy(pair: Pair) -> None:
    pair.write("d", b"a file", mtime=1_600_000_000)
    pair.run()
    pair.write("d", b"edited here", mtime=1_600_000_100)
    del pair.store.objects[PREFIX + "d"]
    pair.store.put(PREFIX + "d/x", b"below a folder now")
    pair.run()
    local, remote = pair.local(), pair.remote()
    assert local["d/x"] == remote["d/x"] == b"below a folder now"
    assert b"edited here" in local.values()
    assert b"edited here" in remote.values()  # the displaced version, on both sides
    assert pair.run() == {}


def test_a_plan_over_the_delete_limit_changes_nothing(pair: Pair) -> None:
    for i in range(12):
        pair.write(f"f{i}", b"x")
    pair.run()
    for i in range(11):
        del pair.store.objects[f"{PREFIX}f{i}"]
    before = pair.local()
    with pytest.raises(errors.SafetyAbort):
        pair.run()
    assert pair.local() == before
    assert pair.run(force=True) == {"delete_local": 11}


def test_a_scoped_pass_looks_only_at_its_scope(pair: Pair) -> None:
    pair.write("a.txt", b"a")
    pair.write("b.txt", b"b")
    pair.run()
    pair.write("a.txt", b"a2")
    pair.write("b.txt", b"b2")
    assert pair.run(Scope(files={"a.txt"})) == {"upload": 1}
    assert pair.remote() == {"a.txt": b"a2", "b.txt": b"b"}
    assert pair.run() == {"upload": 1}


def test_a_failed_write_is_reported_the_rest_is_done_and_the_next_run_retries(pair: Pair) -> None:
    pair.write("ok.txt", b"ok")
    pair.write("bad.txt", b"bad")
    pair.store.fail.add(PREFIX + "bad.txt")
    assert pair.run() == {"upload": 1, "failed": 1}
    assert pair.remote() == {"ok.txt": b"ok"}
    pair.store.fail.clear()
    assert pair.run() == {"upload": 1}
    assert pair.remote() == {"ok.txt": b"ok", "bad.txt": b"bad"}


def test_a_remote_write_between_listing_and_upload_becomes_a_conflict_not_an_overwrite(pair: Pair) -> None:
    pair.write("doc.txt", b"v1", mtime=1_600_000_000)
    pair.run()
    pair.write("doc.txt", b"mine", mtime=1_600_000_100)
    store = pair.store
    original = store.put_file

    async def someone_writes_first(*args: object, **kwargs: object) -> object:
        store.put(PREFIX + "doc.txt", b"theirs, just now")
        store.put_file = original  # type: ignore[method-assign]
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    store.put_file = someone_writes_first  # type: ignore[method-assign,assignment]
    pair.run()
    pair.run()
    assert b"theirs, just now" in pair.remote().values()
    assert b"mine" in pair.remote().values()
    assert sorted(pair.local().values()) == sorted(pair.remote().values())
