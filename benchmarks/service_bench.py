"""Measure `s3sync watch`: change latency both ways, idle CPU, and memory per tracked file.

    python benchmarks/service_bench.py [--only latency,idle,rss] [--changes 20]
        [--idle-files 10000] [--rss-files 100000] [--remote-interval 2] [--idle-seconds 60]

Starts its own moto_server on a free 127.0.0.1 port and runs the service as a user
would (`python -m s3sync watch ... --log-format json`), reading its JSON log to know
when start-up is over. Prints one markdown table.

- latency local->remote: write a new file, time until a HEAD finds the key (default
  --settle 1 s, so at least one second of it is the deliberate settle time);
- latency remote->local: put a new object, time until the file exists; at --interval
  I the expected median is about I/2 plus one pass;
- idle CPU: utime+stime of the service over --idle-seconds, with --idle-files tracked
  files and default interval (30 s) and rescan (1 h), after start-up;
- RSS: VmRSS after start-up and VmHWM (peak) with --rss-files tracked files, one poll
  after start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto(workdir: Path) -> Iterator[str]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = free_port()
    log = open(workdir / "moto.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(endpoint), 30, "moto_server")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise TimeoutError(f"waited {timeout}s for {what}")


def env_for(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3SYNC_"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, PYTHONPATH=str(REPO))
    return env


def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


class Service:
    def __init__(self, endpoint: str, root: Path, remote: str, state: Path, log: Path, *extra: str) -> None:
        self.log = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "s3sync", "watch", str(root), remote, "--state-dir", str(state),
                 "--log-format", "json", *extra],
                stdout=subprocess.DEVNULL, stderr=err, env=env_for(endpoint),
            )

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text("utf-8", "replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    pass
        return found

    def wait_started(self, timeout: float) -> None:
        wait_for(lambda: any(e.get("event") == "pass_finished" and e.get("trigger") == "startup"
                             for e in self.events()), timeout, "the start-up sync", every=0.5)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def memory_kib(self) -> dict[str, int]:
        found = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


def make_tree(root: Path, count: int, per_folder: int = 1000) -> None:
    for n in range(count):
        folder = root / f"d{n // per_folder:04}"
        if n % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n:06}.txt").write_bytes(f"file {n}\n".encode())


def initial_sync(endpoint: str, root: Path, remote: str, state: Path) -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "s3sync", "sync", str(root), remote, "--state-dir", str(state),
                    "--concurrency", "64", "-q"], check=True, env=env_for(endpoint))
    return time.monotonic() - began


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def latency(endpoint: str, work: Path, changes: int, interval: float) -> dict[str, float]:
    s3 = client(endpoint)
    s3.create_bucket(Bucket="latency")
    root = work / "lat-root"
    root.mkdir()
    (root / "keep.txt").write_bytes(b"keep")
    service = Service(endpoint, root, "s3://latency/p", work / "lat-state", work / "lat.log",
                      "--interval", str(interval))
    try:
        service.wait_started(120)
        up = []
        for n in range(changes):
            (root / f"up{n}.txt").write_bytes(b"x" * 100)
            began = time.monotonic()
            wait_for(lambda n=n: exists(s3, "latency", f"p/up{n}.txt"), 60, "an upload", every=0.01)
            up.append(time.monotonic() - began)
        down = []
        for n in range(changes):
            s3.put_object(Bucket="latency", Key=f"p/down{n}.txt", Body=b"y" * 100)
            began = time.monotonic()
            wait_for(lambda n=n: (root / f"down{n}.txt").exists(), 60 + interval, "a download", every=0.01)
            down.append(time.monotonic() - began)
    finally:
        service.stop()
    return {"up_median": statistics.median(up), "up_max": max(up),
            "down_median": statistics.median(down), "down_max": max(down)}


def idle_cpu(endpoint: str, work: Path, files: int, seconds: float) -> dict[str, float]:
    s3 = client(endpoint)
    s3.create_bucket(Bucket="idle")
    root = work / "idle-root"
    make_tree(root, files)
    state = work / "idle-state"
    initial = initial_sync(endpoint, root, "s3://idle/p", state)
    service = Service(endpoint, root, "s3://idle/p", state, work / "idle.log")
    try:
        service.wait_started(600)
        time.sleep(2)  # let start-up's tail (gc, logging) pass before the window
        before = service.cpu_seconds()
        began = time.monotonic()
        time.sleep(seconds)
        used = service.cpu_seconds() - before
        elapsed = time.monotonic() - began
    finally:
        service.stop()
    return {"files": files, "initial_sync_s": initial, "cpu_s": used, "window_s": elapsed,
            "cpu_percent": 100 * used / elapsed}


@contextmanager
def seedable_moto() -> Iterator[tuple[str, Any]]:
    """moto in this process, so 100,000 objects can be put straight into its backend
    (over HTTP that alone takes most of an hour on a busy 2-core machine)."""
    import logging

    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client(endpoint).create_bucket(Bucket="rss")
        yield endpoint, s3_backends["123456789012"]["aws"]
    finally:
        server.stop()


def rss(work: Path, files: int) -> dict[str, float]:
    root = work / "rss-root"
    make_tree(root, files)
    state = work / "rss-state"
    with seedable_moto() as (endpoint, backend):
        for path in root.rglob("*.txt"):
            # The same bytes on both sides: the first sync adopts them (hash, record).
            backend.put_object("rss", "p/" + path.relative_to(root).as_posix(), path.read_bytes())
        initial = initial_sync(endpoint, root, "s3://rss/p", state)
        service = Service(endpoint, root, "s3://rss/p", state, work / "rss.log", "--interval", "10")
        try:
            started = time.monotonic()
            service.wait_started(1800)
            startup = time.monotonic() - started
            after_start = service.memory_kib()
            time.sleep(12)  # a measurement window holding one poll (interval 10 s), not a sync
            after_poll = service.memory_kib()
        finally:
            service.stop()
    return {"files": files, "initial_sync_s": initial, "startup_s": startup,
            "rss_mib_after_start": after_start["VmRSS"] / 1024, "rss_mib_after_poll": after_poll["VmRSS"] / 1024,
            "peak_mib": after_poll["VmHWM"] / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="latency,idle,rss")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--remote-interval", type=float, default=2.0)
    parser.add_argument("--idle-files", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rss-files", type=int, default=100_000)
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="s3sync-service-bench-") as tmp:
        work = Path(tmp)
        with moto(work) as endpoint:
            if "latency" in wanted:
                lat = latency(endpoint, work, args.changes, args.remote_interval)
                rows.append((f"latency local→remote, median of {args.changes} (settle 1 s)",
                             f"{lat['up_median']:.2f} s (max {lat['up_max']:.2f} s)"))
                rows.append((f"latency remote→local, median of {args.changes} (interval {args.remote_interval:g} s)",
                             f"{lat['down_median']:.2f} s (max {lat['down_max']:.2f} s)"))
            if "idle" in wanted:
                idle = idle_cpu(endpoint, work, args.idle_files, args.idle_seconds)
                rows.append((f"idle CPU, {args.idle_files:,} files, {idle['window_s']:.0f} s (interval 30 s)",
                             f"{idle['cpu_percent']:.2f}% of one core ({idle['cpu_s']:.2f} s CPU)"))
            if "rss" in wanted:
                mem = rss(work, args.rss_files)
                rows.append((f"RSS, {args.rss_files:,} files, after start-up / 12 s later (polling, interval 10 s)",
                             f"{mem['rss_mib_after_start']:.0f} / {mem['rss_mib_after_poll']:.0f} MiB "
                             f"(peak {mem['peak_mib']:.0f} MiB; start-up sync {mem['startup_s']:.0f} s)"))
        # Before the temp dir goes: removing 100,000 files takes a while.
        print("| measure | result |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |", flush=True)


if __name__ == "__main__":
    main()
