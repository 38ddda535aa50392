"""`s3sync watch` (the service) and `s3sync status` (what the service and past syncs left).

Exit codes of `watch`: 0 after SIGTERM/SIGINT, 2 for a usage or config error at start,
1 when no pair can be served at start (each is another watch's, say). A pair whose rails
trip, or whose endpoint fails, does not end the process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from s3sync import preflight
from s3sync.adapters.statedb import pair_id, state_dir_default
from s3sync.cli.common import Common, common_options, group, run_async
from s3sync.cli.sync import STATE_DIR, resolve_pairs, sync_options
from s3sync.engine import PairSpec
from s3sync.service import status as status_mod


@group.command()
@click.argument("local", required=False)
@click.argument("remote", required=False)
@click.option("--interval", type=float, metavar="SECONDS", help="How often to list the remote prefix (default 30).")
@click.option("--settle", type=float, metavar="SECONDS", help="Quiet time before local changes are synced (default 1).")
@click.option("--rescan", type=float, metavar="SECONDS", help="How often to run a full sync, catching missed events (default 3600).")
@sync_options
@common_options
def watch(common: Common, local: str | None, remote: str | None, state_dir: Path | None,
          force: bool, wait: bool, exclude: tuple[str, ...], **overrides: Any) -> int:
    """Keep LOCAL_DIR and s3://BUCKET[/PREFIX] (or every pair of the config) in sync until stopped.

    Starts with a full sync of every pair, then syncs local changes as they settle
    and remote changes at each --interval. SIGHUP reloads the config; SIGTERM stops.
    --force lifts the rails for the start-up sync only; --wait is accepted and ignored
    (the service retries a pair another process is syncing).
    """
    del wait
    cfg = common.load_config()
    common.configure_logging(cfg)
    options = {**overrides, "exclude": exclude}
    specs = resolve_pairs(cfg, local, remote, (), options)

    def reload() -> list[PairSpec]:
        return resolve_pairs(common.load_config(), local, remote, (), options)

    states = state_dir or cfg.state_dir or state_dir_default()
    preflight.state_dir(states)
    pool = min(512, sum(s.options.concurrency for s in specs) + 8)
    # Imported here: watchdog and APScheduler are only worth loading for the service.
    from s3sync.service.daemon import Daemon

    daemon = Daemon(common.connection(cfg, pool=pool), reload, states, force_first=force)
    return run_async(daemon.run(specs))


@group.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per pair, as a list.")
@click.option("--state-dir", type=STATE_DIR, help="Where state DBs live (else $S3SYNC_STATE_DIR, else $XDG_STATE_HOME/s3sync).")
@common_options
def status(common: Common, as_json: bool, state_dir: Path | None) -> int:
    """Per pair: last sync and its result, files tracked, pending work, conflicts, last error."""
    cfg = common.load_config()
    common.configure_logging(cfg)
    states = state_dir or cfg.state_dir or state_dir_default()
    endpoint = common.connection(cfg).endpoint_url
    named = []
    for configured in cfg.pairs:
        spec = resolve_pairs(cfg, None, None, (configured.name,), {})[0]
        db = states / f"{pair_id(spec.local_root, endpoint, spec.bucket, spec.prefix)}.db"
        named.append(status_mod.Named(spec.name, str(spec.local_root), configured.remote, db))
    found = status_mod.collect(named, states)
    if as_json:
        click.echo(json.dumps([p.as_json() for p in found], ensure_ascii=False))
    elif not found:
        click.echo(f"no pairs: none in the config and no state in {states}")
    for pair in [] if as_json else found:
        _print(pair)
    return 0


def _print(p: status_mod.PairStatus) -> None:
    click.echo(f"{p.name}: {p.local or '?'} <-> {p.remote or '?'}")
    click.echo(f"  service:    {p.service}" + (f" (pid {p.pid})" if p.pid else ""))
    if p.last_sync is None:
        click.echo("  last sync:  never")
    else:
        click.echo(f"  last sync:  {_when(p.last_sync)} by {p.last_trigger}: {p.last_result}")
    click.echo(f"  tracked:    {p.files_tracked} files; pending: {p.pending}; conflicts created: {p.conflicts_created}")
    if p.last_error:
        at = f" ({_when(p.last_error_at)})" if p.last_error_at else ""
        click.echo(f"  last error: {p.last_error}{at}")


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(stamp))
