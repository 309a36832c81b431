"""Render an error raised before the response started as an OpenAI-shaped JSON error (CONTRACT §6)."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from gateway.errors import GatewayError, MethodNotAllowedError, NotFoundError, to_openai_error
from gateway.types import Scope, Send


async def send_error(send: Send, exc: GatewayError) -> None:
    status, body, headers = to_openai_error(exc)
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def from_http_exception(exc: HTTPException, scope: Scope) -> GatewayError:
    """Starlette's own 404/405 (no route, wrong method), in the OpenAI error shape, with their headers (`Allow`)."""
    method, path = scope["method"], scope["path"]
    error: GatewayError
    if exc.status_code == 405:
        error = MethodNotAllowedError(f"Method {method} is not allowed on {path}.")
    elif exc.status_code == 404:
        error = NotFoundError(f"No route {method} {path}.")
    else:
        error = GatewayError(str(exc.detail))
        error.status = exc.status_code
    error.headers.update(exc.headers or {})
    return error
