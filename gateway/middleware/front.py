"""The front door: every HTTP concern of a request, in one pure-ASGI middleware, in this order:

    request id          x-request-id: the caller's, or a new one; on every response
    header limits       431 for too many or too large request headers
    access log          one JSON line and the HTTP metrics when the request ends, whatever happened
    errors              an error raised before the response started becomes an OpenAI-shaped answer;
                        anything unexpected is logged once with its traceback and answered as a plain 500
    auth                the bearer token's principal (401 without a valid one), except on public routes
    rate limit          the general per-user (or per-IP) limit: 429, and x-ratelimit-*-requests headers
    body timeout        the body must arrive within BODY_READ_TIMEOUT_S (408)
    security headers    on every response

It is also the app's error boundary: `GatewayApp` (app.py) leaves out Starlette's own error middlewares, whose
work this does. One middleware instead of one per concern: each ASGI layer wraps `send` again, and every streamed
chunk passed through all of those wrappers (bench/README.md measured ≈ 5 µs per layer per request and per chunk).
The concerns themselves live in their own modules beside this one.
"""

from __future__ import annotations

import logging
import time

from starlette.exceptions import HTTPException

from gateway.context import CURRENT, RequestRecord
from gateway.errors import INTERNAL_ERROR, GatewayError
from gateway.metrics import Metrics
from gateway.middleware.access_log import AccessLog
from gateway.middleware.auth import Authenticator
from gateway.middleware.body_timeout import BODILESS, timed_receive
from gateway.middleware.errors import from_http_exception, send_error
from gateway.middleware.ratelimit import HTTPRateLimit
from gateway.middleware.ratelimit import headers as limit_headers
from gateway.middleware.request_id import request_id_from
from gateway.middleware.security_headers import check_header_limits, security_headers
from gateway.ratelimit.gcra import Status
from gateway.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("gateway.middleware.errors")
LIMIT_HEADER = b"x-ratelimit-limit-requests"


class FrontMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        authenticator: Authenticator,
        rate_limit: HTTPRateLimit,
        body_timeout_s: float,
        hsts: bool = False,
        max_header_count: int = 100,
        max_header_bytes: int = 16384,
    ) -> None:
        self.app = app
        self.access_log = AccessLog(metrics)
        self.active = metrics.active
        self.authenticator = authenticator
        self.rate_limit = rate_limit
        self.body_timeout_s = body_timeout_s
        self.security_headers = security_headers(hsts=hsts)
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        record = RequestRecord(request_id=request_id)
        token = CURRENT.set(record)
        own_headers = [*self.security_headers, (b"x-request-id", request_id.encode("ascii"))]
        limit: Status | None = None  # the general limit's state, for responses without the LLM limit's headers
        status = 500
        headers_at: float | None = None

        async def front_send(message: Message) -> None:
            nonlocal status, headers_at
            if message["type"] == "http.response.start":
                status = message["status"]
                headers_at = time.perf_counter()
                headers = [*message.get("headers", ()), *own_headers]
                # the LLM limit's trio, when set, wins (names are lower-case: ours, and Starlette's Response)
                if limit is not None:
                    for name, _ in headers:
                        if name == LIMIT_HEADER:
                            break
                    else:
                        headers += limit_headers(limit)
                message["headers"] = headers
            await send(message)

        self.active.inc()
        try:
            try:
                check_header_limits(scope["headers"], max_count=self.max_header_count, max_bytes=self.max_header_bytes)
                principal = await self.authenticator.principal(scope)
                if principal is not None:
                    state["principal"] = principal
                if self.rate_limit.applies(scope["path"]):
                    limit = await self.rate_limit.check(scope, principal)
                if scope["method"] not in BODILESS:
                    receive = timed_receive(receive, self.body_timeout_s)
                await self.app(scope, receive, front_send)
            except GatewayError as exc:
                if headers_at is not None:
                    raise
                await send_error(front_send, exc)
            except HTTPException as exc:  # the router's 404 and 405
                await send_error(front_send, from_http_exception(exc, scope))
            except Exception:
                logger.exception("unhandled error", extra={"request_id": request_id})
                if headers_at is not None:
                    raise
                await send_error(front_send, INTERNAL_ERROR)
        finally:
            self.active.dec()
            CURRENT.reset(token)
            self.access_log.finish(scope, record, status, started, headers_at)
