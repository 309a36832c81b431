"""A request body must arrive within BODY_READ_TIMEOUT_S (slow-client / slowloris guard).

Only the body is timed: once its last part has arrived, later `receive()` calls (a stream waiting for the
client to disconnect) are not bounded. A late body is answered 408 before any upstream work starts.
"""

from __future__ import annotations

import asyncio

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
        try:
            with Expiry(deadline):
                message = await receive()
        except TimeoutError:
            raise RequestTimeoutError(f"The request body did not arrive within {timeout_s:g} s.") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return receive_in_time
