"""`s3sync sync`: one reconciliation of one or more pairs, then exit.

Exit codes: 0 in sync, 1 some actions failed (the rest were done), 2 usage or config
error, 3 a safety rail stopped a pair before any change.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from s3sync import config as config_mod
from s3sync import errors, preflight
from s3sync.adapters.statedb import state_dir_default
from s3sync.api import AsyncClient
from s3sync.cli.common import Common, common_options, group, run_async, s3_url
from s3sync.config import Config, PairConfig, SyncOptions
from s3sync.core.plan import Plan
from s3sync.engine import PairSpec, Result

# Not checked by click (whose refusal of a folder it may not read was a usage error in
# several lines): preflight.state_dir judges it, the same for the flag, the config and
# the default.
STATE_DIR = click.Path(path_type=Path, readable=False)

def sync_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by `sync` and `watch`; each is also a per-pair config key."""
    options = [
        click.option("--mode", type=click.Choice(["both", "push", "pull"]), help="both (default), push (remote follows local) or pull."),
        click.option("--no-delete", is_flag=True, default=None, help="Never delete on the destination side (backup: --mode push --no-delete)."),
        click.option("--conflict", type=click.Choice(["keep-both", "newer", "local", "remote"]), help="Which version keeps the name; the other always survives."),
        click.option("--max-delete", metavar="N|P%", help="Abort when the plan deletes more (default 50%, from 10 files)."),
        click.option("--exclude", multiple=True, metavar="GLOB", help="gitignore-style pattern to leave alone (repeatable)."),
        click.option("--concurrency", type=click.IntRange(1, 1024), help="Transfers in flight (default 64)."),
        click.option("--checksum", is_flag=True, default=None, help="Compare content hashes, not size+mtime."),
        click.option("--follow-symlinks", is_flag=True, default=None, help="Sync what symlinks point to."),
        click.option("--links", is_flag=True, default=None, help="Keep symlinks as links: NAME.rclonelink objects holding the target (rclone -l)."),
        click.option("--no-trash", "trash", flag_value=False, default=None, help="Delete local files for good instead of moving them to .s3sync-trash/."),
        click.option("--no-permissions", "permissions", flag_value=False, default=None, help="Neither store file modes in the bucket nor apply them."),
        click.option("--empty-dirs", is_flag=True, default=None, help="Mirror empty folders as folder markers (name/ keys)."),
        click.option("--content-type", type=click.Choice(["guess", "none"]), help="Content-Type of uploads: guessed from the name (default), or none."),
        click.option("--state-dir", type=STATE_DIR, help="Where state DBs live (else $S3SYNC_STATE_DIR, else $XDG_STATE_HOME/s3sync)."),
        click.option("--force", is_flag=True, help="Lift the max-delete and emptied-root rails for this run."),
        click.option("--wait", is_flag=True, help="Wait for another process syncing the same pair instead of exiting."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def resolve_pairs(
    cfg: Config, local: str | None, remote: str | None, names: tuple[str, ...], overrides: dict[str, Any]
) -> list[PairSpec]:
    if local is not None or remote is not None:
        if local is None or remote is None:
            raise errors.UsageError("give both LOCAL_DIR and s3://BUCKET[/PREFIX], or neither")
        if names:
            raise errors.UsageError("--pair selects pairs from the config; it cannot go with LOCAL_DIR")
        pairs = [config_mod.command_line_pair(local, remote)]
    elif names:
        pairs = [cfg.pair(n) for n in names]
    else:
        pairs = list(cfg.pairs)
        if not pairs:
            raise errors.UsageError("no pairs to sync: give LOCAL_DIR s3://BUCKET[/PREFIX], or a config with pairs")
    return [_spec(pair, overrides) for pair in pairs]


def _spec(pair: PairConfig, overrides: dict[str, Any]) -> PairSpec:
    values = {k: getattr(pair, k) for k in SyncOptions.model_fields}
    # An option not given is None (or, for the repeatable --exclude, empty): it must not
    # replace the pair's own config value (an empty tuple would drop the pair's excludes).
    values.update({k: v for k, v in overrides.items() if v is not None and k != "exclude"})
    if overrides.get("exclude"):
        values["exclude"] = (*pair.exclude, *overrides["exclude"])
    # Every value not overridden came validated from the config: a problem is a flag's.
    options = config_mod.sync_options(values, {k: "--" + k.replace("_", "-") for k in overrides})
    url = s3_url(pair.remote)
    root = pair.local.expanduser().absolute()
    return PairSpec(pair.name, root, url.bucket, url.prefix, options)


@group.command()
@click.argument("local", required=False)
@click.argument("remote", required=False)
@click.option("--pair", "pair_names", multiple=True, metavar="NAME", help="Sync this pair of the config (repeatable; default: all).")
@click.option("--dry-run", is_flag=True, help="Print the plan (action, path, reason) and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@sync_options
@common_options
def sync(common: Common, local: str | None, remote: str | None, pair_names: tuple[str, ...],
         dry_run: bool, as_json: bool, state_dir: Path | None, force: bool, wait: bool,
         exclude: tuple[str, ...], **overrides: Any) -> int:
    """Reconcile LOCAL_DIR with s3://BUCKET[/PREFIX] once (or the config's pairs) and exit."""
    cfg = common.load_config()
    common.configure_logging(cfg)
    specs = resolve_pairs(cfg, local, remote, pair_names, {**overrides, "exclude": exclude})
    states = state_dir or cfg.state_dir or state_dir_default()
    preflight.state_dir(states)  # once, not once per pair
    concurrency = max(s.options.concurrency for s in specs)
    show_progress = not as_json and not common.quiet and not dry_run and sys.stderr.isatty()

    async def job() -> list[Result | errors.S3SyncError]:
        outcomes: list[Result | errors.S3SyncError] = []
        # The API's own sync path (AsyncClient.sync runs the same run_pair), so the CLI
        # and Python callers cannot drift apart.
        async with AsyncClient(conn=common.connection(cfg, pool=concurrency + 8)) as s3:
            for spec in specs:
                try:
                    outcomes.append(await s3.run_pair(
                        spec, states, dry_run=dry_run, force=force, wait=wait,
                        on_plan=_progress_bar if show_progress else None,
                    ))
                except errors.S3SyncError as exc:
                    if len(specs) == 1:
                        raise
                    click.echo(f"s3sync: error: pair {spec.name}: {exc}", err=True)
                    outcomes.append(exc)
        return outcomes

    outcomes = run_async(job())
    for outcome in outcomes:
        if isinstance(outcome, Result):
            _report(outcome, as_json)
    return _exit_code(outcomes)


def _exit_code(outcomes: list[Result | errors.S3SyncError]) -> int:
    codes = [o.exit_code if isinstance(o, errors.S3SyncError) else (1 if o.failed else 0) for o in outcomes]
    return 3 if 3 in codes else max(codes, default=0)


def _report(result: Result, as_json: bool) -> None:
    if as_json:
        summary = result.summary().as_json()
        if result.plan is not None:
            summary["plan"] = [{"action": a.action, "rel": a.rel, "reason": a.reason} for a in result.plan.changes()]
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    if result.plan is not None:
        _print_plan(result.plan)
        return
    done = result.summary()
    click.echo(f"{result.pair}: {done.report() or 'in sync, nothing to do'} ({round(done.seconds, 3)} s)")
    for failure in result.tally.failures:
        click.echo(f"  failed: {failure.action} {failure.rel}: {failure.reason}")


def _print_plan(plan: Plan) -> None:
    for action in plan.changes():
        click.echo(f"{action.action}\t{action.rel}\t{action.reason}")


def _progress_bar(plan: Plan) -> Callable[[int, int], None] | None:
    """Files done of the plan, bytes moved and the rate, on stderr; only for long runs."""
    if len(plan) < 50:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("syncing"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
        TextColumn("{task.fields[moved]}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )
    task = progress.add_task("sync", total=len(plan), moved="0 B")
    progress.start()
    state = {"files": 0, "bytes": 0}
    started = time.monotonic()

    def advance(nfiles: int, nbytes: int) -> None:
        state["files"] += nfiles
        state["bytes"] += nbytes
        rate = state["bytes"] / max(time.monotonic() - started, 1e-3)
        progress.update(task, advance=nfiles, moved=f"{_human(state['bytes'])} at {_human(rate)}/s")
        if state["files"] >= len(plan):
            progress.stop()

    return advance


def _human(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
