"""docs/python.md cannot rot: its Python snippets run, top to bottom as one script, and
its `s3sync` commands run, in order, against the real test server; what they print is
compared with the output the page shows.

The page uses the seed page's placeholders (objects.example.com, my-new-bucket,
/home/larry/documents, ...); each run substitutes the server's endpoint and keys, fresh
bucket names and a temporary folder. The local files the page uploads are made here.
"""

from __future__ import annotations

import io
import re
import shlex
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from tests.conftest import REPO
from tests.s3server import S3Server, force_delete

DOC = REPO / "docs" / "python.md"

# The sections of Ceph's "Python S3 Examples" page, each re-done by the doc.
SEED_SECTIONS = [
    "Creating a Connection",
    "Listing Owned Buckets",
    "Creating a Bucket",
    "Listing a Bucket's Content",
    "Deleting a Bucket",
    "Forced Delete for Non-empty Buckets",
    "Creating an Object",
    "Change an Object's ACL",
    "Download an Object (to a file)",
    "Delete an Object",
    "Generate Object Download URLs (signed and unsigned)",
]

# The shared test server holds other tests' buckets: that listing can only match in shape.
LOOSE_COMMANDS = {"buckets"}

# The sizes the page's sample output shows for the files it uploads.
LOCAL_FILES = {
    "hello.txt": b"Hello World!",
    "secret_plans.txt": b"Step 1: sync everything.",
    "perl_poetry.pdf": b"%PDF" + b"\0" * (262518 - 4),
    "photos/cat.jpg": b"c" * 30000,
    "photos/dog.jpg": b"d" * 22372,
}


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the first line inside the fence
    text: str
    prose: str  # the text between the previous block and this one


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    prose_start = 0
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"```(\w+)", lines[i])
        if not opening:
            i += 1
            continue
        end = lines.index("```", i + 1)
        found.append(Block(opening.group(1), i + 2, "\n".join(lines[i + 1:end]) + "\n",
                           "\n".join(lines[prose_start:i])))
        prose_start = i = end + 1
    return found


def python_source(text: str | None = None) -> str:
    """Every Python snippet of the page, in order, as one module (for mypy)."""
    return "\n".join(b.text for b in blocks(text or DOC.read_text(encoding="utf-8"))
                     if b.lang == "python")


def substitutions(server: S3Server, tag: str, tmp: Path) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {
        "http://objects.example.com": server.endpoint,
        "put your access key here!": server.access_key,
        "put your secret key here!": server.secret_key,
        "my-new-bucket": f"doc-{tag}-new-{suffix}",
        "my-empty-bucket": f"doc-{tag}-empty-{suffix}",
        "my-async-bucket": f"doc-{tag}-async-{suffix}",
        "/home/larry/documents": str(tmp / "documents"),
    }


def page_for(subs: dict[str, str]) -> str:
    text = DOC.read_text(encoding="utf-8")
    for placeholder, real in subs.items():
        assert placeholder in text, f"the page no longer uses {placeholder!r}: update this test"
        text = text.replace(placeholder, real)
    return text


def mask(line: str) -> str:
    """What may differ between two runs: dates, durations, a signature's query string."""
    line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "<time>", line)
    line = re.sub(r"\d+\.\d+ s\b", "<seconds> s", line)
    return re.sub(r"\?\S*", "?<query>", line)


def check_output(where: str, shown: list[str], printed: list[str], *, exact: bool) -> None:
    assert printed, f"{where}: the page shows output but the snippet printed nothing"
    if exact:
        assert [mask(x) for x in printed] == [mask(x) for x in shown], where
        return
    fields = {x.count("\t") for x in shown}
    assert {x.count("\t") for x in printed} == fields, f"{where}: {printed} vs {shown}"


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    # The clients and the in-process CLI configure structlog; later tests must not inherit it.
    configured, saved = structlog.is_configured(), structlog.get_config()
    yield
    if configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the page's relative paths (perl_poetry.pdf, photos) are relative to."""
    work = tmp_path / "work"
    for rel, data in LOCAL_FILES.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    (tmp_path / "documents").mkdir()
    monkeypatch.chdir(work)
    return work


def test_every_seed_section_is_on_the_page() -> None:
    headings = re.findall(r"^## (.+)$", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert [s for s in SEED_SECTIONS if s not in headings] == []
    assert "Sync a Folder" in headings


def test_the_python_snippets_run(
    s3server: S3Server, tmp_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = substitutions(s3server, "py", tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_python_md"}
    last: Block | None = None
    printed: list[str] = []
    try:
        for block in blocks(page_for(subs)):
            if block.lang == "python":
                # Padding makes a traceback point at the page's own line numbers.
                code = compile("\n" * (block.line - 1) + block.text, str(DOC), "exec")
                exec(code, namespace)
                printed = capsys.readouterr().out.splitlines()
                last = block
            elif block.lang == "text" and last is not None:
                where = f"{DOC.name}:{last.line}"
                check_output(where, block.text.splitlines(), printed,
                             exact="something like" not in block.prose)
                last = None
        downloaded = tmp_path / "documents" / "perl_poetry.pdf"
        assert downloaded.read_bytes() == LOCAL_FILES["perl_poetry.pdf"]
        existing = {b["Name"] for b in s3server.client().list_buckets()["Buckets"]}
        assert not existing & {subs["my-new-bucket"], subs["my-empty-bucket"], subs["my-async-bucket"]}
    finally:
        for name in ("my-new-bucket", "my-empty-bucket", "my-async-bucket"):
            force_delete(s3server, subs[name])


def test_the_commands_run(
    s3server: S3Server, tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from s3sync.cli import run

    subs = substitutions(s3server, "cli", tmp_path)
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    ran = 0
    try:
        for block in blocks(page_for(subs)):
            if block.lang != "console":
                continue
            for command, shown, line in commands(block):
                where = f"{DOC.name}:{line}: {command}"
                argv, stdin = parse_command(command)
                if argv[0] == "export":
                    continue  # the server's settings are in the environment already
                assert argv[0] == "s3sync", where
                monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
                code = run(argv[1:])
                out, err = capsys.readouterr()
                ran += 1
                if shown and shown[0].startswith("s3sync: error:"):
                    assert code != 0, where
                    assert err.splitlines() == shown, where
                    continue
                assert code == 0, f"{where}: exit {code}: {err}"
                if shown:
                    check_output(where, shown, out.splitlines(),
                                 exact=argv[1] not in LOOSE_COMMANDS)
        assert ran >= 15
        downloaded = tmp_path / "documents" / "perl_poetry.pdf"
        assert downloaded.read_bytes() == LOCAL_FILES["perl_poetry.pdf"]
    finally:
        for name in ("my-new-bucket", "my-empty-bucket"):
            force_delete(s3server, subs[name])


def commands(block: Block) -> Iterator[tuple[str, list[str], int]]:
    """(command, the output lines shown under it, its line number) for each `$ ` line."""
    current: tuple[str, int] | None = None
    shown: list[str] = []
    for offset, text in enumerate(block.text.splitlines()):
        if text.startswith("$ "):
            if current is not None:
                yield current[0], shown, current[1]
            current, shown = (text[2:], block.line + offset), []
        else:
            shown.append(text)
    if current is not None:
        yield current[0], shown, current[1]


def parse_command(command: str) -> tuple[list[str], bytes]:
    """The argv, and what stdin holds: `echo 'TEXT' | s3sync ...` is the one pipe used."""
    stdin = b""
    piped = re.fullmatch(r"echo (.+?) \| (.+)", command)
    if piped:
        stdin = (shlex.split(piped.group(1))[0] + "\n").encode()
        command = piped.group(2)
    return shlex.split(command), stdin
