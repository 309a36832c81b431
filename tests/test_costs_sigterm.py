"""No acknowledged call is missing from the ledger after a SIGTERM under load (CONTRACT §1 shutdown)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.auth import issue_token
from tests.conftest import SECRET
from tests.servers import free_port
from tests.test_main import ROOT, clean_env, wait_ready

pytestmark = pytest.mark.slow

WORKERS = 8


def test_costs_sigterm_under_load_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "ledger" / "costs.db"
    env = clean_env(
        JWT_SECRET=SECRET,
        MOCK_PROVIDER="true",
        MOCK_STREAM_DELAY_MS="5",
        COST_DB_PATH=str(db),
        LOG_LEVEL="warning",
        RATE_LIMIT_MAX_REQUESTS="0",  # limits off: the load is the point
        LLM_RATE_LIMIT_MAX_REQUESTS="0",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--port", str(port), "--env-file", str(tmp_path / "none")],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"authorization": f"Bearer {issue_token(SECRET, sub='load')}"}
    ok = 0
    lock = threading.Lock()
    stop = threading.Event()

    def load(streaming: bool) -> None:
        nonlocal ok
        body = {"model": "mock/echo", "messages": [{"role": "user", "content": "one two three four"}]}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while not stop.is_set():
                try:
                    if streaming:
                        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
                            text = "".join(r.iter_text())
                            done = r.status_code == 200 and text.rstrip().endswith("data: [DONE]")
                    else:
                        done = client.post("/v1/chat/completions", json=body).status_code == 200
                except httpx.HTTPError:
                    return  # the server stopped accepting
                if done:
                    with lock:
                        ok += 1

    try:
        wait_ready(base)
        threads = [threading.Thread(target=load, args=(n % 2 == 0,)) for n in range(WORKERS)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
    assert ok > 100
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    assert rows == ok
