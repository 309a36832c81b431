"""The Anthropic provider through the whole app, with the vendor faked by pytest-httpx: headers and golden bodies
sent, answers and streams translated, vendor errors mapped per CONTRACT §6."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from gateway.providers.anthropic import AnthropicProvider
from gateway.settings import Settings
from gateway.transport import Upstream
from tests.conftest import ANTHROPIC_BASE, make_settings
from tests.translators.anthropic_golden import load, raw

pytestmark = pytest.mark.anyio

MESSAGES_URL = f"{ANTHROPIC_BASE}/v1/messages"
API_KEY = "sk-ant-test"


@pytest.fixture
def settings() -> Settings:
    return make_settings(anthropic_api_key=API_KEY)


def normalised(item: dict[str, Any]) -> dict[str, Any]:
    """A chunk or answer with the per-request id and clock replaced by the goldens' values."""
    return {**item, "id": "chatcmpl-golden", "created": 1767225600} if "id" in item else item


def frames(text: str) -> list[Any]:
    out: list[Any] = []
    for frame in text.split("\n\n"):
        if not frame:
            continue
        assert frame.startswith("data: ")
        payload = frame.removeprefix("data: ")
        out.append("[DONE]" if payload == "[DONE]" else orjson.loads(payload))
    return out


def slices(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_chat_sends_golden_body_and_anthropic_headers(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=MESSAGES_URL, method="POST", json=load("basic_text", "vendor_response.json"))
    response = await client.post("/v1/chat/completions", json=load("basic_text", "openai_request.json"))
    assert response.status_code == 200
    assert normalised(response.json()) == load("basic_text", "openai_response.json")
    assert response.headers["x-gateway-provider"] == "anthropic"
    assert "x-gateway-adjusted" not in response.headers
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert orjson.loads(sent.content) == load("basic_text", "vendor_request.json")


async def test_chat_names_adjusted_params_in_a_header(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=MESSAGES_URL, json=load("system_and_multi_turn", "vendor_response.json"))
    response = await client.post("/v1/chat/completions", json=load("system_and_multi_turn", "openai_request.json"))
    assert response.headers["x-gateway-adjusted"] == "temperature,top_p"
    assert orjson.loads(httpx_mock.get_request().content) == load(  # type: ignore[union-attr]
        "system_and_multi_turn", "vendor_request.json"
    )


async def test_chat_resolves_an_alias_and_answers_with_the_resolved_model(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    httpx_mock.add_response(url=MESSAGES_URL, json=load("basic_text", "vendor_response.json"))
    body = {"model": "claude-3-haiku", "messages": [{"role": "user", "content": "Hi"}]}
    response = await client.post("/v1/chat/completions", json=body)
    sent = orjson.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent["model"] == "claude-haiku-4-5"
    assert sent["max_tokens"] == 64000  # the catalog's output limit for the model
    assert response.json()["model"] == "claude-haiku-4-5"


async def test_untranslatable_request_is_a_400_before_any_upstream_call(client: httpx.AsyncClient) -> None:
    body = {"model": "claude-sonnet-4-5", "n": 2, "messages": [{"role": "user", "content": "Hi"}]}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n"


async def test_embeddings_on_an_anthropic_model_are_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/embeddings", json={"model": "claude-sonnet-4-5", "input": "hi"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "model"


async def test_legacy_completion_is_served_through_messages(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=MESSAGES_URL, json=load("basic_text", "vendor_response.json"))
    response = await client.post("/v1/completions", json={"model": "claude-sonnet-4-5", "prompt": "Say hello."})
    answer = response.json()
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "Hello! How can I help you today?"
    assert orjson.loads(httpx_mock.get_request().content)["max_tokens"] == 16  # type: ignore[union-attr]


async def test_stream_is_translated_through_the_gateway(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(
        url=MESSAGES_URL,
        stream=IteratorStream(slices(raw("tool_call", "vendor_stream.sse"), 7)),
        headers={"content-type": "text/event-stream"},
    )
    response = await client.post(
        "/v1/chat/completions", json={**load("tool_call", "openai_request.json"), "stream": True}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    got = frames(response.text)
    assert got[-1] == "[DONE]"
    expected = [
        {k: v for k, v in c.items() if k != "usage"}
        for c in (orjson.loads(line) for line in raw("tool_call", "openai_stream.jsonl").splitlines())
        if c["choices"]  # the caller did not ask for the usage chunk
    ]
    assert [normalised(c) for c in got[:-1]] == expected
    assert orjson.loads(httpx_mock.get_request().content)["stream"] is True  # type: ignore[union-attr]


async def test_stream_sends_the_usage_chunk_when_asked(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    httpx_mock.add_response(url=MESSAGES_URL, stream=IteratorStream([raw("basic_text", "vendor_stream.sse")]))
    body = {**load("basic_text", "openai_request.json"), "stream": True, "stream_options": {"include_usage": True}}
    response = await client.post("/v1/chat/completions", json=body)
    expected = [orjson.loads(line) for line in raw("basic_text", "openai_stream.jsonl").splitlines()]
    assert [normalised(c) for c in frames(response.text)[:-1]] == expected


async def test_stream_error_event_gives_one_error_frame_and_no_done(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    data = raw("vendor_error_overloaded", "vendor_stream.sse")
    httpx_mock.add_response(url=MESSAGES_URL, stream=IteratorStream(slices(data, 7)))
    response = await client.post("/v1/chat/completions", json=load("vendor_error_overloaded", "openai_request.json"))
    got = frames(response.text)
    assert "[DONE]" not in got
    errors = [f for f in got if "error" in f]
    assert len(errors) == 1
    assert got[-1] is errors[0]
    assert errors[0]["error"]["code"] == "overloaded"
    assert "Overloaded" in errors[0]["error"]["message"]
    assert "".join(f["choices"][0]["delta"].get("content", "") for f in got[:-1]) == "Once upon a time"


async def test_stream_cut_before_message_stop_ends_with_an_error_frame(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    data = raw("basic_text", "vendor_stream.sse")
    httpx_mock.add_response(url=MESSAGES_URL, stream=IteratorStream([data[: data.index(b"event: message_delta")]]))
    body = {**load("basic_text", "openai_request.json"), "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    got = frames(response.text)
    assert "[DONE]" not in got
    assert got[-1]["error"]["code"] == "upstream_error"


@pytest.mark.parametrize(
    ("status", "vendor_type", "headers", "expected_status", "expected_code"),
    [
        (400, "invalid_request_error", {}, 400, None),
        (401, "authentication_error", {}, 401, "invalid_api_key"),
        (403, "permission_error", {}, 403, None),
        (404, "not_found_error", {}, 404, "model_not_found"),
        (413, "request_too_large", {}, 413, "request_too_large"),
        (429, "rate_limit_error", {"retry-after": "12"}, 429, "rate_limit_exceeded"),
        (500, "api_error", {}, 502, "upstream_error"),
        (529, "overloaded_error", {}, 503, "overloaded"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_vendor_status_maps_per_contract(
    httpx_mock: HTTPXMock,
    client: httpx.AsyncClient,
    status: int,
    vendor_type: str,
    headers: dict[str, str],
    expected_status: int,
    expected_code: str | None,
    stream: bool,
) -> None:
    message = "model: claude-nope" if status == 404 else f"vendor says {vendor_type}"
    body = {"type": "error", "error": {"type": vendor_type, "message": message}, "request_id": "req_1"}
    httpx_mock.add_response(url=MESSAGES_URL, status_code=status, json=body, headers=headers)
    request = {**load("basic_text", "openai_request.json"), "stream": stream}
    response = await client.post("/v1/chat/completions", json=request)
    assert response.status_code == expected_status
    error = response.json()["error"]
    assert error["code"] == expected_code
    assert message in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    if status == 429:
        assert response.headers["retry-after"] == "12"
    assert API_KEY not in response.text


async def test_provider_test_route_lists_models(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    page = {
        "data": [{"type": "model", "id": "claude-sonnet-4-5-20250929", "created_at": "2025-09-29T00:00:00Z"}],
        "has_more": False,
        "last_id": "claude-sonnet-4-5-20250929",
    }
    httpx_mock.add_response(url=f"{ANTHROPIC_BASE}/v1/models?limit=1000", method="GET", json=page)
    response = await client.get("/api/llm/providers/anthropic/test")
    assert response.json()["ok"] is True
    assert httpx_mock.get_request().headers["x-api-key"] == API_KEY  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "max_tokens"),
    [("claude-sonnet-4-5-20250929", 64000), ("claude-3-5-haiku-latest", 8192), ("claude-unheard-of", 4096)],
)
async def test_default_max_tokens_comes_from_the_models_family(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient, model: str, max_tokens: int
) -> None:
    httpx_mock.add_response(url=MESSAGES_URL, json=load("basic_text", "vendor_response.json"))
    await client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "Hi"}]})
    assert orjson.loads(httpx_mock.get_request().content)["max_tokens"] == max_tokens  # type: ignore[union-attr]


async def test_list_models_follows_pages(httpx_mock: HTTPXMock, settings: Settings) -> None:
    def page(model: str, more: bool) -> dict[str, Any]:
        item = {"type": "model", "id": model, "created_at": "2025-01-01T00:00:00Z"}
        return {"data": [item], "has_more": more, "last_id": model}

    httpx_mock.add_response(url=f"{ANTHROPIC_BASE}/v1/models?limit=1000", json=page("claude-a", True))
    httpx_mock.add_response(
        url=f"{ANTHROPIC_BASE}/v1/models?limit=1000&after_id=claude-a", json=page("claude-b", False)
    )
    provider = AnthropicProvider.from_settings(
        settings, Upstream(httpx.AsyncHTTPTransport(), timeout_s=30, connect_timeout_s=10)
    )
    try:
        models = await provider.list_models()
    finally:
        await provider.aclose()
    assert [m["id"] for m in models] == ["claude-a", "claude-b"]
    assert models[0] == {"id": "claude-a", "object": "model", "created": 1735689600, "owned_by": "anthropic"}
