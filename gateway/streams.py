"""Watching a chunk stream without buffering it: the tool the cache, cost and metrics layers share.

`TappedStream` passes every chunk on as it arrives, calls `on_chunk` for each, and calls `on_end` exactly once
with how the stream ended: "ok" (the upstream finished), "error" (it raised; the error still propagates) or
"cancelled" (the client left, or the stream was closed before it finished). Closing it closes the inner
stream even when it was never iterated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Literal

from gateway.types import JSON, Chunk, ChunkStream

Outcome = Literal["ok", "error", "cancelled"]


OnChunk = Callable[[Chunk], None]
OnEnd = Callable[[Outcome, BaseException | None], None]


class TappedStream:
    __slots__ = ("_ended", "_inner", "_on_chunk", "_on_end", "_started")

    def __init__(self, inner: ChunkStream, *, on_chunk: OnChunk | None = None, on_end: OnEnd | None = None) -> None:
        self._inner = inner
        self._on_chunk: list[OnChunk] = [on_chunk] if on_chunk is not None else []
        self._on_end: list[OnEnd] = [on_end] if on_end is not None else []
        self._ended = False
        self._started = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        self._started = True
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        on_chunk = self._on_chunk
        try:
            async for chunk in self._inner:
                for watch in on_chunk:
                    watch(chunk)
                yield chunk
        except BaseException as exc:
            outcome: Outcome = "error" if isinstance(exc, Exception) else "cancelled"
            self._end(outcome, exc)
            raise
        self._end("ok", None)

    def _end(self, outcome: Outcome, exc: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            for watch in self._on_end:
                watch(outcome, exc)

    async def aclose(self) -> None:
        self._end("cancelled", None)
        await self._inner.aclose()


def tap(stream: ChunkStream, *, on_chunk: OnChunk | None = None, on_end: OnEnd | None = None) -> TappedStream:
    """Watch `stream`. A stream another layer is already watching (and nobody has started reading) takes the new
    watchers itself instead of being wrapped again: the cache, cost, rate-limit and metrics layers' watchers then
    share one async-generator step per chunk instead of one each. They run in the order they were added (inner
    layers first), as nested wrappers would call them."""
    if isinstance(stream, TappedStream) and not stream._started and not stream._ended:
        if on_chunk is not None:
            stream._on_chunk.append(on_chunk)
        if on_end is not None:
            stream._on_end.append(on_end)
        return stream
    return TappedStream(stream, on_chunk=on_chunk, on_end=on_end)


def usage_of(chunk: JSON) -> JSON | None:
    """The usage object a chunk carries, if any (the final `choices: []` chunk of a stream)."""
    usage = chunk.get("usage")
    return usage if isinstance(usage, dict) else None
