"""Streams under failover: hold back the opening chunks until the first content, and fail a stalled stream.

`open_committed` reads a fresh stream up to its first chunk with content (text, a tool call, reasoning, or a
finish_reason), holding back the role-only opening chunks. An `UpstreamError` before that point is raised
with the stream already closed, so the failover layer can try again and the client never sees the attempt.
Once content is seen the stream is committed: `GuardedStream` yields the held chunks, then the rest. Every
read is bounded by the idle timeout (STREAM_IDLE_TIMEOUT_S); a stall becomes a 504 `UpstreamError`, which
the route sends as one error event without `[DONE]`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.errors import UpstreamError
from gateway.types import JSON, Chunk, ChunkStream
from translators.errors import VendorError

OnError = Callable[[UpstreamError], None]


def has_content(data: JSON) -> bool:
    """Does this chunk carry something the client must see (beyond the role-only opening delta)?"""
    choices = data.get("choices")
    if not choices:
        return False
    for choice in choices:
        if choice.get("finish_reason") is not None or choice.get("text"):
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("reasoning_content")
            or delta.get("function_call")
            or delta.get("refusal")
        ):
            return True
    return False


def stalled(provider: str) -> UpstreamError:
    return UpstreamError.from_vendor(
        provider, VendorError("timeout", "the upstream stream stalled longer than STREAM_IDLE_TIMEOUT_S")
    )


async def _pull(iterator: AsyncIterator[Chunk], idle_s: float | None, provider: str) -> Chunk:
    """The next chunk, within the idle timeout. Raises StopAsyncIteration at the end."""
    if idle_s is None:
        return await iterator.__anext__()
    timeout = asyncio.timeout(idle_s)
    try:
        async with timeout:
            return await iterator.__anext__()
    except TimeoutError:
        if timeout.expired():
            raise stalled(provider) from None
        raise


async def _close(iterator: AsyncIterator[Chunk], stream: ChunkStream) -> None:
    closer: Any = getattr(iterator, "aclose", None)
    try:
        if closer is not None and id(iterator) != id(stream):  # the stream may be its own iterator
            await closer()
    finally:
        await stream.aclose()


class _Watchdog:
    """The idle timeout of a long stream without a timer per chunk: a read only notes when it started, and one
    timer, rescheduled lazily, cancels a read that has waited longer than `idle_s` (as `asyncio.timeout`
    would, at a fraction of its cost per chunk)."""

    __slots__ = ("_expired", "_handle", "_idle_s", "_loop", "_read_since", "_task")

    def __init__(self, idle_s: float) -> None:
        self._idle_s = idle_s
        self._loop = asyncio.get_running_loop()
        self._read_since: float | None = None
        self._task: asyncio.Task[Any] | None = None
        self._expired = False
        self._handle = self._loop.call_later(idle_s, self._check)

    def _check(self) -> None:
        since = self._read_since
        now = self._loop.time()
        if since is not None and now - since >= self._idle_s and self._task is not None:
            self._expired = True
            self._task.cancel()
            return
        self._handle = self._loop.call_at((since if since is not None else now) + self._idle_s, self._check)

    async def read(self, iterator: AsyncIterator[Chunk], provider: str) -> Chunk:
        self._task = asyncio.current_task()
        self._read_since = self._loop.time()
        try:
            return await iterator.__anext__()
        except asyncio.CancelledError:
            if self._expired and self._task is not None and self._task.uncancel() == 0:
                raise stalled(provider) from None
            raise
        finally:
            self._read_since = None

    def stop(self) -> None:
        self._handle.cancel()


class GuardedStream:
    """A committed stream: the held chunks first, then the upstream's, each read bounded by the idle timeout.
    `on_error` hears of a failure after commit (the breaker counts it) before it propagates."""

    __slots__ = ("_done", "_held", "_idle_s", "_inner", "_iterator", "_on_error", "_provider")

    def __init__(
        self,
        inner: ChunkStream,
        iterator: AsyncIterator[Chunk],
        held: list[Chunk],
        *,
        provider: str,
        idle_s: float | None,
        done: bool = False,
        on_error: OnError | None = None,
    ) -> None:
        self._inner = inner
        self._iterator = iterator
        self._held = held
        self._provider = provider
        self._idle_s = idle_s
        self._done = done
        self._on_error = on_error

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        held, self._held = self._held, []
        for chunk in held:
            yield chunk
        if self._done:
            return
        iterator = self._iterator
        watchdog = _Watchdog(self._idle_s) if self._idle_s is not None else None
        try:
            while True:
                try:
                    if watchdog is None:
                        chunk = await iterator.__anext__()
                    else:
                        chunk = await watchdog.read(iterator, self._provider)
                except StopAsyncIteration:
                    return
                except UpstreamError as exc:
                    if self._on_error is not None:
                        self._on_error(exc)
                    raise
                yield chunk
        finally:
            if watchdog is not None:
                watchdog.stop()

    async def aclose(self) -> None:
        await _close(self._iterator, self._inner)


async def open_committed(
    stream: ChunkStream, *, provider: str, idle_s: float | None, on_error: OnError | None = None
) -> GuardedStream:
    """Read `stream` up to its first content and return it committed; an error before that closes the stream
    and propagates (the caller may retry elsewhere)."""
    iterator = stream.__aiter__()
    held: list[Chunk] = []
    done = False
    try:
        while True:
            try:
                chunk = await _pull(iterator, idle_s, provider)
            except StopAsyncIteration:
                done = True
                break
            held.append(chunk)
            if has_content(chunk.data):
                break
    except BaseException:
        await _close(iterator, stream)
        raise
    return GuardedStream(stream, iterator, held, provider=provider, idle_s=idle_s, done=done, on_error=on_error)


def guarded(stream: ChunkStream, *, provider: str, idle_s: float | None) -> GuardedStream:
    """Only the idle timeout, nothing held back (failover disabled)."""
    return GuardedStream(stream, stream.__aiter__(), [], provider=provider, idle_s=idle_s)
