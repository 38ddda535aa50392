"""``SyncOptions`` is the one list of sync options: every option in it but the service's
timings is a flag of ``s3sync sync`` and ``s3sync watch``, and a keyword of both API
``sync`` methods with the same default, carried through to the engine's ``PairSpec``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest

from s3sync import AsyncClient, Client
from s3sync.cli.service import watch
from s3sync.cli.sync import sync
from s3sync.config import WATCH_ONLY, SyncOptions
from s3sync.engine import PairSpec
from tests.s3server import S3Server

OPTIONS = [name for name in SyncOptions.model_fields if name not in WATCH_ONLY]

# A value other than the default for each option, all valid together.
CHANGED: dict[str, Any] = {
    "mode": "push", "no_delete": True, "conflict": "newer", "max_delete": "7", "exclude": ("*.tmp",),
    "concurrency": 3, "checksum": True, "trash": False, "follow_symlinks": False, "links": True,
    "permissions": False, "empty_dirs": True, "content_type": "none",
}


def test_the_changed_values_cover_every_option() -> None:
    assert set(CHANGED) == set(OPTIONS)
    defaults = SyncOptions()
    changed = [name for name in OPTIONS if CHANGED[name] != getattr(defaults, name)]
    # follow_symlinks is the one left at its default: links excludes it.
    assert set(OPTIONS) - set(changed) == {"follow_symlinks"}


@pytest.mark.parametrize("command", [sync, watch], ids=["sync", "watch"])
def test_every_option_is_a_flag(command: click.Command) -> None:
    flags = {p.name for p in command.params}
    assert set(OPTIONS) <= flags


@pytest.mark.parametrize("method", [AsyncClient.sync, Client.sync], ids=["AsyncClient", "Client"])
def test_every_option_is_an_api_keyword_with_its_default(method: Callable[..., Any]) -> None:
    parameters = inspect.signature(method).parameters
    fields = SyncOptions.model_fields
    for name in OPTIONS:
        assert name in parameters, name
        assert parameters[name].default == fields[name].default, name


class Captured(Exception):
    def __init__(self, spec: PairSpec) -> None:
        self.spec = spec


def test_the_api_carries_every_option_to_the_engine(
    s3server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def capture(self: AsyncClient, spec: PairSpec, *args: Any, **kwargs: Any) -> None:
        raise Captured(spec)

    monkeypatch.setattr(AsyncClient, "run_pair", capture)
    with Client(s3server.endpoint, access_key=s3server.access_key, secret_key=s3server.secret_key) as client, \
            pytest.raises(Captured) as caught:
        client.sync(tmp_path, "s3://bucket/prefix", **CHANGED)
    options = caught.value.spec.options
    assert {name: getattr(options, name) for name in OPTIONS} == CHANGED
