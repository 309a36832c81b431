"""gateway.http_protocol: byte-for-byte what uvicorn's own httptools protocol writes, in fewer writes, plus the lazy
keep-alive timer. Each case runs the same raw request through both protocols over a recording transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.http_protocol import _BAD_NAME_BYTES, _BAD_VALUE_BYTES, GatewayHttpProtocol
from tests.fakes.transport import RecordingTransport

pytestmark = pytest.mark.anyio

App = Callable[[Any, Any, Any], Awaitable[None]]
GET = b"GET /x?q=1 HTTP/1.1\r\nhost: t\r\n\r\n"
HEAD = b"HEAD /x HTTP/1.1\r\nhost: t\r\n\r\n"
POST = b"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-length: 11\r\n\r\nhello world"


def connect(
    protocol_class: type[HttpToolsProtocol],
    app: App,
    *,
    keep_alive_s: float = 5,
    server: ServerState | None = None,
    transport: RecordingTransport | None = None,
) -> tuple[HttpToolsProtocol, RecordingTransport]:
    """A connection to a server (`server`: one shared with other connections; a new one by default)."""
    config = Config(app, timeout_keep_alive=keep_alive_s, log_config=None)  # type: ignore[arg-type]
    protocol = protocol_class(config=config, server_state=server or ServerState(), app_state={})
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def exchange(protocol_class: type[HttpToolsProtocol], app: App, request: bytes) -> RecordingTransport:
    protocol, transport = connect(protocol_class, app)
    protocol.data_received(request)
    while protocol.tasks:
        await asyncio.gather(*protocol.tasks, return_exceptions=True)
    protocol.connection_lost(None)
    return transport


def responding(status: int, headers: list[tuple[bytes, bytes]], *bodies: bytes) -> App:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i, body in enumerate(bodies):
            await send({"type": "http.response.body", "body": body, "more_body": i < len(bodies) - 1})

    return app


JSON = b'{"ok":true}'
CASES = {
    "json": (POST, responding(200, [(b"content-type", b"application/json"), (b"content-length", b"11")], JSON)),
    "many headers, mixed case": (
        GET,
        responding(
            201,
            [(b"Content-Length", b"11"), (b"X-Request-Id", b"req_1")] + [(b"x-h%d" % i, b"v%d" % i) for i in range(14)],
            JSON,
        ),
    ),
    "body in parts": (GET, responding(200, [(b"content-length", b"11")], b"hello", b" ", b"world")),
    "chunked stream": (GET, responding(200, [(b"content-type", b"text/event-stream")], b"data: 1\n\n", b"", b"x")),
    "explicit chunked": (GET, responding(200, [(b"transfer-encoding", b"chunked")], b"ab", b"cd")),
    "empty body": (GET, responding(200, [(b"content-length", b"0")], b"")),
    "no body status": (GET, responding(204, [], b"")),
    "not modified": (GET, responding(304, [(b"etag", b'"x"')], b"")),
    "HEAD": (HEAD, responding(200, [(b"content-length", b"11")], b"")),
    "HEAD without length": (HEAD, responding(200, [], b"")),
    "connection close": (
        GET,
        responding(200, [(b"content-length", b"2"), (b"connection", b"Keep-Alive, Close")], b"ok"),
    ),
    "HTTP/1.0": (b"GET / HTTP/1.0\r\n\r\n", responding(200, [(b"content-length", b"2")], b"ok")),
    "pipelined": (GET + POST, responding(200, [(b"content-length", b"2")], b"ok")),
    "unknown status phrase": (GET, responding(599, [(b"content-length", b"2")], b"ok")),
    "list pairs, tab and UTF-8 in values": (
        GET,
        responding(200, [[b"content-length", b"2"], [b"x-t", b"a\tb"], [b"x-u", "é".encode()]], b"ok"),  # type: ignore[list-item]
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_writes_the_same_bytes_as_uvicorn(name: str) -> None:
    request, app = CASES[name]
    stock = await exchange(HttpToolsProtocol, app, request)
    lean = await exchange(GatewayHttpProtocol, app, request)
    assert lean.output == stock.output
    assert lean.closed == stock.closed
    assert lean.output.startswith(b"HTTP/1.")


async def test_a_content_length_answer_is_one_write() -> None:
    request, app = CASES["many headers, mixed case"]
    stock = await exchange(HttpToolsProtocol, app, request)
    lean = await exchange(GatewayHttpProtocol, app, request)
    assert len(stock.writes) == 2
    assert len(lean.writes) == 1
    assert b"\r\nx-request-id: req_1\r\n" in lean.output  # names go out lower-cased, as uvicorn sends them


class OrderedTransport(RecordingTransport):
    """Refuses writes after `close`, as a socket transport does, and records the order of both."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closed:
            self.events.append("write")
            super().write(data)

    def close(self) -> None:
        self.events.append("close")
        super().close()


async def test_answers_finished_in_one_pass_of_the_loop_are_written_together_after_it() -> None:
    seen_by_the_second: list[int] = []

    def app_for(index: int) -> App:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await responding(200, [(b"content-length", b"2")], b"ok")(scope, receive, send)
            if index == 1:
                seen_by_the_second.append(len(transports[0].writes))

        return app

    server = ServerState()
    pairs = [connect(GatewayHttpProtocol, app_for(i), server=server) for i in range(2)]
    transports = [transport for _, transport in pairs]
    for protocol, _ in pairs:
        protocol.data_received(GET)  # both requests are ready when the loop next comes round
    await asyncio.gather(*server.tasks)
    await asyncio.sleep(0)
    assert seen_by_the_second == [0]  # the first answer was complete, and not written yet
    assert [len(t.writes) for t in transports] == [1, 1]
    assert all(t.output.startswith(b"HTTP/1.1 200 OK\r\n") and t.output.endswith(b"\r\n\r\nok") for t in transports)


async def test_the_only_request_in_progress_is_answered_at_once() -> None:
    protocol, transport = connect(GatewayHttpProtocol, responding(200, [(b"content-length", b"2")], b"ok"))
    protocol.data_received(GET)
    await asyncio.sleep(0)  # the app ran: nothing else to write with, so no wait for the loop (c=1 latency)
    assert transport.output.endswith(b"\r\n\r\nok")


def busy_server() -> tuple[ServerState, asyncio.Event]:
    """A server with one request in progress on another connection, until the event is set."""
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await responding(200, [(b"content-length", b"2")], b"ok")(scope, receive, send)

    server = ServerState()
    protocol, _ = connect(GatewayHttpProtocol, slow, server=server)
    protocol.data_received(GET)
    return server, release


async def test_an_answer_waiting_for_the_loop_is_written_before_a_shutdown_closes_the_connection() -> None:
    server, release = busy_server()
    app = responding(200, [(b"content-length", b"2")], b"ok")
    protocol, transport = connect(GatewayHttpProtocol, app, server=server, transport=OrderedTransport())
    protocol.data_received(GET)
    await asyncio.sleep(0)  # the app ran; its answer waits for the loop to come round
    assert transport.writes == []
    protocol.shutdown()  # what uvicorn does to every connection when the server stops
    assert transport.events == ["write", "close"]
    assert transport.output.endswith(b"\r\n\r\nok")
    release.set()
    await asyncio.gather(*server.tasks)


# with pipelining (GET + GET) the protocol's current cycle is already the second request's when the first answer waits
@pytest.mark.parametrize("requests", [GET, GET + GET], ids=["one request", "pipelined"])
async def test_a_bad_request_after_a_good_one_is_refused_after_the_good_ones_answer(requests: bytes) -> None:
    server, release = busy_server()
    app = responding(200, [(b"content-length", b"2")], b"ok")
    protocol, transport = connect(GatewayHttpProtocol, app, server=server, transport=OrderedTransport())
    protocol.data_received(requests)
    await asyncio.sleep(0)
    assert transport.writes == []
    protocol.data_received(b"NOT HTTP\r\n\r\n")
    assert transport.events == ["write", "write", "close"]
    assert transport.writes[0].endswith(b"\r\n\r\nok")
    assert transport.writes[1].startswith(b"HTTP/1.1 400 Bad Request\r\n")
    release.set()
    await asyncio.gather(*server.tasks)


async def test_an_answer_that_closes_the_connection_is_written_at_once() -> None:
    server, release = busy_server()
    app = responding(200, [(b"content-length", b"2"), (b"connection", b"close")], b"ok")
    protocol, transport = connect(GatewayHttpProtocol, app, server=server, transport=OrderedTransport())
    protocol.data_received(GET)
    await asyncio.sleep(0)
    assert transport.events == ["write", "close"]  # written before the close, not when the loop comes round
    assert transport.output.endswith(b"\r\n\r\nok")
    release.set()
    await asyncio.gather(*server.tasks)


async def test_a_stream_sends_its_head_when_the_loop_comes_round_before_the_first_chunk() -> None:
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    protocol, transport = connect(GatewayHttpProtocol, app)
    protocol.data_received(GET)
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    release.set()
    await asyncio.gather(*protocol.tasks)
    assert transport.output.endswith(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")


async def test_stream_chunks_at_hand_go_out_together_after_the_first() -> None:
    app = responding(200, [], *[b"data: %d\n\n" % i for i in range(40)], b"")
    stock = await exchange(HttpToolsProtocol, app, GET)
    lean = await exchange(GatewayHttpProtocol, app, GET)
    assert len(stock.writes) == 42  # the head, 40 chunks, the terminator
    assert lean.output == stock.output
    # the head with the first chunk at once (time to first token), then 16 chunks a write, the rest with the end
    assert [w.count(b"data: ") for w in lean.writes] == [1, 16, 16, 7]
    assert lean.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")


async def test_a_chunk_followed_by_a_wait_is_written_before_the_wait_ends() -> None:
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})  # queued
        await release.wait()  # a token stream: the next event is not there yet
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = connect(GatewayHttpProtocol, app)
    protocol.data_received(GET)
    for _ in range(3):
        await asyncio.sleep(0)
    assert transport.output.endswith(b"9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n")
    assert len(transport.writes) == 2
    release.set()
    await asyncio.gather(*protocol.tasks)
    assert transport.output.endswith(b"0\r\n\r\n")


async def test_a_large_burst_is_written_at_once() -> None:
    part = b"x" * 40_000
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            seen.append(len(transport.writes))
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = connect(GatewayHttpProtocol, app)
    protocol.data_received(GET)
    await asyncio.gather(*protocol.tasks)
    assert seen == [1, 1, 2]  # the first part at once; then 80 KB passed the 64 KiB mark: no wait for the loop
    stock = await exchange(HttpToolsProtocol, app, GET)
    assert transport.output == stock.output


async def test_what_a_failing_stream_sent_is_written_before_the_connection_closes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        raise RuntimeError("the stream broke")

    stock = await exchange(HttpToolsProtocol, app, GET)
    lean = await exchange(GatewayHttpProtocol, app, GET)
    assert lean.closed and stock.closed
    assert lean.output == stock.output
    assert lean.output.endswith(b"data: 1\n\n\r\n")


async def test_nothing_is_written_after_the_client_left() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})
        protocol.connection_lost(None)  # the client goes away before the loop comes round

    protocol, transport = connect(GatewayHttpProtocol, app)
    protocol.data_received(GET)
    await asyncio.gather(*protocol.tasks)
    await asyncio.sleep(0)
    assert len(transport.writes) == 1  # the head with the first chunk, before the client left
    assert b"data: 2" not in transport.output


@pytest.mark.parametrize(
    "header",
    [
        (b"x-injected", b"a\r\nset-cookie: evil=1"),
        (b"x-nul", b"a\x00b"),
        (b"bad name", b"v"),
        (b"x:colon", b"v"),
        (b"x-del", b"a\x7fb"),
        (b"x-lf-only", b"a\nb"),
        (b"X-Upper\t", b"v"),
    ],
)
async def test_an_invalid_header_writes_nothing_and_drops_the_connection(header: tuple[bytes, bytes]) -> None:
    app = responding(200, [(b"content-length", b"2"), header], b"ok")
    for protocol_class in (HttpToolsProtocol, GatewayHttpProtocol):
        transport = await exchange(protocol_class, app, GET)
        assert transport.writes == []
        assert transport.closed


def test_the_rejected_bytes_are_exactly_those_of_uvicorns_patterns() -> None:
    for byte in range(256):
        one = bytes([byte])
        assert (one in _BAD_NAME_BYTES) == (HEADER_RE.search(one) is not None), byte
        assert (one in _BAD_VALUE_BYTES) == (HEADER_VALUE_RE.search(one) is not None), byte


async def test_a_body_longer_than_its_content_length_is_refused() -> None:
    transport = await exchange(GatewayHttpProtocol, responding(200, [(b"content-length", b"2")], b"too long"), GET)
    assert transport.closed
    assert b"too long" not in transport.output


async def test_a_body_shorter_than_its_content_length_drops_the_connection() -> None:
    transport = await exchange(GatewayHttpProtocol, responding(200, [(b"content-length", b"9")], b"short"), GET)
    assert transport.closed


async def test_an_app_that_fails_before_answering_gets_uvicorns_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom")

    stock = await exchange(HttpToolsProtocol, app, GET)
    lean = await exchange(GatewayHttpProtocol, app, GET)
    assert lean.output == stock.output
    assert lean.output.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    protocol, transport = connect(GatewayHttpProtocol, CASES["json"][1], keep_alive_s=0.05)
    protocol.data_received(POST)
    await asyncio.gather(*protocol.tasks)
    assert not transport.closed
    await asyncio.sleep(0.1)
    assert transport.closed


async def test_requests_keep_a_busy_connection_open_past_the_timeout() -> None:
    protocol, transport = connect(GatewayHttpProtocol, CASES["json"][1], keep_alive_s=0.08)
    for _ in range(5):  # a request every 0.04 s: idle at most half the timeout at a time
        protocol.data_received(POST)
        await asyncio.gather(*protocol.tasks)
        await asyncio.sleep(0.04)
    assert not transport.closed
    assert transport.output.count(b"HTTP/1.1 200 OK") == 5
    await asyncio.sleep(0.1)
    assert transport.closed


async def test_a_slow_request_is_not_cut_off_by_the_keep_alive_timer() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.1)  # longer than the keep-alive timeout, while busy
        await responding(200, [(b"content-length", b"2")], b"ok")(scope, receive, send)

    protocol, transport = connect(GatewayHttpProtocol, slow, keep_alive_s=0.03)
    protocol.data_received(GET)
    await asyncio.gather(*protocol.tasks)
    protocol.data_received(GET)  # the timer armed by the first answer fires while the second one is in progress
    await asyncio.gather(*protocol.tasks)
    assert transport.output.count(b"HTTP/1.1 200 OK") == 2
    assert not transport.closed


async def test_a_closed_connection_leaves_no_timer_behind() -> None:
    protocol, _ = connect(GatewayHttpProtocol, CASES["json"][1])
    protocol.data_received(POST)
    await asyncio.gather(*protocol.tasks)
    assert protocol.timeout_keep_alive_task is not None
    protocol.connection_lost(None)
    assert protocol.timeout_keep_alive_task is None
