"""The one factory for upstream HTTP transports (`UPSTREAM_TRANSPORT=aiohttp|httpx`).

httpx is the client API everywhere; the bytes go through aiohttp by default because httpx's own transport is
several times slower under load (issue 2's measurements). Pool limits must be given to the transport itself:
`httpx.AsyncClient(limits=...)` is ignored once a transport is passed.

Neither layer keeps cookies: one gateway serves many callers, so a cookie an upstream set during one caller's
call must never ride along on another's, and skipping the jars saves CPU on every call (bench/README.md).
"""

from __future__ import annotations

from typing import Any

import httpx

KEEPALIVE_EXPIRY_S = 30.0


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: Set-Cookie answers are not read, and no Cookie header is ever sent."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


NO_COOKIES = _NoCookies()


class GatewayClient(httpx.AsyncClient):
    """`httpx.AsyncClient` without a cookie jar (httpx parses every answer's headers for cookies otherwise)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the gateway's upstream clients keep no cookies")


def make_transport(kind: str, *, max_connections: int) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    if kind == "aiohttp":
        import aiohttp  # imported here: aiohttp is heavy and the httpx path needs none
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits, trust_env=False)
        ssl_context = transport.ssl_context

        def session() -> aiohttp.ClientSession:  # called once, at the first request (inside the event loop)
            connector = aiohttp.TCPConnector(
                limit=max_connections, keepalive_timeout=KEEPALIVE_EXPIRY_S, ssl=ssl_context
            )
            return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

        transport.client = session
        return transport
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


def make_client(
    transport: httpx.AsyncBaseTransport,
    *,
    timeout_s: float,
    connect_timeout_s: float,
    first_byte_timeout_s: float | None = None,
) -> httpx.AsyncClient:
    """A client for one provider. `providers/http.py` enforces the total deadline; the read timeout bounds the wait
    for the first byte (and any silence between bytes): `first_byte_timeout_s` when set, else the total."""
    read = min(first_byte_timeout_s, timeout_s) if first_byte_timeout_s else timeout_s
    timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, read=read, pool=connect_timeout_s)
    return GatewayClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
