"""Large objects come down as ranged GETs side by side, through the fault proxy.

A 17 MiB object is fetched as three parts (8 + 8 + 1 MiB) written at their offsets.
Whatever happens to one part, the file at the final path is a whole version or
nothing: a retried part is whole, a damaged one fails the download (the whole file's
MD5 is checked against the object's), and parts that would come from two versions, or
a server that ignores Range, fall back to one whole GET.
"""

from __future__ import annotations

import os
import threading

import pytest

from tests.e2e.sync_helpers import counts, summary_of, temp_files
from tests.reliability.conftest import ProxiedPair
from tests.reliability.faultproxy import Fault, FaultProxy, Hit, describe
from tests.reliability.helpers import api_sync, assert_converged, partial_files, untruthful_rows
from tests.s3server import S3Server

MiB = 1024 * 1024
SIZE = 17 * MiB  # three parts
BIG = r"^/[^/?]+/p/big\.bin$"


# The lean request path and botocore's (taken with a profile or virtual-hosted style).
PATHS = pytest.mark.parametrize("path", ["lean", "botocore"])


def _use(ppair: ProxiedPair, path: str) -> None:
    if path == "botocore":
        ppair.env["S3SYNC_FAST_PATH"] = "0"


def _remote_big(ppair: ProxiedPair) -> bytes:
    data = os.urandom(SIZE)
    ppair.put("big.bin", data)  # one plain PUT: its ETag is the whole file's MD5
    return data


@PATHS
def test_a_part_that_fails_once_is_retried(ppair: ProxiedPair, proxy: FaultProxy, path: str) -> None:
    _use(ppair, path)
    data = _remote_big(ppair)
    proxy.add(Fault("error", "GET", BIG, status=503))
    result = ppair.sync("--json", expect=None)
    where = f"exit {result.code}\n{describe(proxy.faults())}\n{result.err}"
    assert result.code == 0, where
    assert counts(summary_of(result)) == {"download": 1}, where
    assert proxy.count("GET", BIG) == 4, "three ranged GETs, one of them sent twice"
    assert ppair.path("big.bin").read_bytes() == data
    assert_converged(ppair)


@pytest.mark.parametrize("kind", ["corrupt", "truncate", "reset_body"])
def test_a_damaged_part_fails_the_download_cleanly(
    ppair: ProxiedPair, proxy: FaultProxy, s3server: S3Server, kind: str
) -> None:
    data = _remote_big(ppair)
    proxy.add(Fault(kind, "GET", BIG, skip=1))
    result = ppair.sync("--json", expect=None)
    where = f"exit {result.code}\n{describe(proxy.faults())}\n{result.out}\n{result.err}"
    assert proxy.fired() == 1, where
    assert result.code == 1, where
    assert "Traceback" not in result.err, where
    assert [(f["rel"], f["action"]) for f in summary_of(result)["failures"]] == [("big.bin", "download")]
    assert not ppair.path("big.bin").exists(), "nothing at the final path"
    assert temp_files(ppair.root) == []
    assert untruthful_rows(ppair) == []
    proxy.clear()
    assert api_sync(ppair, s3server, ppair.endpoint).ok
    assert ppair.path("big.bin").read_bytes() == data
    assert_converged(ppair)


@PATHS
def test_parts_from_two_versions_fall_back_to_one_whole_get(
    ppair: ProxiedPair, proxy: FaultProxy, path: str
) -> None:
    """The object is replaced (same size) after the first part was served and before
    the others are: the download must not splice them, and takes the new version whole."""
    _use(ppair, path)
    old = _remote_big(ppair)
    new = os.urandom(SIZE)
    replaced = threading.Event()

    def replace(_: Hit) -> None:
        ppair.put("big.bin", new)
        replaced.set()

    def after_the_replacement(_: Hit) -> None:
        assert replaced.wait(30)

    proxy.add(
        Fault("call", "GET", BIG, when="after", action=replace),
        Fault("call", "GET", BIG, skip=1, times=2, action=after_the_replacement),
    )
    result = ppair.sync("--json", expect=None)
    where = f"exit {result.code}\n{describe(proxy.faults())}\n{result.err}"
    assert result.code == 0, where
    assert proxy.fired() == 3, where
    assert proxy.count("GET", BIG) == 4, "three ranged GETs, then one whole"
    got = ppair.path("big.bin").read_bytes()
    assert got != old
    assert got == new
    assert partial_files(ppair, {new}) == []
    assert_converged(ppair)
    assert counts(ppair.sync_json()) == {}


def test_a_server_that_ignores_range_still_gives_the_whole_file(
    ppair: ProxiedPair, proxy: FaultProxy, s3server: S3Server
) -> None:
    if s3server.supports("signature_check"):
        pytest.skip("stripping signed headers needs a server that does not check signatures")
    data = _remote_big(ppair)
    proxy.add(Fault("strip_range", "GET", BIG, times=None))
    result = ppair.sync("--json", expect=None)
    where = f"exit {result.code}\n{describe(proxy.faults())}\n{result.err}"
    assert result.code == 0, where
    assert proxy.fired() >= 1, where
    assert ppair.path("big.bin").read_bytes() == data
    assert_converged(ppair)
