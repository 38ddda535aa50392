"""Watch passes and polls with ``links``: a hint on a symlink's name, or a poll that finds
its ``.rclonelink`` key changed, carries the link as a full sync would (issue 13)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3sync.core.scope import Scope
from tests.s3server import S3Server
from tests.service.harness import ScopedPair


@pytest.fixture
def pair(s3server: S3Server, bucket: str, tmp_path: Path) -> ScopedPair:
    p = ScopedPair(s3server, bucket, tmp_path, links=True)
    assert p.run() == {"upload": 1}  # the history a scoped pass needs
    return p


@pytest.mark.parametrize("hint", ["current", "current.rclonelink"])
def test_a_watch_hint_on_a_link_uploads_and_deletes_it(pair: ScopedPair, hint: str) -> None:
    (pair.root / "current").symlink_to("v1")
    assert pair.run(Scope(files={hint})) == {"upload": 1}
    assert pair.get("current.rclonelink") == b"v1"
    assert "current" not in pair.listed()

    (pair.root / "current").unlink()
    assert pair.run(Scope(files={hint})) == {"delete_remote": 1}
    assert "current.rclonelink" not in pair.listed()


def test_a_link_in_a_hinted_folder_is_a_link(pair: ScopedPair) -> None:
    (pair.root / "sub").mkdir()
    (pair.root / "sub" / "to-keep").symlink_to("../keep.txt")
    assert pair.run(Scope(folders={"sub"})) == {"upload": 1}
    assert pair.get("sub/to-keep.rclonelink") == b"../keep.txt"


def test_a_poll_restores_a_link_and_a_retarget(pair: ScopedPair) -> None:
    pair.put("current.rclonelink", b"v1")
    assert pair.run(Scope(), poll=True) == {"download": 1}
    assert os.readlink(pair.root / "current") == "v1"
    pair.put("current.rclonelink", b"v2")
    assert pair.run(Scope(), poll=True) == {"download": 1}
    assert os.readlink(pair.root / "current") == "v2"
    assert pair.run() == {}  # the full sync agrees: nothing left to do
