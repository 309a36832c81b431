"""Render any error raised before the response started as an OpenAI-shaped JSON error (CONTRACT §6).

A `GatewayError` becomes its own status and body; anything else is a bug: a generic 500 whose traceback is
logged once, here, and never sent to the caller. After the response has started there is nothing to render
(streams report their own failures as an error event in `routes.py`).
"""

from __future__ import annotations

import logging

from gateway.errors import INTERNAL_ERROR, GatewayError, to_openai_error
from gateway.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


async def send_error(send: Send, exc: GatewayError) -> None:
    status, body, headers = to_openai_error(exc)
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class ErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except GatewayError as exc:
            if started:
                raise
            await send_error(send, exc)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": scope.get("state", {}).get("request_id")})
            if started:
                raise
            await send_error(send, INTERNAL_ERROR)
