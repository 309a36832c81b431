"""Batching for both ledger backends: `add()` appends to a list (no I/O, no await on the request path); a
background task writes the list every interval, or at once when a batch fills up. A failed write keeps its
records at the front of the buffer and is retried at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway.ledger import FLUSH_INTERVAL_S, MAX_BATCH, Record

logger = logging.getLogger("gateway.costs")

MAX_BUFFERED = 200_000  # while the store is down; past this the oldest records are dropped, loudly
CLOSE_ATTEMPTS = 5
CLOSE_RETRY_S = 0.5

WriteBatch = Callable[[list[Record]], Awaitable[None]]


class BatchWriter:
    def __init__(self, write: WriteBatch, *, interval_s: float = FLUSH_INTERVAL_S, max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self._interval_s = interval_s
        self._max_batch = max_batch
        self._buffer: list[Record] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.written = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def add(self, record: Record) -> None:
        buffer = self._buffer
        buffer.append(record)
        if len(buffer) >= self._max_batch:
            self._wake.set()
            if len(buffer) > MAX_BUFFERED:
                excess = len(buffer) - MAX_BUFFERED
                del buffer[:excess]
                self.dropped += excess
                logger.error("cost ledger buffer full: oldest records dropped", extra={"dropped": excess})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cost-ledger-writer")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write what is buffered now; False if the store refused (the records stay buffered).

        Records that arrive while it writes wait for the next interval or a full batch: writing them at once
        kept a busy gateway's writer in a loop of a few rows a batch, each batch paying a whole commit
        (the writer thread measured 42 µs a row at 9 rows a batch, 10 µs at 100)."""
        async with self._lock:
            pending = len(self._buffer)
            while pending > 0 and self._buffer:
                batch = self._buffer[: min(self._max_batch, pending)]
                try:
                    await self._write(batch)
                except Exception as exc:  # noqa: BLE001  # kept for the next attempt; logged and reported by health
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    logger.warning("cost ledger write failed; will retry", extra={"error": self.last_error})
                    return False
                del self._buffer[: len(batch)]
                pending -= len(batch)
                self.written += len(batch)
                self.last_error = None
        return True

    async def close(self) -> None:
        """Stop the background task and write what is left, retrying a few times before giving up loudly."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in range(CLOSE_ATTEMPTS):
            while self._buffer and await self.flush():
                pass  # records that arrived during the last write too
            if not self._buffer:
                return
            if attempt + 1 < CLOSE_ATTEMPTS:
                await asyncio.sleep(CLOSE_RETRY_S)
        logger.error(
            "cost ledger: records could not be written at shutdown",
            extra={"lost": len(self._buffer), "error": self.last_error},
        )
