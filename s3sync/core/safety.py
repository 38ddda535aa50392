"""Safety rails: reasons to refuse a whole plan before anything changes.

Rule: pure checks over counts; the engine raises ``SafetyAbort`` with the reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3sync.core.model import Side
from s3sync.core.plan import Plan

DELETE_FLOOR = 10  # a share limit only bites once a plan deletes at least this many files


@dataclass(frozen=True, slots=True)
class DeleteLimit:
    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> DeleteLimit:
        match = re.fullmatch(r"\s*(\d+)\s*(%?)\s*", text)
        if not match:
            raise ValueError(f"max-delete must be a count like 100 or a share like 50%, not {text!r}")
        number, percent = int(match.group(1)), bool(match.group(2))
        return cls(percent=float(number)) if percent else cls(count=number)

    def exceeded(self, deletes: int, population: int) -> bool:
        if self.count is not None:
            return deletes > self.count
        assert self.percent is not None
        if deletes < DELETE_FLOOR:
            return False
        return deletes * 100 > self.percent * max(population, 1)


def check(
    plan: Plan,
    *,
    base_count: int,
    local_count: int,
    remote_count: int,
    limit: DeleteLimit,
) -> list[str]:
    reasons = []
    if base_count and local_count == 0:
        reasons.append(
            f"the local folder is empty but {base_count} files were synced before "
            "(unmounted disk or wrong folder?)"
        )
    if base_count and remote_count == 0:
        reasons.append(
            f"the remote prefix is empty but {base_count} files were synced before "
            "(wrong bucket or prefix, or a wiped bucket?)"
        )
    for side, population in ((Side.LOCAL, local_count), (Side.REMOTE, remote_count)):
        deletes = plan.deletes(side)
        if limit.exceeded(deletes, population):
            shown = f"{limit.count}" if limit.count is not None else f"{limit.percent:g}% of {population}"
            reasons.append(f"the plan deletes {deletes} {side.value} files, more than the limit ({shown})")
    return reasons
