"""A request body must arrive within BODY_READ_TIMEOUT_S (slow-client / slowloris guard).

Only the body is timed: once its last part has arrived, later `receive()` calls (a stream waiting for the
client to disconnect) are not bounded. A late body is answered 408 before any upstream work starts.

Most bodies are already buffered when the app asks for them (uvicorn parses a request that fits one read before
the app's task first runs), so `receive()` is first run up to its first suspension: if it finishes there, no
timer is armed at all (≈ 4 µs saved per request); if it suspends, the rest of it runs under the deadline.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator
from typing import Any

from gateway.errors import GatewayError
from gateway.expiry import Expiry
from gateway.types import Message, Receive

BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestTimeoutError(GatewayError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


def timed_receive(receive: Receive, timeout_s: float) -> Receive:
    """`receive`, bounded by one deadline for the whole body (set now)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    body_done = False

    async def receive_in_time() -> Message:
        nonlocal body_done
        if body_done:
            return await receive()
        message: Message
        steps: Generator[Any, Any, Message] = receive().__await__()
        try:
            waiting_on = next(steps)
        except StopIteration as ready:  # already buffered: nothing to wait for, so no timer
            message = ready.value
        else:
            try:
                with Expiry(deadline):
                    message = await _rest_of(steps, waiting_on)
            except TimeoutError:
                raise RequestTimeoutError(f"The request body did not arrive within {timeout_s:g} s.") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return receive_in_time


@types.coroutine
def _rest_of(steps: Generator[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    """Await the rest of an awaitable whose first step (`waiting_on`, what it suspended on) has already run:
    `yield from`'s expansion (PEP 380), resumed after the first yield."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - a cancellation (deadline, caller left): into the awaitable
            try:
                waiting_on = steps.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = steps.send(sent)
            except StopIteration as done:
                return done.value
