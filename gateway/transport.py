"""Upstream HTTP for the providers: the transport factory (`UPSTREAM_TRANSPORT=aiohttp|httpx`) and `Upstream`,
which hands each request straight to its transport.

httpx is the API everywhere: `httpx.Request` and `httpx.Response`, httpx's exceptions, and any
`httpx.AsyncBaseTransport` (tests inject `httpx.MockTransport` or pytest-httpx's patched transport). The bytes
go through `gateway/aiohttp_transport.py` by default. `Upstream` skips `httpx.AsyncClient.send` (auth flow,
redirect loop, cookie jar, event hooks, a header merge per call), which cost more CPU per call than it does
for a provider: the URL is parsed and the fixed headers are encoded once (bench/upstream_call.py).

Nothing here keeps cookies: one gateway serves many callers, so a cookie an upstream set during one caller's
call must never ride along on another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

KEEPALIVE_EXPIRY_S = 30.0
# what `httpx.AsyncClient` sends unless told otherwise, so upstreams see the same request as through a client;
# `accept-encoding` names the decoders httpx always has (it decodes the answers, aiohttp does not)
CLIENT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "connection": "keep-alive",
    "user-agent": f"python-httpx/{httpx.__version__}",
}


def make_transport(kind: str, *, max_connections: int) -> httpx.AsyncBaseTransport:
    """One provider's connection pool: aiohttp (the default) or httpx's own transport."""
    if kind == "aiohttp":
        from gateway.aiohttp_transport import AiohttpTransport  # aiohttp is heavy: only when asked for

        return AiohttpTransport(max_connections=max_connections, keepalive_expiry_s=KEEPALIVE_EXPIRY_S)
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


def timeouts(
    *, timeout_s: float, connect_timeout_s: float, first_byte_timeout_s: float | None
) -> dict[str, float | None]:
    """The `timeout` extension httpx transports read. `providers/http.py` enforces the total deadline; the read
    timeout bounds the wait for the first byte and any silence between bytes: `first_byte_timeout_s` when set,
    else the total."""
    read = min(first_byte_timeout_s, timeout_s) if first_byte_timeout_s else timeout_s
    return httpx.Timeout(timeout_s, connect=connect_timeout_s, read=read, pool=connect_timeout_s).as_dict()


def fixed_headers(headers: Mapping[str, str]) -> httpx.Headers:
    """A provider's fixed headers (key, version, content type) over httpx's client defaults, encoded once."""
    return httpx.Headers({**CLIENT_HEADERS, **headers})


class Upstream:
    """One provider's way out: a transport and its timeouts.

    `send` builds the `httpx.Request` from a parsed URL, `fixed_headers`, the request id (sent as `x-request-id`)
    and the body's bytes, sets `Host` and `Content-Length` itself, and calls the transport. The response is
    streaming: read or iterate it, then `aclose` it.
    """

    __slots__ = ("_extensions", "transport")

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        first_byte_timeout_s: float | None = None,
    ) -> None:
        self.transport = transport
        limits = timeouts(
            timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, first_byte_timeout_s=first_byte_timeout_s
        )
        self._extensions = {"timeout": limits}

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: httpx.Headers,
        content: bytes | None = None,
        *,
        request_id: str | None = None,
    ) -> httpx.Response:
        headers = httpx.Headers(headers)  # a copy: the fixed ones are shared by every call
        headers["host"] = url.netloc.decode("ascii")
        if request_id is not None:
            headers["x-request-id"] = request_id
        if content is not None:
            headers["content-length"] = str(len(content))
        request = httpx.Request(
            method, url, headers=headers, stream=httpx.ByteStream(content or b""), extensions=self._extensions
        )
        request.read()  # the body is bytes already: this only makes `request.content` available
        response = await self.transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: Set-Cookie answers are not read, and no Cookie header is ever sent."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


NO_COOKIES = _NoCookies()


class GatewayClient(httpx.AsyncClient):
    """`httpx.AsyncClient` without a cookie jar, for code that wants the whole client API over a gateway transport
    (bench/thin_proxy.py's floor, which the gateway is measured against); providers use `Upstream`."""

    @property
    def cookies(self) -> httpx.Cookies:
        return NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the gateway's upstream clients keep no cookies")


def make_client(
    transport: httpx.AsyncBaseTransport,
    *,
    timeout_s: float,
    connect_timeout_s: float,
    first_byte_timeout_s: float | None = None,
) -> httpx.AsyncClient:
    limits = timeouts(
        timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, first_byte_timeout_s=first_byte_timeout_s
    )
    timeout = httpx.Timeout(**limits)
    return GatewayClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
