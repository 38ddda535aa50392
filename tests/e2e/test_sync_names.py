"""`s3sync sync` end to end: names that do not map, odd names, links and special files."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import Pair, counts, make_pair, summary_of, tree_snapshot
from tests.s3server import S3Server

HOSTILE = ["../x", "a/../../x", "/abs", "a//b", "./x", "dir/", "a/./b", "deep/../../../../x", "p/../../y"]


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    return make_pair(cli, s3server.client(), bucket, tmp_path)


def test_hostile_keys_are_skipped_with_a_warning(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    # The whole bucket is the pair: every key is taken relative to the root itself.
    prefix = ""
    pair = make_pair(cli, s3server.client(), bucket, tmp_path, prefix=prefix)
    for name in HOSTILE:
        pair.put(name, b"hostile " + name.encode())
    pair.put("ok.txt", b"fine")
    assert set(pair.listing()) == {*HOSTILE, "ok.txt"}, "the server keeps the keys as given"
    around = tree_snapshot(tmp_path)
    assert not Path("/abs").exists()

    result = pair.sync("--json")
    summary = summary_of(result)
    assert counts(summary) == {"download": 1}
    assert summary["skipped"] == len(HOSTILE)
    for name in HOSTILE:
        assert prefix + name in result.err, f"no warning names {prefix + name!r}"
    assert pair.local() == {"ok.txt": b"fine"}
    after = tree_snapshot(tmp_path)
    added = {p for p in after.keys() - around.keys() if not p.startswith("a/state")}
    assert added == {"a/root/ok.txt"}, "nothing is written anywhere but the one good file"
    assert not Path("/abs").exists()

    # A second run neither deletes the keys it cannot map nor trips over them.
    assert counts(pair.sync_json()) == {}
    assert set(pair.listing()) == {*HOSTILE, "ok.txt"}


NAMES = [
    "café.txt",
    unicodedata.normalize("NFD", "résumé nfd.txt"),
    "with space.txt",
    " leading and trailing .txt",
    "a+b.txt",
    "100%.txt",
    "%41%2Fencoded.txt",
    "q?h#a&e=t~.txt",
    "日本/語 ファイル.txt",
    "emoji 🎉/ok.txt",
    "Ωmega/ünïcödé/ß.txt",
]


def test_odd_names_round_trip_through_a_second_folder(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3 = s3server.client()
    a = make_pair(cli, s3, bucket, tmp_path, "a")
    b = make_pair(cli, s3, bucket, tmp_path, "b")
    files = {name: f"content of {name}\n".encode() for name in NAMES}
    for name, data in files.items():
        a.write(name, data)
    nfc = {unicodedata.normalize("NFC", name): data for name, data in files.items()}

    assert counts(a.sync_json()) == {"upload": len(NAMES)}
    assert a.remote() == nfc, "keys are the NFC names, byte for byte"
    assert counts(b.sync_json()) == {"download": len(NAMES)}
    assert b.local() == nfc

    b.write("a+b.txt", b"edited in b")
    b.path("100%.txt").unlink()
    b.write("日本/new ü.txt", b"new in b")
    assert counts(b.sync_json()) == {"upload": 2, "delete_remote": 1}

    # The NFD name in a is the same file as its NFC key: never a delete plus a create.
    summary = a.sync_json()
    assert counts(summary) == {"download": 2, "delete_local": 1}
    expected = {**files, "a+b.txt": b"edited in b", "日本/new ü.txt": b"new in b"}
    del expected["100%.txt"]
    assert a.local() == expected
    assert unicodedata.normalize("NFD", "résumé nfd.txt") in os.listdir(a.root)
    assert unicodedata.normalize("NFC", "résumé nfd.txt") not in os.listdir(a.root)


def test_links_and_special_files_are_skipped(pair: Pair, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not part of the pair")
    (outside / "dir").mkdir()
    (pair.root / "link.txt").symlink_to(outside / "secret.txt")
    (pair.root / "linkdir").symlink_to(outside / "dir", target_is_directory=True)
    os.mkfifo(pair.root / "pipe")
    pair.write("real.txt", b"real")
    # A remote key below the symlinked folder must not be written through the link.
    pair.put("linkdir/evil.txt", b"would land outside the root")
    pair.put("link.txt", b"would replace the symlink")
    around = tree_snapshot(outside)

    result = pair.sync("--json", timeout=60)
    summary = summary_of(result)
    assert counts(summary) == {"upload": 1}
    assert summary["skipped"] >= 3
    assert set(pair.listing()) == {"real.txt", "linkdir/evil.txt", "link.txt"}
    assert pair.get("link.txt") == b"would replace the symlink"
    assert tree_snapshot(outside) == around, "nothing is written outside the root"
    assert (pair.root / "link.txt").is_symlink()
    assert "symlink" in result.err
    assert "not a regular file" in result.err

    assert counts(pair.sync_json(timeout=60)) == {}
    assert set(pair.listing()) == {"real.txt", "linkdir/evil.txt", "link.txt"}
    assert tree_snapshot(outside) == around


def test_names_that_cannot_round_trip_are_never_synced_nor_deleted(pair: Pair) -> None:
    # A user's file that merely contains the marker is theirs, not a leftover temp file.
    pair.write("notes.s3sync-tmp-draft.txt", b"the user's own file")
    # A key that looks exactly like one of our (old) temp files is an ordinary file: it
    # bears no tag of this pair's, so it is downloaded, and never removed as a leftover.
    pair.put("d/.f.txt.s3sync-tmp-0123abcd", b"someone's object")
    pair.put("d/f.txt", b"f")
    # A backslash is a legal byte in a POSIX name, but a key with one is not mapped back.
    pair.write("back\\slash.txt", b"local backslash")
    pair.write("win\\dir/inside.txt", b"below a folder with a backslash")
    pair.put("remote\\slash.txt", b"remote backslash")
    result = pair.sync("--json")
    assert counts(summary_of(result)) == {"upload": 1, "download": 2}
    assert "back\\\\slash.txt" in result.err or "back\\slash.txt" in result.err
    assert counts(pair.sync_json()) == {}
    assert pair.local() == {
        "notes.s3sync-tmp-draft.txt": b"the user's own file", "d/f.txt": b"f",
        "d/.f.txt.s3sync-tmp-0123abcd": b"someone's object",
        "back\\slash.txt": b"local backslash", "win\\dir/inside.txt": b"below a folder with a backslash",
    }
    assert pair.remote() == {
        "notes.s3sync-tmp-draft.txt": b"the user's own file",
        "d/.f.txt.s3sync-tmp-0123abcd": b"someone's object",
        "d/f.txt": b"f",
        "remote\\slash.txt": b"remote backslash",
    }


def test_folder_replaced_by_a_symlink_is_not_a_delete(pair: Pair, tmp_path: Path) -> None:
    pair.write("photos/a.jpg", b"a")
    pair.write("photos/b.jpg", b"b")
    pair.write("other.txt", b"o")
    pair.sync_json()
    # The user moves the folder to another disk and leaves a symlink in its place.
    moved = tmp_path / "elsewhere" / "photos"
    moved.parent.mkdir()
    (pair.root / "photos").rename(moved)
    (pair.root / "photos").symlink_to(moved, target_is_directory=True)
    pair.put("photos/c.jpg", b"new remotely")

    summary = pair.sync_json()
    assert counts(summary) == {}
    assert set(pair.listing()) == {"photos/a.jpg", "photos/b.jpg", "photos/c.jpg", "other.txt"}
    assert sorted(os.listdir(moved)) == ["a.jpg", "b.jpg"], "nothing written through the link"
