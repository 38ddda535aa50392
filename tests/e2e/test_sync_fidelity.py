"""Files arrive as they left: permission bits and content types (issue 13)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import Pair, counts, make_pair
from tests.s3server import S3Server


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """The CLI runs as a child process and inherits the umask of this one."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pairs(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> tuple[Pair, Pair]:
    s3 = s3server.client()
    return make_pair(cli, s3, bucket, tmp_path, "a"), make_pair(cli, s3, bucket, tmp_path, "b")


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_modes_round_trip_through_the_bucket(pairs: tuple[Pair, Pair], mask: int) -> None:
    a, b = pairs
    a.write("bin/run.sh", b"#!/bin/sh\necho hi\n").chmod(0o755)
    a.write("data.csv", b"1,2\n").chmod(0o640)
    with umask(mask):
        assert counts(a.sync_json()) == {"upload": 2}
        head = a.s3.head_object(Bucket=a.bucket, Key=a.key("bin/run.sh"))
        assert head["Metadata"]["mode"] == "100755"  # as rclone -M writes it
        assert a.s3.head_object(Bucket=a.bucket, Key=a.key("data.csv"))["Metadata"]["mode"] == "100640"
        assert counts(b.sync_json()) == {"download": 2}
    assert mode(b.path("bin/run.sh")) == 0o755
    assert mode(b.path("data.csv")) == 0o640


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_an_object_without_a_mode_gets_the_umask_default_and_a_replaced_file_keeps_its_bits(
    pairs: tuple[Pair, Pair], mask: int, expected: int
) -> None:
    a, _ = pairs
    a.put("other-tool.txt", b"uploaded by another tool")
    a.write("mine.txt", b"v1").chmod(0o700)
    with umask(mask):
        assert counts(a.sync_json("--no-permissions")) == {"upload": 1, "download": 1}
        assert mode(a.path("other-tool.txt")) == expected
        a.put("mine.txt", b"v2, by another tool, no mode recorded")
        assert counts(a.sync_json()) == {"download": 1}
    assert a.path("mine.txt").read_bytes() == b"v2, by another tool, no mode recorded"
    assert mode(a.path("mine.txt")) == 0o700


def test_an_update_keeps_an_executable_executable(pairs: tuple[Pair, Pair]) -> None:
    a, b = pairs
    a.write("run.sh", b"#!/bin/sh\n").chmod(0o755)
    a.sync_json()
    b.sync_json()
    a.write("run.sh", b"#!/bin/sh\necho v2\n").chmod(0o755)
    assert counts(a.sync_json()) == {"upload": 1}
    assert counts(b.sync_json()) == {"download": 1}
    assert mode(b.path("run.sh")) == 0o755


def test_no_permissions_stores_no_mode(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.write("run.sh", b"#!/bin/sh\n").chmod(0o755)
    assert counts(a.sync_json("--no-permissions")) == {"upload": 1}
    assert "mode" not in a.s3.head_object(Bucket=a.bucket, Key=a.key("run.sh"))["Metadata"]


def test_uploads_carry_a_content_type_guessed_from_the_name(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    for name in ("index.html", "photo.jpg", "notes.txt", "no-extension"):
        a.write(name, b"x")
    assert counts(a.sync_json()) == {"upload": 4}
    types = {name: a.s3.head_object(Bucket=a.bucket, Key=a.key(name))["ContentType"]
             for name in ("index.html", "photo.jpg", "notes.txt", "no-extension")}
    assert types == {"index.html": "text/html", "photo.jpg": "image/jpeg",
                     "notes.txt": "text/plain", "no-extension": "application/octet-stream"}


def test_content_type_none_leaves_the_content_type_to_the_server(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.write("index.html", b"<p>x</p>")
    assert counts(a.sync_json("--content-type", "none")) == {"upload": 1}
    assert a.s3.head_object(Bucket=a.bucket, Key=a.key("index.html"))["ContentType"] != "text/html"


def test_folder_markers_become_folders_once_and_never_files(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.write("keep.txt", b"k")
    a.put("photos/", b"")
    a.put("photos/2026/", b"")
    a.put("docs/", b"")
    result = a.sync("--json")
    assert "folder marker" not in result.err
    assert a.path("photos/2026").is_dir()
    assert a.path("docs").is_dir()
    assert set(a.local()) == {"keep.txt"}, "a marker is never a file"
    # A folder the user removes is not made again by its marker, and nothing is deleted.
    a.path("docs").rmdir()
    result = a.sync("--json")
    assert "folder marker" not in result.err
    assert not a.path("docs").exists()
    assert set(a.listing()) == {"keep.txt", "photos/", "photos/2026/", "docs/"}


def test_a_chmod_alone_travels_both_ways_without_moving_data(pairs: tuple[Pair, Pair]) -> None:
    a, b = pairs
    a.write("run.sh", b"#!/bin/sh\n").chmod(0o644)
    a.write("other.txt", b"o")
    assert counts(a.sync_json()) == {"upload": 2}
    assert counts(b.sync_json()) == {"download": 2}
    assert counts(a.sync_json()) == {}  # records what the upload's reply did not tell

    a.path("run.sh").chmod(0o755)
    summary = a.sync_json()
    assert (counts(summary), summary["metadata"], summary["bytes_up"], summary["bytes_down"]) == ({}, 1, 0, 0)
    head = a.s3.head_object(Bucket=a.bucket, Key=a.key("run.sh"))
    assert head["Metadata"]["mode"] == "100755"
    assert "mtime" in head["Metadata"]
    assert "md5chksum" in head["Metadata"], "the rest of the metadata is kept"
    assert head["ContentType"] == "text/x-sh"

    summary = b.sync_json()
    assert (counts(summary), summary["metadata"], summary["bytes_up"], summary["bytes_down"]) == ({}, 1, 0, 0)
    assert mode(b.path("run.sh")) == 0o755
    assert counts(a.sync_json()) == {}
    assert counts(b.sync_json()) == {}

    b.path("run.sh").chmod(0o700)
    assert b.sync_json()["metadata"] == 1
    summary = a.sync_json()
    assert (summary["metadata"], summary["bytes_down"]) == (1, 0)
    assert mode(a.path("run.sh")) == 0o700
    assert a.path("run.sh").read_bytes() == b"#!/bin/sh\n"


def test_a_chmod_is_not_carried_with_no_permissions(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.write("run.sh", b"#!/bin/sh\n").chmod(0o644)
    a.write("other.txt", b"o")
    a.sync_json("--no-permissions")
    a.path("run.sh").chmod(0o755)
    summary = a.sync_json("--no-permissions")
    assert (counts(summary), summary["metadata"]) == ({}, 0)
    assert "mode" not in a.s3.head_object(Bucket=a.bucket, Key=a.key("run.sh"))["Metadata"]


def test_a_state_db_of_schema_1_gains_the_new_columns_and_keeps_its_rows(pairs: tuple[Pair, Pair]) -> None:
    a, _ = pairs
    a.write("x.txt", b"x")
    a.write("y.txt", b"y")
    assert counts(a.sync_json()) == {"upload": 2}
    (db,) = a.state.glob("*.db")
    with sqlite3.connect(db) as conn:  # what s3sync before modes left
        for column in ("local_mode", "remote_mode", "remote_modified_ns"):
            conn.execute(f"ALTER TABLE entries DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert counts(a.sync_json()) == {}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
        rows = conn.execute("SELECT rel, local_mode, remote_modified_ns FROM entries ORDER BY rel").fetchall()
    assert [(rel, mode is not None, modified is not None) for rel, mode, modified in rows] == [
        ("x.txt", True, True), ("y.txt", True, True)]


def test_empty_folders_travel_both_ways_as_markers(pairs: tuple[Pair, Pair]) -> None:
    a, b = pairs
    a.write("keep.txt", b"k")
    a.path("empty/inner").mkdir(parents=True)
    a.path("full").mkdir()
    a.write("full/f.txt", b"f")
    a.sync_json("--empty-dirs")
    assert set(a.listing()) == {"keep.txt", "full/f.txt", "empty/inner/"}
    b.sync_json("--empty-dirs")
    assert b.path("empty/inner").is_dir()
    assert set(b.local()) == {"keep.txt", "full/f.txt"}

    b.path("empty/inner").rmdir()  # removed on one side...
    b.sync_json("--empty-dirs")
    assert "empty/inner/" not in a.listing()
    a.sync_json("--empty-dirs")
    assert not a.path("empty/inner").exists(), "...and on the other, while empty"

    a.path("gone").mkdir()
    a.sync_json("--empty-dirs")
    b.sync_json("--empty-dirs")
    b.write("gone/new.txt", b"written before the marker went")
    a.path("gone").rmdir()
    a.sync_json("--empty-dirs")
    b.sync_json("--empty-dirs")
    assert b.path("gone/new.txt").read_bytes() == b"written before the marker went"
    assert "gone/new.txt" in a.listing(), "never its content"
