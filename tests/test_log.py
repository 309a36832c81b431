"""Logs: JSON lines on stdout, the LOG_DIR topic files (created at start, rotated by size), the request id on
every line, and no key, JWT or prompt text anywhere unless LOG_PROMPTS=true."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock

from gateway.app import build_app
from gateway.log import LOG_FILES, configure_from, configure_logging
from tests.conftest import OPENAI_BASE, SECRET, make_settings, token

OPENAI_KEY = "sk-live-0123456789abcdefSECRETKEY"
PROMPT = "my bank PIN is 4921 and my diary says zebra-quartz-umbrella"
OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_log_dir_files_exist_at_start(tmp_path: Path) -> None:
    configure_logging(log_dir=str(tmp_path / "logs"))
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == sorted(LOG_FILES)
    assert set(LOG_FILES) == {"error.log", "combined.log", "llm.log", "costs.log", "metrics.log"}


def test_log_dir_routes_lines_by_topic(tmp_path: Path) -> None:
    configure_logging(log_dir=str(tmp_path))
    logging.getLogger("gateway.access").info("POST /v1/chat/completions 200")
    logging.getLogger("gateway.layers.budget").info("spent")
    logging.getLogger("gateway.metrics").info("summary")
    logging.getLogger("gateway.routes").error("broken")
    topics = {name: [line["message"] for line in lines(tmp_path / name)] for name in LOG_FILES}
    assert topics["llm.log"] == ["POST /v1/chat/completions 200"]
    assert topics["costs.log"] == ["spent"]
    assert topics["metrics.log"] == ["summary"]
    assert topics["error.log"] == ["broken"]
    assert topics["combined.log"] == ["POST /v1/chat/completions 200", "spent", "summary", "broken"]


def test_log_dir_files_rotate_by_size(tmp_path: Path) -> None:
    configure_logging(log_dir=str(tmp_path), max_bytes=2048, backups=2)
    log = logging.getLogger("gateway.access")
    for number in range(200):
        log.info("line %d", number)
    assert (tmp_path / "llm.log.1").is_file() and (tmp_path / "llm.log.2").is_file()
    assert not (tmp_path / "llm.log.3").exists()
    assert (tmp_path / "llm.log").stat().st_size <= 2048


def test_log_text_format_is_for_humans(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="text")
    logging.getLogger("gateway.x").warning("hello %s", OPENAI_KEY, extra={"request_id": "req_42"})
    out = capsys.readouterr().out.strip()
    assert "WARNING gateway.x: hello [redacted] [req_42]" in out
    assert OPENAI_KEY not in out


@pytest.mark.anyio
async def test_log_no_secret_or_prompt_in_any_line_or_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    settings = make_settings(openai_api_key=OPENAI_KEY, log_dir=str(tmp_path), log_level="debug")
    configure_from(settings)
    jwt = token("alice")
    httpx_mock.add_response(url=f"{OPENAI_BASE}/chat/completions", json=OPENAI_REPLY)
    httpx_mock.add_response(url=f"{OPENAI_BASE}/chat/completions", status_code=500, json={"error": {"message": "x"}})
    app = build_app(settings)
    messages = [{"role": "user", "content": PROMPT}]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            headers = {"authorization": f"Bearer {jwt}"}
            for body in (
                {"model": "gpt-4o-mini", "messages": messages},
                {"model": "gpt-4o-mini", "messages": messages},  # the vendor fails
                {"model": "mock/echo", "messages": messages, "stream": True},
                {"model": "mock/err-in-stream", "messages": messages, "stream": True},
                {"model": "mock/echo", "messages": messages, "temperature": "hot"},  # invalid
            ):
                await client.post("/v1/chat/completions", json=body, headers=headers)
            await client.get("/v1/models", headers={"authorization": f"Bearer {jwt}x"})  # a bad token
    # a careless caller: the key in the message, the prompt and the token in fields
    logging.getLogger("gateway.providers.openai").error(
        "calling with %s", OPENAI_KEY, extra={"messages": messages, "authorization": f"Bearer {jwt}"}
    )
    logging.getLogger("gateway.llm").info("raw secret %s", SECRET)
    written = capsys.readouterr().out + "".join(p.read_text() for p in tmp_path.iterdir())
    assert written.count("\n") >= 8  # access lines and the rest were written
    for secret in (OPENAI_KEY, jwt, SECRET, PROMPT, "4921", "zebra-quartz"):
        assert secret not in written, secret


def test_log_prompts_true_lets_prompt_fields_through(capsys: pytest.CaptureFixture[str]) -> None:
    configure_from(replace(make_settings(), log_prompts=True))
    logging.getLogger("gateway.llm").info("debugging", extra={"messages": [{"content": PROMPT}]})
    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry["messages"] == [{"content": PROMPT}]


@pytest.mark.anyio
async def test_log_request_id_travels_to_logs_upstream_and_response(
    capsys: pytest.CaptureFixture[str], httpx_mock: HTTPXMock
) -> None:
    settings = make_settings()
    configure_from(settings)
    httpx_mock.add_response(url=f"{OPENAI_BASE}/chat/completions", json=OPENAI_REPLY)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {token('alice')}", "x-request-id": "trace-abc-123"},
            )
    assert response.headers["x-request-id"] == "trace-abc-123"
    upstream = httpx_mock.get_request()
    assert upstream is not None and upstream.headers["x-request-id"] == "trace-abc-123"
    access = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"gateway.access"' in line]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "trace-abc-123"
    assert (entry["user"], entry["route"], entry["method"], entry["status"]) == (
        "alice",
        "/v1/chat/completions",
        "POST",
        200,
    )
    assert (entry["provider"], entry["model"], entry["cache"]) == ("openai", "gpt-4o-mini", "bypass")
    assert (entry["prompt_tokens"], entry["completion_tokens"], entry["tokens"]) == (11, 3, 14)
    assert isinstance(entry["latency_ms"], float) and entry["level"] == "info"


def test_direct_access_line_matches_the_logging_path_and_is_buffered(capsys: pytest.CaptureFixture[str]) -> None:
    """`info_line` writes what `logger.info(..., extra=...)` would (same JSON, same redaction), buffered inside an
    event loop and flushed by `flush_lines` (the lifespan calls it at shutdown)."""
    import asyncio

    from gateway.log import flush_lines, info_line

    configure_logging(fmt="json", level="info", secrets=[OPENAI_KEY])
    logger = logging.getLogger("gateway.access")
    fields = {"request_id": "req_1", "user": f"Bearer {OPENAI_KEY}", "status": 200, "cost": "0.5", "ttft_ms": None}
    logger.info("POST /v1/chat/completions 200", extra=fields)
    via_logging = json.loads(capsys.readouterr().out)

    async def in_loop() -> str:
        info_line(logger, "POST /v1/chat/completions 200", fields)
        written = capsys.readouterr().out  # still buffered
        flush_lines()
        return written

    assert asyncio.run(in_loop()) == ""
    direct = json.loads(capsys.readouterr().out)
    via_logging.pop("time")
    direct.pop("time")
    assert direct == via_logging
    assert OPENAI_KEY not in json.dumps(direct)


def test_buffered_lines_go_out_in_whole_lines_of_at_most_pipe_buf(tmp_path: Path) -> None:
    """Several workers may share one stdout pipe: each write is whole lines, at most PIPE_BUF bytes (atomic)."""
    from gateway.log import PIPE_BUF, JSONFormatter, LineBuffer

    writes: list[str] = []

    class Recorder:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            pass

    handler = logging.StreamHandler(Recorder())  # type: ignore[arg-type]
    handler.setFormatter(JSONFormatter())
    buffer = LineBuffer(handler)
    lines = [b"x" * 300 + str(i).encode() for i in range(100)]
    for line in lines:
        buffer._lines.append(line)
    buffer.flush()
    assert len(writes) > 1
    assert all(len(w.encode()) <= PIPE_BUF and w.endswith("\n") for w in writes)
    assert "".join(writes).splitlines() == [line.decode() for line in lines]


@pytest.mark.parametrize(
    "dirty",
    [
        OPENAI_KEY,
        "sk-proj-abcdefgh12345678",
        "Bearer abcdefgh.ijk",
        "AIza" + "x" * 30,
        "eyJhbGciOiJIUzI1.eyJzdWIi.c2ln",
    ],
)
def test_a_secret_in_any_string_field_is_masked_and_the_others_are_kept(dirty: str) -> None:
    """The formatter checks a line's strings together; a suspect line has each string redacted on its own."""
    from gateway.log import REDACTED, JSONFormatter, Redactor

    redactor = Redactor([OPENAI_KEY])
    formatter = JSONFormatter(redactor=redactor)
    clean = {"request_id": "req_1", "route": "/v1/chat/completions", "model": "gpt-4o-mini", "tokens": 3}
    assert not redactor.suspects("\n".join(v for v in clean.values() if isinstance(v, str)))
    assert json.loads(formatter.line(0.0, "INFO", "gateway.access", "POST 200", clean))["model"] == "gpt-4o-mini"
    for field in ("request_id", "model", "user"):
        entry = json.loads(formatter.line(0.0, "INFO", "gateway.access", "POST 200", clean | {field: f"x {dirty}"}))
        assert dirty not in json.dumps(entry)
        assert REDACTED in entry[field]
        assert entry["route"] == "/v1/chat/completions" and entry["tokens"] == 3
        assert entry["message"] == "POST 200"
    entry = json.loads(formatter.line(0.0, "INFO", "gateway.access", f"POST {dirty}", clean))
    assert dirty not in entry["message"] and entry["request_id"] == "req_1"
