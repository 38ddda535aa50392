"""The one retry rule: what is tried again, how often, and what is raised at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from s3sync.adapters.s3 import retry
from s3sync.adapters.s3.retry import retryable, retrying


class Flaky(Exception):
    pass


class Broken(Exception):
    pass


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    waited: list[int] = []

    async def backoff(attempt: int) -> None:
        waited.append(attempt)

    monkeypatch.setattr(retry, "backoff", backoff)
    return waited


def failing(errors: list[Exception]) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def once() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "done"

    return calls, once


def test_a_transient_failure_is_tried_again_after_a_growing_backoff(no_waiting: list[int]) -> None:
    calls, once = failing([Flaky(), Flaky()])
    assert asyncio.run(retrying(3, once, lambda e: isinstance(e, Flaky))) == "done"
    assert len(calls) == 3
    assert no_waiting == [1, 2]


def test_the_last_attempts_error_is_raised_as_it_came() -> None:
    last = Flaky("third")
    calls, once = failing([Flaky("first"), Flaky("second"), last])
    with pytest.raises(Flaky) as caught:
        asyncio.run(retrying(3, once, lambda e: isinstance(e, Flaky)))
    assert caught.value is last
    assert len(calls) == 3


def test_a_failure_that_is_not_transient_is_raised_at_once() -> None:
    calls, once = failing([Broken()])
    with pytest.raises(Broken):
        asyncio.run(retrying(5, once, lambda e: isinstance(e, Flaky)))
    assert len(calls) == 1


@pytest.mark.parametrize(("status", "code", "again"), [
    (503, "SlowDown", True), (500, None, True), (502, None, True), (504, None, True),
    (400, "RequestTimeout", True), (400, "Throttling", True),
    (404, "NoSuchKey", False), (412, "PreconditionFailed", False), (403, "AccessDenied", False),
])
def test_which_replies_are_worth_another_try(status: int, code: str | None, again: bool) -> None:
    assert retryable(status, code) is again
