"""The Google (Gemini) provider through the whole app, with the vendor faked by pytest-httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from gateway.settings import Settings
from tests.conftest import GOOGLE_BASE, make_settings
from tests.translators import gemini_golden as golden
from translators.embeddings import decode_vector

pytestmark = pytest.mark.anyio

KEY = "AIza-test-google-key"
MODELS = f"{GOOGLE_BASE}/v1beta/models"
CHAT_URL = f"{MODELS}/gemini-2.5-flash:generateContent"
STREAM_URL = f"{MODELS}/gemini-2.5-flash:streamGenerateContent?alt=sse"
NO_FAILOVER: dict[str, Any] = {"fallbacks": []}


@pytest.fixture
def settings() -> Settings:
    return make_settings(google_api_key=KEY)


def sent_json(httpx_mock: HTTPXMock, url: str | None = None) -> Any:
    request = httpx_mock.get_request(url=url) if url else httpx_mock.get_request()
    assert request is not None
    return orjson.loads(request.content)


def sse_events(text: str) -> list[Any]:
    return [json.loads(e.removeprefix("data: ")) if e != "data: [DONE]" else "[DONE]" for e in text.split("\n\n") if e]


async def test_chat_sends_translated_body_to_generate_content(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=golden.load("basic_text", "vendor_response.json"))
    response = await client.post("/v1/chat/completions", json=golden.load("basic_text", "openai_request.json"))
    assert response.status_code == 200
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["x-goog-api-key"] == KEY
    assert "authorization" not in request.headers
    assert orjson.loads(request.content) == golden.load("basic_text", "vendor_request.json")
    body = response.json()
    assert response.headers["x-gateway-provider"] == "google"
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "gemini-2.5-flash"
    assert body["choices"][0]["message"]["content"] == "The capital of France is Paris."
    assert body["usage"]["total_tokens"] == 17


async def test_chat_gemini_prefix_routes_to_google(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=golden.load("basic_text", "vendor_response.json"))
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "gemini/gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "google"


async def test_chat_names_adjusted_params(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=golden.load("basic_text", "vendor_response.json"))
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "seed": 2**40}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.headers["x-gateway-adjusted"] == "seed"
    assert sent_json(httpx_mock)["generationConfig"]["seed"] == 0


async def test_chat_tool_calls_get_generated_ids_carrying_the_signature(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=golden.load("parallel_tools", "vendor_response.json"))
    response = await client.post("/v1/chat/completions", json=golden.load("parallel_tools", "openai_request.json"))
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == 3 and all(i.startswith("call_") for i in ids)
    assert "__thought__" in ids[0] and "__thought__" not in ids[1]
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"


async def test_chat_fetches_image_urls_and_inlines_them(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    image_url = "http://93.184.216.34/cat.png"  # a public IP literal: no DNS needed, and pytest-httpx answers it
    httpx_mock.add_response(url=image_url, content=b"\x89PNG-bytes", headers={"content-type": "image/png"})
    httpx_mock.add_response(url=CHAT_URL, json=golden.load("basic_text", "vendor_response.json"))
    content = [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": image_url}}]
    response = await client.post(
        "/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]}
    )
    assert response.status_code == 200
    parts = sent_json(httpx_mock, CHAT_URL)["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORy1ieXRlcw=="}}


@pytest.mark.parametrize("url", ["http://127.0.0.1/x.png", "http://169.254.169.254/latest", "http://10.0.0.1/a.png"])
async def test_chat_refused_image_url_is_400_naming_the_field(client: httpx.AsyncClient, url: str) -> None:
    content = [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]
    response = await client.post(
        "/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages[0].content[1].image_url.url"
    assert "not allowed" in error["message"]


async def test_chat_untranslatable_request_is_400_without_upstream_call(client: httpx.AsyncClient) -> None:
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "logprobs": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "logprobs"


def gemini_error(code: int, status: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected_type", "expected_code"),
    [
        (400, gemini_error(400, "INVALID_ARGUMENT", "Invalid value at 'contents'"), 400, "invalid_request_error", None),
        (
            400,
            gemini_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            ),
            400,
            "authentication_error",
            "invalid_api_key",
        ),
        (403, gemini_error(403, "PERMISSION_DENIED", "Permission denied"), 403, "permission_error", None),
        (
            404,
            gemini_error(404, "NOT_FOUND", "models/gemini-2.5-flash is not found"),
            404,
            "invalid_request_error",
            "model_not_found",
        ),
        (500, gemini_error(500, "INTERNAL", "An internal error has occurred."), 502, "api_error", "upstream_error"),
        (
            503,
            gemini_error(503, "UNAVAILABLE", "The model is overloaded."),
            503,
            "service_unavailable_error",
            "overloaded",
        ),
        (503, gemini_error(503, "UNAVAILABLE", "Service unavailable."), 502, "api_error", "upstream_error"),
    ],
)
async def test_vendor_errors_map_per_contract(
    httpx_mock: HTTPXMock,
    client: httpx.AsyncClient,
    status: int,
    body: dict[str, Any],
    expected_status: int,
    expected_type: str,
    expected_code: str | None,
) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=status, json=body, is_reusable=True)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], **NO_FAILOVER},
    )
    assert response.status_code == expected_status
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (expected_type, expected_code)
    assert body["error"]["message"] in error["message"]


async def test_vendor_429_retry_delay_becomes_retry_after(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]
    httpx_mock.add_response(
        url=CHAT_URL,
        status_code=429,
        json=gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", details),
        is_reusable=True,
    )
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], **NO_FAILOVER},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "37"
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_malformed_success_body_is_502(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=CHAT_URL, json={"candidates": "nope"}, is_reusable=True)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], **NO_FAILOVER},
    )
    assert response.status_code == 502


def slices(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_stream_uses_alt_sse_and_ends_with_done(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    raw = golden.raw("unicode_split_across_chunks", "vendor_stream.sse")
    httpx_mock.add_response(
        url=STREAM_URL, stream=IteratorStream(slices(raw)), headers={"content-type": "text/event-stream"}
    )
    body = {**golden.load("unicode_split_across_chunks", "openai_request.json"), "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    request = httpx_mock.get_request()
    assert request is not None and request.url.params["alt"] == "sse"
    assert orjson.loads(request.content) == golden.load("unicode_split_across_chunks", "vendor_request.json")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Größe: 日本語 😀 — naïve café"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)  # the caller did not ask for usage


async def test_stream_usage_chunk_when_asked(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    raw = golden.raw("thinking", "vendor_stream.sse")
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream(slices(raw)))
    body = {**golden.load("thinking", "openai_request.json"), "stream": True, "stream_options": {"include_usage": True}}
    events = sse_events((await client.post("/v1/chat/completions", json=body)).text)
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens_details"] == {"reasoning_tokens": 140}


async def test_stream_vendor_error_mid_stream_is_one_error_event(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    raw = golden.raw("vendor_error_overloaded", "vendor_stream.sse")
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream(slices(raw)), is_reusable=True)
    body = {**golden.load("vendor_error_overloaded", "openai_request.json"), **NO_FAILOVER}
    response = await client.post("/v1/chat/completions", json=body)
    events = sse_events(response.text)
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "overloaded"
    assert events[-2]["choices"][0]["delta"] == {"content": "Hel"}


async def test_stream_error_before_start_keeps_the_status(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=STREAM_URL, status_code=403, json=gemini_error(403, "PERMISSION_DENIED", "no"))
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "stream": True, **NO_FAILOVER}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 403


async def test_embeddings_single_uses_embed_content(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(
        url=f"{MODELS}/gemini-embedding-001:embedContent", json=golden.load("embeddings_single", "vendor_response.json")
    )
    response = await client.post("/v1/embeddings", json=golden.load("embeddings_single", "openai_request.json"))
    assert response.status_code == 200
    assert response.json() == golden.load("embeddings_single", "openai_response.json")
    assert sent_json(httpx_mock) == golden.load("embeddings_single", "vendor_request.json")["body"]


async def test_embeddings_batch_is_split_in_order_and_base64(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        requests = orjson.loads(request.content)["requests"]
        values = [{"values": [float(r["content"]["parts"][0]["text"][1:]), 0.5]} for r in requests]
        return httpx.Response(200, json={"embeddings": values})

    httpx_mock.add_callback(answer, url=f"{MODELS}/gemini-embedding-001:batchEmbedContents", is_reusable=True)
    inputs = [f"t{i}" for i in range(150)]
    response = await client.post(
        "/v1/embeddings", json={"model": "gemini-embedding-001", "input": inputs, "encoding_format": "base64"}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [decode_vector(d["embedding"])[0] for d in data] == [float(i) for i in range(150)]
    sizes = [len(orjson.loads(r.content)["requests"]) for r in httpx_mock.get_requests()]
    assert sizes == [100, 50]


async def test_embeddings_token_arrays_are_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/embeddings", json={"model": "gemini-embedding-001", "input": [1, 2, 3]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input"


async def test_list_models_follows_next_page_token(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(
        url=f"{MODELS}?pageSize=1000",
        json={
            "models": [{"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]}],
            "nextPageToken": "p/2",
        },
    )
    httpx_mock.add_response(
        url=f"{MODELS}?pageSize=1000&pageToken=p%2F2",
        json={
            "models": [
                {"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]},
                {"name": "models/aqa", "supportedGenerationMethods": ["generateAnswer"]},
            ]
        },
    )
    response = await client.get("/api/llm/providers/google/test")
    assert response.json()["ok"] is True
    assert all(r.headers["x-goog-api-key"] == KEY for r in httpx_mock.get_requests())
