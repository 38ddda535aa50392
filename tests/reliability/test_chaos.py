"""Seeded chaos: random edits on both sides, random proxy faults, kill -9 mid-sync.

Each round: a few random user operations on the folder and on the bucket (create,
modify, delete, rename, a file replaced by a folder of the same name and back, deep
trees, empty files, unicode names, touches); random faults in the proxy; one real
`s3sync sync` that may be killed with SIGKILL when the proxy sees its k-th request
(before or after the server acted on it); then fault-free syncs until one has nothing
to do. After the faulty run and after every round:

- no file at a final path holds anything but a whole version (either side);
- every base row a run wrote is true of both sides;
- once quiet: both sides hold the same tree, no temp files remain, and nothing was
  lost — every version that existed on either side when a sync started and that the
  user did not delete or overwrite is findable: at its path, as a conflict copy, in
  the trash, or as a noncurrent version when the bucket is versioned.

``S3SYNC_CHAOS_ROUNDS=N`` runs longer (default: a short CI run);
``S3SYNC_CHAOS_SEED=S`` replays a seed. On failure the seed and the operation log are
printed; with ``--concurrency 1`` (chosen by the seed for some rounds) the request
order, and so the kill moment, replays exactly.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from s3sync.api import Client
from tests.conftest import Cli
from tests.e2e.sync_helpers import TRASH, read_tree, temp_files
from tests.reliability import runner
from tests.reliability.conftest import ProxiedPair, proxied_pair
from tests.reliability.faultproxy import Fault, FaultProxy, Hit, describe
from tests.reliability.helpers import api_sync, client, live_tree, state_rows, untruthful_rows
from tests.s3server import S3Server

# Read at import: the suite's autouse fixture clears S3SYNC_* variables for each test.
ROUNDS = int(os.environ.get("S3SYNC_CHAOS_ROUNDS", "10"))
SEED = os.environ.get("S3SYNC_CHAOS_SEED")
OBJECT = r"^/[^/?]+/p/[^?]*$"
FILES = ["a.txt", "b", "c.md", "é.txt", "日本.txt", "sp ace.txt", ".hidden", "z.tar.gz", "Ünï.bin"]
DIRS = ["d", "e", "ü", "深い", "x y", "deep"]
POLICIES = ["keep-both"] * 6 + ["newer", "local", "remote"]
SENTINEL = "keep/sentinel.txt"  # never touched: neither side ever empties (that rail is tested elsewhere)


@dataclass
class World:
    rng: random.Random
    pair: ProxiedPair
    versioned: bool
    log: list[str] = field(default_factory=list)
    required: dict[bytes, str] = field(default_factory=dict)  # content -> where it was made
    empties: set[str] = field(default_factory=set)  # paths of empty files the user made
    every: set[bytes] = field(default_factory=lambda: {b""})  # every content ever written
    counter: int = 0
    started: float = field(default_factory=time.monotonic)
    client: Client | None = None
    kills: int = 0
    faults_fired: int = 0

    def say(self, text: str) -> None:
        self.log.append(text)

    # -- contents ------------------------------------------------------------------

    def content(self, where: str) -> bytes:
        self.counter += 1
        if self.rng.random() < 0.12:
            return b""
        head = f"#{self.counter} {where}\n".encode()
        data = head + self.rng.randbytes(self.rng.choice([0, 10, 100, 3000, 70_000]))
        self.every.add(data)
        return data

    def made(self, data: bytes, rel: str, where: str) -> None:
        if data:
            self.required[data] = where
        else:
            self.empties.add(rel)

    def gone(self, data: bytes | None, rel: str) -> None:
        """The user deleted or overwrote this version."""
        if data:
            self.required.pop(data, None)
        elif data is not None:
            self.empties.discard(rel)
            self._copy_gone(rel)

    def _copy_gone(self, rel: str) -> None:
        """An empty file that lives on only as a conflict copy: that copy went."""
        for empty in list(self.empties):
            stem = empty.rsplit(".", 1)[0] if "." in empty.rsplit("/", 1)[-1][1:] else empty
            if rel.startswith(stem + ".conflict-"):
                self.empties.discard(empty)

    # -- the two sides, as the user sees them --------------------------------------

    def local_files(self) -> dict[str, bytes]:
        return {rel: data for rel, data in read_tree(self.pair.root).items()
                if not rel.startswith(TRASH + "/") and ".s3sync-tmp-" not in rel}

    def remote_files(self) -> dict[str, bytes]:
        return self.pair.remote()

    def random_path(self, taken: dict[str, bytes], deep: bool = False) -> str | None:
        """A free path whose folders are not files and which is not itself a folder."""
        for _ in range(20):
            depth = 8 if deep else self.rng.choice([0, 0, 1, 1, 2, 3])
            parts = [self.rng.choice(DIRS) for _ in range(depth)] + [self.rng.choice(FILES)]
            rel = "/".join(parts)
            if rel in taken or rel == SENTINEL or any(r.startswith(rel + "/") for r in taken):
                continue
            if any("/".join(parts[:i]) in taken for i in range(1, len(parts))):
                continue
            return rel
        return None

    # -- operations ----------------------------------------------------------------

    def operate(self, side: str) -> None:
        files = self.local_files() if side == "local" else self.remote_files()
        mine = {rel: data for rel, data in files.items() if rel != SENTINEL}
        kind = self.rng.choice(
            ["create", "create", "modify", "modify", "delete", "rename", "to_folder", "to_file", "deep"]
            + (["touch"] if side == "local" else [])
        )
        if kind in ("modify", "delete", "rename", "to_folder", "touch") and not mine:
            kind = "create"
        if kind == "to_file":
            folders = sorted({rel.rsplit("/", 1)[0] for rel in mine if "/" in rel})
            if not folders:
                kind = "create"
        if kind in ("create", "deep"):
            rel = self.random_path(files, deep=kind == "deep")
            if rel is None:
                return
            self.write(side, rel, f"{kind} {side} {rel}")
        elif kind == "modify":
            rel = self.rng.choice(sorted(mine))
            self.gone(mine[rel], rel)
            self.write(side, rel, f"modify {side} {rel}")
        elif kind == "touch":
            rel = self.rng.choice(sorted(mine))
            path = self.pair.root / rel
            stamp = time.time() + self.rng.choice([-3600, 1, 5])
            os.utime(path, (stamp, stamp))
            self.say(f"touch local {rel}")
        elif kind == "delete":
            rel = self.rng.choice(sorted(mine))
            self.gone(mine[rel], rel)
            self.remove(side, rel)
            self.say(f"delete {side} {rel}")
        elif kind == "rename":
            rel = self.rng.choice(sorted(mine))
            new = self.random_path(files)
            if new is None:
                return
            self.rename(side, rel, new, mine[rel])
        elif kind == "to_folder":
            rel = self.rng.choice(sorted(mine))
            self.gone(mine[rel], rel)
            self.remove(side, rel)
            self.say(f"delete {side} {rel} (to be a folder)")
            self.write(side, f"{rel}/{self.rng.choice(FILES)}", f"to_folder {side} {rel}")
        else:
            folder = self.rng.choice(folders)
            for rel in sorted(r for r in mine if r.startswith(folder + "/")):
                self.gone(mine[rel], rel)
                self.remove(side, rel)
            self.say(f"delete {side} folder {folder} (to be a file)")
            self.write(side, folder, f"to_file {side} {folder}")

    def write(self, side: str, rel: str, why: str) -> None:
        data = self.content(f"{side} {rel}")
        if side == "local":
            path = self.pair.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            # Edits from the past and the future, so "newer wins" meets both orders.
            if self.rng.random() < 0.3:
                stamp = time.time() + self.rng.choice([-7200, -60, 60, 7200])
                os.utime(path, (stamp, stamp))
        else:
            self.pair.put(rel, data)
        self.made(data, rel, why)
        self.say(f"{why}: {len(data)} B" + (f" #{self.counter}" if data else " (empty)"))

    def remove(self, side: str, rel: str) -> None:
        if side == "local":
            path = self.pair.root / rel
            path.unlink()
            parent = path.parent
            while parent != self.pair.root and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        else:
            self.pair.delete(rel)

    def rename(self, side: str, rel: str, new: str, data: bytes) -> None:
        if side == "local":
            target = self.pair.root / new
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.pair.root / rel, target)
            parent = (self.pair.root / rel).parent
            while parent != self.pair.root and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        else:
            self.pair.s3.copy_object(Bucket=self.pair.bucket, Key=self.pair.key(new),
                                     CopySource={"Bucket": self.pair.bucket, "Key": self.pair.key(rel)})
            self.pair.delete(rel)
        if not data:
            self.empties.discard(rel)
            self._copy_gone(rel)
            self.empties.add(new)
        self.say(f"rename {side} {rel} -> {new}")

    # -- faults --------------------------------------------------------------------

    def faults(self) -> list[Fault]:
        chosen = []
        for _ in range(self.rng.choice([0, 1, 1, 2, 3])):
            kind = self.rng.choice(["error", "error", "reset", "reset_body", "truncate", "short",
                                    "corrupt", "lost", "delay"])
            method = self.rng.choice({
                "reset_body": ["GET"], "truncate": ["GET"], "short": ["GET"], "corrupt": ["GET"],
            }.get(kind, ["GET", "PUT", "HEAD", "DELETE"]))
            chosen.append(Fault(
                kind, method, OBJECT, times=self.rng.choice([1, 2, 3, None]),
                skip=self.rng.choice([0, 0, 1, 3]), status=self.rng.choice([500, 503]),
                seconds=self.rng.choice([0.05, 0.3]), at=self.rng.choice([0.0, 0.3, 0.9]),
            ))
        return chosen

    # -- checks ----------------------------------------------------------------------

    def findable(self) -> tuple[set[bytes], dict[str, bytes]]:
        everything = dict(read_tree(self.pair.root))
        contents = set(everything.values())
        remote = self.pair.remote()
        contents |= set(remote.values())
        names = {f"local {k}": v for k, v in everything.items()}
        names.update({f"remote {k}": v for k, v in remote.items()})
        if self.versioned:
            s3, bucket = self.pair.s3, self.pair.bucket
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for v in page.get("Versions", ()):
                    if v["Size"] and not v["IsLatest"]:
                        body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                        contents.add(body)
        return contents, names

    def lost(self) -> list[str]:
        contents, names = self.findable()
        missing = [f"{where} (#{data[:12]!r}...)" for data, where in self.required.items()
                   if data not in contents]
        for rel in sorted(self.empties):
            stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1][1:] else rel
            if not any(
                data == b"" and (name.endswith(" " + rel) or f" {stem}.conflict-" in name
                                 or name.endswith("/" + rel))
                for name, data in names.items()
            ):
                missing.append(f"empty file {rel}")
        return missing


def _remote_valid(world: World) -> None:
    """Keep the user's own view of the bucket a tree: no key that is also a folder."""
    keys = sorted(world.remote_files())
    for key in keys:
        if any(k.startswith(key + "/") for k in keys):
            raise AssertionError(f"the test made key {key} and a key below it")


def _run_cli(world: World, proxy: FaultProxy, args: list[str]) -> tuple[int, str, str, bool]:
    """Run one sync through the proxy, killed -9 at the k-th request when armed."""
    rng = world.rng
    started: dict[str, runner.Child] = {}
    killed = {"done": False}
    if rng.random() < 0.5:
        k, when = rng.randint(1, 30), rng.choice(["before", "after"])

        def kill(hit: Hit) -> None:
            deadline = time.monotonic() + 10
            while "child" not in started and time.monotonic() < deadline:
                time.sleep(0.001)  # the child's first request can beat start()'s return
            if "child" in started and not killed["done"]:
                killed["done"] = True
                os.kill(started["child"].pid, signal.SIGKILL)

        proxy.add(Fault("call", times=1, skip=k - 1, action=kill, when=when))
        world.say(f"armed: kill -9 at request {k} ({when} the server acts)")
    child = runner.start(args, world.pair.cli.env(), world.pair.cli.cwd, world.pair.root.parent / "logs")
    started["child"] = child
    code, out, err = child.wait(180)
    return code, out, err, killed["done"]


def _round(world: World, proxy: FaultProxy, server: S3Server, n: int) -> None:
    rng, pair = world.rng, world.pair
    world.say(f"--- round {n} ({time.monotonic() - world.started:.1f} s)")
    for _ in range(rng.randint(1, 6)):
        world.operate(rng.choice(["local", "remote"]))
    _remote_valid(world)
    policy = rng.choice(POLICIES)
    concurrency = rng.choice(["1", "8"])
    faults = world.faults()
    proxy.clear()
    proxy.add(*faults)
    rows = state_rows(pair.state) if list(pair.state.glob("*.db")) else {}
    args = pair.args("--json", "--max-delete", "100%", "--conflict", policy, "--concurrency", concurrency)
    world.say(f"sync --conflict {policy} --concurrency {concurrency}; faults: {describe(faults)}")
    clock = time.monotonic()
    code, out, err, killed = _run_cli(world, proxy, args)
    world.say(f"  cli took {time.monotonic() - clock:.1f} s")
    world.say(f"  -> exit {code}{' (killed)' if killed else ''}; faults fired: {describe(proxy.faults())}")
    world.kills += killed
    world.faults_fired += sum(f.fired for f in proxy.faults() if f.kind != "call")
    if code == 1:
        world.say("  " + out.strip()[-600:])
    assert "Traceback" not in err, err
    assert code in (0, 1) or (killed and code == -signal.SIGKILL), f"exit {code}\n{out}\n{err}"
    half = [f"local {rel}" for rel, data in world.local_files().items() if data not in world.every]
    half += [f"remote {rel}" for rel, data in pair.remote().items() if data not in world.every]
    assert half == [], f"partial or unknown content at final paths: {half}"
    if rows or list(pair.state.glob("*.db")):
        assert untruthful_rows(pair, since=rows) == []
    proxy.clear()
    for attempt in range(5):
        clock = time.monotonic()
        summary = api_sync(pair, server, pair.endpoint, using=world.client, max_delete="100%", conflict=policy)
        world.say(f"  clean sync {attempt + 1} ({time.monotonic() - clock:.1f} s): {summary.changes} changes, {summary.failed} failed"
                  + "".join(f"\n    failed {f.action} {f.path}: {f.reason}" for f in summary.failures))
        if summary.ok and summary.changes == 0:
            break
    else:
        raise AssertionError("no quiet sync after 5 fault-free runs")
    assert temp_files(pair.root) == []
    local, remote = live_tree(pair), pair.remote()
    assert local == remote, f"sides differ: only local {sorted(set(local) - set(remote))}, only remote " \
        f"{sorted(set(remote) - set(local))}, different {sorted(r for r in local if r in remote and local[r] != remote[r])}"
    assert untruthful_rows(pair) == []
    clock = time.monotonic()
    assert world.lost() == [], "lost"
    world.say(f"  checks took {time.monotonic() - clock:.1f} s")


@pytest.fixture
def chaos_pair(cli: Cli, s3server: S3Server, bucket: str, tmp_path: Path, proxy: FaultProxy) -> ProxiedPair:
    return proxied_pair(cli, s3server, bucket, tmp_path, proxy)


@pytest.mark.timeout(120 + 60 * ROUNDS)
def test_chaos(chaos_pair: ProxiedPair, proxy: FaultProxy, s3server: S3Server) -> None:
    seed = int(SEED or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    versioned = rng.random() < 0.5 and s3server.supports("versioning")
    world = World(rng, chaos_pair, versioned)
    world.client = client(s3server, chaos_pair.endpoint)
    if versioned:
        chaos_pair.s3.put_bucket_versioning(Bucket=chaos_pair.bucket,
                                            VersioningConfiguration={"Status": "Enabled"})
    chaos_pair.write(SENTINEL, b"never touched")
    world.every.add(b"never touched")
    world.say(f"seed {seed}, {ROUNDS} rounds, versioned bucket: {versioned}")
    n = 0
    try:
        for n in range(1, ROUNDS + 1):
            _round(world, proxy, s3server, n)
    except Exception as exc:
        raise AssertionError(
            f"chaos failed in round {n}: replay with S3SYNC_CHAOS_SEED={seed} S3SYNC_CHAOS_ROUNDS={n}\n"
            f"{exc}\n--- operation log:\n" + "\n".join(world.log)
        ) from exc
    finally:
        if world.client is not None:
            world.client.close()
    print("\n".join(world.log))
    print(f"chaos: seed {seed}, {ROUNDS} rounds, {world.kills} kills, {world.faults_fired} faults fired, "
          f"{time.monotonic() - world.started:.0f} s")
