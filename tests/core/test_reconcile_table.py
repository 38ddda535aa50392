"""The decision table of ``sync-semantics.md``, one readable row per cell.

The property tests (``test_reconcile_props.py``) explore random histories; these rows
are their readable counterpart: when a property fails, the row for the same cell says
what the contract wants there.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest

from s3sync.core.change import Mode, Options, Policy, paths_needing_hash, paths_needing_remote_md5
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry, Side
from s3sync.core.paths import (
    BadS3Url,
    RelPath,
    conflict_name,
    parse_s3_url,
    rel_for,
    why_unmappable,
)
from s3sync.core.plan import (
    Action,
    Conflict,
    DeleteLocal,
    DeleteRemote,
    Download,
    Forget,
    Plan,
    Preserve,
    Record,
    Skip,
    Upload,
)
from s3sync.core.reconcile import reconcile
from s3sync.core.safety import DeleteLimit, check

P = RelPath("dir/report.txt")
STAMP = "20261127-134500"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# Three versions of the file. V1 and V2 have V0's size on purpose: size alone never
# tells them apart, so only the hash can.
V0, V1, V2 = b"version zero", b"local edit 1", b"remote edit!"
assert len(V0) == len(V1) == len(V2)

T_BASE, T_LOCAL, T_REMOTE = 1_000, 2_000, 3_000  # mtimes (ns); the remote edit is newer

BASE = BaseEntry(
    LocalEntry(len(V0), T_BASE, md5(V0)),
    RemoteEntry(len(V0), md5(V0), T_BASE, md5(V0)),
    md5(V0),
)

# What each side looks like in each state, md5 filled as the engine fills it.
LOCAL: dict[str, LocalEntry | None] = {
    "same": LocalEntry(len(V0), T_BASE, md5(V0)),
    "touched": LocalEntry(len(V0), T_BASE + 7, md5(V0)),
    "changed": LocalEntry(len(V1), T_LOCAL, md5(V1)),
    "grown": LocalEntry(len(V1) + 5, T_LOCAL, None),  # size differs: no hash needed
    "equal": LocalEntry(len(V2), T_LOCAL, md5(V2)),  # changed to what the remote holds
    "deleted": None,
}
REMOTE: dict[str, RemoteEntry | None] = {
    "same": RemoteEntry(len(V0), md5(V0), T_BASE, md5(V0)),
    # Rewritten with the same bytes as a multipart upload: new ETag, same content hash.
    "touched": RemoteEntry(len(V0), md5(V0)[:30] + "-2", T_BASE + 9, md5(V0)),
    "changed": RemoteEntry(len(V2), md5(V2), T_REMOTE, md5(V2)),
    "equal": RemoteEntry(len(V2), md5(V2), T_REMOTE, md5(V2)),
    "deleted": None,
}


def plan_one(
    local: LocalEntry | None,
    remote: RemoteEntry | None,
    base: BaseEntry | None = BASE,
    **options: Any,
) -> Action | None:
    """Reconcile a single path; the action for it, or None."""
    plan = reconcile(
        {P: base} if base else {},
        {P: local} if local else {},
        {P: remote} if remote else {},
        Options(stamp=STAMP, **options),
    )
    assert len(plan) <= 1
    return plan.actions[0] if plan.actions else None


def shape(action: Action | None) -> tuple[object, ...] | None:
    """The parts of an action a table row pins: kind, then what it preserves or picks."""
    match action:
        case None:
            return None
        case Upload():
            return ("upload", action.preserve_remote.value)
        case Download():
            return ("download", action.preserve_local.value)
        case DeleteRemote():
            return ("delete_remote", action.preserve_remote.value)
        case Conflict():
            return ("conflict", action.winner.value, action.copy_rel is not None)
        case _:
            return (action.action,)


NOTHING, TRASH = Preserve.NOTHING.value, Preserve.TRASH.value

# (mode, no_delete, local state, remote state, expected shape)
TABLE = [
    # --- mode both: the 3 × 3 table of the contract -------------------------------
    ("both", False, "same", "same", None),
    ("both", False, "same", "changed", ("download", NOTHING)),
    ("both", False, "same", "deleted", ("delete_local",)),
    ("both", False, "changed", "same", ("upload", NOTHING)),
    ("both", False, "changed", "changed", ("conflict", "remote", True)),
    ("both", False, "equal", "equal", ("record",)),
    ("both", False, "changed", "deleted", ("upload", NOTHING)),
    ("both", False, "grown", "deleted", ("upload", NOTHING)),
    ("both", False, "deleted", "same", ("delete_remote", NOTHING)),
    ("both", False, "deleted", "changed", ("download", NOTHING)),
    ("both", False, "deleted", "deleted", ("forget",)),
    # touched (metadata only) counts as unchanged
    ("both", False, "touched", "same", ("record",)),
    ("both", False, "same", "touched", ("record",)),
    ("both", False, "touched", "touched", ("record",)),
    ("both", False, "touched", "changed", ("download", NOTHING)),
    ("both", False, "changed", "touched", ("upload", NOTHING)),
    ("both", False, "touched", "deleted", ("delete_local",)),
    ("both", False, "deleted", "touched", ("delete_remote", NOTHING)),
    # --- push: make remote match local; local never touched ------------------------
    ("push", False, "same", "same", None),
    ("push", False, "same", "changed", ("upload", TRASH)),
    ("push", False, "same", "deleted", ("upload", NOTHING)),
    ("push", False, "changed", "same", ("upload", NOTHING)),
    ("push", False, "changed", "changed", ("upload", TRASH)),
    ("push", False, "equal", "equal", ("record",)),
    ("push", False, "changed", "deleted", ("upload", NOTHING)),
    ("push", False, "deleted", "same", ("delete_remote", NOTHING)),
    ("push", False, "deleted", "changed", ("delete_remote", TRASH)),
    ("push", False, "deleted", "deleted", ("forget",)),
    ("push", False, "touched", "same", ("record",)),
    ("push", False, "touched", "changed", ("upload", TRASH)),
    # --- pull: the mirror image ------------------------------------------------------
    ("pull", False, "same", "same", None),
    ("pull", False, "same", "changed", ("download", NOTHING)),
    ("pull", False, "same", "deleted", ("delete_local",)),
    ("pull", False, "changed", "same", ("download", TRASH)),
    ("pull", False, "changed", "changed", ("download", TRASH)),
    ("pull", False, "equal", "equal", ("record",)),
    ("pull", False, "changed", "deleted", ("skipped",)),  # a local edit is never lost
    ("pull", False, "deleted", "same", ("download", NOTHING)),
    ("pull", False, "deleted", "changed", ("download", NOTHING)),
    ("pull", False, "deleted", "deleted", ("forget",)),
    ("pull", False, "same", "touched", ("record",)),
    ("pull", False, "changed", "touched", ("download", TRASH)),
    # --- no_delete: deletes become skips, nothing else changes -----------------------
    ("both", True, "same", "deleted", ("skipped",)),
    ("both", True, "deleted", "same", ("skipped",)),
    ("both", True, "deleted", "deleted", ("forget",)),
    ("both", True, "changed", "deleted", ("upload", NOTHING)),
    ("both", True, "deleted", "changed", ("download", NOTHING)),
    ("both", True, "same", "changed", ("download", NOTHING)),
    ("push", True, "deleted", "same", ("skipped",)),
    ("push", True, "deleted", "changed", ("skipped",)),
    ("push", True, "changed", "same", ("upload", NOTHING)),
    ("push", True, "same", "deleted", ("upload", NOTHING)),
    ("pull", True, "same", "deleted", ("skipped",)),
    ("pull", True, "deleted", "same", ("download", NOTHING)),
]


@pytest.mark.parametrize(
    ("mode", "no_delete", "here", "there", "expected"),
    TABLE,
    ids=[f"{m}{'-nodelete' if nd else ''}-L:{lc}-R:{rc}" for m, nd, lc, rc, _ in TABLE],
)
def test_decision_table(
    mode: str, no_delete: bool, here: str, there: str, expected: tuple[object, ...] | None
) -> None:
    action = plan_one(LOCAL[here], REMOTE[there], mode=Mode(mode), no_delete=no_delete)
    assert shape(action) == expected
    if action is not None:
        assert action.rel == P
        assert action.reason  # every action says why


def test_table_covers_every_cell_of_both_mode() -> None:
    cells = {(lc, rc) for m, nd, lc, rc, _ in TABLE if m == "both" and not nd}
    for lc in ("same", "changed", "deleted"):
        for rc in ("same", "changed", "deleted"):
            assert (lc, rc) in cells


def test_actions_carry_their_preconditions() -> None:
    """Each action names the state it replaces, so the executor can refuse a stale one."""
    upload = plan_one(LOCAL["changed"], REMOTE["same"])
    assert isinstance(upload, Upload)
    assert upload.local == LOCAL["changed"]
    assert upload.expect_remote == REMOTE["same"]

    download = plan_one(LOCAL["same"], REMOTE["changed"])
    assert isinstance(download, Download)
    assert download.remote == REMOTE["changed"]
    assert download.expect_local == LOCAL["same"]

    resurrect = plan_one(None, REMOTE["changed"])
    assert isinstance(resurrect, Download)
    assert resurrect.expect_local is None
    assert "edit beats" in resurrect.reason

    delete_local = plan_one(LOCAL["same"], None)
    assert isinstance(delete_local, DeleteLocal)
    assert delete_local.expect_local == LOCAL["same"]

    delete_remote = plan_one(None, REMOTE["same"])
    assert isinstance(delete_remote, DeleteRemote)
    assert delete_remote.expect_remote == REMOTE["same"]


# --- first sync: no base rows ---------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("no_delete", [False, True])
@pytest.mark.parametrize("policy", list(Policy))
def test_first_sync_is_a_union_and_never_deletes(
    mode: Mode, no_delete: bool, policy: Policy
) -> None:
    a, b, c, d = (RelPath(n) for n in ("only-local", "same", "only-remote", "different"))
    local = {
        a: LocalEntry(len(V0), T_LOCAL, md5(V0)),
        b: LocalEntry(len(V1), T_LOCAL, md5(V1)),
        d: LocalEntry(len(V1), T_LOCAL, md5(V1)),
    }
    remote = {
        b: RemoteEntry(len(V1), md5(V1), T_REMOTE, md5(V1)),
        c: RemoteEntry(len(V2), md5(V2), T_REMOTE, md5(V2)),
        d: RemoteEntry(len(V2), md5(V2), T_REMOTE, md5(V2)),
    }
    options = Options(mode=mode, no_delete=no_delete, conflict=policy, stamp=STAMP)
    plan = reconcile({}, local, remote, options)
    by_rel = {x.rel: x for x in plan}

    assert not any(isinstance(x, DeleteLocal | DeleteRemote | Forget) for x in plan)
    assert isinstance(by_rel[b], Record)  # equal content is adopted
    assert by_rel[b].md5 == md5(V1)
    if mode is not Mode.PULL:
        assert isinstance(by_rel[a], Upload)
        assert by_rel[a].expect_remote is None
    else:
        assert isinstance(by_rel[a], Skip)
    if mode is not Mode.PUSH:
        assert isinstance(by_rel[c], Download)
        assert by_rel[c].expect_local is None
    else:
        assert isinstance(by_rel[c], Skip)
    if mode is Mode.BOTH:
        assert isinstance(by_rel[d], Conflict)
    elif mode is Mode.PUSH:
        assert shape(by_rel[d]) == ("upload", TRASH)  # the remote version is kept
    else:
        assert shape(by_rel[d]) == ("download", TRASH)


def test_first_sync_with_unhashed_same_size_files_asks_for_hashes() -> None:
    local = {P: LocalEntry(len(V1), T_LOCAL)}
    remote = {P: RemoteEntry(len(V1), "x" * 30 + "-3", T_REMOTE)}  # multipart: no MD5
    assert paths_needing_hash({}, local, remote, checksum=False) == [P]
    assert paths_needing_remote_md5({}, local, remote) == [P]
    # Without hashes equal content cannot be proven: a conflict, never an overwrite.
    assert isinstance(plan_one(local[P], remote[P], base=None), Conflict)
    hashed = plan_one(replace(local[P], md5=md5(V1)), replace(remote[P], md5=md5(V1)), base=None)
    assert isinstance(hashed, Record)


# --- touched: metadata changed, content equal ------------------------------------------


def test_touched_local_file_is_recorded_not_transferred() -> None:
    touched = LocalEntry(len(V0), T_BASE + 7)  # as scanned: no hash yet
    local, remote = {P: touched}, {P: REMOTE["same"]}
    assert REMOTE["same"] is not None
    assert paths_needing_hash({P: BASE}, local, remote, checksum=False) == [P]
    # Unhashed, a same-size mtime change is a change.
    assert shape(plan_one(touched, REMOTE["same"])) == ("upload", NOTHING)
    action = plan_one(replace(touched, md5=md5(V0)), REMOTE["same"])
    assert isinstance(action, Record)
    assert action.local.mtime_ns == T_BASE + 7  # the base moves on to the new mtime
    assert action.md5 == md5(V0)
    # Once recorded, the same scan is quiet.
    new_base = BaseEntry(action.local, action.remote, action.md5)
    assert plan_one(replace(touched, md5=md5(V0)), REMOTE["same"], base=new_base) is None


def test_touched_remote_object_is_recorded_not_transferred() -> None:
    listed = replace(REMOTE["touched"], md5=None)  # a multipart ETag: the listing has no MD5
    assert LOCAL["same"] is not None
    assert paths_needing_remote_md5({P: BASE}, {P: LOCAL["same"]}, {P: listed}) == [P]
    assert shape(plan_one(LOCAL["same"], listed)) == ("download", NOTHING)
    action = plan_one(LOCAL["same"], REMOTE["touched"])
    assert isinstance(action, Record)
    assert action.remote == REMOTE["touched"]


def test_checksum_mode_hashes_unchanged_files_and_trusts_the_hash() -> None:
    same_meta = LocalEntry(len(V0), T_BASE)
    assert paths_needing_hash({P: BASE}, {P: same_meta}, {P: REMOTE["same"]}, checksum=True) == [P]
    assert paths_needing_hash({P: BASE}, {P: same_meta}, {P: REMOTE["same"]}, checksum=False) == []
    # Same size and mtime but other bytes: only --checksum sees it.
    sneaky = replace(same_meta, md5=md5(V1))
    assert plan_one(sneaky, REMOTE["same"]) is None
    assert shape(plan_one(sneaky, REMOTE["same"], checksum=True)) == ("upload", NOTHING)
    assert plan_one(replace(same_meta, md5=md5(V0)), REMOTE["same"], checksum=True) is None


@pytest.mark.parametrize(
    ("base", "local", "remote", "checksum", "needed"),
    [
        # already hashed (the engine copies the base hash of unchanged files): never again
        (BASE, LocalEntry(len(V0), T_BASE + 1, md5(V0)), REMOTE["same"], False, False),
        # unchanged metadata, remote unchanged: no reason to read the file
        (BASE, LocalEntry(len(V0), T_BASE), REMOTE["same"], False, False),
        # same size, new mtime: touched or edited? only the hash tells
        (BASE, LocalEntry(len(V0), T_BASE + 1), REMOTE["same"], False, True),
        (BASE, LocalEntry(len(V0), T_BASE + 1), None, False, True),
        # another size: changed for sure, and no other side of that size to compare with
        (BASE, LocalEntry(len(V0) + 1, T_BASE + 1), REMOTE["same"], False, False),
        (BASE, LocalEntry(len(V0) + 1, T_BASE + 1), None, False, False),
        # no base: compare with a same-size remote object only
        (None, LocalEntry(len(V0), T_LOCAL), REMOTE["changed"], False, True),
        (None, LocalEntry(len(V0) + 1, T_LOCAL), REMOTE["changed"], False, False),
        (None, LocalEntry(len(V0), T_LOCAL), None, False, False),
        # changed to the size the remote changed to: maybe the same edit on both sides
        (BASE, LocalEntry(len(V2) + 3, T_LOCAL), replace(REMOTE["changed"], size=len(V2) + 3), False, True),
        # --checksum: every same-size file with a base is hashed
        (BASE, LocalEntry(len(V0), T_BASE), REMOTE["same"], True, True),
    ],
)
def test_paths_needing_hash(
    base: BaseEntry | None,
    local: LocalEntry,
    remote: RemoteEntry | None,
    checksum: bool,
    needed: bool,
) -> None:
    got = paths_needing_hash(
        {P: base} if base else {}, {P: local}, {P: remote} if remote else {}, checksum
    )
    assert got == ([P] if needed else [])


MULTIPART = md5(V2)[:30] + "-2"


@pytest.mark.parametrize(
    ("base", "local", "remote", "needed"),
    [
        (None, LOCAL["changed"], RemoteEntry(len(V2), MULTIPART, T_REMOTE, md5(V2)), False),  # known
        (None, LOCAL["changed"], RemoteEntry(len(V2), MULTIPART, T_REMOTE), True),
        (None, None, RemoteEntry(len(V2), MULTIPART, T_REMOTE), False),  # nothing to compare
        # A conflict for sure: its winner needs the object's own ``mtime`` (metadata),
        # which a listing does not show (it has only LastModified, the upload time).
        (None, LOCAL["grown"], RemoteEntry(len(V2), MULTIPART, T_REMOTE), True),
        (None, LOCAL["grown"], REMOTE["changed"], True),
        (BASE, LOCAL["changed"], REMOTE["changed"], True),
        (BASE, LOCAL["grown"], REMOTE["changed"], True),
        # Changed on one side only: a plain transfer, no HEAD
        (BASE, LOCAL["same"], REMOTE["changed"], False),
        (BASE, LOCAL["changed"], REMOTE["same"], False),
        (BASE, LOCAL["grown"], REMOTE["same"], False),
        # No base, same size, MD5 known: most likely equal content being adopted; a HEAD
        # per file would make adopting a tree slow (a conflict here falls back to
        # LastModified for its winner).
        (None, LOCAL["changed"], REMOTE["changed"], False),
        # ETag as in the base and local unchanged: nothing to decide
        (
            replace(BASE, remote=RemoteEntry(len(V0), MULTIPART, T_BASE)),
            LOCAL["same"],
            RemoteEntry(len(V0), MULTIPART, T_BASE),
            False,
        ),
        # new ETag, same size: touched or changed?
        (BASE, LOCAL["same"], RemoteEntry(len(V0), MULTIPART, T_REMOTE), True),
    ],
)
def test_paths_needing_remote_md5(
    base: BaseEntry | None, local: LocalEntry | None, remote: RemoteEntry, needed: bool
) -> None:
    got = paths_needing_remote_md5(
        {P: base} if base else {}, {P: local} if local else {}, {P: remote}
    )
    assert got == ([P] if needed else [])


# --- conflicts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_mtime", "remote_mtime", "winner", "copy"),
    [
        (T_REMOTE + 1, T_REMOTE, Side.LOCAL, "dir/report.conflict-20261127-134500-remote.txt"),
        (T_LOCAL, T_REMOTE, Side.REMOTE, "dir/report.conflict-20261127-134500-local.txt"),
    ],
)
def test_keep_both_newer_keeps_the_name(
    local_mtime: int, remote_mtime: int, winner: Side, copy: str
) -> None:
    local = LocalEntry(len(V1), local_mtime, md5(V1))
    remote = RemoteEntry(len(V2), md5(V2), remote_mtime, md5(V2))
    action = plan_one(local, remote)
    assert isinstance(action, Conflict)
    assert action.winner is winner
    assert action.copy_rel == copy
    assert (action.local, action.remote) == (local, remote)


def test_keep_both_copy_name_avoids_every_taken_name() -> None:
    local = {P: LocalEntry(len(V1), T_LOCAL, md5(V1))}
    remote = {P: RemoteEntry(len(V2), md5(V2), T_REMOTE, md5(V2))}
    first = conflict_name(P, STAMP, "local")
    second = conflict_name(P, STAMP + "-2", "local")
    plan = reconcile(
        {P: BASE},
        {**local, first: LocalEntry(1, 1)},
        {**remote, second: RemoteEntry(1, "e", 1)},
        Options(stamp=STAMP),
    )
    conflicts = [a for a in plan if isinstance(a, Conflict)]
    assert [c.copy_rel for c in conflicts] == [conflict_name(P, STAMP + "-3", "local")]


@pytest.mark.parametrize(
    ("policy", "winner"),
    [
        (Policy.NEWER, Side.REMOTE),  # the remote edit is newer
        (Policy.LOCAL, Side.LOCAL),
        (Policy.REMOTE, Side.REMOTE),
    ],
)
def test_other_policies_pick_a_winner_and_trash_the_loser(policy: Policy, winner: Side) -> None:
    action = plan_one(LOCAL["changed"], REMOTE["changed"], conflict=policy)
    assert isinstance(action, Conflict)
    assert action.winner is winner
    assert action.copy_rel is None
    assert policy.value in action.reason


def test_newer_policy_local_newer() -> None:
    local = LocalEntry(len(V1), T_REMOTE + 1, md5(V1))
    action = plan_one(local, REMOTE["changed"], conflict=Policy.NEWER)
    assert isinstance(action, Conflict)
    assert action.winner is Side.LOCAL


@pytest.mark.parametrize(
    ("rel", "side", "expected"),
    [
        ("a/b.txt", "local", "a/b.conflict-20261127-134500-local.txt"),
        (".bashrc", "remote", ".bashrc.conflict-20261127-134500-remote"),
        ("x.tar.gz", "local", "x.tar.conflict-20261127-134500-local.gz"),
        ("noext", "remote", "noext.conflict-20261127-134500-remote"),
        ("d.ir/noext", "local", "d.ir/noext.conflict-20261127-134500-local"),
        ("d/.hidden.txt", "local", "d/.hidden.conflict-20261127-134500-local.txt"),
    ],
)
def test_conflict_name(rel: str, side: str, expected: str) -> None:
    assert conflict_name(RelPath(rel), STAMP, side) == expected


# --- safety rails -----------------------------------------------------------------------


def deletes(n_local: int, n_remote: int) -> Plan:
    return Plan(
        tuple(DeleteLocal(RelPath(f"l{i}"), LocalEntry(1, 1), "r") for i in range(n_local))
        + tuple(DeleteRemote(RelPath(f"r{i}"), RemoteEntry(1, "e", 1), "r") for i in range(n_remote))
    )


HALF = DeleteLimit(percent=50.0)


@pytest.mark.parametrize(
    ("n_local", "n_remote", "population", "limit", "fires"),
    [
        (0, 0, 100, HALF, False),
        (9, 0, 9, HALF, False),  # every file, but under the floor of 10
        (0, 9, 10, HALF, False),
        (10, 0, 19, HALF, True),  # 10 of 19 > 50%
        (10, 0, 20, HALF, False),  # exactly 50% is allowed
        (0, 11, 20, HALF, True),
        (0, 10, 10, HALF, True),
        (30, 30, 100, HALF, False),
        (3, 0, 100, DeleteLimit(count=2), True),  # a count has no floor
        (2, 2, 100, DeleteLimit(count=2), False),
        (0, 3, 100, DeleteLimit(count=2), True),
        (1, 0, 100, DeleteLimit(count=0), True),
        (10, 0, 10, DeleteLimit(percent=100.0), False),
    ],
)
def test_max_delete(
    n_local: int, n_remote: int, population: int, limit: DeleteLimit, fires: bool
) -> None:
    reasons = check(
        deletes(n_local, n_remote),
        base_count=population,
        local_count=population,
        remote_count=population,
        limit=limit,
    )
    assert bool(reasons) is fires
    if fires:
        assert all("more than the limit" in r for r in reasons)


def test_max_delete_counts_each_side_against_its_own_population() -> None:
    plan = deletes(0, 10)
    assert check(plan, base_count=10, local_count=100, remote_count=12, limit=HALF)
    assert not check(plan, base_count=10, local_count=12, remote_count=100, limit=HALF)


@pytest.mark.parametrize(
    ("base", "local", "remote", "words"),
    [
        (5, 0, 5, ["local folder is empty"]),
        (5, 5, 0, ["remote prefix is empty"]),
        (5, 0, 0, ["local folder is empty", "remote prefix is empty"]),
        (0, 0, 0, []),  # a new, empty pair is fine
        (0, 0, 5, []),  # first sync into an empty folder is fine
        (5, 1, 1, []),
    ],
)
def test_emptied_side_rail(base: int, local: int, remote: int, words: list[str]) -> None:
    reasons = check(Plan(()), base_count=base, local_count=local, remote_count=remote, limit=HALF)
    assert len(reasons) == len(words)
    for reason, word in zip(reasons, words, strict=True):
        assert word in reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", DeleteLimit(percent=50.0)),
        (" 7 ", DeleteLimit(count=7)),
        ("0", DeleteLimit(count=0)),
        ("100 %", DeleteLimit(percent=100.0)),
    ],
)
def test_delete_limit_parse(text: str, expected: DeleteLimit) -> None:
    assert DeleteLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["", "%", "-1", "1.5", "ten", "5%%", "50% 2"])
def test_delete_limit_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="max-delete"):
        DeleteLimit.parse(text)


# --- names that do not map ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "'..' path segment"),
        ("a/../../x", "'..' path segment"),
        ("/abs", "absolute path"),
        ("a//b", "empty path segment"),
        ("./x", "'.' path segment"),
        ("a/./x", "'.' path segment"),
        ("dir/", "folder marker"),
        ("a\x00b", "NUL in name"),
        ("x" * 256, "path segment longer than 255 bytes"),
        ("d/" + "é" * 128, "path segment longer than 255 bytes"),  # 256 bytes, 128 chars
        ("", "empty name"),
        ("a\\b", "backslash in name"),
    ],
)
def test_unmappable_keys_are_refused(name: str, why: str) -> None:
    assert why_unmappable(name) == why
    assert rel_for("pre/" + name, "pre/") is None


@pytest.mark.parametrize(
    "name",
    ["x" * 255, "é" * 127 + "x", "été/naïve.txt", "a b/c+d%20e.txt", ".bashrc", "a..b", "...x"],
)
def test_mappable_keys(name: str) -> None:
    assert why_unmappable(name) is None
    assert rel_for("pre/" + name, "pre/") == name


def test_rel_for_normalises_to_nfc_and_checks_the_prefix() -> None:
    decomposed = "cafe\u0301/x"
    assert rel_for("pre/" + decomposed, "pre/") == "caf\u00e9/x"
    assert rel_for("other/x", "pre/") is None
    assert rel_for("x", "") == "x"
    assert rel_for("pre/", "pre/") is None  # the prefix's own folder marker


@pytest.mark.parametrize(
    ("url", "bucket", "key", "prefix"),
    [
        ("s3://bucket", "bucket", "", ""),
        ("s3://bucket/", "bucket", "", ""),
        ("s3://bucket/docs", "bucket", "docs", "docs/"),
        ("s3://bucket/docs/", "bucket", "docs/", "docs/"),
        ("s3://my_Bucket.1/a/b c", "my_Bucket.1", "a/b c", "a/b c/"),
    ],
)
def test_parse_s3_url(url: str, bucket: str, key: str, prefix: str) -> None:
    parsed = parse_s3_url(url)
    assert (parsed.bucket, parsed.key, parsed.prefix) == (bucket, key, prefix)
    assert parse_s3_url(str(parsed)) == parsed


@pytest.mark.parametrize(
    "url", ["bucket/key", "http://bucket/key", "s3://", "s3:///key", "s3://a b/k", "s3://a\\b", "S3://b"]
)
def test_parse_s3_url_rejects(url: str) -> None:
    with pytest.raises(BadS3Url):
        parse_s3_url(url)


# --- plan helpers ----------------------------------------------------------------------------


def test_plan_counts_and_quiet() -> None:
    skip = Skip(RelPath("s"), "why")
    record = Record(P, LocalEntry(1, 1), RemoteEntry(1, "e", 1), None, "equal")
    assert Plan((skip,)).is_quiet()
    assert Plan(()).is_quiet()
    assert not Plan((skip, record)).is_quiet()
    plan = Plan.of([deletes(2, 1).actions[2], skip, *deletes(2, 0).actions])
    assert [a.rel for a in plan] == ["l0", "l1", "r0", "s"]
    assert plan.deletes(Side.LOCAL) == 2
    assert plan.deletes(Side.REMOTE) == 1
    assert plan.counts() == {"delete_local": 2, "delete_remote": 1, "skipped": 1}
    assert len(plan.changes()) == 3
