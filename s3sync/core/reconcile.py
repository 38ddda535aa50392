"""The three-way merge: (base, local, remote, policy) -> Plan.

Theory of operation. For every path in base ∪ local ∪ remote, each side is classified
against the base row (what both sides were at the last successful sync of that path):
ABSENT, SAME, TOUCHED (metadata differs, content provably equal), NEW, CHANGED or
DELETED. The pair of classes picks a cell of the decision table in
``../shared/design/sync-semantics.md``; the mode (both/push/pull) and ``no_delete`` then
mask what the cell may do, and the conflict policy picks which version keeps the name.

Invariants this module keeps (the property tests check them):
- a version that differs from the base on one side is never overwritten or deleted on
  that side unless it is first preserved (conflict copy or trash);
- with no base rows (first sync, lost state) nothing is deleted;
- the plan for an already-synced pair records nothing and moves nothing.
Equal content is decided by MD5 only: the adapters fill ``md5`` where a decision needs
it (``paths_needing_hash`` and ``paths_needing_remote_md5`` say where).
"""

from __future__ import annotations

from collections.abc import Mapping

from s3sync.core.change import (
    Change,
    Mode,
    Options,
    Policy,
    classify_local,
    classify_remote,
)
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry, Side
from s3sync.core.paths import RelPath, conflict_name
from s3sync.core.plan import (
    Action,
    Conflict,
    DeleteLocal,
    DeleteRemote,
    Displace,
    Download,
    Forget,
    Plan,
    Preserve,
    Record,
    SetMode,
    Skip,
    Upload,
)


def reconcile(
    base: Mapping[RelPath, BaseEntry],
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
    options: Options,
) -> Plan:
    taken: set[RelPath] = set(base) | set(local) | set(remote)
    decided: dict[RelPath, Action | None] = {}
    for rel in sorted(taken):
        decided[rel] = _decide(rel, base.get(rel), local.get(rel), remote.get(rel), options, taken)
    if options.mode is Mode.BOTH:
        _displace_clashes(decided, base, local, remote, options, taken)
    if options.casefold:
        _case_conflicts(decided, base, local)
    return Plan(tuple(a for rel in sorted(decided) if (a := decided[rel]) is not None))


def _left_by(
    rel: RelPath, action: Action | None, local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
) -> list[RelPath]:
    """The file names ``action`` leaves at ``rel`` (a conflict also leaves its copy)."""
    if isinstance(action, DeleteLocal | DeleteRemote | Forget):
        return []
    if action is None or isinstance(action, Skip):
        return [rel] if rel in local or rel in remote else []
    if isinstance(action, Conflict) and action.copy_rel is not None:
        return [rel, action.copy_rel]
    return [rel]


def _displace_clashes(
    decided: dict[RelPath, Action | None],
    base: Mapping[RelPath, BaseEntry],
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
    options: Options,
    taken: set[RelPath],
) -> None:
    """A file the plan keeps at ``p`` while it also keeps files below ``p/`` cannot exist
    on a disk (a bucket holds both keys happily): one side replaced a file by a folder of
    the same name while the other edited the file, or the bucket got keys below a file.
    The folder keeps the name; the file moves aside to a conflict copy on both sides."""
    kept = {name for rel, action in decided.items() for name in _left_by(rel, action, local, remote)}
    for rel in sorted(kept & _ancestors(kept)):
        if rel not in decided or isinstance(decided[rel], Skip):
            continue  # a conflict copy's name, or a path this run must leave alone
        decided[rel] = _displace(rel, base.get(rel), local.get(rel), remote.get(rel), options, taken)


# What may happen to a name that differs from another only by case, on a disk that
# ignores case: nothing that writes or deletes the local file (it is the other's file).
_LOCAL_EFFECTS = (Download, DeleteLocal, Conflict, Displace)


def _case_conflicts(
    decided: dict[RelPath, Action | None],
    base: Mapping[RelPath, BaseEntry],
    local: Mapping[RelPath, LocalEntry],
) -> None:
    """Names equal but for case are a conflict: both versions are kept where they are.

    One name of each group owns the local file — the one on disk, else the one synced
    before, else the first in order — and syncs as usual. The others never touch the
    local side (a download would overwrite the owner's file, a local delete delete it);
    what they do on the bucket alone (an upload, a remote delete of a case-only rename)
    goes on.
    """
    groups: dict[str, list[RelPath]] = {}
    for rel in decided:
        groups.setdefault(rel.casefold(), []).append(rel)
    for names in groups.values():
        if len(names) < 2:
            continue
        owner = min(names, key=lambda r: (r not in local, r not in base, r))
        for rel in names:
            if rel != owner and isinstance(decided[rel], _LOCAL_EFFECTS):
                decided[rel] = Skip(rel, f"case conflict: the local disk ignores case and {owner} "
                                         "has this name there; both are kept")


def _ancestors(names: set[RelPath]) -> set[RelPath]:
    """Every folder above any of ``names``. A folder already met had its own ancestors
    added then, so each name costs about one step, not one per level."""
    folders: set[RelPath] = set()
    for name in names:
        head = name.rpartition("/")[0]
        while head and head not in folders:
            folders.add(RelPath(head))
            head = head.rpartition("/")[0]
    return folders


def _displace(
    rel: RelPath,
    row: BaseEntry | None,
    here: LocalEntry | None,
    there: RemoteEntry | None,
    options: Options,
    taken: set[RelPath],
) -> Displace:
    lc = classify_local(row, here, options.checksum)
    rc = classify_remote(row, there)
    reason = "a folder of the same name is kept; the file moves aside"
    if here is not None and there is not None and (
        (lc.unchanged and rc.unchanged) or (here.md5 is not None and here.md5 == there.md5)
    ):
        copy = _free_name(rel, options.stamp, Side.LOCAL.value, taken)
        taken.add(copy)
        return Displace(rel, here, there, copy, None, True, reason)
    local_copy = remote_copy = None
    if here is not None:
        local_copy = _free_name(rel, options.stamp, Side.LOCAL.value, taken)
        taken.add(local_copy)
    if there is not None:
        remote_copy = _free_name(rel, options.stamp, Side.REMOTE.value, taken)
        taken.add(remote_copy)
    return Displace(rel, here, there, local_copy, remote_copy, False, reason)


def _decide(
    rel: RelPath,
    row: BaseEntry | None,
    here: LocalEntry | None,
    there: RemoteEntry | None,
    options: Options,
    taken: set[RelPath],
) -> Action | None:
    lc = classify_local(row, here, options.checksum)
    rc = classify_remote(row, there)
    if lc.unchanged and rc.unchanged:
        assert row is not None
        assert here is not None
        assert there is not None
        mode = _mode_change(rel, row, here, there, options) if options.permissions else None
        if mode is not None:
            return mode
        if lc is Change.TOUCHED or rc is Change.TOUCHED:
            return Record(rel, here, there, row.md5, "metadata changed, content equal")
        if (there.modified_ns and there.modified_ns != row.remote.modified_ns) or (
            here.mode is not None and here.mode != row.local.mode
        ):
            # What the base did not know yet (the LastModified of our own upload, the
            # mode of a row from before modes were kept): recorded, so that a later
            # change of it can be seen.
            return Record(rel, here, there, row.md5, "metadata recorded, nothing changed")
        return None
    if lc is Change.DELETED and rc is Change.DELETED:
        return Forget(rel, "deleted on both sides")
    if (
        here is not None and there is not None and lc.edited and rc.edited
        and here.md5 is not None and here.md5 == there.md5
    ):
        return Record(rel, here, there, here.md5, "same content on both sides")
    if options.mode is Mode.PUSH:
        return _push(rel, row, here, there, lc, rc, options)
    if options.mode is Mode.PULL:
        return _pull(rel, row, here, there, lc, rc, options)
    return _both(rel, row, here, there, lc, rc, options, taken)


def _mode_change(
    rel: RelPath, row: BaseEntry, here: LocalEntry, there: RemoteEntry, options: Options
) -> SetMode | Record | None:
    """Content equal on both sides, permissions changed on one: carry them over.

    A side's mode changed when it differs from the base's (an unknown one, None, never
    counts as a change). Changed on both sides, the local mode wins in two-way mode;
    push and pull make the destination match the source.
    """
    mine = here.mode is not None and row.local.mode is not None and here.mode != row.local.mode
    theirs = there.mode is not None and there.mode != row.remote.mode
    if not mine and not theirs:
        return None
    if mine and theirs and here.mode == there.mode:
        return Record(rel, here, there, row.md5, "same permissions changed on both sides")
    to_remote = options.mode is Mode.PUSH or (options.mode is Mode.BOTH and mine)
    if to_remote and here.mode is not None:
        return SetMode(rel, here, there, Side.REMOTE, here.mode, row.md5, "permissions changed locally")
    if there.mode is not None and options.mode is not Mode.PUSH:
        return SetMode(rel, here, there, Side.LOCAL, there.mode, row.md5, "permissions changed remotely")
    return None


def _both(
    rel: RelPath,
    row: BaseEntry | None,
    here: LocalEntry | None,
    there: RemoteEntry | None,
    lc: Change,
    rc: Change,
    options: Options,
    taken: set[RelPath],
) -> Action:
    if here is not None and there is not None and lc.edited and rc.edited:
        return _conflict(rel, here, there, options, taken)
    if here is not None and lc.edited:
        reason = "local edit beats remote delete" if rc is Change.DELETED else f"{lc.value} locally"
        return Upload(rel, here, there, reason)
    if there is not None and rc.edited:
        reason = "remote edit beats local delete" if lc is Change.DELETED else f"{rc.value} remotely"
        return Download(rel, there, here, reason)
    if lc is Change.DELETED and there is not None:
        if options.no_delete:
            return Skip(rel, "deleted locally; --no-delete keeps the remote copy")
        return DeleteRemote(rel, there, "deleted locally")
    if rc is Change.DELETED and here is not None:
        if options.no_delete:
            return Skip(rel, "deleted remotely; --no-delete keeps the local copy")
        return DeleteLocal(rel, here, "deleted remotely")
    raise AssertionError(f"unreachable: {rel} {lc} {rc} {row}")


def _push(
    rel: RelPath,
    row: BaseEntry | None,
    here: LocalEntry | None,
    there: RemoteEntry | None,
    lc: Change,
    rc: Change,
    options: Options,
) -> Action:
    # The remote is made to match the local side. A remote version the base does not
    # know (edited remotely since the last sync) is downloaded to the trash first.
    preserve = Preserve.TRASH if rc.edited else Preserve.NOTHING
    if here is not None:
        return Upload(rel, here, there, _push_reason(lc, rc), preserve)
    assert there is not None
    if options.no_delete:
        return Skip(rel, "not present locally; --no-delete keeps the remote copy")
    if row is None:
        # Someone else's object, not one this pair put there: a mirror must not
        # delete what it has no history of.
        return Skip(rel, "only remote; push deletes nothing it has not synced before")
    return DeleteRemote(rel, there, "not present locally (push)", preserve)


def _push_reason(lc: Change, rc: Change) -> str:
    if lc.unchanged:
        return f"{rc.value} remotely; push restores the local version"
    return f"{lc.value} locally"


def _pull(
    rel: RelPath,
    row: BaseEntry | None,
    here: LocalEntry | None,
    there: RemoteEntry | None,
    lc: Change,
    rc: Change,
    options: Options,
) -> Action:
    preserve = Preserve.TRASH if lc.edited else Preserve.NOTHING
    if there is not None:
        reason = f"{rc.value} remotely" if not rc.unchanged else f"{lc.value} locally; pull restores the remote version"
        return Download(rel, there, here, reason, preserve)
    assert here is not None
    if options.no_delete:
        return Skip(rel, "not present remotely; --no-delete keeps the local copy")
    if row is None:
        return Skip(rel, "only local; pull deletes nothing it has not synced before")
    if lc.edited:
        return Skip(rel, "edited locally but deleted remotely; kept (pull never loses an edit)")
    return DeleteLocal(rel, here, "not present remotely (pull)")


def _conflict(
    rel: RelPath, here: LocalEntry, there: RemoteEntry, options: Options, taken: set[RelPath]
) -> Conflict:
    winner = _winner(here, there, options.conflict)
    if options.conflict is not Policy.KEEP_BOTH:
        return Conflict(rel, here, there, winner, None, f"changed on both sides; {winner.value} wins ({options.conflict.value})")
    copy = _free_name(rel, options.stamp, winner.other.value, taken)
    taken.add(copy)
    return Conflict(rel, here, there, winner, copy, f"changed on both sides; newer ({winner.value}) keeps the name")


def _winner(here: LocalEntry, there: RemoteEntry, policy: Policy) -> Side:
    if policy is Policy.LOCAL:
        return Side.LOCAL
    if policy is Policy.REMOTE:
        return Side.REMOTE
    return Side.REMOTE if there.mtime_ns > here.mtime_ns else Side.LOCAL


def _free_name(rel: RelPath, stamp: str, side: str, taken: set[RelPath]) -> RelPath:
    name = conflict_name(rel, stamp, side)
    n = 1
    while name in taken:
        n += 1
        name = conflict_name(rel, f"{stamp}-{n}", side)
    return name
