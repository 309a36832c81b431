"""Security headers on every response, and limits on request headers (issue 9).

The gateway serves JSON and SSE to programs, never pages: a closed Content-Security-Policy, no sniffing, no
framing, no referrer. HSTS only when the operator says TLS is in front (`HSTS=true`). Requests with too many
or too large headers are refused with 431 before any work is done.
"""

from __future__ import annotations

from gateway.errors import GatewayError
from gateway.middleware.errors import send_error
from gateway.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class HeaderFieldsTooLargeError(GatewayError):
    status = 431
    type = "invalid_request_error"
    code = "request_header_fields_too_large"


class SecurityHeadersMiddleware:
    def __init__(
        self, app: ASGIApp, *, hsts: bool = False, max_header_count: int = 100, max_header_bytes: int = 16384
    ) -> None:
        self.app = app
        self.headers = (*SECURITY_HEADERS, HSTS) if hsts else SECURITY_HEADERS
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        request_headers = scope["headers"]
        if len(request_headers) > self.max_header_count:
            await send_error(
                send_with_headers, HeaderFieldsTooLargeError(f"More than {self.max_header_count} request headers.")
            )
            return
        if sum(len(name) + len(value) for name, value in request_headers) > self.max_header_bytes:
            await send_error(
                send_with_headers, HeaderFieldsTooLargeError(f"Request headers exceed {self.max_header_bytes} bytes.")
            )
            return
        await self.app(scope, receive, send_with_headers)
