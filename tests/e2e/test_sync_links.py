"""Symlinks kept as links with ``--links``: ``NAME.rclonelink`` objects whose body is the
target (rclone's ``-l``), restored as symlinks and never followed (issue 13)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import Pair, counts, make_pair, tree_snapshot
from tests.s3server import S3Server

MTIME_NS = 1_700_000_000_250_000_000


@pytest.fixture
def pairs(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> tuple[Pair, Pair]:
    s3 = s3server.client()
    return make_pair(cli, s3, bucket, tmp_path, "a"), make_pair(cli, s3, bucket, tmp_path, "b")


def link(path: Path, target: str, mtime_ns: int = MTIME_NS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        path.unlink()
    path.symlink_to(target)
    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    return path


def links_of(root: Path) -> dict[str, str]:
    return {rel: data.decode() for rel, (kind, data, _m, _mode) in tree_snapshot(root).items()
            if kind == "link" and not rel.startswith(".s3sync-trash/")}


def test_links_travel_as_rclonelink_objects_and_come_back_as_links(pairs: tuple[Pair, Pair], tmp_path: Path) -> None:
    a, b = pairs
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"never read")
    a.write("releases/v2/app", b"binary")
    link(a.path("latest"), "releases/v2")  # a link to a folder
    link(a.path("docs/secret"), str(outside / "secret.txt"))  # outside the root
    link(a.path("dangling"), "no/such/file")

    assert counts(a.sync_json("--links")) == {"upload": 4}
    assert a.get("latest.rclonelink") == b"releases/v2"
    assert a.get("docs/secret.rclonelink") == str(outside / "secret.txt").encode()
    assert a.get("dangling.rclonelink") == b"no/such/file"
    assert "releases/v2/app" in a.listing()
    assert "latest/app" not in a.listing()  # never followed
    assert a.s3.head_object(Bucket=a.bucket, Key=a.key("latest.rclonelink"))["Metadata"]["mtime"].startswith("1700000000.25")

    assert counts(b.sync_json("--links")) == {"download": 4}
    assert links_of(b.root) == {"latest": "releases/v2", "docs/secret": str(outside / "secret.txt"),
                                "dangling": "no/such/file"}
    assert b.path("latest").lstat().st_mtime_ns == MTIME_NS
    assert (outside / "secret.txt").read_bytes() == b"never read"
    assert counts(a.sync_json("--links")) == {}
    assert counts(b.sync_json("--links")) == {}


def test_a_retargeted_link_travels_both_ways_and_a_deleted_one_is_deleted(pairs: tuple[Pair, Pair]) -> None:
    a, b = pairs
    link(a.path("current"), "v1")
    a.write("keep.txt", b"the root is not emptied")
    a.sync_json("--links")
    b.sync_json("--links")

    link(a.path("current"), "v2-longer", MTIME_NS + 10**9)
    assert counts(a.sync_json("--links")) == {"upload": 1}
    assert counts(b.sync_json("--links")) == {"download": 1}
    assert links_of(b.root) == {"current": "v2-longer"}
    assert b.path("current").lstat().st_mtime_ns == MTIME_NS + 10**9

    b.path("current").unlink()
    assert counts(b.sync_json("--links")) == {"delete_remote": 1}
    assert "current.rclonelink" not in a.listing()
    assert counts(a.sync_json("--links")) == {"delete_local": 1}
    assert not os.path.lexists(a.path("current"))
    trashed = [Path(d, n) for d, _, names in os.walk(a.root / ".s3sync-trash") for n in names if n == "current"]
    assert [os.readlink(p) for p in trashed] == ["v2-longer"]  # the link itself, kept in the trash


def test_a_link_edited_on_both_sides_keeps_both_as_links(pairs: tuple[Pair, Pair]) -> None:
    a, b = pairs
    link(a.path("current"), "v1")
    a.sync_json("--links")
    b.sync_json("--links")
    link(a.path("current"), "mine", MTIME_NS + 10**9)
    link(b.path("current"), "theirs", MTIME_NS + 2 * 10**9)
    b.sync_json("--links")

    assert counts(a.sync_json("--links")) == {"conflict": 1}
    found = links_of(a.root)
    assert sorted(found.values()) == ["mine", "theirs"], found
    assert found["current"] in ("mine", "theirs")
    copy = next(rel for rel in found if rel != "current")
    assert copy.startswith("current.conflict-")
    assert f"{copy}.rclonelink" in a.listing()


def test_without_links_symlinks_are_skipped_and_rclonelink_objects_are_plain_files(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    link(a.path("current"), "v1")
    a.put("other.rclonelink", b"v0")
    result = a.sync("--json")
    assert "symlink" in result.err
    assert "current.rclonelink" not in a.listing()
    assert a.path("other.rclonelink").read_bytes() == b"v0"  # the default is unchanged


def test_a_file_named_like_a_link_is_left_alone_with_links(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.write("notes.rclonelink", b"a regular file")
    a.put("notes.rclonelink", b"somebody's object")
    result = a.sync("--json", "--links")
    assert "rclonelink" in result.err
    assert a.path("notes.rclonelink").read_bytes() == b"a regular file"
    assert a.get("notes.rclonelink") == b"somebody's object"


def test_nothing_is_written_through_a_restored_link(pairs: tuple[Pair, Pair], tmp_path: Path) -> None:
    a, b = pairs
    outside = tmp_path / "outside"
    outside.mkdir()
    a.put("escape.rclonelink", str(outside).encode())
    assert counts(a.sync_json("--links")) == {"download": 1}
    assert os.readlink(a.path("escape")) == str(outside)
    a.put("escape/planted.txt", b"must not land outside")
    b.put("escape.rclonelink", b"/etc")  # a replaced target is a new link, not a way in
    result = a.sync("--json", "--links")
    assert list(outside.iterdir()) == []
    assert "below a local path that is skipped" in result.err
    assert os.readlink(a.path("escape")) == "/etc"


def test_an_object_too_large_for_a_link_target_fails_alone(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.put("huge.rclonelink", b"x" * 5000)
    a.put("fine.txt", b"ok")
    summary = a.sync_json("--links", expect=1)
    assert counts(summary) == {"download": 1, "failed": 1}
    assert not os.path.lexists(a.path("huge"))
    assert [f["rel"] for f in summary["failures"]] == ["huge.rclonelink"]


def test_links_and_follow_symlinks_exclude_each_other(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    result = a.sync("--links", "--follow-symlinks", expect=2)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "links and follow_symlinks exclude each other" in lines[0]
    assert "Traceback" not in result.err
