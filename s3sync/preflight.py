"""Checks of what the user gave, made before any work.

Each stands for a failure that otherwise came from deep inside a library (yarl, ssl,
pathlib) as a traceback, and for the paths only after the pair's lock and state DB had
been made. Each raises the project error whose exit code fits: a malformed setting is a
``UsageError`` (2); a path this process may not use, or one that is gone, is an
operational error (1).
"""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path
from urllib.parse import urlsplit

from s3sync import errors


def endpoint_url(url: str | None) -> str | None:
    """``url`` unchanged when it can be an S3 endpoint: http(s), a host, a port in range."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed on access: this is where 99999 is refused
    except ValueError as exc:
        raise errors.UsageError(f"invalid endpoint URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise errors.UsageError(f"invalid endpoint URL {url!r}: must start with http:// or https://")
    if not parts.hostname:
        raise errors.UsageError(f"invalid endpoint URL {url!r}: no host")
    if port == 0:
        raise errors.UsageError(f"invalid endpoint URL {url!r}: port 0 cannot be connected to")
    return url


def ca_bundle(path: str) -> str:
    """``path`` when it is a file of PEM certificates TLS can verify against."""
    if not os.path.isfile(path):
        raise errors.UsageError(f"CA bundle not found: {path}")
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:  # before OSError: SSLError is one
        raise errors.UsageError(f"CA bundle {path} holds no PEM certificate ({exc.reason or exc})") from None
    except OSError as exc:
        raise errors.LocalIOError(f"cannot read CA bundle {path}: {exc.strerror or exc}") from None
    return path


def state_dir(path: Path) -> None:
    """The state dir must be a folder this process may write, or be creatable in one.

    Looked at, never made: a run refused for another reason leaves nothing behind.
    """
    wanted = path.absolute()
    probe = wanted
    while True:
        try:
            st = probe.stat()
            break
        except (FileNotFoundError, NotADirectoryError):
            probe = probe.parent  # "/" exists, so this ends
        except PermissionError:
            raise errors.StateError(f"state dir {path}: permission denied") from None
    if not stat.S_ISDIR(st.st_mode):
        if probe == wanted:
            raise errors.UsageError(f"state dir is not a folder: {path}")
        raise errors.UsageError(f"state dir {path} cannot be made: {probe} is not a folder")
    need = os.W_OK | os.X_OK | (os.R_OK if probe == wanted else 0)
    if not _may(probe, need):
        raise errors.StateError(f"state dir {path}: permission denied")


def local_root(root: Path, state_db: Path) -> None:
    """Refuse a local folder the engine could neither use nor create: a symlink to
    nothing (or a path below one), or a path whose existing part is a file.

    A pair with a state DB is left to the engine's rails: for a folder that synced
    before, a missing one is a vanished disk (exit 3), whatever spelled its path.
    """
    if os.path.lexists(state_db):
        return
    path = root
    while not os.path.exists(path):
        if os.path.islink(path):
            raise errors.NotFoundError(
                f"local folder {root} does not exist: {path} is a symlink to "
                f"{os.readlink(path)}, which does not exist"
            )
        if path.parent == path:
            return
        path = path.parent
    if not path.is_dir():
        if path == root:
            raise errors.UsageError(f"local path is not a folder: {root}")
        raise errors.UsageError(f"local folder {root} cannot be made: {path} is not a folder")


def _may(path: Path, mode: int) -> bool:
    # Effective ids: what the kernel checks when the state DB is made.
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)
