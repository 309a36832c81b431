"""WORKERS > 1: `llm-gateway` runs prometheus-client multiprocess mode, so /metrics counts every worker's requests
whichever worker answers the scrape, and the LOG_DIR files are there from the start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 24


def total(text: str, family: str, sample: str) -> float:
    for metrics in text_string_to_metric_families(text):
        if metrics.name == family:
            return sum(s.value for s in metrics.samples if s.name == sample)
    return 0.0


@pytest.mark.slow
def test_workers_share_one_exposition(tmp_path: Path) -> None:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale")  # a previous run's file is removed at start
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "JWT_SECRET", "REDIS_URL"))}
    env.update(
        PORT=str(port),
        WORKERS="2",
        AUTH_DISABLED="true",
        MOCK_PROVIDER="true",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        LOG_DIR=str(tmp_path / "logs"),
        COST_DB_PATH=str(tmp_path / "costs.db"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--env-file", str(tmp_path / "none")],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the gateway did not start"
            time.sleep(0.1)
        body = {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(REQUESTS):  # a fresh connection each: uvicorn's workers share the socket
            assert httpx.post(f"{base}/v1/chat/completions", json=body).status_code == 200
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(6)]
        for text in scrapes:  # whichever worker answered
            assert total(text, "llm_requests", "llm_requests_total") == REQUESTS
        pids = {p.name.split("_")[-1] for p in metrics_dir.glob("counter_*.db")}
        assert len(pids) == 2 and "1.db" not in pids  # both workers wrote; the stale file is gone
        assert sorted(p.name for p in (tmp_path / "logs").glob("*.log")) == [
            "combined.log",
            "costs.log",
            "error.log",
            "llm.log",
            "metrics.log",
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
