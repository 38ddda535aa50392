"""What `s3sync status` reports, read from the pairs' state DBs while the service runs.

The DBs are opened read-only through SQLite's URI form: in WAL mode a reader sees the
last committed state without blocking the writer and takes no lock the service could
trip on. Nothing here writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s3sync import errors
from s3sync.outcome import TRANSFERS, report_counts


@dataclass(frozen=True)
class Named:
    """A pair the caller knows by name (from the config), and where its DB would be."""

    name: str
    local: str
    remote: str
    db: Path


@dataclass
class PairStatus:
    name: str
    local: str | None
    remote: str | None
    db: str
    synced_before: bool
    service: str  # the service's state for the pair, or "not running"
    pid: int | None
    last_sync: float | None  # Unix time the last sync (full or scoped) finished
    last_trigger: str | None
    last_result: str | None
    files_tracked: int
    pending: int
    conflicts_created: int
    last_error: str | None
    last_error_at: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def collect(named: Iterable[Named], state_dir: Path) -> list[PairStatus]:
    """Every named pair, then every other pair DB found in ``state_dir``."""
    seen: set[Path] = set()
    found = []
    for pair in named:
        seen.add(pair.db)
        found.append(read(pair.db, pair.name, pair.local, pair.remote))
    for db in sorted(state_dir.glob("*.db")) if state_dir.is_dir() else []:
        if db not in seen:
            found.append(read(db, None, None, None))
    return found


def read(db: Path, name: str | None, local: str | None, remote: str | None) -> PairStatus:
    meta, tracked = _read_db(db) if db.exists() else ({}, 0)
    identity = meta.get("identity") or {}
    service = meta.get("service") or {}
    last_run = meta.get("last_run") or {}
    last_pass = service.get("last_pass") or {}
    running = _alive(service.get("pid")) and service.get("state") not in (None, "stopped")
    finished, result, trigger = _last_sync(last_run, last_pass)
    conflicts = int(service.get("conflicts_created", 0))
    if not service:
        conflicts = int(last_run.get("conflict", 0))
    return PairStatus(
        name=name or service.get("name") or db.stem,
        local=local or identity.get("root"),
        remote=remote or _remote_of(identity),
        db=str(db),
        synced_before=bool(identity),
        service=str(service.get("state")) if running else _not_running(service),
        pid=service.get("pid") if running else None,
        last_sync=finished,
        last_trigger=trigger,
        last_result=result,
        files_tracked=tracked,
        pending=int(service.get("pending", 0)) if running else 0,
        conflicts_created=conflicts,
        last_error=service.get("last_error"),
        last_error_at=service.get("last_error_at"),
    )


def _not_running(service: dict[str, Any]) -> str:
    reason = service.get("reason")
    if service.get("state") == "stopped" and reason and reason != "the service stopped":
        return f"stopped: {reason}"
    return "not running"


def _last_sync(last_run: dict[str, Any], last_pass: dict[str, Any]) -> tuple[float | None, str | None, str | None]:
    run_at = last_run.get("finished")
    pass_at = last_pass.get("finished")
    if pass_at is not None and (run_at is None or pass_at >= run_at - 1):
        return float(pass_at), _result(last_pass), last_pass.get("trigger")
    if run_at is not None:
        return float(run_at), _result(last_run), "sync"
    return None, None, None


def _result(counts: dict[str, Any]) -> str:
    failed = int(counts.get("failed", 0))
    moved = report_counts({k: int(counts.get(k, 0)) for k in TRANSFERS})
    head = f"{failed} failed" if failed else "ok"
    return f"{head} ({moved})" if moved else head


def _remote_of(identity: dict[str, Any]) -> str | None:
    if not identity.get("bucket"):
        return None
    return f"s3://{identity['bucket']}/{identity.get('prefix', '')}"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _read_db(db: Path) -> tuple[dict[str, Any], int]:
    try:
        with _connect(db) as conn:
            meta = {}
            for key, value in conn.execute("SELECT key, value FROM meta"):
                with contextlib.suppress(ValueError):
                    meta[key] = json.loads(value)
            tracked = int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    except sqlite3.Error as exc:  # garbage where the DB was, a truncated file, no tables
        raise errors.StateError(f"state DB {db} cannot be read: {exc}") from exc
    return meta, tracked


@contextlib.contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    db = db.absolute()  # a file: URI must be absolute; --state-dir may not be
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        conn.execute("SELECT 1 FROM meta LIMIT 1")
    except sqlite3.OperationalError:
        # No write access for the WAL index (another user's DB): read the file as is.
        conn = sqlite3.connect(f"{db.as_uri()}?immutable=1", uri=True, timeout=5)
    try:
        yield conn
    finally:
        conn.close()
