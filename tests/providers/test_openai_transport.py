"""The OpenAI provider through the whole app, with the vendor faked by pytest-httpx."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from tests.conftest import OPENAI_BASE

pytestmark = pytest.mark.anyio

CHAT_URL = f"{OPENAI_BASE}/chat/completions"
CHAT = {
    "model": "openai/gpt-4o",
    "messages": [{"role": "user", "content": "Hi"}],
    "temperature": 0.2,
    "metadata": {"k": "v"},
}
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def sse(*payloads: Any) -> list[bytes]:
    return [b"data: " + (p if isinstance(p, bytes) else orjson.dumps(p)) + b"\n\n" for p in payloads]


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


USAGE_CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o",
    "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


async def test_chat_forwards_body_with_resolved_model_and_auth(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    raw = orjson.dumps(ANSWER)
    httpx_mock.add_response(url=CHAT_URL, content=raw, headers={"content-type": "application/json"})
    response = await client.post(
        "/v1/chat/completions", json={**CHAT, "fallbacks": []}, headers={"x-request-id": "abc-1"}
    )
    assert response.status_code == 200
    assert response.content == raw  # passed through byte for byte
    assert response.headers["x-gateway-provider"] == "openai"
    assert response.headers["x-request-id"] == "abc-1"
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["authorization"] == "Bearer sk-test-openai-key"
    assert sent.headers["x-request-id"] == "abc-1"
    assert orjson.loads(sent.content) == {**CHAT, "model": "gpt-4o"}  # prefix stripped, `fallbacks` not forwarded


async def test_stream_passes_frames_through_and_hides_forced_usage(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    frames = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        USAGE_CHUNK,
        b"[DONE]",
    )
    httpx_mock.add_response(url=CHAT_URL, stream=IteratorStream(frames), headers={"content-type": "text/event-stream"})
    response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    body = response.content
    assert body == b"".join(frames[:4]) + b"data: [DONE]\n\n"
    sent = orjson.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent["stream_options"] == {"include_usage": True}  # asked by the gateway so streams are metered


async def test_stream_keeps_usage_when_caller_asks(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    frames = sse(chunk({"content": "x"}), chunk({}, "stop"), USAGE_CHUNK, b"[DONE]")
    httpx_mock.add_response(url=CHAT_URL, stream=IteratorStream(frames))
    response = await client.post(
        "/v1/chat/completions", json={**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert response.content == b"".join(frames)


async def test_stream_cut_before_done_ends_with_error_event(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    frames = sse(chunk({"content": "partial"}))
    httpx_mock.add_response(url=CHAT_URL, stream=IteratorStream(frames))
    response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    events = [line for line in response.text.split("\n\n") if line]
    assert events[0] == frames[0].decode().strip()
    error = orjson.loads(events[-1].removeprefix("data: "))
    assert error["error"]["code"] == "upstream_error"
    assert "[DONE]" not in response.text


async def test_stream_error_event_mid_stream_is_forwarded_as_error(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    frames = sse(chunk({"content": "a"}), {"error": {"message": "The server is overloaded", "type": "server_error"}})
    httpx_mock.add_response(url=CHAT_URL, stream=IteratorStream(frames))
    response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    last = orjson.loads(response.text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert last["error"]["code"] == "overloaded"
    assert "[DONE]" not in response.text


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected_status", "expected_type", "expected_code"),
    [
        (
            400,
            {"error": {"message": "bad temp", "type": "invalid_request_error", "param": "temperature", "code": None}},
            {},
            400,
            "invalid_request_error",
            None,
        ),
        (
            401,
            {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}},
            {},
            401,
            "authentication_error",
            "invalid_api_key",
        ),
        (403, {"error": {"message": "region", "type": "permission_error"}}, {}, 403, "permission_error", None),
        (
            404,
            {"error": {"message": "no such model", "type": "invalid_request_error", "code": "model_not_found"}},
            {},
            404,
            "invalid_request_error",
            "model_not_found",
        ),
        (
            429,
            {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
            {"retry-after": "7"},
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (500, {"error": {"message": "boom", "type": "server_error"}}, {}, 502, "api_error", "upstream_error"),
        (
            503,
            {"error": {"message": "The engine is currently overloaded", "type": "server_error"}},
            {},
            503,
            "service_unavailable_error",
            "overloaded",
        ),
        (502, b"<html>bad gateway</html>", {}, 502, "api_error", "upstream_error"),
    ],
)
async def test_vendor_errors_map_per_contract(
    httpx_mock: HTTPXMock,
    client: httpx.AsyncClient,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected_status: int,
    expected_type: str,
    expected_code: str | None,
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    httpx_mock.add_response(url=CHAT_URL, status_code=status, content=content, headers=headers)
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == expected_status
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (expected_type, expected_code)
    assert error["message"].startswith("openai: ")
    if status == 400:
        assert error["param"] == "temperature"
    if status == 429:
        assert response.headers["retry-after"] == "7"
    assert "sk-test-openai-key" not in response.text


async def test_timeout_is_504(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=CHAT_URL)
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


async def test_connection_refused_is_502(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=CHAT_URL)
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


async def test_malformed_success_body_is_502(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=b"not json")
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    httpx_mock.add_response(url=CHAT_URL, json={"unexpected": True})
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502


async def test_embeddings_pass_through_base64_and_dimensions(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": "AACAPw=="}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    httpx_mock.add_response(url=f"{OPENAI_BASE}/embeddings", json=answer)
    request = {"model": "text-embedding-3-small", "input": "x", "encoding_format": "base64", "dimensions": 1}
    response = await client.post("/api/llm/embeddings", json=request)
    assert response.json() == answer
    assert orjson.loads(httpx_mock.get_request().content) == request  # type: ignore[union-attr]


async def test_instruct_model_uses_native_completions(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    answer = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": " Paris.", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }
    httpx_mock.add_response(url=f"{OPENAI_BASE}/completions", json=answer)
    response = await client.post(
        "/v1/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": "Capital of France?"}
    )
    assert response.json() == answer


async def test_chat_model_serves_legacy_completions_through_chat(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER)
    response = await client.post("/v1/completions", json={"model": "gpt-4o", "prompt": "Say hi", "max_tokens": 5})
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["choices"] == [{"text": "Hello", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    sent = orjson.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent["messages"] == [{"role": "user", "content": "Say hi"}] and sent["max_tokens"] == 5


async def test_provider_test_route_times_a_live_round_trip(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(
        url=f"{OPENAI_BASE}/models", json={"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}
    )
    body = (await client.get("/api/llm/providers/openai/test")).json()
    assert body["provider"] == "openai" and body["ok"] is True and body["error"] is None
    assert isinstance(body["latency_ms"], float)
