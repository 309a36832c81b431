"""The upstream transports (gateway/transport.py, gateway/aiohttp_transport.py) against a raw HTTP/1.1 server on
loopback: the request an upstream sees, decoding, streaming, connection reuse, and how failures surface.

Both `UPSTREAM_TRANSPORT` kinds run the same checks, so the aiohttp transport is held to what httpx's own does.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.errors import UpstreamError
from gateway.providers.http import map_upstream_errors, parsed_url, raw_parts, read_body
from gateway.transport import Upstream, fixed_headers, make_transport
from tests.servers import free_port

pytestmark = pytest.mark.anyio

KINDS = ["aiohttp", "httpx"]
ANSWER = b'{"id":"chatcmpl-1","object":"chat.completion"}'
PROVIDER_HEADERS = fixed_headers({"authorization": "Bearer sk-test", "content-type": "application/json"})


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RawServer:
    """A scriptable HTTP/1.1 server: each path answers its own way; keep-alive unless the answer ends otherwise."""

    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    open: dict[asyncio.StreamWriter, asyncio.Task[None]] = field(default_factory=dict)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.open[writer] = task
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = line.split(" ")
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines if x)}
                if headers.get("transfer-encoding") == "chunked":
                    body = await self._chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Seen(method, path, headers, body))
                if not await self.answer(path, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts = []
        while size := int((await reader.readline()).strip(), 16):
            parts.append(await reader.readexactly(size))
            await reader.readline()
        await reader.readline()
        return b"".join(parts)

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for `path`; False ends the connection."""
        if path == "/json":
            writer.write(head(200, ANSWER, b"set-cookie: session=abc; Path=/\r\n") + ANSWER)
        elif path == "/gzip":
            packed = gzip.compress(ANSWER)
            writer.write(head(200, packed, b"content-encoding: gzip\r\n") + packed)
        elif path == "/slow":  # later than any test waits
            await self.release.wait()
            writer.write(head(200, ANSWER) + ANSWER)
        elif path == "/sse":  # one frame, then the next only once the test says so
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            writer.write(chunk(b"data: one\n\n"))
            await writer.drain()
            await self.release.wait()
            writer.write(chunk(b"data: two\n\n") + b"0\r\n\r\n")
        elif path == "/cut":  # promises 1000 bytes, sends 10, then resets the connection
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
            await writer.drain()
            writer.transport.abort()
            return False
        await writer.drain()
        return True


def head(status: int, body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n" % (
        status,
        len(body),
        extra,
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    listener = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield raw
        raw.release.set()
        for writer in raw.open:  # idle keep-alive connections wait for a next request: end them
            writer.close()
        await asyncio.gather(*raw.open.values())


def upstream(kind: str, **timeouts: float) -> Upstream:
    limits = {"timeout_s": 30.0, "connect_timeout_s": 5.0, **timeouts}
    return Upstream(make_transport(kind, max_connections=int(limits.pop("max_connections", 8))), **limits)


async def call(up: Upstream, url: str, content: bytes | None = None) -> tuple[httpx.Response, bytes]:
    response = await up.send("POST", parsed_url(url), PROVIDER_HEADERS, content, request_id="req-1")
    try:
        return response, await read_body(response)
    finally:
        await response.aclose()


async def call_once(kind: str, url: str, content: bytes | None = None) -> tuple[httpx.Response, bytes]:
    """`call` through a fresh `upstream(kind)`, closed afterwards."""
    up = upstream(kind)
    try:
        return await call(up, url, content)
    finally:
        await up.aclose()


def assert_maps_to(exc: BaseException, status: int, code: str) -> None:
    """What the providers' one error boundary makes of a transport exception (the caller's status and code)."""
    with pytest.raises(UpstreamError) as mapped, map_upstream_errors("openai"):
        raise exc
    assert (mapped.value.status, mapped.value.code) == (status, code)


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_sends_what_an_httpx_client_sends(server: RawServer, kind: str) -> None:
    response, body = await call_once(kind, server.url + "/json", b'{"model":"gpt-4o"}')
    assert (response.status_code, body) == (200, ANSWER)
    assert (response.http_version, response.reason_phrase) == ("HTTP/1.1", "OK")
    assert response.headers["content-type"] == "application/json"
    seen = server.requests[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/json", b'{"model":"gpt-4o"}')
    assert seen.headers == {
        "host": server.url.removeprefix("http://"),
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
        "user-agent": f"python-httpx/{httpx.__version__}",
        "authorization": "Bearer sk-test",
        "content-type": "application/json",
        "x-request-id": "req-1",
        "content-length": "18",
    }


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_gzip_answer_is_decoded(server: RawServer, kind: str) -> None:
    response, body = await call_once(kind, server.url + "/gzip", b"{}")
    assert response.headers["content-encoding"] == "gzip"
    assert body == ANSWER


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_keeps_no_cookies(server: RawServer, kind: str) -> None:
    up = upstream(kind)
    try:
        await call(up, server.url + "/json", b"{}")  # answers with set-cookie
        await call(up, server.url + "/json", b"{}")
    finally:
        await up.aclose()
    assert "cookie" not in server.requests[1].headers


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_reuses_a_connection_read_to_the_end(server: RawServer, kind: str) -> None:
    up = upstream(kind)
    try:
        for _ in range(3):
            await call(up, server.url + "/json", b"{}")
    finally:
        await up.aclose()
    assert server.connections == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_stream_parts_arrive_before_the_body_ends(server: RawServer, kind: str) -> None:
    up = upstream(kind)
    try:
        response = await up.send("POST", parsed_url(server.url + "/sse"), PROVIDER_HEADERS, b"{}")
        parts = raw_parts(response).__aiter__()
        first = await asyncio.wait_for(parts.__anext__(), 5)  # the server holds the rest back until released
        server.release.set()
        rest = b"".join([part async for part in parts])
        await response.aclose()
    finally:
        await up.aclose()
    assert first == b"data: one\n\n"
    assert rest == b"data: two\n\n"


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_stream_closed_early_drops_its_connection(server: RawServer, kind: str) -> None:
    up = upstream(kind)
    try:
        response = await up.send("POST", parsed_url(server.url + "/sse"), PROVIDER_HEADERS, b"{}")
        await raw_parts(response).__aiter__().__anext__()
        await response.aclose()  # a caller that left mid-stream: the rest must not be read by the next call
        server.release.set()
        _, body = await call(up, server.url + "/json", b"{}")
    finally:
        await up.aclose()
    assert body == ANSWER
    assert server.connections == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_streamed_request_body_is_sent_whole(server: RawServer, kind: str) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b"1}"

    transport = make_transport(kind, max_connections=1)
    try:
        request = httpx.Request("POST", server.url + "/json", content=parts())
        response = await transport.handle_async_request(request)
        await response.aread()
        await response.aclose()
    finally:
        await transport.aclose()
    assert server.requests[0].body == b'{"a":1}'


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_refused_connection_is_a_connect_error_not_a_timeout(kind: str) -> None:
    up = upstream(kind)
    try:
        with pytest.raises(httpx.ConnectError) as caught:
            await call(up, f"http://127.0.0.1:{free_port()}/json", b"{}")
    finally:
        await up.aclose()
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert_maps_to(caught.value, 502, "upstream_error")


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_first_byte_timeout_is_a_read_timeout(server: RawServer, kind: str) -> None:
    up = upstream(kind, first_byte_timeout_s=0.2)
    try:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await call(up, server.url + "/slow", b"{}")
    finally:
        await up.aclose()
    assert_maps_to(caught.value, 504, "upstream_timeout")


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_wait_for_a_pooled_connection_is_bounded(server: RawServer, kind: str) -> None:
    up = upstream(kind, connect_timeout_s=0.2, max_connections=1)
    try:
        held = await up.send("POST", parsed_url(server.url + "/sse"), PROVIDER_HEADERS, b"{}")  # the only one
        with pytest.raises(httpx.TimeoutException) as caught:
            await call(up, server.url + "/json", b"{}")
        await held.aclose()
    finally:
        await up.aclose()
    assert_maps_to(caught.value, 504, "upstream_timeout")


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_body_cut_short_is_a_connection_error(server: RawServer, kind: str) -> None:
    up = upstream(kind)
    try:
        with pytest.raises(httpx.TransportError) as caught:
            await call(up, server.url + "/cut", b"{}")
    finally:
        await up.aclose()
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert_maps_to(caught.value, 502, "upstream_error")
