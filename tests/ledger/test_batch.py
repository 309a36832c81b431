"""BatchWriter: a flush writes what was buffered when it started, in batches; what arrives meanwhile waits for the
next one (so a busy gateway writes full batches, not a stream of tiny ones); close writes everything."""

from __future__ import annotations

import asyncio

import pytest

from gateway.ledger import Record
from gateway.ledger.batch import BatchWriter

pytestmark = pytest.mark.anyio


def record(n: int) -> Record:
    return Record(
        id=f"r{n:04d}",
        request_id=f"req-{n}",
        timestamp_us=n,
        user="u",
        provider="openai",
        model="gpt-4o-mini",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        cost=0,
        currency="USD",
        latency_ms=1.0,
        cache_hit=False,
        fallback_from=None,
        status="ok",
    )


class SlowStore:
    """Records each batch; every write waits until the test lets it finish."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.failing = False

    async def write(self, batch: list[Record]) -> None:
        await self.release.wait()
        if self.failing:
            raise OSError("the store is down")
        self.batches.append([r.id for r in batch])


async def test_a_flush_writes_what_was_buffered_in_full_batches() -> None:
    store = SlowStore()
    writer = BatchWriter(store.write, max_batch=4)
    for n in range(10):
        writer.add(record(n))
    assert await writer.flush()
    assert [len(b) for b in store.batches] == [4, 4, 2]
    assert writer.pending == 0 and writer.written == 10


async def test_records_arriving_during_a_write_wait_for_the_next_flush() -> None:
    store = SlowStore()
    store.release.clear()
    writer = BatchWriter(store.write, max_batch=100)
    for n in range(3):
        writer.add(record(n))
    flushing = asyncio.ensure_future(writer.flush())
    await asyncio.sleep(0)
    for n in range(3, 5):  # these arrive while the first write is in progress
        writer.add(record(n))
    store.release.set()
    assert await flushing
    assert store.batches == [["r0000", "r0001", "r0002"]]  # one batch: the flush did not chase the newcomers
    assert writer.pending == 2
    assert await writer.flush()
    assert store.batches[-1] == ["r0003", "r0004"]


async def test_a_failed_write_keeps_the_records_in_order() -> None:
    store = SlowStore()
    writer = BatchWriter(store.write, max_batch=2)
    for n in range(3):
        writer.add(record(n))
    store.failing = True
    assert not await writer.flush()
    assert writer.pending == 3 and writer.last_error == "OSError: the store is down"
    store.failing = False
    assert await writer.flush()
    assert store.batches == [["r0000", "r0001"], ["r0002"]]
    assert writer.last_error is None


async def test_close_writes_records_that_arrive_during_its_last_write() -> None:
    store = SlowStore()
    writer = BatchWriter(store.write, max_batch=100)
    writer.add(record(0))
    original = store.write

    async def write_and_add_late(batch: list[Record]) -> None:
        await original(batch)
        if len(store.batches) == 1:
            writer.add(record(1))  # a request that finished during the shutdown's write

    writer._write = write_and_add_late  # type: ignore[method-assign]
    await writer.close()
    assert store.batches == [["r0000"], ["r0001"]]
    assert writer.pending == 0
