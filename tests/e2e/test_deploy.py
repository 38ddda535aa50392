"""deploy/: the unit files parse, and the commands they and the Dockerfile run are valid.

systemd-analyze verify checks the units where it exists (it needs no running systemd);
the commands are parsed by the real CLI, and the backup and service commands are run
against the test server with the unit's own options.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

from s3sync.cli.common import group
from tests.conftest import REPO, Cli

DEPLOY = REPO / "deploy"
UNITS = ("s3sync.service", "s3sync-backup.service", "s3sync-backup.timer")
INSTALLED_BINARY = "/opt/s3sync/bin/s3sync"


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (DEPLOY / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{name}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def exec_start(name: str) -> list[str]:
    return shlex.split(unit(name)["Service"]["ExecStart"][0])


def parse_with_cli(argv: list[str]) -> click.Context:
    """Parse ``argv`` (without the program name) as the real CLI would, running nothing."""
    parent = click.Context(group, info_name="s3sync")
    command = group.get_command(parent, argv[0])
    assert command is not None, f"no command {argv[0]!r}"
    return command.make_context(argv[0], list(argv[1:]), parent=parent)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    binary = Path(sys.executable).with_name("s3sync")
    if not binary.exists():
        binary = tmp_path / "s3sync"
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
    for name in UNITS:
        # verify insists that ExecStart's program exists: point it at this checkout's.
        text = (DEPLOY / name).read_text().replace(INSTALLED_BINARY, str(binary))
        (tmp_path / name).write_text(text)
    proc = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True, text=True, timeout=60,
    )
    # verify exits 0 on unknown keys and bad values, but names the file in a warning.
    complaints = [line for line in proc.stderr.splitlines() if any(n in line for n in UNITS)]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []


def test_service_unit_restarts_on_failure_as_a_hardened_dedicated_user() -> None:
    service = unit("s3sync.service")["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["User"] == ["s3sync"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"]
    assert service["NoNewPrivileges"] == ["true"]
    assert service["PrivateTmp"] == ["true"]
    assert service["StateDirectory"] == ["s3sync"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit("s3sync.service")["Install"]["WantedBy"] == ["multi-user.target"]


def test_backup_timer_runs_the_backup_nightly() -> None:
    timer = unit("s3sync-backup.timer")
    assert timer["Timer"]["Unit"] == ["s3sync-backup.service"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["Timer"]["OnCalendar"][0])
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    assert unit("s3sync-backup.service")["Service"]["Type"] == ["oneshot"]


@pytest.mark.parametrize("name", ["s3sync.service", "s3sync-backup.service"])
def test_exec_start_parses_with_the_real_cli(name: str) -> None:
    argv = exec_start(name)
    assert argv[0] == INSTALLED_BINARY
    ctx = parse_with_cli(argv[1:])
    assert ctx.params["config_path"].startswith("/etc/s3sync/")
    assert ctx.params["log_format"] == "json"


def test_backup_command_is_a_push_that_never_deletes() -> None:
    ctx = parse_with_cli(exec_start("s3sync-backup.service")[1:])
    assert ctx.command.name == "sync"
    assert ctx.params["mode"] == "push"
    assert ctx.params["no_delete"] is True


def _with_local_paths(argv: list[str], config: Path, state: Path) -> list[str]:
    swapped = {"--config": str(config), "--state-dir": str(state)}
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in swapped:
            out[i + 1] = swapped[arg]
    return out


def test_backup_command_runs(cli: Cli, bucket: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "report.txt").write_bytes(b"quarterly")
    config = tmp_path / "backup.yaml"
    config.write_text(f"pairs:\n  - name: data\n    local: {data}\n    remote: s3://{bucket}/backup\n")
    argv = _with_local_paths(exec_start("s3sync-backup.service")[1:], config, tmp_path / "state")
    result = cli(*argv)
    assert result.code == 0, result.err
    assert cli("get", f"s3://{bucket}/backup/report.txt", "-").out_bytes == b"quarterly"
    (data / "report.txt").unlink()
    (data / "new.txt").write_bytes(b"new")
    assert cli(*argv).code == 0
    assert cli("get", f"s3://{bucket}/backup/report.txt", "-").out_bytes == b"quarterly", "a backup never deletes"


def test_service_command_runs_and_stops_on_sigterm(cli: Cli, bucket: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_bytes(b"a")
    config = tmp_path / "config.yaml"
    config.write_text(f"pairs:\n  - name: data\n    local: {data}\n    remote: s3://{bucket}/live\n")
    argv = _with_local_paths(exec_start("s3sync.service")[1:], config, tmp_path / "state")
    log = tmp_path / "service.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "s3sync", *argv], stderr=err,
                                stdout=subprocess.DEVNULL, cwd=tmp_path, env=cli.env())
    try:
        from tests.e2e.test_watch import wait_for

        wait_for("the start-up sync", lambda: b'"trigger": "startup"' in log.read_bytes(), 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert "service_stopped" in [e["event"] for e in events]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, argument) pairs, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dockerfile_runs_the_service_as_non_root_with_config_and_state_volumes() -> None:
    steps = dockerfile()
    users = [arg for word, arg in steps if word == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    volumes = json.loads(next(arg for word, arg in steps if word == "VOLUME"))
    assert {"/config", "/state"} <= set(volumes)
    env = " ".join(arg for word, arg in steps if word == "ENV")
    assert "S3SYNC_CONFIG=/config/" in env
    assert "S3SYNC_STATE_DIR=/state" in env
    for word, arg in steps:
        if word == "COPY":
            for source in arg.split()[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the build context"


def test_dockerfile_command_parses_with_the_real_cli() -> None:
    steps = dict(dockerfile())
    entry = json.loads(steps["ENTRYPOINT"])
    command = json.loads(steps["CMD"])
    assert entry == ["s3sync"]
    ctx = parse_with_cli(command)
    assert ctx.command.name == "watch"
    assert os.path.basename(entry[0]) == "s3sync"
