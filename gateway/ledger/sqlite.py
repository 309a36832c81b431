"""The embedded ledger: SQLite at `COST_DB_PATH` in WAL mode, written in batches by one writer thread.

The writer thread runs 10 `nice` steps below the event loop (Linux): it shares the core with the loop, and a batch
is ≈ 1 ms of CPU. At equal priority the scheduler split the core between the two for that millisecond, and the
requests in flight took the delay: the c=1 p99 in bench/ goes from 2.42 to 1.87 ms. Ten steps still give the
writer ≈ 10 % of a saturated core, several times what it needs (≈ 10 µs per row against ≥ 300 µs per request);
at nice 19 (≈ 1.4 %) it fell 4,000 rows behind in 20 s at c=64.

Reads run on their own connection and thread (WAL lets them proceed while a batch is written). `synchronous=NORMAL`
with WAL survives a crash of the gateway process; an OS crash or power loss may lose the last transactions.
`COST_DB_PATH=:memory:` keeps the ledger in memory (tests, throwaway demos): one connection serves everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.ledger import MAX_BATCH, RECORD_FIELDS, Filters, Record, Summary, Totals, encode_cursor
from gateway.ledger.batch import BatchWriter
from gateway.types import JSON

COLUMNS = (
    "id, request_id, ts_us, user, provider, model, prompt_tokens, completion_tokens, cached_tokens, cost, "
    "currency, latency_ms, cache_hit, fallback_from, status"
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    user TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cost INTEGER,  -- nano-units of `currency`; NULL: the model has no price
    currency TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    cache_hit INTEGER NOT NULL,
    fallback_from TEXT,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_time ON ledger (ts_us, id);
CREATE INDEX IF NOT EXISTS ledger_user_time ON ledger (user, ts_us);
-- no (model, ts_us) index: it cost 4 µs per row written (a third of an insert), and a model filter reads the
-- time index instead; ledgers made before it was dropped lose it here
DROP INDEX IF EXISTS ledger_model_time;
CREATE INDEX IF NOT EXISTS ledger_request ON ledger (request_id);
"""
FIELDS = len(RECORD_FIELDS)
INSERT = f"INSERT OR IGNORE INTO ledger ({COLUMNS}) VALUES ({', '.join('?' * FIELDS)})"


@functools.lru_cache(maxsize=MAX_BATCH)
def insert_rows(count: int) -> str:
    """One INSERT of `count` rows. sqlite3's `executemany` steps the statement once per row and lets go of the
    GIL around each step, a hand-off to the event loop's thread per row; one statement is one step. Standalone,
    72-row batches: 16 to 19 µs a row with `executemany`, 9 to 14 with this."""
    return INSERT + ", ({})".format(", ".join("?" * FIELDS)) * (count - 1)


def _where(filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("user", filters.user),
        ("provider", filters.provider),
        ("model", filters.model),
        ("request_id", filters.request_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if filters.since_us is not None:
        clauses.append("ts_us >= ?")
        args.append(filters.since_us)
    if filters.until_us is not None:
        clauses.append("ts_us < ?")
        args.append(filters.until_us)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


WRITER_NICE_STEPS = 10


def background_priority() -> None:
    """Lower the calling thread's priority by `WRITER_NICE_STEPS` (at most to 19). Linux schedules threads one
    by one, so the rest of the process keeps its priority; elsewhere (or where it is not allowed) nothing."""
    if hasattr(os, "setpriority"):
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, current + WRITER_NICE_STEPS))


class SQLiteLedger:
    def __init__(self, path: str) -> None:
        self._memory = path == ":memory:"
        # a private, named in-memory database, so the writer and reader threads may share it
        self._target = f"file:ledger-{uuid.uuid4().hex}?mode=memory&cache=shared" if self._memory else path
        self._path = path
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="ledger-write", initializer=background_priority)
        self._reader_pool = (
            self._writer_pool if self._memory else ThreadPoolExecutor(1, thread_name_prefix="ledger-read")
        )
        self._write_conn: sqlite3.Connection | None = None
        self._rows_per_insert = MAX_BATCH
        self._read_conn: sqlite3.Connection | None = None
        self._batches = BatchWriter(self._write_batch)

    # ---- lifecycle -----------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._target, uri=self._memory, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    def _open(self) -> None:
        if not self._memory:
            Path(self._path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SCHEMA)
        # an SQLite older than 3.32 takes at most 999 parameters per statement
        self._rows_per_insert = max(1, min(MAX_BATCH, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // FIELDS))
        self._write_conn = conn
        self._read_conn = conn if self._memory else self._connect()

    async def start(self) -> None:
        try:
            await self._on_writer(self._open)
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeError(f"COST_DB_PATH: cannot open the cost ledger at {self._path}: {exc}") from exc
        self._batches.start()

    async def close(self) -> None:
        await self._batches.close()
        await self._on_writer(self._close_connections)
        self._writer_pool.shutdown(wait=True)
        if self._reader_pool is not self._writer_pool:
            self._reader_pool.shutdown(wait=True)

    def _close_connections(self) -> None:
        for conn in {id(c): c for c in (self._read_conn, self._write_conn) if c is not None}.values():
            conn.close()
        self._read_conn = self._write_conn = None

    async def _on_writer(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._writer_pool, fn, *args)

    async def _on_reader(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, fn, *args)

    # ---- writing -------------------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        self._batches.add(record)

    async def flush(self) -> None:
        await self._batches.flush()

    async def _write_batch(self, batch: list[Record]) -> None:
        rows = [r.as_row() for r in batch]  # sqlite3 stores the bool cache_hit as 0/1
        await self._on_writer(self._insert, rows)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._write_conn
        assert conn is not None, "the ledger is not open"
        conn.execute("BEGIN IMMEDIATE")
        try:
            step = self._rows_per_insert
            for start in range(0, len(rows), step):
                part = rows[start : start + step]
                conn.execute(insert_rows(len(part)), [value for row in part for value in row])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ---- reading -------------------------------------------------------------------------------------

    def _query(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        conn = self._read_conn
        assert conn is not None, "the ledger is not open"
        return conn.execute(sql, args).fetchall()

    async def history(
        self, filters: Filters, *, limit: int, cursor: tuple[int, str] | None
    ) -> tuple[list[Record], str | None]:
        where, args = _where(filters)
        if cursor is not None:
            where += (" AND " if where else " WHERE ") + "(ts_us < ? OR (ts_us = ? AND id < ?))"
            args += [cursor[0], cursor[0], cursor[1]]
        sql = f"SELECT {COLUMNS} FROM ledger{where} ORDER BY ts_us DESC, id DESC LIMIT ?"
        rows = await self._on_reader(self._query, sql, [*args, limit + 1])
        records = [Record.from_row(row) for row in rows]
        page = records[:limit]
        return page, encode_cursor(page[-1]) if len(records) > limit else None

    async def summary(self, filters: Filters) -> Summary:
        where, args = _where(filters)
        sql = (
            "SELECT provider, model, user, COALESCE(SUM(cost), 0), COUNT(*), SUM(prompt_tokens), "
            f"SUM(completion_tokens), SUM(cached_tokens), SUM(cost IS NULL) FROM ledger{where} "
            "GROUP BY provider, model, user"
        )
        summary = Summary()
        for provider, model, user, *figures in await self._on_reader(self._query, sql, args):
            summary.add(provider, model, user, Totals(*figures))
        return summary

    async def spent(self, *, since_us: int, user: str | None = None) -> int:
        sql = "SELECT COALESCE(SUM(cost), 0) FROM ledger WHERE ts_us >= ?"
        args: list[Any] = [since_us]
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        rows = await self._on_reader(self._query, sql, args)
        return int(rows[0][0])

    async def check(self) -> JSON:
        await self._on_writer(self._probe_write)
        report: JSON = {
            "status": "ok" if self._batches.last_error is None else "degraded",
            "store": "sqlite",
            "pending": self._batches.pending,
            "written": self._batches.written,
        }
        if self._batches.last_error is not None:
            report["error"] = self._batches.last_error
        return report

    def _probe_write(self) -> None:
        """Take the write lock and let go: proves the file is writable without changing it."""
        conn = self._write_conn
        assert conn is not None, "the ledger is not open"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
