"""`s3sync sync` against what an attacker who can write to the bucket (or a careless
user) does: planted ignore files and trash keys, Unicode twins, temp-looking names.

Each test fails on the code before the fix it guards (issue 12, items 2-4).
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import TRASH, Pair, counts, make_pair
from tests.s3server import S3Server

NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")
KEEP = "keep/bystander.txt"
K = {KEEP: b"keep"}


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    """A pair that synced one bystander file, so that no side of a test ever comes back
    empty (the emptied-side rail would stop the run)."""
    made = make_pair(cli, s3server.client(), bucket, tmp_path)
    made.write(KEEP, b"keep")
    assert counts(made.sync_json()) == {"upload": 1}
    return made


# -- item 2: s3sync's own names are never synced, whatever the bucket holds -----------


@pytest.mark.parametrize("planted", [b"!/.s3sync-trash/\n", b"*.txt\n", b"\xff\xfe not utf-8\n"])
def test_a_planted_ignore_file_is_never_downloaded_nor_obeyed(pair: Pair, planted: bytes) -> None:
    pair.write("doomed.txt", b"deleted, so kept in the trash")
    pair.sync_json()
    pair.delete("doomed.txt")
    pair.sync_json()
    assert pair.trash() == {"doomed.txt": b"deleted, so kept in the trash"}

    pair.put(".s3syncignore", planted)
    pair.put("new.txt", b"from the bucket")
    pair.write("mine.txt", b"local")
    summary = pair.sync_json()
    assert counts(summary) == {"upload": 1, "download": 1}
    assert not (pair.root / ".s3syncignore").exists()
    assert pair.local() == {**K, "new.txt": b"from the bucket", "mine.txt": b"local"}
    assert set(pair.listing()) == {KEEP, ".s3syncignore", "new.txt", "mine.txt"}, "the trash never goes up"
    assert counts(pair.sync_json()) == {}


def test_a_local_ignore_file_is_obeyed_and_never_uploaded(pair: Pair) -> None:
    pair.write(".s3syncignore", b"*.log\n")
    pair.write("a.log", b"hidden")
    pair.write("a.txt", b"synced")
    assert counts(pair.sync_json()) == {"upload": 1}
    assert set(pair.listing()) == {KEEP, "a.txt"}


def test_a_key_named_like_the_trash_does_not_break_local_deletes(pair: Pair) -> None:
    pair.put(".s3sync-trash", b"a file where the trash folder goes")
    pair.put(".S3SYNC-TRASH/x.txt", b"the trash, on a folder that ignores case")
    pair.write("a.txt", b"a")
    assert counts(pair.sync_json()) == {"upload": 1}
    assert not (pair.root / TRASH).exists()
    assert not (pair.root / ".S3SYNC-TRASH").exists()
    pair.path("a.txt").unlink()
    pair.put("b.txt", b"b")
    assert counts(pair.sync_json()) == {"download": 1, "delete_remote": 1}
    pair.delete("b.txt")
    assert counts(pair.sync_json()) == {"delete_local": 1}
    assert pair.trash() == {"b.txt": b"b"}


# -- item 3: Unicode twins, and every request uses the key as listed -------------------


def test_a_unicode_twin_in_the_bucket_leaves_both_names_alone(pair: Pair) -> None:
    pair.write(NFC, b"synced")
    assert counts(pair.sync_json()) == {"upload": 1}
    pair.put(NFD, b"a twin")
    summary = pair.sync_json()
    assert counts(summary) == {}
    assert summary["skipped"] >= 1
    assert pair.local() == {**K, NFC: b"synced"}
    assert pair.trash() == {}
    assert counts(pair.sync_json()) == {}
    # Once the twin is gone, the name syncs again: equal content is adopted, nothing lost.
    pair.s3.delete_object(Bucket=pair.bucket, Key=pair.key(NFD))
    assert counts(pair.sync_json()) == {}
    assert pair.local() == {**K, NFC: b"synced"}
    assert pair.remote() == {**K, NFC: b"synced"}


def test_an_nfd_key_is_downloaded_updated_and_deleted_under_its_own_spelling(pair: Pair) -> None:
    pair.put(NFD, b"one")
    assert counts(pair.sync_json()) == {"download": 1}
    assert counts(pair.sync_json()) == {}
    assert (pair.root / NFD).exists() or (pair.root / NFC).exists()
    disk = next(name for name in os.listdir(pair.root) if unicodedata.normalize("NFC", name) == NFC)

    (pair.root / disk).write_bytes(b"two, edited locally")
    assert counts(pair.sync_json()) == {"upload": 1}
    assert pair.remote() == {**K, NFD: b"two, edited locally"}, "the listed key is updated, no twin made"

    pair.put(NFD, b"three, edited remotely")
    assert counts(pair.sync_json()) == {"download": 1}
    assert (pair.root / disk).read_bytes() == b"three, edited remotely"

    (pair.root / disk).unlink()
    assert counts(pair.sync_json()) == {"delete_remote": 1}
    assert set(pair.listing()) == {KEEP}
    assert counts(pair.sync_json()) == {}


def test_an_nfd_key_beside_an_nfc_file_is_adopted_and_stays_one_object(pair: Pair) -> None:
    pair.write(NFC, b"same")
    pair.put(NFD, b"same")
    assert counts(pair.sync_json()) == {}
    pair.write(NFC, b"edited")
    assert counts(pair.sync_json()) == {"upload": 1}
    assert pair.remote() == {**K, NFD: b"edited"}


# -- item 4: only what s3sync made is removed as a leftover -----------------------------


def test_the_backup_job_never_touches_a_source_file_that_looks_like_a_temp_file(pair: Pair) -> None:
    pair.write(".draft.s3sync-tmp-0123abcd", b"the user's draft")
    pair.write("a.txt", b"a")
    before = sorted(os.listdir(pair.root))
    assert counts(pair.sync_json("--mode", "push", "--no-delete")) == {"upload": 2}
    assert sorted(os.listdir(pair.root)) == before
    assert pair.get(".draft.s3sync-tmp-0123abcd") == b"the user's draft"


def test_a_temp_looking_key_is_an_ordinary_file_and_does_not_loop(pair: Pair) -> None:
    pair.put(".evil.s3sync-tmp-0badcafe", b"planted")
    assert counts(pair.sync_json()) == {"download": 1}
    for _ in range(2):
        assert counts(pair.sync_json()) == {}
    assert pair.local() == {**K, ".evil.s3sync-tmp-0badcafe": b"planted"}
    assert set(pair.listing()) == {KEEP, ".evil.s3sync-tmp-0badcafe"}
