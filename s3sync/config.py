"""The YAML config file, validated into typed, frozen models.

Strings may reference the environment as ``${NAME}`` (how secrets stay out of the
file). Any problem becomes one ``ConfigError`` line naming the file, the field and
what is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from s3sync.core.paths import BadS3Url, parse_s3_url
from s3sync.errors import ConfigError, UsageError

Mode = Literal["both", "push", "pull"]
ConflictPolicy = Literal["keep-both", "newer", "local", "remote"]
ContentTypes = Literal["guess", "none"]
AddressingStyle = Literal["path", "virtual", "auto"]

_MAX_DELETE = re.compile(r"^\d+%?$")

# Timer periods: inf or 1e300 overflowed the scheduler's datetime arithmetic only after
# the start-up sync had run; a year is already far beyond any use.
MAX_SECONDS = 365 * 24 * 3600.0
Period = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncOptions(_Model):
    """Per-pair sync behaviour, the one list of sync options: every key but ``WATCH_ONLY``
    is also a ``s3sync sync`` flag and a keyword of the API's ``sync``, with this default
    (``tests/test_options.py`` holds the flags and keywords to this list)."""

    mode: Mode = "both"
    no_delete: bool = False
    conflict: ConflictPolicy = "keep-both"
    max_delete: str = "50%"
    exclude: tuple[str, ...] = ()
    concurrency: Annotated[int, Field(ge=1, le=1024)] = 64  # benchmarks/README.md: 64 beat 32 and 128
    checksum: bool = False
    trash: bool = True
    follow_symlinks: bool = False
    links: bool = False  # symlinks travel as `NAME.rclonelink` objects (rclone's -l)
    permissions: bool = True  # file modes travel as rclone's `mode` metadata
    empty_dirs: bool = False  # empty folders travel as folder markers (`name/` keys)
    content_type: ContentTypes = "guess"  # uploads carry a Content-Type guessed from the name
    interval: Period = 30.0
    settle: Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)] = 1.0
    rescan: Period = 3600.0

    @model_validator(mode="after")
    def _links_or_follow(self) -> SyncOptions:
        if self.links and self.follow_symlinks:
            raise ValueError("links and follow_symlinks exclude each other: keep symlinks as links, or sync what they point to")
        return self

    @field_validator("max_delete", mode="before")
    @classmethod
    def _max_delete_form(cls, value: Any) -> str:
        text = str(value).strip()
        if not _MAX_DELETE.match(text):
            raise ValueError("must be a count like 100 or a share like 50%")
        return text


WATCH_ONLY = frozenset({"interval", "settle", "rescan"})  # the service's timings: config keys and watch flags


class PairConfig(SyncOptions):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    local: Path
    remote: str

    @field_validator("local", mode="before")
    @classmethod
    def _local_folder(cls, value: Any) -> Any:
        return local_folder(value) if isinstance(value, str | os.PathLike) else value

    @field_validator("remote")
    @classmethod
    def _remote_is_s3_url(cls, value: str) -> str:
        try:
            parse_s3_url(value)
        except BadS3Url as exc:
            raise ValueError(str(exc)) from exc
        return value


class Config(_Model):
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: AddressingStyle | None = None
    verify_ssl: bool = True
    ca_bundle: Path | None = None
    state_dir: Path | None = None
    log_format: Literal["console", "json"] | None = None
    pairs: tuple[PairConfig, ...] = ()

    @field_validator("pairs")
    @classmethod
    def _unique_names(cls, pairs: tuple[PairConfig, ...]) -> tuple[PairConfig, ...]:
        names = [p.name for p in pairs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate pair name {duplicates[0]!r}")
        return pairs

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> Config:
        # Half a key pair reached botocore's signer as None and crashed with a traceback.
        if (self.access_key_id is None) != (self.secret_access_key is None):
            given, missing = (
                ("access_key_id", "secret_access_key")
                if self.access_key_id is not None
                else ("secret_access_key", "access_key_id")
            )
            raise ValueError(f"{given} is set but {missing} is not: give both or neither")
        return self

    @model_validator(mode="after")
    def _pairs_apart(self) -> Config:
        # Nesting is refused, not supported: an outer pair would upload the inner one's
        # trash and state, and two pairs on one folder or prefix absorb each other's files.
        for i, one in enumerate(self.pairs):
            for other in self.pairs[i + 1 :]:
                clash = _overlap(one, other)
                if clash:
                    raise ValueError(f"pairs {one.name!r} and {other.name!r} overlap: {clash}")
        return self

    def pair(self, name: str) -> PairConfig:
        for pair in self.pairs:
            if pair.name == name:
                return pair
        known = ", ".join(p.name for p in self.pairs) or "none"
        raise ConfigError(f"no pair named {name!r} in the config (pairs: {known})")


def local_folder(value: str | os.PathLike[str]) -> Path:
    """A pair's local folder as given, ``~`` expanded. Never empty: ``Path("")`` is the
    working directory (``/`` under systemd), so an empty string or a ``${VAR}`` set to
    nothing would sync whatever folder the command happened to start in."""
    text = os.fspath(value)
    if not text:
        raise ValueError("the local folder is empty: name the folder to sync")
    return Path(text).expanduser()


def _overlap(one: PairConfig, other: PairConfig) -> str | None:
    """Why two pairs would share files, or None. Folders are compared resolved (a symlink
    or a trailing slash spells the same folder); prefixes as folders (``a/`` and ``ab/``
    are apart, an empty prefix holds the whole bucket). The endpoint is the config's,
    the same for every pair."""
    here, there = _resolved(one.local), _resolved(other.local)
    if here == there:
        return f"both sync the folder {here}"
    for outer, inner in ((here, there), (there, here)):
        if outer in inner.parents:
            return f"the folder {inner} is inside {outer}"
    a, b = parse_s3_url(one.remote), parse_s3_url(other.remote)
    if a.bucket != b.bucket:
        return None
    if a.prefix == b.prefix:
        return f"both sync s3://{a.bucket}/{a.prefix}"
    for outer_url, inner_url in ((a, b), (b, a)):
        if inner_url.prefix.startswith(outer_url.prefix):
            return f"s3://{inner_url.bucket}/{inner_url.prefix} is inside s3://{outer_url.bucket}/{outer_url.prefix}"
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return path.absolute()


def command_line_pair(local: str, remote: str) -> PairConfig:
    """The pair given as ``LOCAL_DIR s3://BUCKET[/PREFIX]``: a config pair's rules, a
    problem reported as a usage error naming the argument."""
    try:
        return PairConfig.model_validate({"name": "cli", "local": local, "remote": remote})
    except ValidationError as exc:
        raise UsageError(_first_problem(exc, {"local": "LOCAL_DIR", "remote": ""})) from exc


def sync_options(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> SyncOptions:
    """Validated sync options from keyword values (command-line flags, API arguments); a
    bad one is a usage error, the field called by ``names`` where given (``--max-delete``)."""
    try:
        return SyncOptions.model_validate(values)
    except ValidationError as exc:
        raise UsageError(_first_problem(exc, names or {})) from exc


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "s3sync" / "config.yaml"


def locate(explicit: str | None) -> tuple[Path, bool]:
    """The config path to use, and whether the user named it (so its absence is an error)."""
    if explicit:
        return Path(explicit).expanduser(), True
    from_env = os.environ.get("S3SYNC_CONFIG")
    if from_env:
        return Path(from_env).expanduser(), True
    return default_config_path(), False


def load(explicit: str | None = None) -> Config:
    path, named = locate(explicit)
    if not path.exists():
        if named:
            raise ConfigError(f"{path}: config file not found")
        return Config()
    return parse(path)


def parse(path: Path) -> Config:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        # Not an OSError nor a YAMLError: without this it escaped as a traceback.
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{line}: unparsable YAML: {problem}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    expanded = _expand_env(raw, path, ())
    try:
        return Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc)}") from exc


def _expand_env(value: Any, path: Path, where: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, path, (*where, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, path, (*where, i)) for i, v in enumerate(value)]
    if isinstance(value, str):
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: _env(m.group(1), path, where), value)
    return value


def _env(name: str, path: Path, where: tuple[str | int, ...]) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise ConfigError(
            f"{path}: {_dotted(where)}: environment variable {name} is not set"
        ) from None


def _dotted(where: tuple[str | int, ...]) -> str:
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _first_problem(exc: ValidationError, names: Mapping[str, str] | None = None) -> str:
    """The first problem as one line; ``names`` calls top-level fields as the user spelled
    them (a flag), ``""`` where the message names the value itself."""
    error = exc.errors()[0]
    field = _dotted(tuple(error["loc"]))
    if names is not None and field in names:
        field = names[field]
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown key"
    # Lists in the file are tuples in the (frozen) models; speak of what the user wrote.
    message = error["msg"].removeprefix("Value error, ").replace("valid tuple", "valid list")
    message = re.sub(r"^Input should be\b", "must be", message)
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if not error["loc"] or not field:  # a rule across fields, or a message naming its value
        return f"{message}{extra}"
    return f"{field}: {message}{extra}"
