"""What a sync returns: ``SyncSummary``, the one result type (``s3sync.outcome``)."""

from __future__ import annotations

from s3sync.engine import Result
from s3sync.outcome import PlannedChange, SyncFailure, SyncSummary

__all__ = ["PlannedChange", "SyncFailure", "SyncSummary", "summarize"]


def summarize(result: Result) -> SyncSummary:
    """The engine's ``Result`` as the public value: a copy, so it cannot change later."""
    return result.summary()
