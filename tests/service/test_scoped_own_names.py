"""Watch passes and polls drop s3sync's own names by the rule a full sync uses, and
only those (issue 14: the scoped copies had drifted from it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3sync.core.scope import Scope
from tests.s3server import S3Server
from tests.service.harness import ScopedPair

USERS = "notes.s3sync-tmp-draft.txt"  # the user's own file, whatever its name looks like
PROBE = ".s3sync-probe-0123456789ab"


@pytest.fixture
def pair(s3server: S3Server, bucket: str, tmp_path: Path) -> ScopedPair:
    p = ScopedPair(s3server, bucket, tmp_path)
    p.run()  # the history a scoped pass needs
    return p


def test_a_watch_pass_uploads_a_users_file_that_only_looks_like_a_temp_name(pair: ScopedPair) -> None:
    (pair.root / USERS).write_bytes(b"mine")
    assert pair.run(Scope(files={USERS})) == {"upload": 1}
    assert USERS in pair.listed()


def test_a_poll_leaves_probe_keys_and_the_trash_and_takes_the_users_keys(pair: ScopedPair) -> None:
    for key in (PROBE, ".s3sync-trash/20261204-000000/x.txt", USERS):
        pair.put(key, b"x")
    assert pair.run(Scope(), poll=True) == {"download": 1}
    assert (pair.root / USERS).read_bytes() == b"x"
    assert not (pair.root / PROBE).exists()
    assert not (pair.root / ".s3sync-trash" / "20261204-000000").exists()
    assert pair.run() == {}  # the full sync agrees
