"""The config file: where it is looked up, ``${ENV}`` expansion, bad files, where the
endpoint comes from, and that secrets stay out of help, errors and logs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from s3sync import config
from s3sync.cli import run
from s3sync.errors import ConfigError
from tests.conftest import Cli, one_error_line
from tests.s3server import S3Server, free_port


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """In-process runs point structlog at pytest's captured stderr; undo that after."""
    yield
    structlog.reset_defaults()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cli_in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- lookup and expansion --------------------------------------------------------------


def test_lookup_order_flag_then_env_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert config.load(None) == config.Config()  # nothing anywhere: fine, all defaults

    write(xdg / "s3sync" / "config.yaml", "region: from-xdg\n")
    assert config.load(None).region == "from-xdg"

    monkeypatch.setenv("S3SYNC_CONFIG", str(write(tmp_path / "env.yaml", "region: from-env\n")))
    assert config.load(None).region == "from-env"

    flag = write(tmp_path / "flag.yaml", "region: from-flag\n")
    assert config.load(str(flag)).region == "from-flag"

    # A file the user named must exist; the default location may be absent.
    monkeypatch.setenv("S3SYNC_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match=re.escape("gone.yaml: config file not found")):
        config.load(None)


def test_env_references_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("T_SECRET", "very-secret")
    monkeypatch.setenv("T_BUCKET", "my-bucket")
    monkeypatch.setenv("T_HOME", str(tmp_path))
    path = write(
        tmp_path / "c.yaml",
        "access_key_id: ${T_KEY_ID}\n"
        "secret_access_key: ${T_SECRET}\n"
        "endpoint_url: http://${T_BUCKET}.local:9000\n"
        "pairs:\n"
        "  - name: docs\n"
        "    local: ${T_HOME}/docs\n"
        "    remote: s3://${T_BUCKET}/docs\n",
    )
    cfg = config.parse(path)
    assert cfg.access_key_id == "AKIDEXAMPLE"
    assert cfg.secret_access_key is not None
    assert cfg.secret_access_key.get_secret_value() == "very-secret"
    assert "very-secret" not in repr(cfg)
    assert cfg.endpoint_url == "http://my-bucket.local:9000"
    assert cfg.pairs[0].local == tmp_path / "docs"
    assert cfg.pairs[0].remote == "s3://my-bucket/docs"


# -- bad files -------------------------------------------------------------------------


def _pairs(*pairs: tuple[str, str, str]) -> str:
    return "pairs:\n" + "".join(f"  - name: {n}\n    local: {local}\n    remote: {remote}\n" for n, local, remote in pairs)


BAD_FILES = {
    "unparsable": ("region: [unclosed\n", ["unparsable YAML", "line 2"]),
    "unknown-key": ("region: x\nendpiont_url: http://x\n", ["endpiont_url", "unknown key"]),
    "wrong-type": ("verify_ssl: perhaps\n", ["verify_ssl", "boolean"]),
    "nested-wrong-type": ("pairs:\n  - name: a\n    local: /tmp\n    remote: s3://b/a\n    concurrency: lots\n", ["pairs[0].concurrency", "integer"]),
    "pairs-not-a-list": ("pairs: 3\n", ["pairs", "list"]),
    "bad-remote": ("pairs:\n  - name: a\n    local: /tmp\n    remote: http://b/a\n", ["pairs[0].remote", "http://b/a"]),
    "unset-env": ("endpoint_url: ${S3SYNC_T_NOT_SET}\n", ["endpoint_url", "S3SYNC_T_NOT_SET", "not set"]),
    "not-a-mapping": ("- region\n", ["mapping"]),
    "half-a-key-pair": ("secret_access_key: s\n", ["secret_access_key is set but access_key_id is not"]),
    "empty-local": ('pairs:\n  - name: a\n    local: ""\n    remote: s3://b/a\n', ["pairs[0].local", "empty"]),
    "interval-inf": ("pairs:\n  - name: a\n    local: /tmp\n    remote: s3://b/a\n    interval: .inf\n",
                     ["pairs[0].interval", "finite"]),
    "nested-folders": (_pairs(("outer", "/nest", "s3://b/o"), ("inner", "/nest/sub", "s3://b/i")),
                       ["'outer' and 'inner' overlap", "/nest/sub is inside /nest"]),
    "one-folder": (_pairs(("a", "/same", "s3://b/a"), ("b", "/same/", "s3://b/b")), ["'a' and 'b'", "/same"]),
    "one-prefix": (_pairs(("a", "/a", "s3://b/p"), ("b", "/b", "s3://b/p/")), ["'a' and 'b'", "both sync s3://b/p/"]),
    "nested-prefixes": (_pairs(("a", "/a", "s3://b/p/q"), ("b", "/b", "s3://b/p")),
                        ["'a' and 'b'", "s3://b/p/q/ is inside s3://b/p/"]),
    "whole-bucket": (_pairs(("a", "/a", "s3://b/p"), ("all", "/b", "s3://b")), ["'a' and 'all'", "inside s3://b/"]),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_one_line_naming_file_and_field_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BAD_FILES[case]
    path = write(tmp_path / f"{case}.yaml", text)
    code, out, err = cli_in_process(capsys, "buckets", "--config", str(path))
    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"s3sync: error: {path}:")
    for part in expected:
        assert part in lines[0]


def test_pairs_apart_are_accepted(tmp_path: Path) -> None:
    """Prefixes and folders are compared as folders, not as text; buckets apart are apart."""
    text = _pairs(
        ("a", "/x", "s3://b/a/"), ("ab", "/xy", "s3://b/ab/"),
        ("other-bucket", "/z", "s3://c/a/"), ("sibling", "/x2/sub", "s3://b/abc"),
    )
    assert [p.name for p in config.parse(write(tmp_path / "apart.yaml", text)).pairs] == ["a", "ab", "other-bucket", "sibling"]


def test_a_non_utf8_file_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("region: réunion\n".encode("latin-1"))
    code, _, err = cli_in_process(capsys, "buckets", "--config", str(path))
    assert code == 2
    assert err.strip() == f"s3sync: error: {path}: not UTF-8 text (bad byte at offset 9)"


def test_bad_files_through_the_real_command(cli: Cli, tmp_path: Path) -> None:
    # Named by --config but missing.
    one_error_line(cli("buckets", "--config", "nowhere.yaml"), 2, "nowhere.yaml", "not found")
    # Found through $S3SYNC_CONFIG; and the default location is read too.
    bad = write(tmp_path / "bad.yaml", "regoin: us-east-1\n")
    one_error_line(cli("buckets", env={"S3SYNC_CONFIG": str(bad)}), 2, str(bad), "regoin")
    default = write(cli.cwd / "xdg-config" / "s3sync" / "config.yaml", "region: [1, 2]\n")
    one_error_line(cli("buckets"), 2, str(default), "region")


# -- the endpoint ----------------------------------------------------------------------


def test_endpoint_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def endpoint_used(*extra: str) -> str:
        code, out, err = cli_in_process(capsys, "url", "--unsigned", "s3://bkt/k", *extra)
        assert code == 0, err
        return out.strip().removesuffix("/bkt/k")

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic.test:1")
    assert endpoint_used() == "http://generic.test:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific.test:2")
    assert endpoint_used() == "http://s3-specific.test:2"
    cfg = write(tmp_path / "c.yaml", "endpoint_url: http://from-config.test:3\n")
    monkeypatch.setenv("S3SYNC_CONFIG", str(cfg))
    assert endpoint_used() == "http://from-config.test:3"
    assert endpoint_used("--endpoint-url", "http://flag.test:4") == "http://flag.test:4"


def test_endpoint_from_the_config_is_the_one_requests_go_to(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    cfg = write(tmp_path / "c.yaml", f"endpoint_url: {s3server.endpoint}\n")
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli("buckets", "--config", str(cfg), env={"AWS_ENDPOINT_URL": dead})
    assert result.code == 0, result.err
    assert bucket in [line.split("\t")[0] for line in result.out.splitlines()]


# -- secrets ---------------------------------------------------------------------------


def test_secrets_stay_out_of_help_errors_and_verbose_logs(
    cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path
) -> None:
    secret = f"S3CRET-{uuid.uuid4().hex}"
    cfg = write(
        tmp_path / "c.yaml",
        f"access_key_id: {s3server.access_key}\nsecret_access_key: ${{T_SECRET}}\n",
    )
    env = {"T_SECRET": secret, "AWS_SECRET_ACCESS_KEY": secret, "S3SYNC_CONFIG": str(cfg)}

    helped = cli("put", "--help", env=env)
    assert helped.code == 0
    assert "--content-type" in helped.out
    # -v: debug lines for every request, botocore's (headers and all) or the lean
    # path's (a server that checks signatures refuses this made-up secret at the first
    # request: then the error line is checked too).
    logged = cli("ls", f"s3://{bucket}", "-v", env=env)
    assert "DEBUG" in logged.err
    assert bucket in logged.err
    failed = cli("get", f"s3://{bucket}/missing", str(tmp_path / "m"), "-v", "--log-format", "json", env=env)
    assert failed.code == 1
    assert "s3sync: error:" in failed.err
    for result in (helped, logged, failed):
        assert secret not in result.out + result.err


def test_a_secret_of_the_wrong_type_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "c.yaml", "secret_access_key: [S3CRET-in-a-list]\n")
    code, _, err = cli_in_process(capsys, "buckets", "--config", str(path))
    assert code == 2
    assert "secret_access_key" in err
    assert "S3CRET" not in err
