"""SIGTERM on a gateway subprocess with several streams (one of them retried by failover before its first
token) and a slow whole answer in flight: new connections are refused, every open call completes, exit 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.auth import issue_token
from tests.conftest import SECRET
from tests.servers import free_port
from tests.test_main import clean_env, start, wait_ready

pytestmark = pytest.mark.slow

WORDS = " ".join(["w"] * 12)  # 12 chunks at MOCK_STREAM_DELAY_MS=100: ~1.2 s per stream


def test_shutdown_sigterm_completes_open_streams_and_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        JWT_SECRET=SECRET,
        MOCK_PROVIDER="true",
        MOCK_STREAM_DELAY_MS="100",
        RETRY_BASE_DELAY_MS="1",
        COST_DB_PATH=str(tmp_path / "costs.db"),
        SHUTDOWN_GRACE_S="15",
    )
    process = start(["--port", str(port), "--env-file", str(tmp_path / "none")], env)
    base = f"http://127.0.0.1:{port}"
    headers = {"authorization": f"Bearer {issue_token(SECRET, sub='t')}"}
    calls = {
        "echo-1": {"model": "mock/echo", "stream": True},
        "echo-2": {"model": "mock/echo", "stream": True},
        "flaky": {"model": "mock/flaky-1", "stream": True},  # fails once before content, retried invisibly
        "slow": {"model": "mock/slow-1200"},
    }
    results: dict[str, str] = {}
    first_frames = {name: threading.Event() for name in calls}

    def consume(name: str, body: dict[str, object]) -> None:
        body = {**body, "messages": [{"role": "user", "content": WORDS}]}
        try:
            with httpx.stream(
                "POST", f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30
            ) as response:
                parts = response.iter_text()
                first = next(parts, "")
                first_frames[name].set()
                results[name] = first + "".join(parts)
        except httpx.HTTPError as exc:
            results[name] = f"failed: {exc!r}"
            first_frames[name].set()

    try:
        wait_ready(base)
        readers = {name: threading.Thread(target=consume, args=(name, body)) for name, body in calls.items()}
        for reader in readers.values():
            reader.start()
        for name in ("echo-1", "echo-2", "flaky"):
            assert first_frames[name].wait(timeout=10), name  # the stream is open and has sent a frame
        assert not first_frames["slow"].is_set()  # the whole answer is still being made
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):  # stopped accepting
            httpx.get(f"{base}/api/health", timeout=1)
        for reader in readers.values():
            reader.join(timeout=30)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    for name in ("echo-1", "echo-2", "flaky"):
        assert results[name].rstrip().endswith("data: [DONE]"), name
        assert '"error"' not in results[name]
    assert '"chat.completion"' in results["slow"]
