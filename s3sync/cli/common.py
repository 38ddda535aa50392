"""Options every command shares, and how they become a connection and a log set-up."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from s3sync import api, errors, logs
from s3sync import config as config_mod
from s3sync.adapters.s3 import Connection, resolve_endpoint
from s3sync.core.paths import BadS3Url, S3Url, parse_s3_url

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="s3sync", prog_name="s3sync")
def group() -> None:
    """Keep local folders and S3-compatible buckets mirrored, and the everyday S3 toolbox."""


@dataclass(frozen=True)
class Common:
    config_path: str | None
    endpoint_url: str | None
    region: str | None
    profile: str | None
    no_verify_ssl: bool
    ca_bundle: Path | None
    virtual_host_style: bool
    log_format: str | None
    verbose: int
    quiet: bool

    def load_config(self) -> config_mod.Config:
        return config_mod.load(self.config_path)

    def connection(
        self, cfg: config_mod.Config, *, pool: int = 64, attempts: int | None = None
    ) -> Connection:
        verify: bool | str = True
        if self.no_verify_ssl or not cfg.verify_ssl:
            verify = False
        elif self.ca_bundle or cfg.ca_bundle:
            verify = str(self.ca_bundle or cfg.ca_bundle)
        secret = cfg.secret_access_key.get_secret_value() if cfg.secret_access_key else None
        # Through the API's constructor, so the CLI and Python callers check the same way.
        conn = api.connection(
            resolve_endpoint(self.endpoint_url, cfg.endpoint_url),
            region=self.region or cfg.region,
            profile=self.profile or cfg.profile,
            access_key=cfg.access_key_id,
            secret_key=secret,
            addressing_style="virtual" if self.virtual_host_style else cfg.addressing_style,
            verify=verify,
            max_pool_connections=pool,
        )
        return conn if attempts is None else dataclasses.replace(conn, max_attempts=attempts)

    def configure_logging(self, cfg: config_mod.Config | None = None) -> None:
        fmt = self.log_format or (cfg.log_format if cfg else None) or "console"
        verbosity = -1 if self.quiet else min(self.verbose, 1)
        logs.configure("json" if fmt == "json" else "console", verbosity)


def common_options(func: F) -> F:
    """Add the shared options to a command and hand it one ``common`` argument."""
    options = [
        click.option("--config", "config_path", metavar="FILE", help="Config file (else $S3SYNC_CONFIG, else $XDG_CONFIG_HOME/s3sync/config.yaml)."),
        click.option("--endpoint-url", metavar="URL", help="S3 endpoint (else config, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). Implies path-style addressing."),
        click.option("--region", metavar="NAME", help="Region (default: the AWS chain, else us-east-1)."),
        click.option("--profile", metavar="NAME", help="Profile from the shared AWS credentials/config files."),
        click.option("--no-verify-ssl", is_flag=True, help="Do not verify the server's TLS certificate."),
        click.option("--ca-bundle", type=click.Path(path_type=Path), metavar="FILE", help="CA bundle to verify TLS with."),
        click.option("--virtual-host-style", is_flag=True, help="Address buckets as BUCKET.host instead of host/BUCKET."),
        click.option("--log-format", type=click.Choice(["console", "json"]), help="Log lines for people (console) or services (json)."),
        click.option("-v", "--verbose", count=True, help="More log detail."),
        click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr."),
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        common = Common(**{name: kwargs.pop(name) for name in Common.__dataclass_fields__})
        return func(common=common, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def s3_url(text: str, *, need_key: bool = False) -> S3Url:
    try:
        url = parse_s3_url(text)
    except BadS3Url as exc:
        raise errors.UsageError(str(exc)) from exc
    if need_key and (not url.key or url.key.endswith("/")):
        raise errors.UsageError(f"{text!r} names no object: give s3://BUCKET/KEY")
    return url


T = TypeVar("T")


def run_async(job: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(job)
