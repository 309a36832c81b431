"""Both ledger backends against the same expectations: batching, paging, filters, summaries (Redis is real)."""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from gateway.ledger import Filters, Ledger, Record, decode_cursor
from gateway.ledger.redis import RedisLedger
from gateway.ledger.sqlite import WRITER_NICE_STEPS, SQLiteLedger

pytestmark = pytest.mark.anyio

BASE_US = 1_780_000_000_000_000  # a fixed instant in 2026


def record(n: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "id": f"r{n:04d}",
        "request_id": f"req-{n}",
        "timestamp_us": BASE_US + n * 1_000_000,
        "user": "alice",
        "provider": "openai",
        "model": "gpt-4o",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "cost": 1000,
        "currency": "USD",
        "latency_ms": 12.5,
        "cache_hit": False,
        "fallback_from": None,
        "status": "ok",
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    store: Ledger
    client: Redis | None = None
    prefix = f"test:{uuid.uuid4().hex}:"
    if request.param == "sqlite":
        store = SQLiteLedger(str(tmp_path / "nested" / "costs.db"))
    else:
        client = Redis.from_url(request.getfixturevalue("redis_url"))
        store = RedisLedger(client, prefix=prefix)
    await store.start()
    yield store
    await store.close()
    if client is not None:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_ledger_add_is_written_on_flush_and_read_newest_first(ledger: Ledger) -> None:
    for n in range(3):
        ledger.add(record(n))
    await ledger.flush()
    page, cursor = await ledger.history(Filters(), limit=10, cursor=None)
    assert [r.id for r in page] == ["r0002", "r0001", "r0000"]
    assert cursor is None
    assert page[0] == record(2)  # every field survives the round trip


async def test_ledger_paging_visits_every_record_once_even_with_equal_timestamps(ledger: Ledger) -> None:
    for n in range(23):
        ledger.add(record(n, timestamp_us=BASE_US + (n // 4) * 1000))  # groups of four share a timestamp
    await ledger.flush()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, next_cursor = await ledger.history(Filters(), limit=5, cursor=cursor)
        seen += [r.id for r in page]
        pages += 1
        if next_cursor is None:
            break
        cursor = decode_cursor(next_cursor)
    assert pages == 5
    assert sorted(seen) == sorted(f"r{n:04d}" for n in range(23))
    assert len(seen) == 23
    stamps = [int(i[1:]) // 4 for i in seen]
    assert stamps == sorted(stamps, reverse=True)


async def test_ledger_filters_by_user_provider_model_request_and_time(ledger: Ledger) -> None:
    ledger.add(record(1, user="alice", provider="openai", model="gpt-4o"))
    ledger.add(record(2, user="bob", provider="anthropic", model="claude-sonnet-4-5"))
    ledger.add(record(3, user="alice", provider="google", model="gemini-2.5-pro"))
    ledger.add(record(4, user="bob", provider="openai", model="gpt-4o"))
    await ledger.flush()

    async def ids(filters: Filters) -> list[str]:
        page, _ = await ledger.history(filters, limit=50, cursor=None)
        return [r.id for r in page]

    assert await ids(Filters(user="bob")) == ["r0004", "r0002"]
    assert await ids(Filters(provider="openai")) == ["r0004", "r0001"]
    assert await ids(Filters(model="gemini-2.5-pro")) == ["r0003"]
    assert await ids(Filters(user="bob", model="gpt-4o")) == ["r0004"]
    assert await ids(Filters(request_id="req-2")) == ["r0002"]
    since, until = BASE_US + 2_000_000, BASE_US + 4_000_000
    assert await ids(Filters(since_us=since, until_us=until)) == ["r0003", "r0002"]  # until is exclusive


async def test_ledger_summary_groups_by_provider_model_and_user(ledger: Ledger) -> None:
    ledger.add(record(1, user="alice", cost=1500, prompt_tokens=100, completion_tokens=10, cached_tokens=40))
    ledger.add(record(2, user="bob", cost=2500, provider="anthropic", model="claude-haiku-4-5"))
    ledger.add(record(3, user="bob", cost=None, model="gpt-unpriced"))
    await ledger.flush()
    summary = await ledger.summary(Filters())
    assert summary.total.cost == 4000
    assert summary.total.requests == 3
    assert summary.total.prompt_tokens == 120
    assert summary.total.cached_tokens == 40
    assert summary.total.unpriced_requests == 1
    assert {k: v.cost for k, v in summary.by_provider.items()} == {"openai": 1500, "anthropic": 2500}
    assert {k: v.requests for k, v in summary.by_model.items()} == {
        "gpt-4o": 1,
        "claude-haiku-4-5": 1,
        "gpt-unpriced": 1,
    }
    assert {k: (v.cost, v.requests) for k, v in summary.by_user.items()} == {"alice": (1500, 1), "bob": (2500, 2)}
    only_bob = await ledger.summary(Filters(user="bob"))
    assert only_bob.total.cost == 2500 and set(only_bob.by_user) == {"bob"}


async def test_ledger_spent_sums_priced_costs_since_a_time(ledger: Ledger) -> None:
    ledger.add(record(1, cost=100))
    ledger.add(record(2, cost=200, user="bob"))
    ledger.add(record(3, cost=None))
    ledger.add(record(4, cost=400))
    await ledger.flush()
    assert await ledger.spent(since_us=BASE_US + 2_000_000) == 600
    assert await ledger.spent(since_us=BASE_US, user="alice") == 500


async def test_ledger_check_reports_writable(ledger: Ledger) -> None:
    report = await ledger.check()
    assert report["status"] == "ok" and report["pending"] == 0


async def test_ledger_writes_in_the_background_within_the_interval(ledger: Ledger) -> None:
    ledger.add(record(1))
    with anyio.fail_after(3):
        while not (await ledger.history(Filters(), limit=1, cursor=None))[0]:
            await anyio.sleep(0.05)


async def test_sqlite_ledger_close_writes_what_is_buffered_and_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "costs.db")
    first = SQLiteLedger(path)
    await first.start()
    for n in range(7):
        first.add(record(n))
    await first.close()  # no flush before: close must write them
    second = SQLiteLedger(path)
    await second.start()
    try:
        page, _ = await second.history(Filters(), limit=50, cursor=None)
        assert len(page) == 7
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        await second.close()


async def test_sqlite_ledger_unwritable_path_fails_naming_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ledger = SQLiteLedger(str(blocker / "costs.db"))
    with pytest.raises(RuntimeError, match="COST_DB_PATH"):
        await ledger.start()
    await ledger.close()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice values are a Linux feature")
async def test_sqlite_writer_thread_runs_below_the_event_loop(tmp_path: Path) -> None:
    ledger = SQLiteLedger(str(tmp_path / "costs.db"))
    await ledger.start()
    try:
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        writer_nice = await ledger._on_writer(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        assert writer_nice == min(19, loop_nice + WRITER_NICE_STEPS)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice  # the loop is untouched
        ledger.add(record(1))
        await ledger.flush()
        assert (await ledger.summary(Filters())).total.requests == 1
    finally:
        await ledger.close()
