"""The API is typed for its users: mypy --strict passes on examples/api_example.py and on
the snippets of docs/python.md, and catches misuse; and the example program works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import REPO
from tests.s3server import S3Server
from tests.test_docs import python_source

EXAMPLE = REPO / "examples" / "api_example.py"

# Each line marked must draw (at least) the error named, and no other line any error: the
# types say what is allowed.
MISUSE = '''\
from s3sync import Client

with Client() as s3:
    s3.sync("photos", "s3://b", mode="sideways")  # expect: arg-type
    s3.put_text("b", "k", b"bytes, not text")  # expect: arg-type
    s3.buckets()[0].created = None  # expect: misc
    size: str = s3.put_text("b", "k", "v").size  # expect: assignment
    s3.url("b", "k", expire=60)  # expect: call-arg
'''


def test_mypy_strict_passes_on_the_example_and_the_docs(tmp_path: Path) -> None:
    docs = tmp_path / "docs_python_md.py"
    docs.write_text(python_source(), encoding="utf-8")
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-color-output", "--no-error-summary",
         "--show-error-codes", str(EXAMPLE), str(docs), str(misuse)],
        # From the repository, so mypy reads its config and finds s3sync as source (an
        # editable install's import hook is invisible to mypy).
        cwd=REPO, env={**os.environ, "MYPYPATH": str(REPO)}, capture_output=True, text=True,
        timeout=600,
    )
    # By file name: mypy's cache can replay a file's messages under the path it had when
    # the same content was last checked (another pytest tmp folder).
    lines = proc.stdout.splitlines()
    assert [x for x in lines if not x.split(":")[0].endswith("/misuse.py")] == [], (
        proc.stdout + proc.stderr
    )
    expected = {
        n: m.group(1) for n, line in enumerate(MISUSE.splitlines(), 1)
        if (m := re.search(r"# expect: (\S+)", line))
    }
    found: dict[int, set[str]] = {}
    for line in lines:
        hit = re.match(r".*/misuse\.py:(\d+): error: .*\[([\w-]+)\]$", line)
        if hit:
            found.setdefault(int(hit.group(1)), set()).add(hit.group(2))
    assert set(found) == set(expected), proc.stdout
    assert all(code in found[n] for n, code in expected.items()), proc.stdout


def run_example(server: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env={**server.env(), "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=120,
    )


def test_the_example_backs_a_folder_up(s3server: S3Server, bucket: str, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "big.bin").write_bytes(b"b" * 5000)
    (folder / "sub" / "small.txt").write_bytes(b"s" * 10)
    (folder / "scratch.tmp").write_bytes(b"excluded")
    remote = f"s3://{bucket}/backup"

    preview = run_example(s3server, str(folder), remote, "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "would upload 2 files" in preview.stdout
    assert "0 objects" in preview.stdout

    done = run_example(s3server, str(folder), remote)
    assert done.returncode == 0, done.stderr
    assert "uploaded 2 files (5010 bytes)" in done.stdout
    assert f"2 objects, 5010 bytes under {remote}" in done.stdout
    assert "backup/big.bin\t5000" in done.stdout
    assert f"share: {s3server.endpoint}/{bucket}/backup/big.bin?" in done.stdout
    keys = [o["Key"] for o in s3server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["backup/big.bin", "backup/sub/small.txt"]


def test_the_example_reports_errors_in_one_line(s3server: S3Server, tmp_path: Path) -> None:
    missing = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x"
    result = run_example(s3server, str(tmp_path), missing)
    assert result.returncode == 1
    assert result.stderr.startswith("error: bucket does not exist")
    assert "Traceback" not in result.stderr
