"""gateway/streams.py: watching a chunk stream, and several layers' watchers sharing one tap."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.streams import TappedStream, tap
from gateway.types import Chunk

pytestmark = pytest.mark.anyio


class Source:
    def __init__(self, n: int, *, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.closed = n, fail_at, False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        for i in range(self.n):
            if i == self.fail_at:
                raise RuntimeError("upstream broke")
            yield Chunk({"i": i})

    async def aclose(self) -> None:
        self.closed = True


async def test_taps_on_one_stream_share_it_and_run_inner_first() -> None:
    seen: list[str] = []
    source = Source(3)
    inner = tap(source, on_chunk=lambda c: seen.append(f"inner{c.data['i']}"), on_end=lambda o, e: seen.append(o))
    outer = tap(inner, on_chunk=lambda c: seen.append(f"outer{c.data['i']}"), on_end=lambda o, e: seen.append("end2"))
    assert outer is inner  # one async-generator step per chunk for both
    assert [c.data["i"] async for c in outer] == [0, 1, 2]
    assert seen == ["inner0", "outer0", "inner1", "outer1", "inner2", "outer2", "ok", "end2"]


async def test_every_watcher_hears_an_error_once_and_it_still_propagates() -> None:
    ends: list[tuple[str, str]] = []
    stream = tap(Source(5, fail_at=2), on_end=lambda o, e: ends.append(("a", o)))
    stream = tap(stream, on_end=lambda o, e: ends.append(("b", o)))
    with pytest.raises(RuntimeError):
        async for _ in stream:
            pass
    await stream.aclose()
    assert ends == [("a", "error"), ("b", "error")]


async def test_a_stream_already_being_read_is_wrapped_not_joined() -> None:
    first = tap(Source(2))
    iterator = first.__aiter__()
    await iterator.__anext__()
    second = tap(first, on_chunk=lambda c: None)
    assert second is not first and isinstance(second, TappedStream)


async def test_closing_an_unread_stream_ends_it_as_cancelled_and_closes_the_source() -> None:
    ends: list[str] = []
    source = Source(2)
    stream = tap(tap(source, on_end=lambda o, e: ends.append(o)), on_end=lambda o, e: ends.append(o))
    await stream.aclose()
    assert ends == ["cancelled", "cancelled"] and source.closed
