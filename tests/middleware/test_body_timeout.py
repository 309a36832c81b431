"""timed_receive: a body that is already buffered never waits on a timer; a late one is a 408; a cancellation
from elsewhere stays a cancellation; any awaitable `receive` works."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.middleware.body_timeout import RequestTimeoutError, timed_receive

pytestmark = pytest.mark.anyio

PART = {"type": "http.request", "body": b"{}", "more_body": False}


def counting_timers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    armed: list[float] = []
    loop = asyncio.get_running_loop()
    call_at = loop.call_at

    def spy(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", spy)
    return armed


async def test_a_buffered_body_is_returned_without_arming_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def buffered() -> dict[str, Any]:
        return PART

    armed = counting_timers(monkeypatch)
    assert await timed_receive(buffered, 0.0)() == PART  # even a zero budget: it was already here
    assert armed == []


async def test_a_body_that_arrives_in_time_is_returned() -> None:
    parts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    receive = timed_receive(parts.get, 1.0)
    asyncio.get_running_loop().call_later(0.02, parts.put_nowait, PART)
    assert await receive() == PART


async def test_a_late_body_is_a_408() -> None:
    never: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    with pytest.raises(RequestTimeoutError, match=r"did not arrive within 0.05 s"):
        await timed_receive(never.get, 0.05)()


async def test_one_deadline_covers_every_part_of_the_body() -> None:
    parts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    parts.put_nowait({"type": "http.request", "body": b"{", "more_body": True})
    receive = timed_receive(parts.get, 0.05)
    assert (await receive())["more_body"] is True
    with pytest.raises(RequestTimeoutError):
        await receive()  # the second part never comes


async def test_after_the_last_part_receive_is_not_bounded() -> None:
    parts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    parts.put_nowait(PART)
    receive = timed_receive(parts.get, 0.01)
    assert await receive() == PART
    asyncio.get_running_loop().call_later(0.05, parts.put_nowait, {"type": "http.disconnect"})
    assert await receive() == {"type": "http.disconnect"}  # waited past the body deadline


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    never: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.ensure_future(timed_receive(never.get, 10.0)())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_future_returning_receive_works() -> None:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[dict[str, Any]] = loop.create_future()
    loop.call_later(0.01, pending.set_result, PART)
    assert await timed_receive(lambda: pending, 1.0)() == PART
