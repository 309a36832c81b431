"""Security headers on every response, and limits on request headers (issue 9).

The gateway serves JSON and SSE to programs, never pages: a closed Content-Security-Policy, no sniffing, no
framing, no referrer. HSTS only when the operator says TLS is in front (`HSTS=true`). Requests with too many
or too large headers are refused with 431 before any work is done.
"""

from __future__ import annotations

from gateway.errors import GatewayError

Header = tuple[bytes, bytes]
SECURITY_HEADERS: tuple[Header, ...] = (
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


def security_headers(*, hsts: bool) -> tuple[Header, ...]:
    return (*SECURITY_HEADERS, HSTS) if hsts else SECURITY_HEADERS


def check_header_limits(headers: list[Header], *, max_count: int, max_bytes: int) -> None:
    """Raise a 431 for more than `max_count` request headers, or more than `max_bytes` of them."""
    if len(headers) > max_count:
        raise HeaderFieldsTooLargeError(f"More than {max_count} request headers.")
    if sum(len(name) + len(value) for name, value in headers) > max_bytes:
        raise HeaderFieldsTooLargeError(f"Request headers exceed {max_bytes} bytes.")
