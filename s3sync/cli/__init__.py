"""The ``s3sync`` command: a thin layer that parses arguments, calls the API, and maps
errors to one line on stderr and an exit code (see ``s3sync.errors``).

stdout carries only a command's output; logs and errors go to stderr.
"""

from __future__ import annotations

import gc
import sys

import click

from s3sync import errors
from s3sync.cli import doctor, service, sync, toolbox  # noqa: F401  (importing registers the commands)
from s3sync.cli.common import group


def main(argv: list[str] | None = None) -> None:
    # A sync holds a few objects per file (hundreds of thousands for a big tree) and
    # makes few reference cycles: with the default thresholds the collector would walk
    # them all again and again (0.4 s of a 100,000-file no-op). What the imports left
    # is frozen out of its sight.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    try:
        # Without standalone mode, click hands back what the command returned.
        code = group.main(args=argv, prog_name="s3sync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.Abort:
        click.echo("s3sync: aborted", err=True)
        return 130
    except errors.S3SyncError as exc:
        click.echo(f"s3sync: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("s3sync: interrupted", err=True)
        return 130
    except SystemExit:
        # click turns a broken stdout pipe (`s3sync ls ... | head`: the reader left)
        # into exit 1 after swapping in a flush-pacifying wrapper; that is no error.
        if type(sys.stdout).__name__ == "_PacifyFlushWrapper":
            return 0
        raise
    return code if isinstance(code, int) else 0
