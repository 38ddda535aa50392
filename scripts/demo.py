"""The demo behind `./dev demo`: a two-way sync against a local S3 server it starts itself.

It runs the real `s3sync` command at every step and shows what it printed, so what you
see is exactly what a user would type and get.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.s3server import moto_server  # noqa: E402  (the same server the tests use)

BUCKET = "demo-bucket"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="s3sync-demo-") as tmp:
        work = Path(tmp)
        with moto_server(work) as server:
            env = {
                **os.environ,
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": server.endpoint,
                "S3SYNC_STATE_DIR": str(work / "state"),
            }
            banner(f"A local S3 server (moto) is listening on {server.endpoint}")
            return demo(work, env)


def demo(work: Path, env: dict[str, str]) -> int:
    laptop, desktop = work / "laptop", work / "desktop"
    make_example_folder(laptop)
    remote = f"s3://{BUCKET}/docs"

    step("Create a bucket and see it listed", env, ["mb", BUCKET], ["buckets"])
    step("First sync: the laptop's folder goes up (nothing is ever deleted on a first sync)",
         env, ["sync", str(laptop), remote])
    step("The bucket now holds it", env, ["ls", remote])
    step("A second machine pulls the same prefix into an empty folder", env, ["sync", str(desktop), remote])

    banner("Now both sides change: the laptop edits notes.txt, the desktop deletes todo.md,\n"
           "and both edit plan.txt differently (a conflict)")
    (laptop / "notes.txt").write_text("notes, edited on the laptop\n")
    (desktop / "todo.md").unlink()
    (laptop / "plan.txt").write_text("plan A, from the laptop\n")
    (desktop / "plan.txt").write_text("plan B, from the desktop\n")
    # The newer edit keeps the name; make "newer" unambiguous for the demo.
    later = time.time() + 60
    os.utime(desktop / "plan.txt", (later, later))

    step("The laptop syncs: its edit goes up", env, ["sync", str(laptop), remote])
    step("The desktop syncs: a dry run first, then the real thing", env,
         ["sync", str(desktop), remote, "--dry-run"], ["sync", str(desktop), remote])
    step("The laptop syncs again: it receives the delete and the conflict copy", env,
         ["sync", str(laptop), remote, "--json"])
    banner("Both folders now hold the same files; the losing plan is kept as a conflict copy,\n"
           "and the deleted todo.md is in the laptop's .s3sync-trash/:")
    for folder in (laptop, desktop):
        print(f"  {folder.name}:")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                print(f"    {path.relative_to(folder)}")
    step("A signed download URL, valid for ten minutes", env, ["url", f"{remote}/notes.txt", "--expires", "600"])
    step("And a forced delete of the non-empty bucket", env, ["rb", BUCKET, "--force"])
    banner("Done. Everything ran against a throw-away server; nothing outside a temp folder was touched.")
    return 0


def make_example_folder(root: Path) -> None:
    (root / "photos" / "2026").mkdir(parents=True)
    (root / "notes.txt").write_text("notes\n")
    (root / "todo.md").write_text("- write the demo\n")
    (root / "plan.txt").write_text("the plan\n")
    (root / "photos" / "2026" / "beach.jpg").write_bytes(os.urandom(200_000))
    (root / "Übersicht + 100% fertig.txt").write_text("unicode, spaces, + and % round-trip\n")


def step(title: str, env: dict[str, str], *commands: list[str]) -> None:
    banner(title)
    for args in commands:
        print(f"$ s3sync {shlex.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "s3sync", *args, "-q"], env=env, cwd=REPO, check=False)
        if result.returncode != 0:
            raise SystemExit(f"demo: `s3sync {shlex.join(args)}` exited {result.returncode}")


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
