"""Settling token estimates with the usage the vendor reports: at once for whole replies, when the stream ends
for streams (watched through `TappedStream`, never buffered). A stream that fails or is cut off before its usage
chunk keeps its estimate; a failed call gives its estimate back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gateway.ratelimit.gcra import Check
from gateway.ratelimit.limiter import Limiter
from gateway.streams import Outcome, TappedStream, tap, usage_of
from gateway.types import Chunk, ChunkStream, Reply
from gateway.usage import usage_from, usage_of_reply

logger = logging.getLogger(__name__)


class Meter:
    """Owns the background settle tasks of one layer (kept referenced until done)."""

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        self._tasks: set[asyncio.Task[None]] = set()

    async def settle(self, checks: Sequence[Check], used: int) -> None:
        for check in checks:
            await self._limiter.settle(check, used - check.cost)

    async def refund(self, checks: Sequence[Check]) -> None:
        await self.settle(checks, 0)

    async def after(self, reply: Reply, checks: Sequence[Check], *, free: bool = False) -> None:
        """Settle `checks` (token checks that took an estimate) against `reply`'s usage; `free` (a cache hit)
        means no tokens were used."""
        if free:
            await self.refund(checks)
        elif reply.stream is not None:
            reply.stream = self._tap(reply.stream, checks)
        else:
            usage = usage_of_reply(reply)
            if usage is not None:
                await self.settle(checks, usage.total_tokens)

    def _tap(self, stream: ChunkStream, checks: Sequence[Check]) -> TappedStream:
        seen: list[int] = []

        def on_chunk(chunk: Chunk) -> None:
            usage = usage_from(usage_of(chunk.data))
            if usage is not None:
                seen.append(usage.total_tokens)

        def on_end(outcome: Outcome, exc: BaseException | None) -> None:
            if seen:
                task = asyncio.get_running_loop().create_task(self.settle(checks, seen[-1]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return tap(stream, on_chunk=on_chunk, on_end=on_end)

    async def drain(self) -> None:
        """Wait for pending settles (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
