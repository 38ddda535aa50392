"""A pure model of a pair: both sides, the base, the trash, and the executor.

The property tests run the real reconciler against this model instead of a disk and a
bucket. Each piece mirrors the production code it stands for, so a property that fails
here fails for a reason the real engine would share:

- ``scan`` / ``listing`` / ``head``: what ``localfs.scan``, ``S3Store.iter_objects`` and
  ``S3Store.head`` report (a listing carries LastModified and the ETag only; the MD5 only
  when the ETag is a plain one; a HEAD adds the ``mtime`` and content-hash metadata).
- ``gather``: ``PairSync._gather`` + ``_fill_hashes``, including copying the base hash
  of unchanged files and hashing or HEAD-ing exactly where ``paths_needing_hash`` and
  ``paths_needing_remote_md5`` say. Nothing else ever gets an MD5.
- ``simulate``: ``Executor._dispatch`` action by action (``executor.py``): what each
  action writes, what it moves to the trash, which base row it records. Preconditions the
  real executor checks (``Stale``) are asserted instead: the model runs no concurrent
  edits, so a failed precondition means the plan contradicts the snapshot it came from.

Content is an ``int`` id whose bytes are its decimal digits, so many different versions
share a size (only a hash tells them apart) and equal content is easy to produce.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace

from s3sync.core.change import Options, paths_needing_hash, paths_needing_remote_md5
from s3sync.core.model import BaseEntry, LocalEntry, RemoteEntry, Side
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
    Record,
    Skip,
    Upload,
)
from s3sync.core.reconcile import reconcile


def data_of(content: int) -> bytes:
    return b"%d" % content


def md5_of(content: int) -> str:
    return hashlib.md5(data_of(content), usedforsecurity=False).hexdigest()


def size_of(content: int) -> int:
    return len(data_of(content))


def plain_md5(etag: str) -> str | None:
    """As ``adapters.s3.plain_md5``: a 32-hex-digit ETag is the MD5 of a single-part PUT."""
    if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag):
        return etag
    return None


# How an object got written, which decides what a listing and a HEAD can tell about it.
STYLES = (
    "plain",  # a single-part PUT by another tool: the ETag is the MD5, no metadata
    "s3sync",  # written by s3sync elsewhere: plain ETag, ``mtime`` and MD5 metadata
    "multipart",  # a multipart upload with s3sync's MD5 metadata: only a HEAD knows the MD5
    "bare",  # a foreign multipart upload: nobody knows the MD5 without downloading
)


@dataclass(frozen=True)
class LocalFile:
    content: int
    mtime: int


@dataclass(frozen=True)
class RemoteObject:
    content: int
    etag: str
    modified: int  # LastModified, what a listing shows
    meta_mtime: int | None  # rclone/s3sync ``mtime`` metadata, seen by HEAD and GET
    meta_md5: bool  # s3sync's content-hash metadata present


@dataclass(frozen=True)
class Trashed:
    side: Side  # the side the version was taken from
    rel: RelPath
    content: int


class PlanIncoherent(AssertionError):
    """An action's precondition does not hold although nothing changed since planning."""


@dataclass
class World:
    local: dict[RelPath, LocalFile] = field(default_factory=dict)
    remote: dict[RelPath, RemoteObject] = field(default_factory=dict)
    base: dict[RelPath, BaseEntry] = field(default_factory=dict)
    trash: list[Trashed] = field(default_factory=list)
    clock: int = 1_000_000
    etags: int = 0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def clone(self) -> World:
        return copy.deepcopy(self)

    # -- what users (or other tools) do ----------------------------------------------------

    def write_local(self, rel: RelPath, content: int) -> None:
        self.local[rel] = LocalFile(content, self.tick())

    def touch_local(self, rel: RelPath) -> None:
        if rel in self.local:
            self.local[rel] = replace(self.local[rel], mtime=self.tick())

    def delete_local(self, rel: RelPath) -> None:
        self.local.pop(rel, None)

    def write_remote(self, rel: RelPath, content: int, style: str, age: int = 0) -> None:
        """Put an object. ``age``: for s3sync-written ones, how much older the file's
        mtime (kept in metadata) is than the upload (LastModified)."""
        self.remote[rel] = self._new_object(content, style, age)

    def touch_remote(self, rel: RelPath, style: str) -> None:
        """The same bytes written again, perhaps in another way (a new ETag)."""
        if rel in self.remote:
            self.remote[rel] = self._new_object(self.remote[rel].content, style, 0)

    def delete_remote(self, rel: RelPath) -> None:
        self.remote.pop(rel, None)

    def _new_object(self, content: int, style: str, age: int) -> RemoteObject:
        assert style in STYLES
        md5 = md5_of(content)
        if style in ("plain", "s3sync"):
            etag = md5
        else:
            # A multipart ETag: never 32 hex digits, and new for every upload.
            self.etags += 1
            etag = f"{md5[:24]}{self.etags:08x}-2"
        meta_mtime = self.clock - age if style in ("s3sync", "multipart") else None
        meta_md5 = style in ("s3sync", "multipart")
        return RemoteObject(content, etag, self.tick(), meta_mtime, meta_md5)

    # -- what s3sync sees ----------------------------------------------------------------------

    def scan(self) -> dict[RelPath, LocalEntry]:
        return {rel: LocalEntry(size_of(f.content), f.mtime) for rel, f in self.local.items()}

    def listing(self) -> dict[RelPath, RemoteEntry]:
        return {
            rel: RemoteEntry(size_of(o.content), o.etag, o.modified, plain_md5(o.etag))
            for rel, o in self.remote.items()
        }

    def head(self, rel: RelPath) -> RemoteEntry:
        o = self.remote[rel]
        return RemoteEntry(
            size_of(o.content),
            o.etag,
            o.meta_mtime if o.meta_mtime is not None else o.modified,
            md5_of(o.content) if o.meta_md5 else plain_md5(o.etag),
        )

    def contents(self, side: Side) -> dict[RelPath, int]:
        files = self.local if side is Side.LOCAL else self.remote
        return {rel: f.content for rel, f in files.items()}


@dataclass
class Snapshots:
    base: dict[RelPath, BaseEntry]
    local: dict[RelPath, LocalEntry]
    remote: dict[RelPath, RemoteEntry]
    hashed: list[RelPath]
    headed: list[RelPath]


def gather(world: World, checksum: bool, *, hash_everything: bool = False) -> Snapshots:
    """What ``PairSync`` hands the reconciler. ``hash_everything`` is the oracle: every
    local file hashed, as if ``paths_needing_hash`` answered "all of them"."""
    base = dict(world.base)
    local = world.scan()
    remote = world.listing()
    for rel, row in base.items():
        entry = local.get(rel)
        if (
            entry is not None
            and row.md5
            and entry.size == row.local.size
            and entry.mtime_ns == row.local.mtime_ns
            and not checksum
        ):
            local[rel] = replace(entry, md5=row.md5)
    hashed = paths_needing_hash(base, local, remote, checksum)
    headed = paths_needing_remote_md5(base, local, remote)
    if hash_everything:
        hashed = sorted(local)
    for rel in hashed:
        local[rel] = replace(local[rel], md5=md5_of(world.local[rel].content))
    for rel in headed:
        remote[rel] = world.head(rel)
    return Snapshots(base, local, remote, hashed, headed)


# -- the executor -----------------------------------------------------------------------------


def simulate(world: World, plan: Plan, *, use_trash: bool = True) -> World:
    """A new world: ``world`` after every action of ``plan`` succeeded."""
    run = _Run(world.clone(), use_trash)
    for action in plan:
        run.dispatch(action)
    return run.w


@dataclass
class _Run:
    w: World
    use_trash: bool

    def dispatch(self, action: Action) -> None:
        match action:
            case Record():
                self.w.base[action.rel] = BaseEntry(action.local, action.remote, action.md5)
            case Forget():
                self.w.base.pop(action.rel, None)
            case Skip():
                pass
            case Upload():
                self._expect_local(action.rel, action.local)
                self.upload(action.rel, action.expect_remote, action.preserve_remote)
            case Download():
                self.download(action.rel, action.remote, action.expect_local, action.preserve_local)
            case DeleteLocal():
                self.delete_local(action.rel, action.expect_local)
            case DeleteRemote():
                self.delete_remote(action.rel, action.expect_remote, action.preserve_remote)
            case Conflict():
                self.conflict(action)
            case _:
                # A new kind of action: teach the model what executor.py does with it.
                raise NotImplementedError(f"the model cannot carry out {action!r}")

    # -- preconditions (the executor's Stale cases) --

    def _expect_local(self, rel: RelPath, expect: LocalEntry | None) -> None:
        now = self.w.local.get(rel)
        state = None if now is None else (size_of(now.content), now.mtime)
        wanted = None if expect is None else (expect.size, expect.mtime_ns)
        if state != wanted:
            raise PlanIncoherent(f"{rel}: local is {state}, the plan expected {wanted}")

    def _expect_remote(self, rel: RelPath, expect: RemoteEntry | None) -> None:
        now = self.w.remote.get(rel)
        etag = None if now is None else now.etag
        wanted = None if expect is None else expect.etag
        if etag != wanted:
            raise PlanIncoherent(f"{rel}: remote ETag is {etag}, the plan expected {wanted}")

    # -- Executor._upload / _download / _remote_to_trash --

    def upload(self, rel: RelPath, expect: RemoteEntry | None, preserve: Preserve) -> BaseEntry:
        f = self.w.local.get(rel)
        if f is None:
            raise PlanIncoherent(f"{rel}: upload of a file that is not there")
        if preserve is Preserve.TRASH and expect is not None:
            self.remote_to_trash(rel, expect)
        self._expect_remote(rel, expect)  # the conditional PUT (If-Match / If-None-Match)
        md5 = md5_of(f.content)
        obj = RemoteObject(f.content, md5, self.w.tick(), f.mtime, True)
        self.w.remote[rel] = obj
        size = size_of(f.content)
        row = BaseEntry(LocalEntry(size, f.mtime), RemoteEntry(size, obj.etag, f.mtime, md5), md5)
        self.w.base[rel] = row
        return row

    def download(
        self,
        rel: RelPath,
        remote: RemoteEntry,
        expect: LocalEntry | None,
        preserve: Preserve,
        *,
        key_rel: RelPath | None = None,
    ) -> BaseEntry:
        src = key_rel or rel
        obj = self.w.remote.get(src)
        if obj is None or obj.etag != remote.etag:
            raise PlanIncoherent(f"{src}: the object to download is not the planned one")
        self._expect_local(rel, expect)  # re-checked just before the rename
        current = self.w.local.get(rel)
        if current is not None and preserve is Preserve.TRASH:
            self.w.trash.append(Trashed(Side.LOCAL, rel, current.content))
        mtime = obj.meta_mtime if obj.meta_mtime is not None else obj.modified
        self.w.local[rel] = LocalFile(obj.content, mtime)
        md5, size = md5_of(obj.content), size_of(obj.content)
        row = BaseEntry(LocalEntry(size, mtime), RemoteEntry(size, obj.etag, mtime, md5), md5)
        self.w.base[rel] = row
        return row

    def remote_to_trash(self, rel: RelPath, expect: RemoteEntry) -> None:
        self._expect_remote(rel, expect)
        self.w.trash.append(Trashed(Side.REMOTE, rel, self.w.remote[rel].content))

    # -- Executor._delete_local / _delete_remote --

    def delete_local(self, rel: RelPath, expect: LocalEntry) -> None:
        current = self.w.local.get(rel)
        if current is not None:
            self._expect_local(rel, expect)
            if self.use_trash:
                self.w.trash.append(Trashed(Side.LOCAL, rel, current.content))
            del self.w.local[rel]
        self.w.base.pop(rel, None)

    def delete_remote(self, rel: RelPath, expect: RemoteEntry, preserve: Preserve) -> None:
        if rel in self.w.remote:
            self._expect_remote(rel, expect)
            if preserve is Preserve.TRASH:
                self.remote_to_trash(rel, expect)
            del self.w.remote[rel]
        self.w.base.pop(rel, None)

    # -- Executor._conflict --

    def conflict(self, c: Conflict) -> None:
        if c.copy_rel is None:
            if c.winner is Side.LOCAL:
                self._expect_local(c.rel, c.local)
                self.upload(c.rel, c.remote, Preserve.TRASH)
            else:
                self.download(c.rel, c.remote, c.local, Preserve.TRASH)
        elif c.winner is Side.LOCAL:
            # The remote loser: downloaded to the copy, copied server-side to the copy's
            # key, then the local winner goes up over the original key.
            row = self.download(c.copy_rel, c.remote, None, Preserve.NOTHING, key_rel=c.rel)
            if c.copy_rel in self.w.remote:
                raise PlanIncoherent(f"{c.copy_rel}: the copy's key is taken")
            source = self.w.remote[c.rel]
            copied = replace(source, modified=self.w.tick())
            self.w.remote[c.copy_rel] = copied
            self.w.base[c.copy_rel] = BaseEntry(
                row.local,
                RemoteEntry(row.remote.size, copied.etag, row.remote.mtime_ns, row.md5),
                row.md5,
            )
            self._expect_local(c.rel, c.local)
            self.upload(c.rel, c.remote, Preserve.NOTHING)
        else:
            # The local loser is renamed to the copy (its mtime kept) and uploaded there;
            # the remote winner comes down under the original name.
            self._expect_local(c.rel, c.local)
            self._expect_local(c.copy_rel, None)
            self.w.local[c.copy_rel] = self.w.local.pop(c.rel)
            self.upload(c.copy_rel, None, Preserve.NOTHING)
            self.download(c.rel, c.remote, None, Preserve.NOTHING)


def sync(world: World, options: Options, *, use_trash: bool = True) -> tuple[Plan, World]:
    """One whole cycle (as if forced past the rails): the plan and the world after it."""
    snaps = gather(world, options.checksum)
    plan = reconcile(snaps.base, snaps.local, snaps.remote, options)
    return plan, simulate(world, plan, use_trash=use_trash)
