"""The HTTP plumbing every vendor shares: one POST for whole answers, one for SSE streams, and the single
place where httpx/aiohttp exceptions and vendor error answers become `UpstreamError` (CONTRACT §6).

Vendor modules pass in their `parse_error` (status, body, headers -> VendorError) and, for streams, a
translator; this module never looks inside a vendor's JSON.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Protocol

import httpx
import orjson

from gateway.errors import UpstreamError
from gateway.expiry import expires_in
from gateway.transport import Upstream
from gateway.types import JSON, Chunk
from translators.errors import StreamError, VendorError
from translators.sse import SSEDecoder, SSEEvent

ErrorParser = Callable[[int, Any, Mapping[str, str]], VendorError]
ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error answer we read; a vendor error is small


def _caused_by_timeout(exc: BaseException) -> bool:
    """True if the failure is a timeout. The cause chain decides, not the class alone: a transport may label a
    failure loosely (httpx-aiohttp's reported a *refused* connection as `httpx.ConnectTimeout`)."""
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 8:
        if isinstance(seen, TimeoutError):
            return True
        cause = seen.__cause__ or seen.__context__
        if cause is None:
            return isinstance(seen, httpx.TimeoutException)
        seen = cause
        depth += 1
    return False


def transport_error(provider: str, exc: BaseException) -> UpstreamError:
    if _caused_by_timeout(exc):
        error = VendorError("timeout", "the upstream did not answer in time")
    else:
        error = VendorError("connection", f"could not reach the upstream ({type(exc).__name__})")
    return UpstreamError.from_vendor(provider, error)


@contextlib.contextmanager
def map_upstream_errors(provider: str) -> Iterator[None]:
    """Translate transport exceptions into `UpstreamError` at one boundary."""
    try:
        yield
    except UpstreamError:
        raise
    except (httpx.TransportError, TimeoutError, OSError) as exc:
        raise transport_error(provider, exc) from exc
    except httpx.HTTPError as exc:  # anything else httpx raises (e.g. DecodingError)
        raise UpstreamError.from_vendor(provider, VendorError("bad_response", str(exc))) from exc


def _error_from_response(
    provider: str, status: int, raw: bytes, headers: Mapping[str, str], parse: ErrorParser
) -> UpstreamError:
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = parse(status, body, headers)
    if body is None and raw and error.message.startswith("HTTP "):
        # not JSON (an HTML error page from a proxy, say): keep a short, printable excerpt
        excerpt = raw[:200].decode("utf-8", "replace").strip()
        error = VendorError(error.kind, f"HTTP {status}: {excerpt}", status=status, retry_after_s=error.retry_after_s)
    return UpstreamError.from_vendor(provider, error)


async def post_json(
    client: Upstream,
    url: str,
    *,
    provider: str,
    headers: httpx.Headers,
    request_id: str | None = None,
    body: JSON | None = None,
    method: str = "POST",
    parse_error: ErrorParser,
    timeout_s: float,
) -> bytes:
    """Send one request and return the raw 2xx body; every failure raises `UpstreamError`. `headers` come from
    `transport.fixed_headers`; `request_id` travels upstream as `x-request-id`."""
    content = orjson.dumps(body) if body is not None else None
    with map_upstream_errors(provider):
        with expires_in(timeout_s):
            response = await client.send(method, parsed_url(url), headers, content, request_id=request_id)
            try:
                raw = await read_body(response)
            finally:
                await response.aclose()
    if response.status_code >= 400:
        raise _error_from_response(provider, response.status_code, raw, response.headers, parse_error)
    return raw


async def read_body(response: httpx.Response) -> bytes:
    """The whole body, decoded. `aread` runs httpx's decoder chain even when there is nothing to decode
    (~16 µs a call, bench/README.md); a body without `Content-Encoding` is its bytes as they arrived."""
    if "content-encoding" in response.headers:
        return await response.aread()
    return b"".join([part async for part in raw_parts(response)])


def raw_parts(response: httpx.Response) -> AsyncIterable[bytes]:
    """The body's undecoded parts straight from the transport's stream: what `aiter_raw` yields, without its
    bookkeeping on every part. The caller closes the response."""
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("an async transport answers with an async stream")
    return stream


@functools.lru_cache(maxsize=1024)
def parsed_url(url: str) -> httpx.URL:
    """httpx parses a string URL again on every request; a provider's few URLs are parsed once."""
    return httpx.URL(url)


async def list_pages(
    client: Upstream,
    page_url: Callable[[str | None], str],
    *,
    provider: str,
    headers: httpx.Headers,
    parse_error: ErrorParser,
    timeout_s: float,
    models_of: Callable[[JSON], list[JSON]],
    next_cursor: Callable[[JSON], str | None],
    max_pages: int,
) -> list[JSON]:
    """A vendor's model list, page by page: GET `page_url(cursor)` (None: the first page) and follow
    `next_cursor(page)` until it is None, at most `max_pages` pages; each page bounded by 30 s."""
    models: list[JSON] = []
    cursor: str | None = None
    for _ in range(max_pages):
        raw = await post_json(
            client,
            page_url(cursor),
            provider=provider,
            method="GET",
            headers=headers,
            parse_error=parse_error,
            timeout_s=min(timeout_s, 30.0),
        )
        page = parse_json_answer(provider, raw)
        models.extend(models_of(page))
        cursor = next_cursor(page)
        if cursor is None:
            break
    return models


def parse_json_answer(provider: str, raw: bytes) -> JSON:
    """A 2xx body that must be a JSON object; anything else is a bad upstream answer (502)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamError.from_vendor(provider, VendorError("bad_response", "the upstream answer is not JSON"))
    return body


async def open_stream(
    client: Upstream,
    url: str,
    *,
    provider: str,
    headers: httpx.Headers,
    request_id: str | None,
    body: JSON,
    parse_error: ErrorParser,
    timeout_s: float,
) -> httpx.Response:
    """Start a streamed request and return once the status and headers are in. Errors before the stream
    starts raise `UpstreamError` here, so failover can still act; the caller must close the response."""
    with map_upstream_errors(provider):
        with expires_in(timeout_s):
            response = await client.send("POST", parsed_url(url), headers, orjson.dumps(body), request_id=request_id)
    if response.status_code >= 400:
        try:
            with map_upstream_errors(provider):
                raw = await _read_capped(response, ERROR_BODY_LIMIT)
        finally:
            await response.aclose()
        raise _error_from_response(provider, response.status_code, raw, response.headers, parse_error)
    return response


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_raw():
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


class StreamTranslator(Protocol):
    """A vendor's stream state machine (translators/<vendor>/stream.py): SSE event in, OpenAI chunk dicts out."""

    def feed(self, event: SSEEvent) -> list[JSON]: ...

    def finish(self) -> list[JSON]: ...


# event -> chunks to send; called with None once the upstream has ended, for the translator's closing chunks
Translate = Callable[[SSEEvent | None], list[Chunk]]


def translate_with(translator: StreamTranslator) -> Translate:
    """Adapt a vendor translator to `SSEStream`: its chunks are new dicts, so there are no raw bytes to keep."""

    def translate(event: SSEEvent | None) -> list[Chunk]:
        chunks = translator.feed(event) if event is not None else translator.finish()
        return [Chunk(c) for c in chunks]

    return translate


class SSEStream:
    """An upstream SSE response as a closable stream of OpenAI `Chunk`s.

    Bytes are decoded incrementally and each event goes through the vendor's translator. The total deadline
    (`UPSTREAM_TIMEOUT_S`) is checked between reads; the transport's read timeout bounds a stalled read.
    `aclose()` releases the upstream connection even when the stream was never iterated (a client that left
    before the first byte), and a cancelled iteration (client disconnect) closes it at once.
    """

    __slots__ = ("_closed", "_deadline", "_provider", "_response", "_translate")

    def __init__(self, response: httpx.Response, translate: Translate, *, provider: str, timeout_s: float) -> None:
        self._response = response
        self._translate = translate
        self._provider = provider
        self._deadline = time.monotonic() + timeout_s
        self._closed = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        decoder = SSEDecoder()
        try:
            with map_upstream_errors(self._provider):
                async for part in raw_parts(self._response):
                    for event in decoder.feed(part):
                        for chunk in self._step(event):
                            yield chunk
                    if time.monotonic() > self._deadline:
                        raise UpstreamError.from_vendor(
                            self._provider, VendorError("timeout", "the upstream stream exceeded UPSTREAM_TIMEOUT_S")
                        )
                for event in decoder.flush():
                    for chunk in self._step(event):
                        yield chunk
            for chunk in self._step(None):
                yield chunk
        finally:
            await self.aclose()

    def _step(self, event: SSEEvent | None) -> list[Chunk]:
        try:
            return self._translate(event)
        except StreamError as exc:
            raise UpstreamError.from_vendor(self._provider, exc.error) from None

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()
