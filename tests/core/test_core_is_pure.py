"""The pure core is enforced, not hoped for (convention 3).

Every module under ``s3sync/core`` may import only a small standard-library allowlist
and ``s3sync.core`` itself: no I/O, no clock, no logging, no third-party code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "s3sync" / "core"

ALLOWED = frozenset(
    {
        "__future__",
        "collections",
        "collections.abc",
        "dataclasses",
        "datetime",
        "enum",
        "fnmatch",
        "hashlib",
        "hmac",
        "itertools",
        "posixpath",
        "re",
        "typing",
        "unicodedata",
    }
)


def _allowed(module: str) -> bool:
    return module in ALLOWED or module == "s3sync.core" or module.startswith("s3sync.core.")


def forbidden_imports(source: str, package: str = "s3sync.core") -> list[str]:
    """The imports in ``source`` (a module of ``package``) that leave the allowlist."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if not _allowed(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: ``from . import x`` inside s3sync.core stays inside it only
                # when it climbs no higher than the package itself.
                parts = package.split(".")
                if node.level > 1:
                    parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if not _allowed(module):
                found.append(module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("__import__", "exec", "eval", "open", "print")
        ):
            # A dynamic import or a builtin doing I/O would slip past the import check.
            found.append(f"{node.func.id}()")
    return found


def core_modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def test_core_modules_are_found() -> None:
    names = {p.name for p in core_modules()}
    assert {"model.py", "paths.py", "plan.py", "reconcile.py", "safety.py"} <= names


@pytest.mark.parametrize("module", core_modules(), ids=lambda p: p.name)
def test_core_module_imports_only_the_allowlist(module: Path) -> None:
    assert forbidden_imports(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", ["os"]),
        ("import os.path", ["os.path"]),
        ("from pathlib import Path", ["pathlib"]),
        ("import structlog", ["structlog"]),
        ("from s3sync.adapters import s3", ["s3sync.adapters"]),
        ("from s3sync import errors", ["s3sync"]),
        ("from .. import engine", ["s3sync"]),
        ("from ..executor import Executor", ["s3sync.executor"]),
        ("def f():\n    import time\n", ["time"]),
        ("__import__('socket')", ["__import__()"]),
        ("print('hello')", ["print()"]),
        ("import typing, logging", ["logging"]),
        # allowed ones
        ("from __future__ import annotations", []),
        ("from collections.abc import Mapping", []),
        ("import unicodedata, re", []),
        ("from s3sync.core.paths import RelPath", []),
        ("from . import model", []),
        ("from .plan import Plan", []),
    ],
)
def test_the_checker_flags_what_it_should(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected
