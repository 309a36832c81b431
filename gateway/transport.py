"""The one factory for upstream HTTP transports (`UPSTREAM_TRANSPORT=aiohttp|httpx`).

httpx is the client API everywhere; the bytes go through aiohttp by default because httpx's own transport is
several times slower under load (issue 2's measurements). Pool limits must be given to the transport itself:
`httpx.AsyncClient(limits=...)` is ignored once a transport is passed.
"""

from __future__ import annotations

import httpx

KEEPALIVE_EXPIRY_S = 30.0


def make_transport(kind: str, *, max_connections: int) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    if kind == "aiohttp":
        from httpx_aiohttp import AiohttpTransport  # imported here: aiohttp is heavy and the httpx path needs none

        return AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


def make_client(
    transport: httpx.AsyncBaseTransport, *, timeout_s: float, connect_timeout_s: float
) -> httpx.AsyncClient:
    """A client for one provider. The read timeout is the total budget; `providers/http.py` enforces the deadline."""
    timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
