"""Bad input, end to end (issue 12, items 5-8): one line on stderr naming the problem,
exit 2 for a usage or config error and 1 for an operational one, no traceback, and
nothing changed on either side — the local tree (folder, state dir, configs) and the
bucket's listing are as before, so no state DB was made either.

Each case prepares a ``Scene`` and returns the command to run and what its one line
must name. The permission cases run as user ``nobody``: the suite runs as root, who may
enter a mode-000 folder.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOBODY, Cli, Result, one_error_line, run_as_nobody
from tests.e2e.sync_helpers import tree_snapshot, wait_for
from tests.s3server import S3Server

TIMEOUT = 60.0  # a run that gets past its checks may start a service: never wait forever


@dataclass
class Scene:
    cli: Cli
    base: Path  # everything local is below: the folder, the state dir, configs
    bucket: str
    s3: Any
    not_s3: str  # a web server that is no S3
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/p"

    def config(self, *pairs: tuple[str, str, str], extra: str = "") -> str:
        lines = ["pairs:"]
        for name, local, remote in pairs:
            lines += [f"  - name: {name}", f"    local: {local!r}", f"    remote: {remote}"]
        path = self.base / "config.yaml"
        path.write_text("\n".join(lines) + "\n" + extra)
        return str(path)

    def sync(self, *args: str) -> list[str]:
        return ["sync", str(self.root), self.url, "--state-dir", str(self.state), *args]

    def watch(self, *args: str) -> list[str]:
        return ["watch", str(self.root), self.url, "--state-dir", str(self.state), *args]

    def listing(self) -> dict[str, tuple[str, object]]:
        found = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {o["Key"]: (o["ETag"], o["LastModified"]) for o in found}


Setup = Callable[[Scene], tuple[list[str], tuple[str, ...]]]


@dataclass(frozen=True)
class Case:
    setup: Setup  # prepares the scene; gives the arguments and what the line names
    code: int
    nobody: bool = False
    # The engine takes the pair's lock and opens its state DB before it asks for the
    # bucket: a sync that reaches the endpoint leaves them, nothing else.
    makes_state: bool = False


CASES: dict[str, Case] = {}

BAD_URLS = {
    "scheme-one-slash": ("s3:/x", ("not an s3:// URL", "s3:/x")),
    "no-bucket": ("s3://", ("no bucket", "s3://")),
    "empty-bucket": ("s3:///k", ("no bucket", "s3:///k")),
    "space-in-bucket": ("s3://a b/p", ("invalid bucket name", "a b")),
    "backslash-in-bucket": ("s3://a\\b/p", ("invalid bucket name",)),
    "http-url": ("http://example.com/b", ("not an s3:// URL", "http://example.com/b")),
    "300-char-bucket": ("s3://" + "b" * 300 + "/p", ("invalid bucket name", "b" * 300)),
}


def _bad_url(command: str, url: str, names: tuple[str, ...]) -> Setup:
    def setup(s: Scene) -> tuple[list[str], tuple[str, ...]]:
        return [command, str(s.root), url, "--state-dir", str(s.state)], names
    return setup


for _command in ("sync", "watch"):
    for _name, (_url, _names) in BAD_URLS.items():
        CASES[f"{_command}-url-{_name}"] = Case(_bad_url(_command, _url, _names), 2)


def case(name: str, code: int, *, nobody: bool = False, makes_state: bool = False) -> Callable[[Setup], Setup]:
    def register(setup: Setup) -> Setup:
        CASES[name] = Case(setup, code, nobody, makes_state)
        return setup
    return register


# -- item 7: options, TLS, paths, the state DB ---------------------------------------------


@case("endpoint-port-out-of-range", 2)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    return s.sync("--endpoint-url", "http://127.0.0.1:99999"), ("http://127.0.0.1:99999", "out of range")


@case("ca-bundle-not-pem", 2)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    bundle = s.base / "ca.pem"
    bundle.write_text("this is no certificate\n")
    return s.sync("--ca-bundle", str(bundle)), (str(bundle), "PEM")


@case("state-dir-is-a-file", 2)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    s.state.write_text("a file where the state dir should be\n")
    return s.sync(), (str(s.state), "not a folder")


@case("state-dir-mode-000", 1, nobody=True)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    s.state.mkdir()
    os.chown(s.state, NOBODY, NOBODY)
    s.state.chmod(0)
    return s.sync(), (str(s.state), "permission denied")


@case("state-dir-below-a-mode-000-folder", 1, nobody=True)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    locked = s.base / "locked"
    locked.mkdir()
    os.chown(locked, NOBODY, NOBODY)
    locked.chmod(0)
    state = locked / "state"
    return ["sync", str(s.root), s.url, "--state-dir", str(state)], (str(state), "permission denied")


@case("local-root-dangling-symlink", 1)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    link = s.base / "link"
    link.symlink_to(s.base / "gone", target_is_directory=True)
    return ["sync", str(link), s.url, "--state-dir", str(s.state)], (str(link), "symlink", "does not exist")


@case("status-json-on-a-corrupt-state-db", 1)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    s.state.mkdir()
    db = s.state / "0123456789abcdef0123.db"
    db.write_bytes(bytes(range(256)) * 16)
    return ["status", "--json", "--state-dir", str(s.state)], (str(db), "cannot be read")


for _flag, _value in (("--interval", "inf"), ("--interval", "1e300"), ("--interval", "nan"), ("--rescan", "1e300")):
    def _period(s: Scene, flag: str = _flag, value: str = _value) -> tuple[list[str], tuple[str, ...]]:
        return s.watch(flag, value), (flag,)
    CASES[f"watch{_flag}-{_value}"] = Case(_period, 2)


@case("config-interval-inf", 2)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    config = s.config(("docs", str(s.root), s.url), extra="    interval: .inf\n")
    return ["watch", "--config", config, "--state-dir", str(s.state)], (config, "pairs[0].interval", "finite")


for _value in ("-5", "5.5%"):
    def _max_delete(s: Scene, value: str = _value) -> tuple[list[str], tuple[str, ...]]:
        return s.sync("--max-delete", value), ("--max-delete", "a count like 100")
    CASES[f"max-delete-{_value}"] = Case(_max_delete, 2)


# -- item 5: pairs that overlap -----------------------------------------------------------


def _overlap(build: Callable[[Scene], tuple[tuple[str, str, str], tuple[str, str, str]]], command: str = "sync") -> Setup:
    def setup(s: Scene) -> tuple[list[str], tuple[str, ...]]:
        one, other = build(s)
        config = s.config(one, other)
        return [command, "--config", config, "--state-dir", str(s.state)], (config, repr(one[0]), repr(other[0]), "overlap")
    return setup


def _other(s: Scene) -> str:
    other = s.base / "other"
    other.mkdir(exist_ok=True)
    return str(other)


def _nested(s: Scene) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    (s.root / "sub").mkdir()
    return ("outer", str(s.root), s.url), ("inner", str(s.root / "sub"), f"s3://{s.bucket}/q")


def _symlinked(s: Scene) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    alias = s.base / "alias"
    alias.symlink_to(s.root, target_is_directory=True)
    return ("real", str(s.root), s.url), ("alias", str(alias), f"s3://{s.bucket}/q")


OVERLAPS: dict[str, Callable[[Scene], tuple[tuple[str, str, str], tuple[str, str, str]]]] = {
    "nested-folders": _nested,
    "one-folder-through-a-symlink": _symlinked,
    "one-folder-with-a-trailing-slash": lambda s: (
        ("plain", str(s.root), s.url), ("slashed", f"{s.root}/", f"s3://{s.bucket}/q")),
    "one-prefix": lambda s: (("a", str(s.root), s.url), ("b", _other(s), f"{s.url}/")),
    "nested-prefixes": lambda s: (("outer", str(s.root), s.url), ("inner", _other(s), f"{s.url}/deeper")),
    "whole-bucket-and-a-prefix": lambda s: (("all", str(s.root), f"s3://{s.bucket}"), ("part", _other(s), s.url)),
}
for _name, _build in OVERLAPS.items():
    CASES[f"overlap-{_name}"] = Case(_overlap(_build), 2)
CASES["watch-overlap-nested-folders"] = Case(_overlap(_nested, "watch"), 2)


# -- item 6: an empty local path -----------------------------------------------------------


@case("config-local-empty", 2)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    config = s.config(("docs", "", s.url))
    return ["sync", "--config", config, "--state-dir", str(s.state)], (config, "pairs[0].local", "empty")


@case("config-local-env-var-empty", 2)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    s.env["T_EMPTY_FOLDER"] = ""
    config = s.config(("docs", "${T_EMPTY_FOLDER}", s.url))
    return ["sync", "--config", config, "--state-dir", str(s.state)], (config, "pairs[0].local", "empty")


for _command in ("sync", "watch"):
    def _empty_arg(s: Scene, command: str = _command) -> tuple[list[str], tuple[str, ...]]:
        return [command, "", s.url, "--state-dir", str(s.state)], ("LOCAL_DIR", "empty")
    CASES[f"{_command}-empty-local-dir-argument"] = Case(_empty_arg, 2)


# -- item 8: url --expires, an endpoint that is no S3 ----------------------------------------


for _value in ("604801", "0"):
    def _expires(s: Scene, value: str = _value) -> tuple[list[str], tuple[str, ...]]:
        return ["url", f"{s.url}/remote.txt", "--expires", value], ("expires", "604800")
    CASES[f"url-expires-{_value}"] = Case(_expires, 2)


@case("ls-on-a-web-server-answering-404", 1)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    return ["ls", f"s3://{s.bucket}", "--endpoint-url", s.not_s3], (s.not_s3, "is not an S3 endpoint")


@case("ls-on-a-web-server-answering-200", 1)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    return ["ls", "s3://html200", "--endpoint-url", s.not_s3], (s.not_s3, "is not an S3 endpoint")


@case("sync-with-a-web-server-answering-404", 1, makes_state=True)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    return s.sync("--endpoint-url", s.not_s3), (s.not_s3, "is not an S3 endpoint")


@case("sync-with-a-web-server-answering-200", 1, makes_state=True)
def _(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    args = ["sync", str(s.root), "s3://html200/p", "--state-dir", str(s.state), "--endpoint-url", s.not_s3]
    return args, (s.not_s3, "is not an S3 endpoint")


# -- the test --------------------------------------------------------------------------------


class _NotS3(http.server.BaseHTTPRequestHandler):
    """Any web server: an HTML page below /html200, an HTML 404 page elsewhere."""

    def _answer(self) -> None:
        found = self.path.startswith("/html200")
        body = b"<!DOCTYPE html><html><body><h1>%s</h1></body></html>" % (b"Hello" if found else b"Not Found")
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass  # the test's stderr is the CLI's


@pytest.fixture
def not_s3() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _scene(cli: Cli, base: Path, bucket: str, s3server: S3Server, not_s3: str) -> Scene:
    scene = Scene(cli, base, bucket, s3server.client(), not_s3)
    scene.root.mkdir()
    (scene.root / "keep.txt").write_bytes(b"local, never synced by a refused run")
    scene.s3.put_object(Bucket=bucket, Key="p/remote.txt", Body=b"remote, never synced by a refused run")
    return scene


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(
    name: str, cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path, not_s3: str,
    request: pytest.FixtureRequest,
) -> None:
    case = CASES[name]
    base = request.getfixturevalue("nobody_dir") if case.nobody else tmp_path
    scene = _scene(cli, base, bucket, s3server, not_s3)
    if case.nobody:
        for path in [scene.root, *scene.root.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    args, names = case.setup(scene)
    local_before, remote_before = tree_snapshot(base), scene.listing()

    if case.nobody:
        result = run_as_nobody(cli, *args, home=base, timeout=TIMEOUT)
    else:
        result = cli(*args, env=scene.env, timeout=TIMEOUT)

    one_error_line(result, case.code, *names)
    assert result.out == "", result.out
    local_after = tree_snapshot(base)
    if case.makes_state:
        local_after = {rel: v for rel, v in local_after.items() if not rel.startswith("state")}
        local_before = {rel: v for rel, v in local_before.items() if not rel.startswith("state")}
    assert local_after == local_before, "the local side changed"
    assert scene.listing() == remote_before, "the bucket changed"


# -- item 8: a second watch on a pair another watch serves -----------------------------------


def test_a_second_watch_on_a_served_pair_exits_1(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path, not_s3: str) -> None:
    scene = _scene(cli, tmp_path, bucket, s3server, not_s3)
    args = scene.watch("--interval", "1")
    log = tmp_path / "first.log"
    with open(log, "wb") as out:
        first = subprocess.Popen([sys.executable, "-m", "s3sync", *args, "--log-format", "json"],
                                 stdout=subprocess.DEVNULL, stderr=out, cwd=cli.cwd, env=cli.env())
    try:
        wait_for(lambda: '"pass_finished"' in log.read_text("utf-8", "replace"), 90, "the first watch's start-up sync")
        second: Result = cli(*args, "-q", timeout=TIMEOUT)
        one_error_line(second, 1, "another s3sync watch is already serving", str(scene.root))
        assert first.poll() is None, "the first watch goes on"
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(15)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait(5)
    assert first.returncode == 0, log.read_text("utf-8", "replace")
