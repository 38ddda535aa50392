"""The state DB: one SQLite file per pair holding the base rows and run history.

Rows are written only for actions that completed, in batches; a crash loses at most
the last unflushed batch, which the next run re-plans into no-ops (equal content is
recorded, never re-transferred blindly). The DB records the identity of what it
describes; a mismatch makes the run a first sync instead of a diff against someone
else's history.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from s3sync import errors
from s3sync.core.model import PERMISSION_BITS, BaseEntry, LocalEntry, RemoteEntry
from s3sync.core.paths import RelPath

SCHEMA_VERSION = 2
# Columns added since schema 1, in order: a DB of an older schema gains them (NULL).
ADDED_COLUMNS = {2: ("local_mode INTEGER", "remote_mode INTEGER", "remote_modified_ns BIGINT")}
FLUSH_EVERY = 500
SQL_CHUNK = 500  # SQLite caps bound parameters: rows are loaded in chunks below that

metadata = MetaData()

entries = Table(
    "entries",
    metadata,
    Column("rel", Text, primary_key=True),
    Column("local_size", BigInteger, nullable=False),
    Column("local_mtime_ns", BigInteger, nullable=False),
    Column("remote_size", BigInteger, nullable=False),
    Column("remote_etag", String, nullable=False),
    Column("remote_mtime_ns", BigInteger, nullable=False),
    Column("md5", String, nullable=True),
    Column("local_mode", Integer, nullable=True),  # permission bits; NULL: not known
    Column("remote_mode", Integer, nullable=True),  # the object's ``mode`` metadata
    Column("remote_modified_ns", BigInteger, nullable=True),  # its LastModified; NULL: not known
)

# Folder markers (``photos/`` keys) the pair has seen: a marker makes its local folder
# once, when it first appears; a folder the user removed later is not made again.
markers = Table("markers", metadata, Column("rel", Text, primary_key=True))

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)


def state_dir_default() -> Path:
    base = os.environ.get("S3SYNC_STATE_DIR")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(xdg) / "s3sync"


def pair_id(local_root: Path, endpoint: str | None, bucket: str, prefix: str) -> str:
    """A stable name for a pair's state: the same pair always finds the same DB."""
    identity = "\n".join([str(local_root), endpoint or "", bucket, prefix])
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:20]


def lock_name(local_root: Path, endpoint: str | None, bucket: str, prefix: str) -> str:
    """The name of a pair's lock files: from the folder's resolved path, so that two
    spellings of one folder (through a symlink, with ``..``) can never run side by side."""
    return pair_id(local_root.resolve(), endpoint, bucket, prefix)


def row_to_base(row: Any) -> tuple[RelPath, BaseEntry]:
    """A row of ``entries`` as (path, base entry).

    Positional, in the table's column order: attribute access on a Row costs several µs
    a field, 0.2 s on a 5,000-file no-op.
    """
    rel, local_size, local_mtime_ns, remote_size, remote_etag, remote_mtime_ns, md5, local_mode, remote_mode, modified = row
    return RelPath(rel), BaseEntry(
        LocalEntry(local_size, local_mtime_ns, None, None if local_mode is None else PERMISSION_BITS[local_mode & 0o777]),
        RemoteEntry(remote_size, remote_etag, remote_mtime_ns, None, _shared_time(modified or 0),
                    None if remote_mode is None else PERMISSION_BITS[remote_mode & 0o777]),
        md5,
    )


# The objects of a tree written in one go share a few hundred LastModified seconds: one
# int object for each, not one per row (32 bytes a file on a large pair).
_shared_time = functools.lru_cache(maxsize=8192)(int)


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._engine: Engine | None = None
        self._pending_put: dict[str, dict[str, Any]] = {}
        self._pending_forget: set[str] = set()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("state store is not open")
        return self._engine

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        if fresh:
            # Owner-only from the first byte: the DB lists every file name of the pair.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(f"sqlite:///{self.path}", future=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        self._engine = engine
        with self._errors():
            # Read the version before writing anything: a DB from a newer s3sync is not
            # ours to add tables to.
            version = self._schema_version()
            if version is not None and int(version) > SCHEMA_VERSION:
                raise errors.StateError(
                    f"state DB {self.path} is from a newer s3sync (schema {version}); upgrade s3sync"
                )
            # Take the write lock once now: a DB another process holds fails the run here,
            # before it changes any file, not at its first record after the changes.
            with engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.exec_driver_sql("ROLLBACK")
            metadata.create_all(engine)
            if version is not None and int(version) < SCHEMA_VERSION:
                self._upgrade(int(version))
            if version is None or int(version) < SCHEMA_VERSION:
                self.set_meta("schema_version", str(SCHEMA_VERSION))

    def _upgrade(self, version: int) -> None:
        with self.engine.begin() as conn:
            for since in range(version + 1, SCHEMA_VERSION + 1):
                for column in ADDED_COLUMNS.get(since, ()):
                    conn.exec_driver_sql(f"ALTER TABLE entries ADD COLUMN {column}")

    def _schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            if conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).first() is None:
                return None
            value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        return None if value is None else str(value)

    def close(self) -> None:
        if self._engine is not None:
            self.flush()
            self._engine.dispose()
            self._engine = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            if "locked" in str(exc.orig).lower():
                raise errors.StateError(f"state DB {self.path} is locked by another process") from exc
            raise errors.StateError(f"state DB {self.path} cannot be used: {exc.orig}") from exc
        except (DatabaseError, ValueError) as exc:
            raise errors.StateError(
                f"state DB {self.path} is corrupt; move it away to start over "
                "(the next run is then a first sync, which deletes nothing)"
            ) from exc
        except SQLAlchemyError as exc:
            raise errors.StateError(f"state DB {self.path}: {exc}") from exc

    # -- meta ------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._errors(), self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self._errors(), self.engine.begin() as conn:
            conn.execute(insert(meta).prefix_with("OR REPLACE"), {"key": key, "value": value})

    def get_json(self, key: str) -> Any:
        raw = self.get_meta(key)
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any) -> None:
        self.set_meta(key, json.dumps(value, sort_keys=True))

    def temp_key(self) -> bytes:
        """The pair's secret that tags its temp files, made on first need (``core.own``)."""
        key = self.get_json("temp_key")
        if not isinstance(key, str):
            key = os.urandom(16).hex()
            self.set_json("temp_key", key)
        return bytes.fromhex(key)

    # -- base rows -------------------------------------------------------------

    def load_base(self) -> dict[RelPath, BaseEntry]:
        with self._errors(), self.engine.connect() as conn:
            # Straight from the sqlite3 cursor: SQLAlchemy's Row wrapping costs more than
            # the query on a 100,000-file pair.
            cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                "SELECT rel, local_size, local_mtime_ns, remote_size, remote_etag, remote_mtime_ns, md5,"
                " local_mode, remote_mode, remote_modified_ns FROM entries"
            )
            return dict(map(row_to_base, cursor))

    def count(self) -> int:
        with self._errors(), self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())

    def remote_tags(self) -> dict[RelPath, tuple[int, str, int | None]]:
        """Every row's remote (size, ETag, LastModified): what a poll compares a listing with."""
        # Every poll reads every row: the plain DB-API cursor is several times cheaper
        # than SQLAlchemy's result rows here.
        with self._errors():
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT rel, remote_size, remote_etag, remote_modified_ns FROM entries")
                return {RelPath(rel): (size, etag, modified) for rel, size, etag, modified in cursor.fetchall()}
            finally:
                raw.close()

    def load_rows(self, rels: set[RelPath], folders: set[RelPath]) -> dict[RelPath, BaseEntry]:
        """The rows of ``rels`` and of every path below one of ``folders``."""
        found: dict[RelPath, BaseEntry] = {}
        wanted = sorted(rels)
        with self._errors(), self.engine.connect() as conn:
            for start in range(0, len(wanted), SQL_CHUNK):
                chunk = wanted[start : start + SQL_CHUNK]
                found.update(map(row_to_base, conn.execute(select(entries).where(entries.c.rel.in_(chunk)))))
            for folder in folders:
                # A range on the primary key, not LIKE: names may hold % and _.
                low, high = folder + "/", folder + "0"  # "0" sorts right after "/"
                query = select(entries).where(entries.c.rel >= low, entries.c.rel < high)
                found.update(map(row_to_base, conn.execute(query)))
        return found

    def clear(self) -> None:
        with self._errors(), self.engine.begin() as conn:
            conn.execute(delete(entries))

    def put(self, rel: RelPath, base: BaseEntry) -> None:
        self._pending_forget.discard(rel)
        self._pending_put[rel] = {
            "rel": rel,
            "local_size": base.local.size,
            "local_mtime_ns": base.local.mtime_ns,
            "remote_size": base.remote.size,
            "remote_etag": base.remote.etag,
            "remote_mtime_ns": base.remote.mtime_ns,
            "md5": base.md5,
            "local_mode": base.local.mode,
            "remote_mode": base.remote.mode,
            "remote_modified_ns": base.remote.modified_ns or None,
        }
        self._maybe_flush()

    def load_markers(self) -> set[RelPath]:
        with self._errors(), self.engine.connect() as conn:
            return {RelPath(rel) for rel in conn.execute(select(markers.c.rel)).scalars()}

    def set_markers(self, added: set[RelPath], removed: set[RelPath]) -> None:
        if not added and not removed:
            return
        with self._errors(), self.engine.begin() as conn:
            if removed:
                conn.execute(delete(markers).where(markers.c.rel.in_(sorted(removed))))
            if added:
                conn.execute(insert(markers).prefix_with("OR IGNORE"), [{"rel": rel} for rel in sorted(added)])

    def forget(self, rel: RelPath) -> None:
        self._pending_put.pop(rel, None)
        self._pending_forget.add(rel)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self._pending_put) + len(self._pending_forget) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self._pending_put and not self._pending_forget:
            return
        puts, forgets = list(self._pending_put.values()), list(self._pending_forget)
        self._pending_put, self._pending_forget = {}, set()
        with self._errors(), self.engine.begin() as conn:
            if forgets:
                conn.execute(delete(entries).where(entries.c.rel.in_(forgets)))
            if puts:
                conn.execute(insert(entries).prefix_with("OR REPLACE"), puts)


class PairLock:
    """One process per pair: an advisory lock on a file beside the state DB."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: bool, describe: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise errors.LockedError(
                f"another s3sync process is syncing {describe} (use --wait to wait for it)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {time.time():.0f}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
