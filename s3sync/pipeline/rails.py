"""The rails: a plan that would delete more than the limit, or empty a side, changes
nothing (``SafetyAbort``, exit 3)."""

from __future__ import annotations

import structlog

from s3sync import errors
from s3sync.core import safety
from s3sync.core.plan import Plan
from s3sync.pipeline.context import Counts

log = structlog.get_logger()


def check_rails(plan: Plan, counts: Counts, max_delete: str, *, force: bool, scoped: bool) -> None:
    """Over the whole pair's populations, for a scoped pass too (estimated there): a
    scope of 10,000 local deletes trips max-delete as a full run would. ``force`` lifts
    the rails of a full sync; a scoped pass is never forced."""
    if force and not scoped:
        return
    reasons = safety.check(
        plan, base_count=counts.base, local_count=counts.local, remote_count=counts.remote,
        limit=safety.DeleteLimit.parse(max_delete),
    )
    if reasons:
        log.warning("safety_aborted", reasons=reasons)
        hint = "nothing was changed" if scoped else "nothing was changed; use --force to proceed anyway"
        raise errors.SafetyAbort([*reasons, hint])
