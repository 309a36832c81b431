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


class TappedStream:
    __slots__ = ("_ended", "_inner", "_on_chunk", "_on_end")

    def __init__(
        self,
        inner: ChunkStream,
        *,
        on_chunk: Callable[[Chunk], None] | None = None,
        on_end: Callable[[Outcome, BaseException | None], None] | None = None,
    ) -> None:
        self._inner = inner
        self._on_chunk = on_chunk
        self._on_end = on_end
        self._ended = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        on_chunk = self._on_chunk
        try:
            async for chunk in self._inner:
                if on_chunk is not None:
                    on_chunk(chunk)
                yield chunk
        except BaseException as exc:
            outcome: Outcome = "error" if isinstance(exc, Exception) else "cancelled"
            self._end(outcome, exc)
            raise
        self._end("ok", None)

    def _end(self, outcome: Outcome, exc: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            if self._on_end is not None:
                self._on_end(outcome, exc)

    async def aclose(self) -> None:
        self._end("cancelled", None)
        await self._inner.aclose()


def usage_of(chunk: JSON) -> JSON | None:
    """The usage object a chunk carries, if any (the final `choices: []` chunk of a stream)."""
    usage = chunk.get("usage")
    return usage if isinstance(usage, dict) else None
