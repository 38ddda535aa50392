"""Fixtures of the reliability suite: the fault proxy and pairs that sync through it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Cli, Result
from tests.e2e.sync_helpers import Pair
from tests.reliability import runner
from tests.reliability.faultproxy import FaultProxy
from tests.s3server import S3Server


@pytest.fixture
def proxy(s3server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3server.endpoint).running() as running:
        yield running


@dataclass
class ProxiedPair(Pair):
    """A ``Pair`` whose syncs reach the server through the fault proxy."""

    endpoint: str = ""
    env: dict[str, str] = field(default_factory=dict)  # added to the CLI's environment

    def args(self, *extra: str) -> list[str]:
        return [*super().args(*extra), "--endpoint-url", self.endpoint]

    def sync(self, *extra: str, expect: int | None = 0, timeout: float = 120) -> Result:
        """The real CLI, forked from a preloaded server (``runner``) instead of a fresh
        interpreter: the same process, exit code and output, a second less CPU."""
        child = runner.start(self.args(*extra), self.cli.env(**self.env), self.cli.cwd, self.root.parent / "cli")
        code, out, err = child.wait(timeout)
        result = Result(code, out, err, out.encode())
        if expect is not None:
            assert code == expect, f"exit {code}, wanted {expect}\nstdout:\n{out}\nstderr:\n{err}"
        return result


def proxied_pair(
    cli: Cli, s3server: S3Server, bucket: str, tmp: Path, proxy: FaultProxy,
    name: str = "a", prefix: str = "p/",
) -> ProxiedPair:
    root = tmp / name / "root"
    root.mkdir(parents=True)
    return ProxiedPair(cli, s3server.client(), bucket, prefix, root, tmp / name / "state", proxy.url)


@pytest.fixture
def ppair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path, proxy: FaultProxy) -> ProxiedPair:
    return proxied_pair(cli, s3server, bucket, tmp_path, proxy)
