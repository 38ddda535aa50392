"""The case probe answers for the folder's filesystem and leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

from s3sync.adapters import localfs
from s3sync.core.own import OwnNames

OWN = OwnNames(b"k")


def test_a_case_sensitive_folder_is_seen_as_such_and_the_probe_is_gone(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert localfs.ignores_case(tmp_path, OWN) is False  # Linux temp dirs tell case apart
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]


def test_a_folder_that_cannot_be_written_is_not_probed(tmp_path: Path) -> None:
    assert localfs.ignores_case(tmp_path / "missing", OWN) is False
