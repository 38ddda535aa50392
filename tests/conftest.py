from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.s3server import S3Server, force_delete, test_server

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def s3server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with test_server(tmp_path_factory.mktemp("s3server")) as server:
        yield server


@pytest.fixture(autouse=True)
def _isolate_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A developer's ~/.aws or AWS_* variables must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3SYNC_")) and not name.startswith("S3SYNC_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture
def bucket(s3server: S3Server) -> Iterator[str]:
    name = s3server.new_bucket()
    yield name
    force_delete(s3server, name)


def needs(server: S3Server, feature: str) -> None:
    if not server.supports(feature):
        pytest.skip(f"the test server lacks {feature} (probed)")


@dataclass
class Result:
    code: int
    out: str
    err: str
    out_bytes: bytes


@dataclass
class Cli:
    server: S3Server
    cwd: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = self.server.env()
        env["XDG_CONFIG_HOME"] = str(self.cwd / "xdg-config")
        env["XDG_STATE_HOME"] = str(self.cwd / "xdg-state")
        env["PYTHONPATH"] = str(REPO)
        env.update(extra)
        return env

    def __call__(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "s3sync", *args],
            input=input,
            capture_output=True,
            cwd=self.cwd,
            env={**self.env(), **(env or {})},
            timeout=timeout,
        )
        return Result(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            proc.stdout,
        )


@pytest.fixture
def cli(s3server: S3Server, tmp_path: Path) -> Cli:
    return Cli(s3server, tmp_path)


# -- runs as user nobody: the suite runs as root, who may read and write everything ------

NOBODY = 65534
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder owned by nobody, below none that nobody may not enter (unlike tmp_path)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the sync as another user")
    reachable = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import s3sync"],
        capture_output=True, cwd="/", check=False,
    )
    if reachable.returncode != 0:
        # A checkout below a folder only root may enter (mktemp -d makes them 0700).
        pytest.skip(f"user nobody cannot import s3sync from this checkout: {reachable.stderr.decode().strip()}")
    base = Path(tempfile.mkdtemp(prefix="s3sync-nobody-"))
    os.chmod(base, 0o755)
    os.chown(base, NOBODY, NOBODY)
    yield base
    for path in base.rglob("*"):
        with contextlib.suppress(OSError):
            path.chmod(0o700 if path.is_dir() else 0o600)
    shutil.rmtree(base, ignore_errors=True)


def nobody_env(cli: Cli, home: Path) -> dict[str, str]:
    return {**cli.env(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / "xdg"), "XDG_STATE_HOME": str(home / "xdg")}


def run_as_nobody(cli: Cli, *args: str, home: Path, timeout: float = 120) -> Result:
    """The CLI as user nobody, from ``home`` (a folder nobody may enter)."""
    proc = subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "s3sync", *args],
        capture_output=True, cwd=home, env=nobody_env(cli, home), timeout=timeout, check=False,
    )
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"), proc.stdout)


def one_error_line(result: Result, code: int, *names: str) -> str:
    """Assert the CLI failed with ``code`` and exactly one stderr line naming each of ``names``."""
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]
