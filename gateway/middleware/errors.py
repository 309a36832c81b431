"""Render an error raised before the response started as an OpenAI-shaped JSON error (CONTRACT §6)."""

from __future__ import annotations

from gateway.errors import GatewayError, to_openai_error
from gateway.types import Send


async def send_error(send: Send, exc: GatewayError) -> None:
    status, body, headers = to_openai_error(exc)
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
