"""Permissions in the decision table: a change of mode alone is carried over, no data moves.

Rows for each mode of sync, plus a property: with the rule off, or with no mode known,
modes never make a plan act.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3sync.core.change import Mode, Options
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry, Side
from s3sync.core.paths import RelPath
from s3sync.core.plan import Record, SetMode
from s3sync.core.reconcile import reconcile

REL = RelPath("run.sh")
MD5 = "0" * 32
MODIFIED = 1_700_000_000 * 10**9


def sides(base_modes: tuple[int | None, int | None], now: tuple[int | None, int | None],
          modified: int = MODIFIED) -> tuple[dict[RelPath, BaseEntry], dict[RelPath, LocalEntry], dict[RelPath, RemoteEntry]]:
    base = BaseEntry(LocalEntry(10, 5, None, base_modes[0]), RemoteEntry(10, "e", 5, MD5, MODIFIED, base_modes[1]), MD5)
    local = LocalEntry(10, 5, None, now[0])
    remote = RemoteEntry(10, "e", 5, MD5, modified, now[1])
    return {REL: base}, {REL: local}, {REL: remote}


def only(mode: Mode, base_modes: tuple[int | None, int | None], now: tuple[int | None, int | None],
         permissions: bool = True) -> object:
    plan = reconcile(*sides(base_modes, now), Options(mode=mode, permissions=permissions))
    actions = list(plan)
    return actions[0] if actions else None


@pytest.mark.parametrize(("mode", "now", "side", "carried"), [
    (Mode.BOTH, (0o755, 0o644), Side.REMOTE, 0o755),  # chmod here
    (Mode.BOTH, (0o644, 0o700), Side.LOCAL, 0o700),  # chmod there
    (Mode.BOTH, (0o755, 0o700), Side.REMOTE, 0o755),  # both: the local one wins
    (Mode.PUSH, (0o755, 0o644), Side.REMOTE, 0o755),
    (Mode.PUSH, (0o644, 0o700), Side.REMOTE, 0o644),  # push restores the source's
    (Mode.PULL, (0o644, 0o700), Side.LOCAL, 0o700),
    (Mode.PULL, (0o755, 0o644), Side.LOCAL, 0o644),  # pull restores the source's
])
def test_a_mode_alone_is_carried_to_the_other_side(
    mode: Mode, now: tuple[int, int], side: Side, carried: int
) -> None:
    action = only(mode, (0o644, 0o644), now)
    assert isinstance(action, SetMode)
    assert (action.side, action.mode) == (side, carried)


def test_the_same_chmod_on_both_sides_is_recorded() -> None:
    assert isinstance(only(Mode.BOTH, (0o644, 0o644), (0o755, 0o755)), Record)


def test_a_new_last_modified_alone_is_recorded_and_nothing_moves() -> None:
    plan = reconcile(*sides((0o644, 0o644), (0o644, 0o644), modified=MODIFIED + 10**9), Options(permissions=True))
    assert [type(a) for a in plan] == [Record]


@given(st.sampled_from(list(Mode)), st.sampled_from([None, 0o600, 0o644, 0o755]),
       st.sampled_from([None, 0o600, 0o644, 0o755]), st.sampled_from([None, 0o600, 0o644]))
def test_modes_never_act_with_the_rule_off_nor_where_no_change_is_known(
    mode: Mode, here: int | None, there: int | None, recorded: int | None
) -> None:
    assert not any(isinstance(a, SetMode) for a in reconcile(
        *sides((recorded, recorded), (here, there)), Options(mode=mode, permissions=False)))
    unknown = reconcile(*sides((None, recorded), (here, None)), Options(mode=mode, permissions=True))
    assert not any(isinstance(a, SetMode) for a in unknown)
