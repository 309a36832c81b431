"""The gateway's httpx transport over aiohttp (`UPSTREAM_TRANSPORT=aiohttp`, the default).

httpx stays the API (`httpx.Request` in, `httpx.Response` out, httpx's exceptions); aiohttp carries the bytes,
at a fraction of httpx's own transport's CPU per call under load (issue 2). Kept lean because it runs on every
upstream call (bench/upstream_call.py): the request's headers go to aiohttp as str pairs and its body as bytes,
the `httpx.Response` is built from aiohttp's raw header list, no cookie is kept (one gateway serves many callers:
a cookie an upstream set for one must never reach another), and content decoding is left to httpx (aiohttp's
`auto_decompress` is off), so `Content-Encoding` is handled exactly as through httpx's own transport.

Imported only when this transport is built: aiohttp is heavy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx

# aiohttp exception -> httpx exception, most specific first (the first match wins). Timeouts keep aiohttp's
# exception, a `TimeoutError`, as their cause; a refused connection is a `ConnectError`, never a timeout.
ERRORS: tuple[tuple[type[aiohttp.ClientError], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # connect, or the wait for a pooled connection
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),  # sock_read: the first byte, or silence after it
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # closed before answering
    (aiohttp.ClientPayloadError, httpx.ReadError),  # the body broke off (reset, short read)
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # not a valid HTTP answer
    (aiohttp.ClientOSError, httpx.ReadError),  # reset after the connect
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.NetworkError),
)


def translated(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx exception for an aiohttp one; raise it `from exc`."""
    for source, target in ERRORS:
        if isinstance(exc, source):
            return target(str(exc) or type(exc).__name__)
    raise AssertionError("unreachable: aiohttp.ClientError is the last row")  # pragma: no cover


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one `aiohttp.ClientSession`, created at the first request (inside the event loop).

    Per request it honours the `timeout` extension: `connect` bounds the TCP (and TLS) connect, `pool` the wait
    for a pooled connection plus the connect, `read` each read (the first byte and any silence after it). There
    is no total here: the caller's deadline covers the whole call.
    """

    def __init__(self, *, max_connections: int, keepalive_expiry_s: float) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry_s = keepalive_expiry_s
        self._ssl_context = httpx.create_ssl_context(trust_env=False)  # httpx's CA bundle, as httpx would use
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, keepalive_timeout=self._keepalive_expiry_s, ssl=self._ssl_context
        )
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, trust_env=False
        )
        return self._session

    def _timeout(self, limits: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (limits.get("connect"), limits.get("read"), limits.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(total=None, connect=key[2], sock_connect=key[0], sock_read=key[1])
            if len(self._timeouts) < 64:  # one per provider's settings in practice; bounded all the same
                self._timeouts[key] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        headers = request.headers
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:  # a streamed body: aiohttp sends it chunked
            data = request.stream
            headers.pop("transfer-encoding", None)
        encoding = headers.encoding
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=[(key.decode(encoding), value.decode(encoding)) for key, value in headers.raw],
                data=data,
                allow_redirects=False,
                compress=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except aiohttp.ClientError as exc:
            raise translated(exc) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=AiohttpStream(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": _reason(response.reason)},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _reason(reason: str | None) -> bytes:
    """The status line's reason as it came: aiohttp decodes it as UTF-8 with surrogateescape."""
    return (reason or "").encode("utf-8", "surrogateescape")


class AiohttpStream(httpx.AsyncByteStream):
    """A response body as aiohttp delivers it, one network read per part. `aclose` hands the connection back to
    the pool when the body was read to its end, and closes it otherwise (a stream the caller left early)."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while part := await content.readany():
                yield part
        except aiohttp.ClientError as exc:
            raise translated(exc) from exc

    async def aclose(self) -> None:
        self._response.release()
        try:
            await self._response.wait_for_close()
        except aiohttp.ClientError as exc:
            raise translated(exc) from exc
