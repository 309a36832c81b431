"""`x-request-id`: echo the caller's (if it is short and printable) or make one; put it in scope state and on
every response."""

from __future__ import annotations

import re
import uuid

from gateway.types import ASGIApp, Message, Receive, Scope, Send

VALID_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_of(scope: Scope) -> str:
    return str(scope["state"]["request_id"])


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if VALID_ID.match(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = "req_" + uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
