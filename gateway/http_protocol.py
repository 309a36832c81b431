"""The HTTP/1.1 protocol the gateway serves with: uvicorn's httptools protocol with a leaner response path.

uvicorn's `RequestResponseCycle.send` checks each response header with two regular expressions and writes the
header block and the body with two `transport.write` calls. Every gateway answer carries about fifteen headers
(security, rate limit, x-gateway-*, x-request-id), so on a cache hit those checks and the extra write were
≈ 10 % of the request's CPU. `LeanCycle` does the same checks with one regular expression over all the names
and one over all the values (each pattern tests single bytes, so joining changes no verdict), and writes a
response with a Content-Length as one block, head and body together.

A chunked response (a stream) sends its head when the loop comes round (a client sees the status before the
first token even when that token is slow), its first chunk at once, and later chunks that are at hand together
(`_queue`): uvicorn makes one `write` system call per chunk, which was a fifth of a stream's CPU when several
events arrive in one upstream read or a busy loop finds several reads waiting.

The end of every response (a whole Content-Length answer, or a stream's last chunks) is also written when the
loop comes round, not at once: a busy loop writes the answers of all the requests it ran in one pass back to
back, after it ran them. A `write` that wakes a client asleep on another core pays for the wake-up; written
together, the answers find the client awake for all but the first, and its next requests come back together
(bench/README.md: on this VM a cache hit went from ≈ 200 to ≈ 150 µs of CPU at c=64). An answer waits at most for
the rest of the pass. The only request in progress has nothing to be written with, so its answer goes out at
once (c=1 latency), as does one that closes its connection (Connection: close, HTTP/1.0); a server shutdown or a
refused follow-up request writes a waiting answer before it closes the connection.

`GatewayHttpProtocol` makes its cycles `LeanCycle`s and arms its keep-alive timer lazily (one timer per idle
spell, not one per response). Everything else (parsing, pipelining, flow control, 100-continue, disconnects) is
uvicorn's own. uvicorn is pinned to the minor versions this was written against (pyproject);
tests/test_http_protocol.py runs the same raw requests through uvicorn's protocol and this one and compares the
bytes written, and the end-to-end tests serve the gateway with it (tests/servers.py).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterable, Sized

import httptools
from uvicorn._types import ASGI3Application, ASGISendEvent
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

# queued stream output is written at once past either of these (64 KiB: the transport's default high-water mark)
FLUSH_BYTES = 65536
FLUSH_PARTS = 16
_CRLF = b"\r\n"
# the bytes that uvicorn's HEADER_RE (names: controls, DEL, separators) and HEADER_VALUE_RE (values: controls but
# tab, DEL) reject; tests/test_http_protocol.py holds these sets to uvicorn's patterns
_BAD_NAME_BYTES = bytes(range(0x20)) + b'\x7f()<>@,;:[]={} \t\\"'
_BAD_VALUE_BYTES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))


class LeanCycle(RequestResponseCycle):
    """One request and its response; see the module docstring for what differs from uvicorn's cycle."""

    _out: list[bytes] | None = None  # written, not yet handed to the transport: see `_queue`
    _out_bytes = 0
    _body_started = False  # a body part went out already (the first one is never held back)
    _flush_pending = False  # `_flush_when_round` is scheduled
    server_tasks: Sized = ()  # the server's requests in progress, this one included (set by the protocol)

    async def run_asgi(self, app: ASGI3Application) -> None:
        # uvicorn's own method, with what is queued written before any close
        try:
            result = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except BaseException as exc:
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self._flush()
                self.transport.close()
        else:
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                self._flush()
                self.transport.close()
            elif not self.response_started and not self.disconnected:
                self.logger.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                self.logger.error("ASGI callable returned without completing response.")
                self._flush()
                self.transport.close()
        finally:
            self.on_response = lambda: None

    async def send(self, message: ASGISendEvent) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self.waiting_for_100_continue = False
            if self.access_log:
                self.access_logger.info(
                    '%s - "%s %s HTTP/%s" %d',
                    get_client_addr(self.scope),
                    self.scope["method"],
                    get_path_with_query_string(self.scope),
                    self.scope["http_version"],
                    message["status"],
                )
            encoded = self._encode_head(message["status"], message.get("headers", ()))
            if self.chunked_encoding:
                self._queue(encoded)  # a stream's head goes out at the end of this loop iteration at the latest
            else:
                self._out = [encoded]  # a Content-Length answer's head waits for its body
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        body: bytes = message.get("body") or b""
        more_body = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            body = b""
        elif self.chunked_encoding:
            if body:
                body = b"%x\r\n%b\r\n" % (len(body), body)
            if not more_body:
                body += b"0\r\n\r\n"
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
        if more_body:
            if not body:
                return
            if self._body_started:
                self._queue(body)
                return
            self._body_started = True  # the first part (a stream's first token) goes out now, with the head
            out = self._out
            if out is not None:
                self._out = None
                out.append(body)
                body = b"".join(out)
            self.transport.write(body)
            return
        if self.expected_content_length != 0:
            raise RuntimeError("Response content shorter than Content-Length")
        if body or self._out is not None:
            if not self.keep_alive or len(self.server_tasks) <= 1:  # closing, or no other request to write with
                self._hold(body)
                self._flush()
            else:
                self._queue(body)  # written when the loop comes round, with the pass's other answers
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()

    def _queue(self, data: bytes) -> None:
        """Write `data` when the loop comes round, with whatever else the response writes meanwhile.

        Stream chunks already at hand (several events in one upstream read, or a busy loop that finds several
        reads waiting) go out in one `write` instead of one each; a chunk that is alone waits no longer than the
        loop takes to come round. A burst is written every `FLUSH_PARTS` chunks or `FLUSH_BYTES`, so a long one
        is not held back until its end (and flow control sees it)."""
        out = self._hold(data)
        if self._out_bytes >= FLUSH_BYTES or len(out) >= FLUSH_PARTS:
            self._flush()
        elif not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush_when_round)

    def _hold(self, data: bytes) -> list[bytes]:
        """Add `data` to what waits to be written; returns it all."""
        out = self._out
        if out is None:
            out = self._out = [data]
            self._out_bytes = len(data)
        else:
            out.append(data)
            self._out_bytes += len(data)
        return out

    def _flush_when_round(self) -> None:
        self._flush_pending = False
        self._flush()

    def _flush(self) -> None:
        """Hand what is queued to the transport now."""
        out = self._out
        if out is None:
            return
        self._out = None
        if not self.transport.is_closing():
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _encode_head(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        """Status line and headers, as uvicorn writes them; sets the body framing and keep-alive.

        uvicorn lower-cases, checks and writes header by header in Python. Here the names are joined once and
        checked with `bytes.translate` (deleting the bytes uvicorn's patterns reject must delete nothing), and
        the block is joined in C (`b": ".join` per pair): ≈ 7 -> ≈ 4 µs for the 16 headers of a cache hit.
        Only the three framing headers are looked at one by one, as uvicorn does."""
        pairs = [*self.default_headers, *headers]
        names = b"".join([name for name, _ in pairs])
        if not names.islower():  # some name has upper case (ours and Starlette's never do)
            pairs = [(name.lower(), value) for name, value in pairs]
            names = names.lower()
        if len(names.translate(None, _BAD_NAME_BYTES)) != len(names):
            raise RuntimeError("Invalid HTTP header name.")
        block = b"\r\n".join(map(b": ".join, pairs))
        separators = 2 * (len(pairs) - 1) if pairs else 0
        if len(block.translate(None, _BAD_VALUE_BYTES)) != len(block) - separators:  # names passed already
            raise RuntimeError("Invalid HTTP header value.")
        has_connection_close = False
        for name, value in pairs:
            if name not in _FRAMING:
                continue
            if name == b"content-length":
                if self.chunked_encoding is None:
                    self.expected_content_length = int(value.decode())
                    self.chunked_encoding = False
            elif name == b"transfer-encoding":
                if value.lower() == b"chunked":
                    self.expected_content_length = 0
                    self.chunked_encoding = True
            elif b"close" in [token.lower().strip() for token in value.split(b",")]:
                self.keep_alive = False
                has_connection_close = True
        parts = [STATUS_LINE[status], block, _CRLF] if pairs else [STATUS_LINE[status]]
        if not self.keep_alive and not has_connection_close:
            parts.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked_encoding = True  # neither Content-Length nor Transfer-Encoding given
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(_CRLF)
        return b"".join(parts)


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `LeanCycle`s and a lazy keep-alive timer (`uvicorn.Config(http=...)`).

    uvicorn arms a `call_later` timer after every response and cancels it when the next request's first bytes
    arrive: two timer operations per request on a busy keep-alive connection. Here a response only notes when
    the connection went idle; one timer per connection is armed when none is, and when it fires it closes the
    connection if it has been idle for `timeout_keep_alive` by then, or re-arms itself for the time left.
    """

    _idle_since: float | None = None  # when the last response ended with no request in progress
    _previous_cycle: RequestResponseCycle | None = None  # the cycle before `cycle` (see `_flush_answer`)

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None  # a request is arriving: not idle (the timer, if armed, will see that)

    def _flush_answer(self) -> None:
        """Write finished responses whose last bytes still wait for the loop, before the connection closes: the
        current cycle's, and with pipelining the one before it (a cycle starts after its predecessor's flush
        was scheduled, so no older one can still be waiting)."""
        for cycle in (self._previous_cycle, self.cycle):
            if isinstance(cycle, LeanCycle):
                cycle._flush()

    def shutdown(self) -> None:
        self._flush_answer()
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        self._flush_answer()  # a bad request after a good one: the good one's answer first, as uvicorn does
        super().send_400_response(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def on_response_complete(self) -> None:
        # uvicorn's own method, with the lazy timer
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            self._idle_since = None
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_expired)

    def _keep_alive_expired(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # busy: the end of its response arms the timer again
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_expired)
        else:
            self.timeout_keep_alive_handler()

    def on_headers_complete(self) -> None:
        # uvicorn's own method (0.30-0.x), with LeanCycle in place of RequestResponseCycle
        http_version = self.parser.get_http_version()
        method = self.parser.get_method()
        self.scope["method"] = method.decode("ascii")
        if http_version != "1.1":
            self.scope["http_version"] = http_version
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        self.scope["path"] = self.root_path + path
        self.scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        self.scope["query_string"] = parsed_url.query or b""

        app: ASGI3Application
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app

        existing_cycle = self._previous_cycle = self.cycle
        self.cycle = LeanCycle(
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        self.cycle.server_tasks = self.tasks
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:  # pipelined requests wait their turn
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))
