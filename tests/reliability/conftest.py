"""Fixtures of the reliability suite: the fault proxy and pairs that sync through it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.sync_helpers import Pair
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

    def args(self, *extra: str) -> list[str]:
        return [*super().args(*extra), "--endpoint-url", self.endpoint]


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
