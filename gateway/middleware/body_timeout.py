"""A request body must arrive within BODY_READ_TIMEOUT_S (slow-client / slowloris guard).

Only the body is timed: once its last part has arrived, later `receive()` calls (a stream waiting for the
client to disconnect) are not bounded. A late body is answered 408 before any upstream work starts.
"""

from __future__ import annotations

import asyncio

from gateway.errors import GatewayError
from gateway.types import ASGIApp, Message, Receive, Scope, Send


class RequestTimeoutError(GatewayError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeoutError(f"The request body did not arrive within {self.timeout_s:g} s.") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)
