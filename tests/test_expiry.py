"""gateway/expiry.py behaves as asyncio.timeout: TimeoutError at the deadline, other cancellations untouched."""

from __future__ import annotations

import asyncio

import pytest

from gateway.expiry import Expiry, expires_in


async def test_a_wait_past_the_deadline_is_a_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        with expires_in(0.01):
            await asyncio.sleep(1)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the expiry's own cancel was taken back


async def test_a_wait_within_the_deadline_is_untouched_and_the_timer_is_gone() -> None:
    with expires_in(1) as expiry:
        await asyncio.sleep(0)
    assert expiry._handle.cancelled()
    await asyncio.sleep(0.02)  # nothing fires later


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    started = asyncio.Event()

    async def waiter() -> None:
        with Expiry(asyncio.get_running_loop().time() + 5):
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(waiter())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outer_cancel_arriving_with_the_deadline_is_not_swallowed() -> None:
    async def waiter() -> None:
        with expires_in(10) as expiry:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # the caller cancels ...
            expiry._fire()  # ... in the same moment the deadline passes
            await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):  # as asyncio.timeout: the outer cancellation wins
        await asyncio.create_task(waiter())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio
