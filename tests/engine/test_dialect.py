"""The write dialect: learned by the store, remembered per endpoint and bucket in the
state dir, read by the executor as a value."""

from __future__ import annotations

import json
from pathlib import Path

from s3sync.adapters.dialects import FILE, TTL, DialectBook
from s3sync.core.dialect import Dialect
from tests.engine.pair import PREFIX, Pair

RGW16 = Dialect(conditional_writes=True, conditional_delete=True, versioning=False)


def test_what_a_run_learns_from_a_refusal_the_next_run_starts_from(pair: Pair) -> None:
    pair.store.support = RGW16
    pair.store.refuse_quoted = True
    pair.write("a.txt", b"v1", mtime=1_600_000_000)
    pair.run()
    pair.write("a.txt", b"v2", mtime=1_600_000_100)
    assert pair.run() == {"upload": 1}
    assert pair.store.refused == 1  # the quoted If-Match, once; the unquoted one went through
    assert pair.remote() == {"a.txt": b"v2"}
    (remembered,) = json.loads((pair.state / FILE).read_text()).values()
    assert remembered["quote_etag"] is False

    pair.write("a.txt", b"v3", mtime=1_600_000_200)
    assert pair.run() == {"upload": 1}
    assert pair.store.refused == 1  # not refused again
    assert pair.store.probes == 1  # nor asked again within the TTL


def test_a_plan_without_remote_writes_asks_nothing(pair: Pair) -> None:
    pair.store.put(PREFIX + "theirs.txt", b"remote")
    assert pair.run() == {"download": 1}
    assert pair.store.probes == 0
    assert not (pair.state / FILE).exists()


def test_dialects_are_kept_per_endpoint_and_bucket_and_expire(tmp_path: Path) -> None:
    now = [1000.0]
    book = DialectBook(tmp_path, clock=lambda: now[0])
    book.remember("http://a", "b1", RGW16.unquoted())
    book.remember("http://a", "b2", RGW16.without_conditional_writes(versioning=True))
    assert book.recall("http://a", "b1") == RGW16.unquoted()
    assert book.recall("http://a", "b2") == Dialect(False, True, True)
    assert book.recall("http://other", "b1") is None
    now[0] += TTL
    assert book.recall("http://a", "b1") is None


def test_a_damaged_record_is_asked_again_not_trusted(tmp_path: Path) -> None:
    book = DialectBook(tmp_path, clock=lambda: 1000.0)
    (tmp_path / FILE).write_text("{not json")
    assert book.recall("http://a", "b") is None
    (tmp_path / FILE).write_text(json.dumps({"http://a b": {"learned": 1000.0, "conditional_writes": "yes"}}))
    assert book.recall("http://a", "b") is None
    book.remember("http://a", "b", RGW16)  # replaces the damaged file
    assert book.recall("http://a", "b") == RGW16
