"""The public Python API against the real test server: every toolbox method, sync
summaries, and that every error is an ``s3sync.errors`` exception."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import inspect
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

import s3sync
from s3sync import (
    AsyncClient,
    Bucket,
    Client,
    ObjectInfo,
    PlannedChange,
    SyncFailure,
    SyncSummary,
    errors,
)
from s3sync.adapters.s3 import Connection
from s3sync.adapters.statedb import PairLock, pair_id
from s3sync.api import pair_spec, summarize
from s3sync.config import SyncOptions
from s3sync.core.model import LocalEntry
from s3sync.core.paths import RelPath
from s3sync.core.plan import Plan, Upload
from s3sync.engine import PairSpec, Result
from s3sync.executor import Failure, Tally
from tests.conftest import needs
from tests.s3server import S3Server, force_delete, free_port


@pytest.fixture(scope="module", autouse=True)
def _restore_structlog() -> Iterator[None]:
    # Opening a client routes an unconfigured structlog to stdlib logging; tests in
    # other modules must not inherit that.
    configured, saved = structlog.is_configured(), structlog.get_config()
    yield
    if configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


def client_for(server: S3Server) -> Client:
    return Client(server.endpoint, access_key=server.access_key, secret_key=server.secret_key)


@pytest.fixture(scope="module")
def s3(s3server: S3Server) -> Iterator[Client]:
    # One client for the module: opening one costs botocore's model loading (~0.5 s).
    with client_for(s3server) as client:
        yield client


@pytest.fixture
async def as3(s3server: S3Server) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        s3server.endpoint, access_key=s3server.access_key, secret_key=s3server.secret_key
    ) as client:
        yield client


@pytest.fixture
def new_name(s3server: S3Server) -> Iterator[str]:
    """A bucket name nobody uses yet, deleted afterwards if the test created it."""
    name = f"api-{uuid.uuid4().hex[:16]}"
    yield name
    force_delete(s3server, name)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


def files(root: Path, contents: dict[str, bytes]) -> Path:
    for rel, data in contents.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# -- the toolbox ---------------------------------------------------------------------


def test_buckets_create_and_delete(s3: Client, new_name: str) -> None:
    s3.create_bucket(new_name)
    listed = {b.name: b for b in s3.buckets()}
    assert isinstance(listed[new_name], Bucket)
    assert isinstance(listed[new_name].created, datetime)
    assert listed[new_name].created.tzinfo is not None
    assert s3.delete_bucket(new_name) == 0
    assert new_name not in {b.name for b in s3.buckets()}


def test_objects_round_trip(s3: Client, bucket: str, tmp_path: Path) -> None:
    info = s3.put_text(bucket, "hello.txt", "Hello World!")
    assert isinstance(info, ObjectInfo)
    assert (info.key, info.size) == ("hello.txt", 12)
    s3.put_bytes(bucket, "dir/data.bin", b"\x00\x01", content_type="application/octet-stream")
    src = tmp_path / "poetry.pdf"
    src.write_bytes(b"%PDF-1.4 " * 100)
    assert s3.put_file(bucket, "perl_poetry.pdf", src).size == 900
    with open(src, "rb") as stream:
        assert s3.put_stream(bucket, "streamed.pdf", stream).size == 900

    listing = list(s3.list(bucket))
    assert [o.key for o in listing] == ["dir/data.bin", "hello.txt", "perl_poetry.pdf", "streamed.pdf"]
    assert all(isinstance(o, ObjectInfo) and o.modified.tzinfo is not None for o in listing)
    assert [o.key for o in s3.list(bucket, "dir/")] == ["dir/data.bin"]

    head = s3.head(bucket, "hello.txt")
    assert head is not None
    assert head.size == 12
    assert s3.head(bucket, "nothing-here") is None
    assert s3.get_text(bucket, "hello.txt") == "Hello World!"
    assert s3.get_bytes(bucket, "dir/data.bin") == b"\x00\x01"
    chunks: list[bytes] = []
    assert s3.download_stream(bucket, "hello.txt", chunks.append).size == 12
    assert b"".join(chunks) == b"Hello World!"

    dest = tmp_path / "copy.pdf"
    assert s3.download(bucket, "perl_poetry.pdf", dest).size == 900
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if ".s3sync-tmp-" in p.name] == []

    s3.delete(bucket, "hello.txt", "streamed.pdf")
    s3.delete(bucket, "goodbye.txt")  # S3: deleting what is not there is no error
    assert [o.key for o in s3.list(bucket)] == ["dir/data.bin", "perl_poetry.pdf"]


def test_list_stopped_early_leaves_the_client_usable(s3: Client, bucket: str) -> None:
    for n in range(3):
        s3.put_text(bucket, f"k{n}", "x")
    for obj in s3.list(bucket):
        assert obj.key == "k0"
        break
    assert len(list(s3.list(bucket))) == 3


def test_acl_and_urls(s3: Client, s3server: S3Server, bucket: str) -> None:
    s3.put_text(bucket, "hello.txt", "Hello World!")
    s3.put_text(bucket, "secret_plans.txt", "plans")
    s3.set_acl(bucket, "hello.txt", "public-read")
    s3.set_acl(bucket, "secret_plans.txt", "private")
    plain = s3.url(bucket, "hello.txt", signed=False)
    assert plain == f"{s3server.endpoint}/{bucket}/hello.txt"
    signed = s3.url(bucket, "secret_plans.txt", expires=3600)
    assert signed.startswith(f"{s3server.endpoint}/{bucket}/secret_plans.txt?")
    assert http_get(signed) == (200, b"plans")
    if s3server.supports("anonymous_acl"):
        assert http_get(plain) == (200, b"Hello World!")
        assert http_get(s3.url(bucket, "secret_plans.txt", signed=False))[0] == 403


def test_forced_delete_empties_the_bucket(s3: Client, new_name: str) -> None:
    s3.create_bucket(new_name)
    for key in ("a", "b/c", "d"):
        s3.put_text(new_name, key, key)
    with pytest.raises(errors.BucketNotEmptyError):
        s3.delete_bucket(new_name)
    assert s3.delete_bucket(new_name, force=True) == 3
    assert new_name not in {b.name for b in s3.buckets()}


async def test_async_client_does_the_same(as3: AsyncClient, bucket: str, tmp_path: Path) -> None:
    await as3.put_text(bucket, "hello.txt", "Hello World!", acl="public-read")
    assert [o.key async for o in as3.list(bucket)] == ["hello.txt"]
    assert await as3.get_text(bucket, "hello.txt") == "Hello World!"
    assert bucket in {b.name for b in await as3.buckets()}
    summary = await as3.sync(tmp_path / "mirror", f"s3://{bucket}", mode="pull")
    assert (summary.downloaded, summary.bytes_down) == (1, 12)
    assert (tmp_path / "mirror" / "hello.txt").read_text() == "Hello World!"


def test_client_opens_on_first_use_and_closes_for_good(s3server: S3Server, bucket: str) -> None:
    s3 = client_for(s3server)
    assert bucket in {b.name for b in s3.buckets()}
    s3.close()
    s3.close()  # twice is harmless
    with pytest.raises(errors.UsageError, match="closed"):
        s3.buckets()


# -- results are frozen values ----------------------------------------------------------


def test_results_are_frozen_dataclasses(s3: Client, bucket: str) -> None:
    info = s3.put_text(bucket, "k", "v")
    summary = SyncSummary("p", False, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0)
    values: list[object] = [
        info, s3.buckets()[0], summary, SyncFailure("a", "upload", "why"),
        PlannedChange("upload", "a", "why"),
    ]
    for value in values:
        assert dataclasses.is_dataclass(value)
        field = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


def test_summary_copies_the_engine_result() -> None:
    tally = Tally(
        counts={"upload": 2, "download": 1, "delete_local": 3, "delete_remote": 4, "conflict": 1,
                "failed": 1, "skipped": 2, "record": 9},
        bytes_up=10, bytes_down=20,
        failures=[Failure(RelPath("x/y.txt"), "download", "disk full")],
        conflict_copies=["b.conflict.txt", "a.conflict.txt"],
    )
    result = Result("pair", tally, 1.5, False, None, [("bad\\name", "key cannot be a local file")])
    summary = summarize(result)
    assert summary == SyncSummary(
        pair="pair", dry_run=False, uploaded=2, downloaded=1, deleted_local=3, deleted_remote=4,
        conflicts=1, skipped=3, failed=1, bytes_up=10, bytes_down=20, seconds=1.5,
        conflict_copies=("a.conflict.txt", "b.conflict.txt"),
        failures=(SyncFailure("x/y.txt", "download", "disk full"),),
    )
    assert not summary.ok
    assert summary.changes == 11
    # The CLI prints this JSON object; it must say what the typed value says.
    cli = summary.as_json()
    for ours, theirs in [("uploaded", "upload"), ("downloaded", "download"),
                         ("deleted_local", "delete_local"), ("deleted_remote", "delete_remote"),
                         ("conflicts", "conflict"), ("skipped", "skipped"), ("failed", "failed"),
                         ("bytes_up", "bytes_up"), ("bytes_down", "bytes_down")]:
        assert getattr(summary, ours) == cli[theirs], ours
    tally.failures.append(Failure(RelPath("later"), "upload", "x"))
    assert len(summary.failures) == 1  # a copy, not a view


def test_dry_run_summary_lists_the_plan() -> None:
    upload = Upload(RelPath("new.txt"), LocalEntry(3, 0), None, "new locally")
    plan = Plan((upload,))
    result = Result("p", Tally(counts=dict(plan.counts())), 0.1, True, plan)
    summary = summarize(result)
    assert summary.dry_run
    assert summary.uploaded == 1
    assert summary.planned == (PlannedChange("upload", "new.txt", "new locally"),)


# -- sync ----------------------------------------------------------------------------


def test_push_summary_counts_files_and_bytes(s3: Client, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "photos", {"a.jpg": b"a" * 100, "sub/b.jpg": b"b" * 50})
    summary = s3.sync(local, f"s3://{bucket}/backup", mode="push", no_delete=True)
    assert isinstance(summary, SyncSummary)
    assert (summary.uploaded, summary.bytes_up, summary.downloaded, summary.bytes_down) == (2, 150, 0, 0)
    assert summary.ok
    assert summary.failures == ()
    assert summary.planned == ()
    assert summary.seconds > 0
    assert not summary.dry_run
    assert [o.key for o in s3.list(bucket)] == ["backup/a.jpg", "backup/sub/b.jpg"]

    again = s3.sync(local, f"s3://{bucket}/backup", mode="push", no_delete=True)
    assert again.changes == 0
    assert again.bytes_up == 0


def test_two_way_sync_dry_run_then_real(s3: Client, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "work", {"mine.txt": b"local"})
    s3.put_text(bucket, "p/theirs.txt", "remote!")
    remote = f"s3://{bucket}/p"

    preview = s3.sync(local, remote, dry_run=True)
    assert preview.dry_run
    assert (preview.uploaded, preview.downloaded) == (1, 1)
    assert {(c.action, c.path) for c in preview.planned} == {("upload", "mine.txt"), ("download", "theirs.txt")}
    assert all(c.reason for c in preview.planned)
    assert s3.head(bucket, "p/mine.txt") is None
    assert not (local / "theirs.txt").exists()

    done = s3.sync(local, remote)
    assert (done.uploaded, done.downloaded, done.bytes_up, done.bytes_down) == (1, 1, 5, 7)
    assert (local / "theirs.txt").read_text() == "remote!"


def test_conflict_keeps_both_and_names_the_copy(s3: Client, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "work", {"doc.txt": b"v1"})
    remote = f"s3://{bucket}/c"
    s3.sync(local, remote)
    (local / "doc.txt").write_bytes(b"local edit")
    s3.put_text(bucket, "c/doc.txt", "a different remote edit")
    summary = s3.sync(local, remote, conflict="keep-both")
    assert summary.conflicts == 1
    assert len(summary.conflict_copies) == 1
    assert (local / summary.conflict_copies[0]).exists()


def test_failed_actions_are_reported_not_raised(
    s3: Client, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    # The remote has sub/x.txt with metadata claiming another MD5: its download fails
    # verification. The sync goes on and reports it.
    local = files(tmp_path / "work", {"sub.txt": b"a file"})
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    s3server.client().put_object(Bucket=bucket, Key="f/sub/x.txt", Body=b"x", Metadata={"md5chksum": wrong})
    summary = s3.sync(local, f"s3://{bucket}/f")
    assert not summary.ok
    assert summary.failed == len(summary.failures) >= 1
    assert all(isinstance(f, SyncFailure) and f.reason for f in summary.failures)
    assert "sub/x.txt" in {f.path for f in summary.failures}


def test_exclude_takes_one_pattern_or_several(s3: Client, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "work", {"keep.txt": b"k", "skip.tmp": b"s", "cache/x": b"c"})
    s3.sync(local, f"s3://{bucket}/one", mode="push", exclude="*.tmp")
    assert [o.key for o in s3.list(bucket, "one/")] == ["one/cache/x", "one/keep.txt"]
    s3.sync(local, f"s3://{bucket}/two", mode="push", exclude=["*.tmp", "cache/"])
    assert [o.key for o in s3.list(bucket, "two/")] == ["two/keep.txt"]


def test_rails_raise_safety_abort_until_forced(s3: Client, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "work", {"a": b"1", "b": b"2"})
    remote = f"s3://{bucket}/r"
    s3.sync(local, remote)
    (local / "a").unlink()
    with pytest.raises(errors.SafetyAbort) as refused:
        s3.sync(local, remote, max_delete=0)
    assert refused.value.reasons
    assert refused.value.exit_code == 3
    assert s3.head(bucket, "r/a") is not None  # nothing changed
    forced = s3.sync(local, remote, max_delete=0, force=True)
    assert forced.deleted_remote == 1
    assert s3.head(bucket, "r/a") is None


def test_state_dir_is_used(s3: Client, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "work", {"a": b"1"})
    states = tmp_path / "states"
    s3.sync(local, f"s3://{bucket}", state_dir=states)
    assert any(p.suffix == ".db" for p in states.iterdir())


def test_a_busy_pair_raises_locked(s3: Client, s3server: S3Server, bucket: str, tmp_path: Path) -> None:
    local = files(tmp_path / "work", {"a": b"1"})
    states = tmp_path / "states"
    spec = pair_spec(local, f"s3://{bucket}")
    lock = PairLock(states / f"{pair_id(spec.local_root, s3server.endpoint, bucket, '')}.lock")
    lock.acquire(False, "held by the test")
    try:
        with pytest.raises(errors.LockedError):
            s3.sync(local, f"s3://{bucket}", state_dir=states)
    finally:
        lock.release()


@pytest.mark.parametrize(
    ("remote", "options", "error"),
    [
        ("bucket/prefix", {}, errors.UsageError),
        ("s3://", {}, errors.UsageError),
        ("s3://{bucket}", {"mode": "sideways"}, errors.UsageError),
        ("s3://{bucket}", {"max_delete": "lots"}, errors.UsageError),
        ("s3://{bucket}", {"concurrency": 0}, errors.UsageError),
        ("s3://no-such-bucket-{uuid}", {}, errors.NotFoundError),
    ],
)
def test_sync_errors_are_project_errors(
    s3: Client, bucket: str, tmp_path: Path, remote: str, options: dict[str, object],
    error: type[errors.S3SyncError],
) -> None:
    url = remote.format(bucket=bucket, uuid=uuid.uuid4().hex[:8])
    with pytest.raises(error):
        s3.sync(tmp_path, url, **options)  # type: ignore[arg-type]


def test_sync_defaults_are_the_cli_defaults() -> None:
    params = inspect.signature(AsyncClient.sync).parameters
    defaults = SyncOptions()
    for name in ("mode", "no_delete", "conflict", "max_delete", "exclude", "checksum",
                 "follow_symlinks", "trash", "concurrency"):
        assert params[name].default == getattr(defaults, name), name


def test_client_mirrors_async_client() -> None:
    """The facade offers every verb of the async client, with the same parameters."""
    skip = {"store", "run_pair"}  # the CLI's level, not the facade's
    verbs = {n for n in vars(AsyncClient) if not n.startswith("_") and n not in skip}
    assert verbs <= set(vars(Client))
    for name in [*verbs, "__init__"]:
        ours = inspect.signature(getattr(Client, name)).parameters
        theirs = inspect.signature(getattr(AsyncClient, name)).parameters
        assert [(p.name, p.kind, p.default) for p in ours.values()] == [
            (p.name, p.kind, p.default) for p in theirs.values()
        ], name


def test_public_names() -> None:
    assert set(s3sync.__all__) >= {
        "AsyncClient", "Bucket", "Client", "ObjectInfo", "PlannedChange", "SyncFailure",
        "SyncSummary", "errors",
    }
    assert (Path(s3sync.__file__).parent / "py.typed").is_file()


# -- errors are ours ---------------------------------------------------------------------


def test_missing_things_raise_not_found(s3: Client, bucket: str, tmp_path: Path) -> None:
    gone = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    cases: list[Callable[[], object]] = [
        lambda: list(s3.list(gone)),
        lambda: s3.put_text(gone, "k", "v"),
        lambda: s3.delete_bucket(gone),
        lambda: s3.delete_bucket(gone, force=True),
        lambda: s3.get_bytes(bucket, "no-such-key"),
        lambda: s3.download(bucket, "no-such-key", tmp_path / "x"),
        lambda: s3.download(bucket, "k", tmp_path / "no-such-folder" / "x"),
        lambda: s3.put_file(bucket, "k", tmp_path / "no-such-file"),
    ]
    for case in cases:
        with pytest.raises(errors.NotFoundError):
            case()
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_raise_usage_errors(s3: Client, bucket: str, tmp_path: Path) -> None:
    s3.put_text(bucket, "k", "v")
    cases: list[Callable[[], object]] = [
        lambda: s3.set_acl(bucket, "k", "world-writable"),
        lambda: s3.put_text(bucket, "k2", "v", acl="everyone"),
        lambda: s3.url(bucket, "k", expires=0),
        lambda: s3.download(bucket, "k", tmp_path),
        lambda: s3.put_file(bucket, "k", tmp_path),
        lambda: Client("objects.example.com"),
    ]
    for case in cases:
        with pytest.raises(errors.UsageError):
            case()
    assert s3.head(bucket, "k2") is None


def test_unreachable_endpoint_raises_endpoint_error() -> None:
    dead = Connection(endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="k",
                      secret_access_key="s", max_attempts=1, connect_timeout=2)
    with Client(conn=dead) as offline, pytest.raises(errors.EndpointError):
        offline.buckets()


def test_refused_credentials_raise_credentials_error(s3server: S3Server) -> None:
    needs(s3server, "signature_check")
    with Client(s3server.endpoint, access_key=s3server.access_key,
                secret_key=s3server.secret_key + "x") as bad, pytest.raises(errors.CredentialsError):
        bad.buckets()


async def test_client_refuses_a_running_loop(s3server: S3Server) -> None:
    with pytest.raises(errors.UsageError, match="AsyncClient"):
        client_for(s3server).buckets()


def test_async_client_must_be_opened(s3server: S3Server) -> None:
    with pytest.raises(errors.UsageError, match="async with"):
        _ = AsyncClient(s3server.endpoint).store


def test_logs_stay_off_stdout(s3server: S3Server, bucket: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    structlog.reset_defaults()  # as in a program that never configured structlog
    with client_for(s3server) as s3:
        summary = s3.sync(files(tmp_path / "w", {"a": b"1"}), f"s3://{bucket}")
    assert summary.uploaded == 1
    assert capsys.readouterr().out == ""


def test_the_cli_syncs_through_the_api(
    s3server: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`s3sync sync` runs AsyncClient.run_pair, the method AsyncClient.sync runs."""
    from s3sync.cli import run

    calls: list[str] = []
    real = AsyncClient.run_pair

    async def spy(self: AsyncClient, spec: PairSpec, *args: Any, **kwargs: Any) -> Result:
        calls.append(spec.bucket)
        return await real(self, spec, *args, **kwargs)

    monkeypatch.setattr(AsyncClient, "run_pair", spy)
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    local = files(tmp_path / "work", {"a.txt": b"abc"})
    assert run(["sync", "--json", str(local), f"s3://{bucket}/cli"]) == 0
    assert calls == [bucket]
    printed = json.loads(capsys.readouterr().out)
    assert (printed["upload"], printed["bytes_up"]) == (1, 3)
