"""The root rule, across drawn trees: no pass acts below a symlink or outside the root.

Engine tier, on the real filesystem and the session's real S3 server: a pair syncs a
drawn tree, then folders and files of it are replaced by symlinks to a folder outside
the root, and the bucket changes below them as an attacker who can write to it would
(deletes, edits, new keys). Every kind of pass then runs — a full sync, a watch pass
scoped to the paths below the links, a poll, a rescan — and none may plan an action
other than retiring a base row at or below a link, nor change anything outside.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3sync.adapters.s3 import Connection, S3Store
from s3sync.config import SyncOptions
from s3sync.core.plan import Action, Forget
from s3sync.core.scope import Scope
from s3sync.engine import NothingChanged, PairSpec, PairSync
from s3sync.executor import Executor
from tests.e2e.sync_helpers import tree_snapshot
from tests.s3server import S3Server

pytestmark = pytest.mark.slow

FOLDERS = ["d0", "d1", "d1/e"]
FILES = [f"{folder}/f{i}" for folder in FOLDERS for i in range(2)] + ["top"]
PREFIX = "p/"


@st.composite
def attacks(draw: Any) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(files synced, paths made symlinks, remote changes below them as (kind, rel))."""
    files = draw(st.lists(st.sampled_from(FILES), min_size=1, unique=True))
    linkable = sorted({f.rpartition("/")[0] for f in files if "/" in f} | set(files))
    links = draw(st.lists(st.sampled_from(linkable), min_size=1, max_size=2, unique=True))
    links = [link for link in links if not any(link.startswith(other + "/") for other in links)]
    below = [f for f in files if any(f == link or f.startswith(link + "/") for link in links)]
    candidates = [("delete", f) for f in below] + [("edit", f) for f in below]
    candidates += [("new", f"{link}/planted") for link in links if link in FOLDERS]
    changes = draw(st.lists(st.sampled_from(candidates), unique_by=lambda c: c[1])) if candidates else []
    return files, links, changes


def _below(rel: str, links: Iterable[str]) -> bool:
    return any(rel == link or rel.startswith(link + "/") for link in links)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attacks())
def test_no_pass_acts_below_a_symlink_or_outside_the_root(
    s3server: S3Server, bucket: str, tmp_path_factory: pytest.TempPathFactory,
    attack: tuple[list[str], list[str], list[tuple[str, str]]],
) -> None:
    files, links, changes = attack
    tmp = tmp_path_factory.mktemp("root-rule")
    root, outside, state = tmp / "root", tmp / "outside", tmp / "state"
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"synced {rel}".encode())
    s3 = s3server.client()
    spec = PairSpec("rule", root, bucket, PREFIX, SyncOptions(trash=False, settle=0))
    conn = Connection(endpoint_url=s3server.endpoint, region="us-east-1",
                      access_key_id=s3server.access_key, secret_access_key=s3server.secret_key)
    seen: list[Action] = []

    async def scenario() -> None:
        async with S3Store.open(conn) as store:
            await PairSync(store, spec, state).run()
            _link_out(root, outside, links)
            before = tree_snapshot(outside)
            for kind, rel in changes:
                if kind == "delete":
                    s3.delete_object(Bucket=bucket, Key=PREFIX + rel)
                else:
                    s3.put_object(Bucket=bucket, Key=PREFIX + rel, Body=f"planted {rel}".encode())
            below = sorted({rel for _kind, rel in changes} | set(links))
            passes: Sequence[PairSync] = [
                PairSync(store, spec, state, scope=Scope(files=set(below), folders=set(links))),
                PairSync(store, spec, state, scope=Scope(), poll=True),
                PairSync(store, spec, state),  # a full sync, as a rescan runs it too
                PairSync(store, spec, state, scope=Scope(files=set(below))),
            ]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(Executor, "run", _spy(Executor.run, seen))
                for one in passes:
                    try:
                        await one.run()
                    except NothingChanged:
                        pass
            assert tree_snapshot(outside) == before

    try:
        asyncio.run(scenario())
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", ()):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
    acted = [a for a in seen if _below(a.rel, links) and not isinstance(a, Forget)]
    assert not acted, acted
    for action in seen:
        assert not os.path.isabs(action.rel)
        assert ".." not in action.rel.split("/")


def _link_out(root: Path, outside: Path, links: list[str]) -> None:
    """Replace each of ``links`` by a symlink to a same-named path outside the root that
    holds files of the same names (what a delete through the link would destroy)."""
    for link in links:
        target = outside / link.replace("/", "_")
        path = root / link
        if path.is_dir():
            target.mkdir(parents=True)
            for child in path.iterdir():
                if child.is_file():
                    (target / child.name).write_bytes(b"outside " + child.name.encode())
            _remove_tree(path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"outside file")
            path.unlink()
        path.symlink_to(target)


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        _remove_tree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    path.rmdir()


def _spy(run: Any, seen: list[Action]) -> Any:
    async def spying(self: Executor, actions: Iterable[Action]) -> Any:
        actions = list(actions)
        seen.extend(actions)
        return await run(self, actions)

    return spying
