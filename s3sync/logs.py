"""structlog set-up: readable lines for people, JSON lines for services, always on stderr.

Event names are past-tense snake_case (``object_uploaded``); values go in keys, with the
fixed names ``pair``, ``rel``, ``key``, ``action``, ``bytes`` wherever they apply.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]

_SECRET_KEYS = frozenset({"secret_key", "secret_access_key", "aws_secret_access_key", "password"})


def _redact_secrets(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for name in _SECRET_KEYS & event.keys():
        event[name] = "***"
    return event


def _drop_per_file_info(
    _logger: object, name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    # A per-file event is one about a path (``rel``): on a terminal the progress display
    # stands for them, and 3,000 files must not mean 3,000 lines. Warnings stay.
    if name == "info" and "rel" in event:
        raise structlog.DropEvent
    return event


def configure(log_format: LogFormat = "console", verbosity: int = 0) -> None:
    """``verbosity``: -1 warnings only, 0 info, 1 debug.

    With the console format on a terminal, at verbosity 0, per-file info lines are left
    out (``-v`` shows them); with JSON (services, journald) every action stays an event.
    """
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    renderer: structlog.typing.Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    per_file: list[structlog.typing.Processor] = []
    if log_format == "console" and verbosity == 0 and sys.stderr.isatty():
        per_file.append(_drop_per_file_info)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *per_file,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # botocore and friends log through stdlib logging; keep them quiet unless -v.
    logging.basicConfig(level=logging.WARNING if verbosity < 1 else logging.DEBUG, stream=sys.stderr)
