"""`s3sync watch` end to end: the service in a subprocess against a real S3 server process.

Every wait is a poll of the bucket, the folder or the service's JSON log with a
deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Cli
from tests.s3server import S3Server, free_port, moto_server

pytestmark = pytest.mark.slow

LOCAL_DEADLINE = 5.0  # a local change reaches the bucket within this (the bound)
INTERVAL = 1.0


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    log_path: Path
    _seen: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        with open(self.log_path, "rb") as handle:
            handle.seek(self._seen)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._seen += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    self.events.append(event)
        return self.events

    def find(self, event: str, since: int = 0, **match: Any) -> list[dict[str, Any]]:
        return [
            e for e in self.read()[since:]
            if e.get("event") == event and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_event(self, event: str, timeout: float = 60, since: int = 0, **match: Any) -> dict[str, Any]:
        found = wait_for(f"log event {event} {match}", lambda: self.find(event, since, **match), timeout)
        return dict(found[0])

    def mark(self) -> int:
        return len(self.read())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(cli: Cli, *args: str, name: str = "watch") -> Service:
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "s3sync", "watch", "--log-format", "json", *args],
                stdout=subprocess.DEVNULL, stderr=log, cwd=cli.cwd, env=cli.env(),
            )
        service = Service(proc, log_path)
        started.append(service)
        return service

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait(10)


@dataclass
class Side:
    s3: Any
    bucket: str
    prefix: str
    root: Path
    state: Path

    def args(self, *extra: str) -> list[str]:
        return [str(self.root), f"s3://{self.bucket}/{self.prefix}", "--state-dir", str(self.state),
                "--interval", str(INTERVAL), *extra]

    def body(self, rel: str) -> bytes | None:
        return self.object(self.prefix + rel)

    def object(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError:
            return None

    def listing(self) -> set[str]:
        found = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            found |= {o["Key"][len(self.prefix):] for o in page.get("Contents", [])}
        return found

    def file(self, rel: str) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None


@pytest.fixture
def side(s3server: S3Server, bucket: str, tmp_path: Path) -> Side:
    root = tmp_path / "root"
    root.mkdir()
    return Side(s3server.client(), bucket, "w/", root, tmp_path / "state")


def started(service: Service, pair: str = "cli") -> None:
    service.wait_event("pass_finished", timeout=90, pair=pair, trigger="startup")  # readiness, not a latency bound


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".s3sync-tmp-" in p.name]


# -- local -> remote -------------------------------------------------------------


def test_local_create_modify_delete_reach_the_bucket_within_5s(cli: Cli, side: Side, services: Callable[..., Service]) -> None:
    # Deleting a pair's last file would trip the emptied-root rail, as in `s3sync sync`.
    (side.root / "keep.txt").write_bytes(b"keep")
    service = services(cli, *side.args())
    started(service)

    (side.root / "notes.txt").write_bytes(b"one")
    wait_for("upload of a new file", lambda: side.body("notes.txt") == b"one", LOCAL_DEADLINE)

    (side.root / "notes.txt").write_bytes(b"two, longer")
    wait_for("upload of a modified file", lambda: side.body("notes.txt") == b"two, longer", LOCAL_DEADLINE)

    (side.root / "notes.txt").unlink()
    wait_for("remote delete", lambda: "notes.txt" not in side.listing(), LOCAL_DEADLINE)

    (side.root / "sub" / "deeper").mkdir(parents=True)
    (side.root / "sub" / "deeper" / "x.bin").write_bytes(b"x" * 1000)
    wait_for("upload inside a new folder", lambda: side.body("sub/deeper/x.bin") == b"x" * 1000, LOCAL_DEADLINE)

    # A folder renamed as a whole sends one event for the folder, none for its files.
    (side.root / "sub").rename(side.root / "moved")
    wait_for("a renamed folder to follow", lambda: {"moved/deeper/x.bin", "keep.txt"} == side.listing(), LOCAL_DEADLINE)
    assert service.stop() == 0


# -- remote -> local -------------------------------------------------------------


def test_remote_create_modify_delete_reach_the_folder_and_do_not_echo(cli: Cli, side: Side, services: Callable[..., Service]) -> None:
    (side.root / "keep.txt").write_bytes(b"keep")
    service = services(cli, *side.args())
    started(service)
    deadline = INTERVAL + 5

    side.s3.put_object(Bucket=side.bucket, Key=side.prefix + "r/remote.txt", Body=b"from elsewhere")
    wait_for("download of a new object", lambda: side.file("r/remote.txt") == b"from elsewhere", deadline)
    mark = service.mark()

    side.s3.put_object(Bucket=side.bucket, Key=side.prefix + "r/remote.txt", Body=b"edited elsewhere")
    wait_for("download of a changed object", lambda: side.file("r/remote.txt") == b"edited elsewhere", deadline)

    side.s3.delete_object(Bucket=side.bucket, Key=side.prefix + "r/remote.txt")
    wait_for("local delete", lambda: side.file("r/remote.txt") is None, deadline)
    assert list((side.root / ".s3sync-trash").rglob("remote.txt")), "a remote delete moves the file to the trash"

    # The service's own writes come back as watch events: they must plan nothing.
    echo = service.wait_event("pass_finished", since=mark, trigger="watch")
    assert (echo["upload"], echo["delete_remote"]) == (0, 0)
    assert not service.find("object_uploaded", rel="r/remote.txt")
    assert not service.find("object_deleted", rel="r/remote.txt")
    assert service.stop() == 0


# -- bursts and writers ------------------------------------------------------------


def test_500_files_at_once_arrive_in_few_passes(cli: Cli, side: Side, services: Callable[..., Service]) -> None:
    service = services(cli, *side.args())
    started(service)
    mark = service.mark()
    burst = side.root / "burst"
    burst.mkdir()
    for n in range(500):
        (burst / f"f{n:03}.txt").write_bytes(f"file {n}\n".encode())
    wanted = {f"burst/f{n:03}.txt" for n in range(500)}
    wait_for("all 500 uploads", lambda: wanted <= side.listing(), 60, every=0.5)
    passes = [e for e in service.find("pass_finished", since=mark) if e["upload"]]
    uploads = sum(e["upload"] for e in passes)
    # 500 files raise at least 1,500 events (create, modify, close each).
    assert uploads == 500
    assert len(passes) <= 5, passes
    assert service.stop() == 0


def test_a_file_written_slowly_is_only_uploaded_complete(cli: Cli, s3server: S3Server, side: Side, services: Callable[..., Service]) -> None:
    versioned = s3server.supports("versioning")
    if versioned:
        side.s3.put_bucket_versioning(Bucket=side.bucket, VersioningConfiguration={"Status": "Enabled"})
    service = services(cli, *side.args())
    started(service)
    chunks = [bytes([65 + n]) * 4096 for n in range(10)]
    with open(side.root / "slow.log", "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            out.flush()
            time.sleep(0.3)  # the writer's pace, not synchronisation
    full = b"".join(chunks)
    wait_for("the complete upload", lambda: side.body("slow.log") == full, LOCAL_DEADLINE)
    # The object is visible before the service logs it (on a versioned RGW bucket it first
    # lists the key's versions): wait for the event rather than read the log at once.
    uploads = wait_for("the upload's event", lambda: service.find("object_uploaded", rel="slow.log"), LOCAL_DEADLINE)
    assert {e["bytes"] for e in uploads} == {len(full)}
    if versioned:
        versions = side.s3.list_object_versions(Bucket=side.bucket, Prefix=side.prefix + "slow.log")["Versions"]
        assert versions
        assert {v["Size"] for v in versions} == {len(full)}
    assert service.stop() == 0


# -- stopping ----------------------------------------------------------------------


def test_sigterm_during_transfers_exits_0_with_no_temp_files_and_consistent_state(cli: Cli, side: Side, services: Callable[..., Service]) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    for n in range(12):
        side.s3.put_object(Bucket=side.bucket, Key=f"{side.prefix}big/{n:02}.bin", Body=payload)
    service = services(cli, *side.args("--concurrency", "2"))
    # Stop while the start-up sync is downloading.
    service.wait_event("file_downloaded", timeout=60)
    began = time.monotonic()
    assert service.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - began < 10
    assert temp_files(side.root) == []
    for path in (side.root / "big").iterdir():
        assert path.read_bytes() == payload, "no partial file under a final name"
    # What the state DB recorded is true: a one-shot sync only finishes the rest.
    result = cli("sync", *side.args()[:4], "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["upload"] == summary["delete_remote"] == summary["conflict"] == 0
    assert sorted(p.name for p in (side.root / "big").iterdir()) == [f"{n:02}.bin" for n in range(12)]


# -- outage ------------------------------------------------------------------------


class Outage:
    """A TCP relay in front of a private moto_server: ``cut`` closes the endpoint's port
    and severs every open connection (connection refused, as for a stopped server);
    ``restore`` opens it again. moto keeps objects only in memory, so stopping the
    process itself would wipe the bucket and turn "restarted" into "wiped"."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_endpoint_outage_is_logged_once_then_recovers_and_converges(tmp_path: Path, services: Callable[..., Service]) -> None:
    with moto_server(tmp_path) as private:
        relay = Outage(private.endpoint)
        relay.restore()
        s3 = S3Server(relay.endpoint, private.access_key, private.secret_key, external=True)
        bucket = s3.new_bucket()
        cli = Cli(s3, tmp_path)
        side = Side(s3.client(), bucket, "", tmp_path / "root", tmp_path / "state")
        side.root.mkdir()
        (side.root / "before.txt").write_bytes(b"before")
        service = services(cli, *side.args())
        started(service)
        mark = service.mark()
        relay.cut()
        outage_began = time.monotonic()
        # botocore retries a refused connection a few times before the pass fails.
        service.wait_event("pair_failed", timeout=30, since=mark)
        (side.root / "during.txt").write_bytes(b"written during the outage")
        # The outage lasts 20 s: this wait is the scenario, not synchronisation.
        wait_for("20 s of outage", lambda: time.monotonic() - outage_began >= 20, 25, every=0.5)
        relay.restore()
        # A change made "elsewhere" while we were cut off.
        private.client().put_object(Bucket=bucket, Key="remote-during.txt", Body=b"remote")
        service.wait_event("pair_recovered", timeout=40, since=mark)
        wait_for("the local write to arrive", lambda: side.body("during.txt") == b"written during the outage", 15)
        wait_for("the remote write to arrive", lambda: side.file("remote-during.txt") == b"remote", 15)
        assert side.body("before.txt") == b"before"
        failures = service.find("pair_failed", since=mark)
        assert len(failures) == 1, failures
        assert service.stop() == 0
        relay.cut()


# -- reload, rails and status --------------------------------------------------------


def write_config(path: Path, pairs: list[tuple[str, Path, str]]) -> None:
    lines = ["pairs:"]
    for name, root, remote in pairs:
        lines += [f"  - name: {name}", f"    local: {root}", f"    remote: {remote}", f"    interval: {INTERVAL}"]
    path.write_text("\n".join(lines) + "\n")


def test_sighup_starts_a_new_pair_and_status_reports_while_running(cli: Cli, side: Side, services: Callable[..., Service], tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    other = tmp_path / "other"
    other.mkdir()
    (side.root / "one.txt").write_bytes(b"1")
    (other / "two.txt").write_bytes(b"2")
    write_config(config, [("first", side.root, f"s3://{side.bucket}/first")])
    args = ["--config", str(config), "--state-dir", str(side.state)]
    service = services(cli, *args)
    started(service, "first")

    write_config(config, [("first", side.root, f"s3://{side.bucket}/first"),
                          ("second", other, f"s3://{side.bucket}/second")])
    service.proc.send_signal(signal.SIGHUP)
    service.wait_event("config_reloaded")
    started(service, "second")
    assert side.object("second/two.txt") == b"2"

    result = cli("status", "--json", *args)
    assert result.code == 0, result.err
    report = {p["name"]: p for p in json.loads(result.out)}
    assert set(report) >= {"first", "second"}
    for name in ("first", "second"):
        assert report[name]["service"] in ("idle", "syncing")
        assert report[name]["pid"] == service.proc.pid
        assert report[name]["files_tracked"] == 1
        assert report[name]["last_sync"] is not None
        assert report[name]["last_error"] is None
    assert service.stop() == 0
    after = {p["name"]: p for p in json.loads(cli("status", "--json", *args).out)}
    assert after["first"]["service"] == "not running"


def test_a_tripped_rail_stops_only_that_pair(cli: Cli, side: Side, services: Callable[..., Service], tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    healthy = tmp_path / "healthy"
    healthy.mkdir()
    for n in range(3):
        (side.root / f"{n}.txt").write_bytes(b"x")
    write_config(config, [("tripped", side.root, f"s3://{side.bucket}/tripped")])
    args = ["--config", str(config), "--state-dir", str(side.state)]
    assert cli("sync", *args).code == 0
    for n in range(3):
        (side.root / f"{n}.txt").unlink()  # an emptied root: an unmounted disk, say
    write_config(config, [("tripped", side.root, f"s3://{side.bucket}/tripped"),
                          ("healthy", healthy, f"s3://{side.bucket}/healthy")])
    service = services(cli, *args)
    stopped = service.wait_event("pair_stopped", pair="tripped")
    assert "empty" in " ".join(stopped["reasons"])
    started(service, "healthy")
    (healthy / "new.txt").write_bytes(b"new")
    wait_for("the healthy pair to go on", lambda: side.object("healthy/new.txt") == b"new", LOCAL_DEADLINE)
    assert side.s3.list_objects_v2(Bucket=side.bucket, Prefix="tripped/").get("KeyCount") == 3, "nothing deleted"
    report = {p["name"]: p for p in json.loads(cli("status", "--json", *args).out)}
    assert report["tripped"]["service"].startswith("stopped:")
    assert service.stop() == 0
