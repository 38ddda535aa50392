"""The service's small pure pieces: hints to scopes, scope algebra, backoff, change detection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from s3sync.adapters.s3.listing import Listed
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry
from s3sync.core.own import OwnNames
from s3sync.core.paths import RelPath
from s3sync.core.scope import Scope, hint_paths
from s3sync.filters import Filter
from s3sync.pipeline.scoped import RemoteView
from s3sync.service.pair import Backoff, Work, backoff_cap
from s3sync.service.status import read

EPOCH = "1970-01-01T00:00:00Z"


def test_hints_become_paths_relative_to_the_root() -> None:
    scope = hint_paths(
        [("/r/a.txt", False), ("/r/d", True), ("/elsewhere/x", False), ("/r/report.s3sync-tmp-v2.txt", False)],
        "/r",
    )
    # A name that looks like a temp file is a hint like any other: the pass decides.
    assert scope == Scope(files={"a.txt", "report.s3sync-tmp-v2.txt"}, folders={"d"})


def test_the_root_itself_or_the_ignore_file_ask_for_a_full_sync() -> None:
    assert hint_paths([("/r", True)], "/r").full
    assert hint_paths([("/r/.s3syncignore", False)], "/r").full
    assert not hint_paths([("/r/sub/.s3syncignore", False)], "/r").full


def test_a_folder_covers_the_paths_below_it() -> None:
    scope = Scope(files={"d/a", "d/e/b", "da", "x"}, folders={"d", "d/e", "q"}).narrowed()
    assert scope == Scope(files={"da", "x"}, folders={"d", "q"})


def test_without_drops_a_folder_and_what_is_below_it() -> None:
    scope = Scope(files={".state/x.db", ".statex", "a"}, folders={".state", ".state/sub", "b"})
    assert scope.without(".state") == Scope(files={".statex", "a"}, folders={"b"})


def test_take_hands_over_and_empties() -> None:
    scope = Scope(files={"a"}, full=True)
    taken = scope.take()
    assert taken == Scope(files={"a"}, full=True)
    assert not scope


def test_work_merges_and_names_its_trigger() -> None:
    work = Work(scope=Scope(files={"a"}))
    assert work.trigger == "watch"
    work.merge(Work(poll=True))
    assert work.trigger == "poll"
    work.merge(Work(full="rescan"))
    assert work.trigger == "rescan"
    assert work.scope.files == {"a"}


def test_finishing_work_wakes_its_waiters() -> None:
    async def scenario() -> bool:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        Work(waiters=[waiter]).finish()
        return waiter.done()

    assert asyncio.run(scenario())


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(cap=backoff_cap(interval=3))
    assert [backoff.next_delay() for _ in range(5)] == [1, 2, 4, 6, 6]
    assert backoff_cap(interval=0.5) == 5
    assert backoff_cap(interval=3600) == 300


def test_a_poll_keeps_only_keys_that_differ_from_the_base() -> None:
    tags = {RelPath("same"): (1, "e1", None), RelPath("edited"): (2, "e2", None), RelPath("gone"): (4, "e4", None)}
    view = RemoteView(tags)
    for name, size, etag in [("same", 1, "e1"), ("edited", 2, "e2-new"), ("new", 3, "e3"), ("a/", 0, "e")]:
        view.add(name, Listed(name, size, etag, EPOCH), Filter([], OwnNames(b"")))
    assert view.changed == {"edited", "new", "gone"}
    assert set(view.entries) == {"edited", "new"}
    assert view.total == 3
    base = {RelPath("same"): BaseEntry(LocalEntry(1, 5), RemoteEntry(1, "e1", 7), None)}
    assert view.snapshot({RelPath("same"), RelPath("new")}, set(), base).entries == {
        "same": RemoteEntry(1, "e1", 7), "new": RemoteEntry(3, "e3", 0),
    }


def test_two_keys_with_one_normalised_name_are_left_alone() -> None:
    view = RemoteView({})
    view.add("caf\u00e9", Listed("caf\u00e9", 1, "a", EPOCH), Filter([], OwnNames(b"")))
    view.add("cafe\u0301", Listed("cafe\u0301", 1, "b", EPOCH), Filter([], OwnNames(b"")))
    assert view.collided == {"caf\u00e9"}
    assert view.changed == set()


def test_a_twin_listed_before_the_synced_name_is_still_a_collision() -> None:
    # NFD sorts before NFC ("e" < "\u00e9"): the synced name comes second, equal to its row.
    view = RemoteView({RelPath("caf\u00e9"): (1, "a", None)})
    view.add("cafe\u0301", Listed("cafe\u0301", 1, "b", EPOCH), Filter([], OwnNames(b"")))
    view.add("caf\u00e9", Listed("caf\u00e9", 1, "a", EPOCH), Filter([], OwnNames(b"")))
    assert view.collided == {"caf\u00e9"}
    assert view.changed == set()  # neither spelling is acted on; the row stays as it is
    assert not view.entries
    assert not view.unchanged


def test_a_key_spelled_in_nfd_is_requested_as_listed() -> None:
    view = RemoteView({})
    view.add("cafe\u0301", Listed("cafe\u0301", 1, "b", EPOCH), Filter([], OwnNames(b"")))
    assert view.key_names == {"caf\u00e9": "cafe\u0301"}


def test_status_of_a_pair_never_synced(tmp_path: Path) -> None:
    status = read(tmp_path / "missing.db", "docs", "/srv/docs", "s3://b/docs/")
    assert (status.name, status.service, status.last_sync, status.files_tracked) == ("docs", "not running", None, 0)
