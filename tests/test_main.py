"""The command line as a user runs it: help, a bad setting, the demo, and a graceful SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET
from tests.servers import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "JWT_SECRET", "REDIS_URL"))}
    env.update(extra)
    return env


def test_help_lists_every_flag() -> None:
    out = run(["--help"], clean_env()).stdout
    for flag in ("--demo", "--host", "--port", "--workers", "--reload", "--env-file", "--version"):
        assert flag in out


def test_bad_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    result = run(["--env-file", str(tmp_path / "none")], clean_env(JWT_SECRET=SECRET, PORT="eighty"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["llm-gateway: PORT: 'eighty' is not a whole number"]


def test_missing_secret_refuses_to_start(tmp_path: Path) -> None:
    result = run(["--env-file", str(tmp_path / "none")], clean_env())
    assert result.returncode == 2 and "JWT_SECRET" in result.stderr


def start(args: list[str], env: dict[str, str], *, read_output: bool = False) -> subprocess.Popen[str]:
    output = subprocess.PIPE if read_output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", *args], env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True
    )


def wait_ready(base: str, deadline_s: float = 15) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("the gateway did not become ready")


def test_demo_prints_a_working_token_and_curl_line(tmp_path: Path) -> None:
    port = free_port()
    process = start(
        ["--demo", "--port", str(port), "--env-file", str(tmp_path / "none")],
        clean_env(COST_DB_PATH=str(tmp_path / "c.db")),
        read_output=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        banner = ""
        while "OpenAI SDK" not in banner:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line, "the demo banner did not appear"
            banner += line
        token = re.search(r"Bearer token[^\n]*\n\n  (\S+)", banner).group(1)  # type: ignore[union-attr]
        assert f"curl -s http://127.0.0.1:{port}/v1/chat/completions" in banner
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"authorization": f"Bearer {token}"},
            json={"model": "mock/echo", "messages": [{"role": "user", "content": "Hello!"}]},
        )
        assert response.json()["choices"][0]["message"]["content"] == "Hello!"
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stdout.close()  # type: ignore[union-attr]


def test_sigterm_finishes_in_flight_stream_and_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        JWT_SECRET=SECRET, MOCK_PROVIDER="true", MOCK_STREAM_DELAY_MS="100", COST_DB_PATH=str(tmp_path / "c.db")
    )
    process = start(["--port", str(port), "--env-file", str(tmp_path / "none")], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        from gateway.auth import issue_token

        headers = {"authorization": f"Bearer {issue_token(SECRET, sub='t')}"}
        body = {"model": "mock/echo", "stream": True, "messages": [{"role": "user", "content": " ".join(["w"] * 15)}]}
        result: dict[str, str] = {}

        def consume() -> None:
            with httpx.stream(
                "POST", f"{base}/v1/chat/completions", json=body, headers=headers, timeout=20
            ) as response:
                result["text"] = "".join(response.iter_text())

        reader = threading.Thread(target=consume)
        reader.start()
        time.sleep(0.4)  # the stream is open and mid-way
        process.send_signal(signal.SIGTERM)
        reader.join(timeout=20)
        assert result["text"].rstrip().endswith("data: [DONE]")
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_open_files_soft_limit_is_raised_to_the_hard_one() -> None:
    """Each open stream holds two sockets: the server raises its soft RLIMIT_NOFILE as far as it may."""
    import resource

    from gateway.__main__ import raise_open_files_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        raise_open_files_limit()
        raised, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert raised == (hard if hard != resource.RLIM_INFINITY else max(1024, 65536))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
