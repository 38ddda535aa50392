"""Properties of the reconciler over random histories, run against ``model_sync``.

A history is what users (and other tools) did to both sides of a pair, with syncs in
between; then one more sync is planned and carried out by the model executor. The
paths come from a three-name alphabet so that both sides touch the same names often,
and contents from a small pool of same-size values so that only hashes tell them apart.

(a) convergence: after the plan, the sides agree (what "agree" means per mode below);
(b) no loss: every version present before the sync is still at its path, in its conflict
    copy or in the trash, unless the user superseded it (see ``lost_versions``); and
    the plan overwrites or deletes unkept only base versions (``unpreserved_replacements``,
    which holds whatever the trash setting);
(c) quiet: the next plan moves and records nothing (only the same, stable skips);
(d) no base rows (first sync, lost state): nothing is deleted;
(e) direction: push never touches local, pull never touches remote;
(f) a multi-round state machine keeps (b) (and (a), (c)) across many syncs;
(g) hashing only where ``paths_needing_hash`` says decides like hashing everything;
(h) equal content is recorded, never moved, unless its remote hash is unknowable;
(i) in a conflict the version with the newer mtime keeps the name (keep-both, newer).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from s3sync.core.change import Mode, Options, Policy
from s3sync.core.model import Side
from s3sync.core.paths import RelPath
from s3sync.core.plan import (
    Action,
    Conflict,
    DeleteLocal,
    DeleteRemote,
    Download,
    Forget,
    Plan,
    Preserve,
    Skip,
    Upload,
)
from s3sync.core.reconcile import reconcile
from s3sync.core.safety import DeleteLimit, check
from tests.core.model_sync import (
    STYLES,
    World,
    gather,
    md5_of,
    plain_md5,
    simulate,
    size_of,
)

PATHS = [RelPath(p) for p in ("a", "b.txt", "d/c")]
SIDES = [Side.LOCAL, Side.REMOTE]
STAMPS = ["20260101-000000", "20260101-000001"]  # syncs in the same second share one
DEFAULT_LIMIT = DeleteLimit.parse("50%")

# Budget: the whole tests/core tier in well under 30 s of CPU.
EXAMPLES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

contents = st.integers(0, 12)  # 0-9 are one byte long: same size, other bytes
styles = st.sampled_from(STYLES)
ages = st.integers(0, 4)  # an s3sync-written object's file mtime, ticks before its upload


def options_in(modes: list[Mode]) -> st.SearchStrategy[Options]:
    return st.builds(
        Options,
        mode=st.sampled_from(modes),
        no_delete=st.sampled_from([False, False, True]),
        conflict=st.sampled_from(Policy),
        checksum=st.booleans(),
        stamp=st.sampled_from(STAMPS),
    )


options = options_in([Mode.BOTH, Mode.BOTH, Mode.PUSH, Mode.PULL])

# A path's change on one side between two syncs; the repeats are the weights, and
# hypothesis shrinks towards the first ("keep").
CHANGES = ["keep", "keep", "edit", "edit", "touch", "delete", "delete"]
STARTS = ["same", "same", "same", "differ", "local", "remote", "none"]


def change_one_side(draw: st.DrawFn, world: World, side: Side, rel: RelPath) -> int | None:
    """Apply one drawn change; the new content when it was an edit."""
    kind = draw(st.sampled_from(CHANGES))
    if kind == "edit":
        content = draw(contents)
        if side is Side.LOCAL:
            world.write_local(rel, content)
        else:
            world.write_remote(rel, content, draw(styles), draw(ages))
        return content
    if kind == "touch":
        if side is Side.LOCAL:
            world.touch_local(rel)
        else:
            world.touch_remote(rel, draw(styles))
    elif kind == "delete":
        if side is Side.LOCAL:
            world.delete_local(rel)
        else:
            world.delete_remote(rel)
    return None


def rails_fire(world: World, plan: Plan, base_count: int) -> bool:
    return bool(
        check(
            plan,
            base_count=base_count,
            local_count=len(world.local),
            remote_count=len(world.remote),
            limit=DEFAULT_LIMIT,
        )
    )


@st.composite
def histories(
    draw: st.DrawFn, *, lose_state: bool | None = None, clash: bool = False
) -> World:
    """A world shaped by one to three rounds of (sync, then changes on both sides).

    Every path starts in some state on both sides; after each sync (carried out unless a
    rail fires) each side of each path is kept, edited, touched or deleted, and now and
    then the same edit lands on both sides (``clash``: and finally both sides edit one
    path). The world itself is what a failing example
    prints: the state the last sync starts from, enough to replay it by hand.
    """
    world = World()
    for rel in PATHS:
        start = draw(st.sampled_from(STARTS))
        content = draw(contents)
        if start in ("same", "differ", "local"):
            world.write_local(rel, content)
        if start in ("same", "remote"):
            world.write_remote(rel, content, draw(styles))
        elif start == "differ":
            world.write_remote(rel, draw(contents), draw(styles))
    for _ in range(draw(st.integers(1, 3))):
        opts = draw(options)
        snaps = gather(world, opts.checksum)
        plan = reconcile(snaps.base, snaps.local, snaps.remote, opts)
        if not rails_fire(world, plan, len(snaps.base)):
            world = simulate(world, plan, use_trash=draw(st.booleans()))
        for rel in PATHS:
            edit = change_one_side(draw, world, Side.LOCAL, rel)
            if edit is not None and draw(st.integers(0, 4)) == 0:
                world.write_remote(rel, edit, draw(styles))  # the same edit on both sides
            else:
                change_one_side(draw, world, Side.REMOTE, rel)
    if clash:
        # Finally both sides edit one path, in either order: a conflict unless equal.
        rel, local_first = draw(st.sampled_from(PATHS)), draw(st.booleans())
        if local_first:
            world.write_local(rel, draw(contents))
        world.write_remote(rel, draw(contents), draw(styles), draw(ages))
        if not local_first:
            world.write_local(rel, draw(contents))
    if lose_state if lose_state is not None else draw(st.integers(0, 9)) == 0:
        world.base.clear()
    world.trash.clear()  # only what the last sync trashes matters to (b)
    return world


def plan_for(world: World, opts: Options) -> Plan:
    snaps = gather(world, opts.checksum)
    plan = reconcile(snaps.base, snaps.local, snaps.remote, opts)
    note(f"hashed={snaps.hashed} headed={snaps.headed}")
    note(f"plan={plan}")
    return plan


# -- the properties, as checks shared by the one-round tests and the state machine -------


def skipped(plan: Plan) -> set[RelPath]:
    return {a.rel for a in plan if isinstance(a, Skip)}


def convergence_errors(before: World, plan: Plan, after: World, opts: Options) -> list[str]:
    """(a) What "the sides agree" means after a plan ran, per mode.

    both: same paths, same contents; with no_delete the only differences are paths the
          plan skipped (a delete it did not propagate), each present on one side only.
    push: every local path holds local's content remotely; a remote-only path is one the
          plan skipped (no_delete, or an object push has no history of); local untouched.
    pull: the mirror image (a local edit to a remotely deleted file is skipped, kept).
    """
    here, there = after.contents(Side.LOCAL), after.contents(Side.REMOTE)
    errors = []
    if opts.mode is Mode.BOTH:
        agree = (set(here) | set(there)) - skipped(plan)
    elif opts.mode is Mode.PUSH:
        agree = set(here)
        if after.local != before.local:
            errors.append("push changed the local side")
    else:
        agree = set(there)
        if after.remote != before.remote:
            errors.append("pull changed the remote side")
    for rel in sorted(set(here) | set(there)):
        if rel in agree:
            if here.get(rel) != there.get(rel):
                errors.append(f"{rel}: local {here.get(rel)} != remote {there.get(rel)}")
        elif rel not in skipped(plan):
            errors.append(f"{rel}: only on one side and not skipped")
    if opts.no_delete and (plan.deletes(Side.LOCAL) or plan.deletes(Side.REMOTE)):
        errors.append("no_delete, yet the plan deletes")
    if opts.mode is Mode.BOTH and not opts.no_delete and skipped(plan):
        errors.append(f"mode both skipped {sorted(skipped(plan))}")
    for rel in skipped(plan):
        if (rel in here) == (rel in there):
            errors.append(f"{rel}: skipped but on {'both' if rel in here else 'no'} side(s)")
    return errors


def base_errors(after: World) -> list[str]:
    """Equal is recorded: a path with equal content on both sides has a base row that
    describes both exactly (else the next delete would resurrect instead); and no base
    row outlives the path on both sides."""
    errors = [
        f"{rel}: base row for a path on neither side"
        for rel in sorted(set(after.base) - set(after.local) - set(after.remote))
    ]
    for rel in sorted(set(after.local) & set(after.remote)):
        f, o = after.local[rel], after.remote[rel]
        if f.content != o.content:
            continue
        row = after.base.get(rel)
        if row is None:
            errors.append(f"{rel}: equal on both sides but no base row")
        elif (row.local.size, row.local.mtime_ns, row.remote.etag, row.md5) != (
            size_of(f.content), f.mtime, o.etag, md5_of(f.content)
        ):
            errors.append(f"{rel}: base row {row} does not describe {f} / {o}")
    return errors


CONFLICT_COPY = r"^(?P<head>(?:.*/)?)(?P<stem>.+?)\.conflict-\d{8}-\d{6}(?:-\d+)?-(?P<side>local|remote)(?P<ext>\.[^./]+)?$"


def lost_versions(before: World, plan: Plan, after: World) -> list[str]:
    """(b) Versions present before the sync that survive nowhere they may.

    A version (a content on one side at a path) must afterwards be at that path (either
    side), in the conflict copy the plan made for that path, or in the trash under that
    path. The one loss a sync may cause is the user's own: the version is the base
    content of the path, and the user changed or deleted the path on the other side
    since, so propagating that change replaces it.
    """
    copies = {a.rel: a.copy_rel for a in plan if isinstance(a, Conflict) and a.copy_rel}
    trashed = {(t.rel, t.content) for t in after.trash[len(before.trash) :]}
    lost = []
    for side in SIDES:
        for rel, content in sorted(before.contents(side).items()):
            places = [rel, *([copies[rel]] if rel in copies else [])]
            if any(
                content in (after.contents(s).get(p) for s in SIDES) for p in places
            ):
                continue
            if (rel, content) in trashed:
                continue
            row = before.base.get(rel)
            other = before.contents(side.other).get(rel)
            superseded = (
                row is not None
                and row.md5 == md5_of(content)
                and (other is None or md5_of(other) != row.md5)
            )
            if not superseded:
                lost.append(f"{side.value} {rel} content {content}")
    return lost


def unpreserved_replacements(before: World, plan: Plan) -> list[str]:
    """(b), plan side: an action that overwrites or deletes a version without keeping it
    first (``Preserve.NOTHING``, or a local delete, which is permanent with the trash
    off) only ever does so to the base version, or to the very content it brings."""
    errors = []
    for a in plan:
        match a:
            case Upload(preserve_remote=Preserve.NOTHING):
                side, brought = Side.REMOTE, before.local[a.rel].content
            case Download(preserve_local=Preserve.NOTHING):
                side, brought = Side.LOCAL, before.remote[a.rel].content
            case DeleteRemote(preserve_remote=Preserve.NOTHING):
                side, brought = Side.REMOTE, None
            case DeleteLocal():
                side, brought = Side.LOCAL, None
            case _:
                continue
        replaced = before.contents(side).get(a.rel)
        row = before.base.get(a.rel)
        if replaced is None or replaced == brought:
            continue
        if row is None or row.md5 != md5_of(replaced):
            errors.append(f"{a.action} {a.rel} replaces unsaved {side.value} content {replaced}")
    return errors


def quiet_errors(after: World, plan: Plan, opts: Options) -> list[str]:
    """(c) The next plan moves and records nothing, and skips just what this one did."""
    snaps = gather(after, opts.checksum)
    again = reconcile(snaps.base, snaps.local, snaps.remote, opts)
    errors = []
    if not again.is_quiet():
        errors.append(f"second plan is not quiet: {again}")
    elif skipped(again) != skipped(plan):
        errors.append(f"second plan skips {skipped(again)}, the first {skipped(plan)}")
    return errors


def copy_name_errors(plan: Plan) -> list[str]:
    errors = []
    for a in plan:
        if isinstance(a, Conflict) and a.copy_rel is not None:
            m = re.match(CONFLICT_COPY, a.copy_rel)
            if not m or m["side"] != a.winner.other.value:
                errors.append(f"bad conflict copy name {a.copy_rel} for {a.rel}")
            elif m["head"] + m["stem"] + (m["ext"] or "") != a.rel:
                errors.append(f"conflict copy {a.copy_rel} is not named after {a.rel}")
    return errors


def run_one(world: World, opts: Options, use_trash: bool) -> tuple[Plan, World]:
    plan = plan_for(world, opts)
    after = simulate(world, plan, use_trash=use_trash)
    note(f"after={after}")
    return plan, after


# -- (a) (b) (c) after one sync ----------------------------------------------------------------


@settings(EXAMPLES, max_examples=250)
@given(world=histories(), opts=options, use_trash=st.booleans())
def test_abc_one_sync_converges_keeps_every_version_and_settles(
    world: World, opts: Options, use_trash: bool
) -> None:
    """(a), (b) and (c) share one run: a history, one sync, then the next plan."""
    plan, after = run_one(world, opts, use_trash)
    assert not (errors := convergence_errors(world, plan, after, opts)), f"(a) {errors}"
    assert not (errors := base_errors(after)), f"(a) equal is recorded: {errors}"
    assert not (errors := copy_name_errors(plan)), f"(a) {errors}"
    assert not (errors := unpreserved_replacements(world, plan)), f"(b) {errors}"
    assert not (errors := lost_versions(world, plan, after)), f"(b) lost: {errors}"
    assert not (errors := quiet_errors(after, plan, opts)), f"(c) {errors}"


# -- (d) no base, (e) direction, (g) (h) hashing, (i) newer wins --------------------------


@EXAMPLES
@given(world=histories(lose_state=True), opts=options, use_trash=st.booleans())
def test_d_without_base_rows_nothing_is_deleted(
    world: World, opts: Options, use_trash: bool
) -> None:
    """A first sync, or one after the state DB was lost: the union, never a delete."""
    plan, after = run_one(world, opts, use_trash)
    assert not [a for a in plan if isinstance(a, DeleteLocal | DeleteRemote | Forget)]
    # With no base nothing can be "the user's own change": every version survives.
    assert unpreserved_replacements(world, plan) == []
    assert lost_versions(world, plan, after) == []
    assert convergence_errors(world, plan, after, opts) == []


def touches(action: Action) -> set[Side]:
    match action:
        case Upload() | DeleteRemote():
            return {Side.REMOTE}
        case Download() | DeleteLocal():
            return {Side.LOCAL}
        case Conflict():
            return {Side.LOCAL, Side.REMOTE}
        case _:
            return set()


@EXAMPLES
@given(
    world=histories(),
    opts=options_in([Mode.PUSH, Mode.PULL]),
    use_trash=st.booleans(),
)
def test_e_push_and_pull_never_touch_their_source(
    world: World, opts: Options, use_trash: bool
) -> None:
    source = Side.LOCAL if opts.mode is Mode.PUSH else Side.REMOTE
    plan, after = run_one(world, opts, use_trash)
    assert [a for a in plan if source in touches(a)] == []
    # Not even an mtime or an ETag changes on the source side.
    if source is Side.LOCAL:
        assert after.local == world.local
    else:
        assert after.remote == world.remote


def decisions(plan: Plan) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for a in plan:
        detail: tuple[object, ...] = ()
        if isinstance(a, Upload | DeleteRemote):
            detail = (a.preserve_remote,)
        elif isinstance(a, Download):
            detail = (a.preserve_local,)
        elif isinstance(a, Conflict):
            detail = (a.winner, a.copy_rel)
        out.append((a.action, a.rel, *detail))
    return out


def equal_content_moves(world: World, plan: Plan) -> list[str]:
    """(h) Transfers or conflicts of the same bytes on both sides, where the engine could
    have known (the object's MD5 is in its ETag or its metadata)."""
    errors = []
    for a in plan:
        if isinstance(a, Upload | Download | Conflict):
            here, there = world.local.get(a.rel), world.remote.get(a.rel)
            equal = here is not None and there is not None and here.content == there.content
            if equal and not hash_unknowable(world, a.rel):
                errors.append(f"{a.action} {a.rel} moves equal content")
    return errors


def hash_unknowable(world: World, rel: RelPath) -> bool:
    """A foreign multipart object: no listing, HEAD or metadata gives its MD5."""
    o = world.remote[rel]
    return not o.meta_md5 and plain_md5(o.etag) is None


@settings(EXAMPLES, max_examples=250)
@given(world=histories(), opts=options)
def test_gh_hashes_only_where_needed_and_equal_content_never_moves(
    world: World, opts: Options
) -> None:
    """(g) The plan made with the hashes and HEADs the engine fetches decides exactly
    like one where every local file was hashed; (h) same bytes on both sides are
    recorded, never transferred or turned into a conflict, unless the remote's hash
    cannot be known without a download."""
    snaps = gather(world, opts.checksum)
    oracle = gather(world, opts.checksum, hash_everything=True)
    plan = reconcile(snaps.base, snaps.local, snaps.remote, opts)
    full = reconcile(oracle.base, oracle.local, oracle.remote, opts)
    note(f"hashed={snaps.hashed} headed={snaps.headed} plan={plan}")
    assert decisions(plan) == decisions(full), "(g)"
    assert not (errors := equal_content_moves(world, plan)), f"(h) {errors}"


def true_mtime(world: World, side: Side, rel: RelPath) -> int:
    """The version's own mtime: the file's, or the object's ``mtime`` metadata (rclone's
    convention, which s3sync writes) and only without it LastModified."""
    if side is Side.LOCAL:
        return world.local[rel].mtime
    o = world.remote[rel]
    return o.meta_mtime if o.meta_mtime is not None else o.modified


@EXAMPLES
@given(
    world=histories(clash=True), policy=st.sampled_from([Policy.KEEP_BOTH, Policy.NEWER])
)
def test_i_the_newer_version_keeps_the_name(world: World, policy: Policy) -> None:
    """Where the base says both sides changed, or the sizes differ, the engine HEADs the
    object for its ``mtime``. A same-size pair with no base (most often equal content
    being adopted) is left to LastModified: see ``paths_needing_remote_md5``."""
    plan = plan_for(world, Options(conflict=policy))
    for c in plan:
        if not isinstance(c, Conflict):
            continue
        o = world.remote[c.rel]
        if c.rel not in world.base and c.local.size == c.remote.size and plain_md5(o.etag):
            continue
        here, there = true_mtime(world, Side.LOCAL, c.rel), true_mtime(world, Side.REMOTE, c.rel)
        assert c.winner is (Side.REMOTE if there > here else Side.LOCAL), (here, there)


# -- (f) many rounds ---------------------------------------------------------------------------


class ManyRounds(RuleBasedStateMachine):
    """Users edit both sides between syncs; every version they wrote stays somewhere
    (a path on either side, or the trash) until they themselves replace or delete it
    where it is."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.live: set[int] = set()  # versions no user has superseded
        self.fresh = 9
        self.dirty = False  # something changed since the last sync carried out

    @initialize(names=st.lists(st.sampled_from(PATHS), unique=True), style=styles)
    def synced_start(self, names: list[RelPath], style: str) -> None:
        """Most pairs start from a tree already on both sides and synced once."""
        for rel in names:
            content = self.new_content()
            self.world.write_local(rel, content)
            self.world.write_remote(rel, content, style)
            self.live.add(content)
        self.dirty = True
        self.sync(Options(), use_trash=True, force=False)

    def new_content(self) -> int:
        self.fresh += 1
        return self.fresh

    def pick(self, i: int) -> RelPath:
        names = sorted({*PATHS, *self.world.local, *self.world.remote})
        return names[i % len(names)]

    def supersede(self, side: Side, rel: RelPath) -> None:
        self.dirty = True
        current = self.world.contents(side).get(rel)
        if current is not None:
            self.live.discard(current)

    @rule(i=st.integers(0, 20))
    def edit_local(self, i: int) -> None:
        rel = self.pick(i)
        self.supersede(Side.LOCAL, rel)
        content = self.new_content()
        self.world.write_local(rel, content)
        self.live.add(content)

    @rule(i=st.integers(0, 20), style=styles, age=ages)
    def edit_remote(self, i: int, style: str, age: int) -> None:
        rel = self.pick(i)
        self.supersede(Side.REMOTE, rel)
        content = self.new_content()
        self.world.write_remote(rel, content, style, age)
        self.live.add(content)

    @rule(i=st.integers(0, 20), style=styles)
    def same_edit_on_both_sides(self, i: int, style: str) -> None:
        rel = self.pick(i)
        self.supersede(Side.LOCAL, rel)
        self.supersede(Side.REMOTE, rel)
        content = self.new_content()
        self.world.write_local(rel, content)
        self.world.write_remote(rel, content, style)
        self.live.add(content)

    def pick_present(self, side: Side, i: int) -> RelPath:
        names = sorted(self.world.contents(side))
        return names[i % len(names)]

    @precondition(lambda self: self.world.local)
    @rule(i=st.integers(0, 20))
    def touch_local(self, i: int) -> None:
        self.world.touch_local(self.pick_present(Side.LOCAL, i))
        self.dirty = True

    @precondition(lambda self: self.world.remote)
    @rule(i=st.integers(0, 20), style=styles)
    def touch_remote(self, i: int, style: str) -> None:
        self.world.touch_remote(self.pick_present(Side.REMOTE, i), style)
        self.dirty = True

    @precondition(lambda self: self.world.local)
    @rule(i=st.integers(0, 20))
    def delete_local(self, i: int) -> None:
        rel = self.pick_present(Side.LOCAL, i)
        self.supersede(Side.LOCAL, rel)
        self.world.delete_local(rel)

    @precondition(lambda self: self.world.remote)
    @rule(i=st.integers(0, 20))
    def delete_remote(self, i: int) -> None:
        rel = self.pick_present(Side.REMOTE, i)
        self.supersede(Side.REMOTE, rel)
        self.world.delete_remote(rel)

    @rule()
    def lose_state(self) -> None:
        self.world.base.clear()
        self.dirty = True

    @precondition(lambda self: self.dirty)
    @rule(opts=options, use_trash=st.booleans(), force=st.booleans())
    def sync(self, opts: Options, use_trash: bool, force: bool) -> None:
        before = self.world
        snaps = gather(before, opts.checksum)
        plan = reconcile(snaps.base, snaps.local, snaps.remote, opts)
        note(f"plan={plan}")
        if rails_fire(before, plan, len(snaps.base)) and not force:
            return  # exit 3: nothing changes
        after = simulate(before, plan, use_trash=use_trash)
        self.world = after
        self.dirty = False
        assert not (errors := convergence_errors(before, plan, after, opts)), f"(a) {errors}"
        assert not (errors := unpreserved_replacements(before, plan)), f"(b) {errors}"
        assert not (errors := lost_versions(before, plan, after)), f"(b) lost: {errors}"
        assert not (errors := quiet_errors(after, plan, opts)), f"(c) {errors}"

    @invariant()
    def every_live_version_survives(self) -> None:
        present = {
            *self.world.contents(Side.LOCAL).values(),
            *self.world.contents(Side.REMOTE).values(),
            *(t.content for t in self.world.trash),
        }
        assert self.live <= present, f"lost: {sorted(self.live - present)}"


ManyRounds.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_f_many_rounds = ManyRounds.TestCase
