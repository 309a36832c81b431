"""Failover through the whole app, OpenAI faked by pytest-httpx and the mock provider as the healthy fallback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from gateway.app import build_app
from gateway.settings import GatewayConfig, Settings
from tests.conftest import OPENAI_BASE, auth, make_settings

pytestmark = pytest.mark.anyio

CHAT_URL = f"{OPENAI_BASE}/chat/completions"
USER = [{"role": "user", "content": "Hi"}]
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
SERVER_ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}


def failover_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "failover_enabled": True,
        "retry_base_delay_ms": 1.0,
        "retry_max_delay_ms": 500.0,
        "config": GatewayConfig(fallbacks={"gpt-4o": ("mock/echo",)}),
    }
    values.update(overrides)
    return make_settings(**values)


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as c:
            yield c


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(failover_settings()):
        yield c


@pytest.fixture
async def lone_client() -> AsyncIterator[httpx.AsyncClient]:
    """No fallback chain: the retries alone are under test."""
    async for c in client_for(failover_settings(config=GatewayConfig(fallbacks={"gpt-4o": ()}))):
        yield c


def sse(*payloads: Any) -> list[bytes]:
    return [b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads] + [b"data: [DONE]\n\n"]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class BrokenStream(httpx.AsyncByteStream):
    """Sends the opening frames, then the connection drops."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            yield frame
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


async def test_failover_500_then_200_is_retried(httpx_mock: HTTPXMock, lone_client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=500, json=SERVER_ERROR)
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER)
    response = await lone_client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello"
    assert response.headers["x-gateway-provider"] == "openai"
    assert "x-gateway-fallback" not in response.headers
    assert len(httpx_mock.get_requests()) == 2


async def test_failover_429_waits_retry_after_ms(httpx_mock: HTTPXMock, lone_client: httpx.AsyncClient) -> None:
    limited = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    httpx_mock.add_response(url=CHAT_URL, status_code=429, json=limited, headers={"retry-after-ms": "150"})
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER)
    started = time.monotonic()
    response = await lone_client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_failover_429_retry_after_beyond_cap_answers_429(
    httpx_mock: HTTPXMock, lone_client: httpx.AsyncClient
) -> None:
    limited = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    httpx_mock.add_response(url=CHAT_URL, status_code=429, json=limited, headers={"retry-after": "20"})
    started = time.monotonic()
    response = await lone_client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "20"
    assert time.monotonic() - started < 2  # 20 s is past RETRY_MAX_DELAY_MS: not waited


async def test_failover_400_is_not_retried(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    bad = {"error": {"message": "bad temperature", "type": "invalid_request_error", "param": "temperature"}}
    httpx_mock.add_response(url=CHAT_URL, status_code=400, json=bad)
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"
    assert len(httpx_mock.get_requests()) == 1  # neither retried nor failed over


async def test_failover_openai_down_mock_serves_with_headers(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=CHAT_URL, is_reusable=True)
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "mock"
    assert response.headers["x-gateway-fallback"] == "openai"
    assert response.json()["choices"][0]["message"]["content"] == "Hi"  # mock/echo
    assert len(httpx_mock.get_requests()) == 3  # RETRY_MAX_ATTEMPTS on OpenAI first


async def test_failover_open_circuit_shows_and_skips_openai(httpx_mock: HTTPXMock) -> None:
    settings = failover_settings(retry_max_attempts=1, circuit_failure_threshold=2)
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=CHAT_URL, is_reusable=True)
    async for client in client_for(settings):
        for _ in range(3):
            response = await client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
            assert response.headers["x-gateway-provider"] == "mock"
        assert len(httpx_mock.get_requests()) == 2  # the third call never went to OpenAI
        providers = {p["name"]: p for p in (await client.get("/api/llm/providers")).json()["data"]}
        assert (providers["openai"]["circuit"], providers["openai"]["healthy"]) == ("open", False)
        assert providers["mock"]["circuit"] == "closed"
        health = await client.get("/api/health/providers")
        component = health.json()["components"]["providers"]
        assert component["status"] == "degraded"
        assert component["providers"]["openai"]["circuit"] == "open"
        assert component["providers"]["openai"]["last_error"] == "502 upstream_error"


async def test_failover_request_fallbacks_empty_disables(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=503, json=SERVER_ERROR, is_reusable=True)
    body = {"model": "gpt-4o", "messages": USER, "fallbacks": []}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


async def test_failover_disabled_lets_the_error_through(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=500, json=SERVER_ERROR)
    async for client in client_for(failover_settings(failover_enabled=False)):
        response = await client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
        assert response.status_code == 502
        assert "x-gateway-fallback" not in response.headers
    assert len(httpx_mock.get_requests()) == 1


async def test_failover_stream_failing_before_content_is_invisible(
    httpx_mock: HTTPXMock, lone_client: httpx.AsyncClient
) -> None:
    opening = sse(chunk({"role": "assistant", "content": ""}))[:1]
    httpx_mock.add_response(url=CHAT_URL, stream=BrokenStream(opening))
    good = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({}, finish="stop"),
    )
    httpx_mock.add_response(url=CHAT_URL, stream=IteratorStream(good), headers={"content-type": "text/event-stream"})
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    response = await lone_client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    data = events(response.text)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {},
    ]
    assert not any("error" in c for c in chunks)


async def test_failover_stream_failing_before_content_moves_to_mock(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    opening = sse(chunk({"role": "assistant", "content": ""}))[:1]
    for _ in range(3):
        httpx_mock.add_response(url=CHAT_URL, stream=BrokenStream(opening))
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.headers["x-gateway-fallback"] == "openai"
    assert response.headers["x-gateway-provider"] == "mock"
    data = events(response.text)
    assert data[-1] == "[DONE]"
    text = "".join(orjson.loads(d)["choices"][0]["delta"].get("content") or "" for d in data[:-1] if "choices" in d)
    assert text == "Hi"


async def test_failover_stream_failing_after_content_ends_with_error_event(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    frames = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}))[:2]
    httpx_mock.add_response(url=CHAT_URL, stream=BrokenStream(frames))
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    data = events(response.text)
    assert "[DONE]" not in data
    assert orjson.loads(data[1])["choices"][0]["delta"]["content"] == "Hel"
    assert orjson.loads(data[-1])["error"]["code"] == "upstream_error"
    assert "x-gateway-fallback" not in response.headers
    assert len(httpx_mock.get_requests()) == 1  # content had reached the client: no retry


async def test_failover_mock_err_in_stream_is_an_error_event_without_done(client: httpx.AsyncClient) -> None:
    body = {"model": "mock/err-in-stream", "messages": USER, "stream": True}
    response = await client.post("/api/llm/chat", json=body)
    data = events(response.text)
    assert "[DONE]" not in data
    assert "error" in orjson.loads(data[-1])
    assert any(orjson.loads(d).get("choices") for d in data[:-1])  # content came first


async def test_failover_mock_flaky_is_retried_to_success(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/llm/chat", json={"model": "mock/flaky-2", "messages": USER})
    assert response.status_code == 200  # two 503s, then an answer on the third attempt


async def test_failover_rate_limited_everywhere_is_429(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    limited = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    httpx_mock.add_response(url=CHAT_URL, status_code=429, json=limited, headers={"retry-after": "20"})
    body = {"model": "gpt-4o", "messages": USER, "fallbacks": ["mock/error-429"]}
    response = await client.post("/api/llm/chat", json=body)
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_failover_rate_limit_then_outage_is_the_outage(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    limited = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    httpx_mock.add_response(url=CHAT_URL, status_code=429, json=limited, headers={"retry-after": "20"})
    body = {"model": "gpt-4o", "messages": USER, "fallbacks": ["mock/error-529"]}
    response = await client.post("/api/llm/chat", json=body)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "overloaded"
