"""The routes' edges: bad input, limits, aliases, models and providers listings, the mock provider."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from gateway.app import build_app
from tests.conftest import auth, make_settings

pytestmark = pytest.mark.anyio

CHAT = {"model": "mock/echo", "messages": [{"role": "user", "content": "Hello there"}]}


@pytest.mark.parametrize("prefix", ["/v1/chat/completions", "/api/llm/chat"])
async def test_chat_mock_echo_on_both_routes(client: httpx.AsyncClient, prefix: str) -> None:
    response = await client.post(prefix, json=CHAT)
    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "chat.completion" and body["model"] == "echo"
    assert body["choices"][0]["message"]["content"] == "Hello there"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert response.headers["x-gateway-provider"] == "mock"
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("content", "status", "param", "fragment"),
    [
        (b"", 400, None, "empty"),
        (b"{not json", 400, None, "not valid JSON"),
        (b"[1, 2]", 400, None, "JSON object"),
        (orjson.dumps({"messages": CHAT["messages"]}), 400, "model", "required"),
        (orjson.dumps({"model": "mock/echo"}), 400, "messages", "required"),
        (orjson.dumps({"model": "mock/echo", "messages": []}), 400, "messages", "at least 1"),
        (
            orjson.dumps({"model": "mock/echo", "messages": [{"role": "robot", "content": "x"}]}),
            400,
            "messages[0].role",
            "robot",
        ),
        (orjson.dumps({**CHAT, "max_tokens": "ten"}), 400, "max_tokens", "integer"),
        (orjson.dumps({**CHAT, "model": "nobody-knows"}), 404, "model", "does not exist"),
        (orjson.dumps({**CHAT, "model": "claude-sonnet-4-5"}), 400, "model", "ANTHROPIC_API_KEY"),
        (orjson.dumps({**CHAT, "model": "gemini-2.5-pro"}), 400, "model", "GOOGLE_API_KEY"),
        (orjson.dumps({**CHAT, "model": "text-embedding-3-small"}), 400, "model", "embedding model"),
    ],
)
async def test_chat_bad_input_gets_openai_error(
    client: httpx.AsyncClient, content: bytes, status: int, param: str | None, fragment: str
) -> None:
    response = await client.post("/v1/chat/completions", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert fragment in error["message"]


async def test_body_over_limit_is_413_without_reading_it_all() -> None:
    app = build_app(make_settings(max_body_bytes=2048))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth()) as c:
            big = orjson.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]})
            response = await c.post("/v1/chat/completions", content=big)
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "payload_too_large"

            async def chunked() -> Any:  # no content-length: the limit applies while reading
                for _ in range(100):
                    yield b"x" * 1024

            response = await c.post("/v1/chat/completions", content=chunked())
            assert response.status_code == 413


async def test_unknown_route_and_wrong_method_are_openai_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    wrong = await client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/health", headers={"x-request-id": "my-id.1"})).headers["x-request-id"] == "my-id.1"
    made = (await client.get("/api/health", headers={"x-request-id": "bad id\twith tab"})).headers["x-request-id"]
    assert made.startswith("req_")


async def test_stream_mock_gives_chunks_and_done(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    frames = [f for f in response.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    chunks = [orjson.loads(f.removeprefix("data: ")) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)  # not asked for


async def test_stream_mock_usage_chunk_when_asked(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    frames = [f for f in (await client.post("/v1/chat/completions", json=body)).text.split("\n\n") if f]
    last = orjson.loads(frames[-2].removeprefix("data: "))
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0


async def test_stream_failure_mid_stream_is_one_error_event_without_done(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "model": "mock/err-in-stream", "stream": True}
    frames = [f for f in (await client.post("/v1/chat/completions", json=body)).text.split("\n\n") if f]
    assert "[DONE]" not in frames[-1]
    assert orjson.loads(frames[-1].removeprefix("data: "))["error"]["code"] == "upstream_error"
    assert sum("error" in f for f in frames) == 1


@pytest.mark.parametrize(
    ("model", "status"),
    [("mock/error-429", 429), ("mock/error-500", 502), ("mock/error-529", 503), ("mock/error-400", 400)],
)
async def test_mock_errors_map_like_vendor_errors(client: httpx.AsyncClient, model: str, status: int) -> None:
    response = await client.post("/v1/chat/completions", json={**CHAT, "model": model})
    assert response.status_code == status
    if status == 429:
        assert response.headers["retry-after"] == "1"


async def test_mock_calls_a_tool_when_tools_are_offered(client: httpx.AsyncClient) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city"],
                },
            },
        }
    ]
    body = (await client.post("/v1/chat/completions", json={**CHAT, "tools": tools})).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and orjson.loads(call["function"]["arguments"]) == {"city": "mock"}


async def test_mock_max_tokens_truncates_with_length(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/chat/completions", json={**CHAT, "model": "mock/anything", "max_tokens": 3})).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert len(body["choices"][0]["message"]["content"].split(" ")) == 3


async def test_legacy_completion_through_chat_with_prompts_and_echo(client: httpx.AsyncClient) -> None:
    body = (
        await client.post("/v1/completions", json={"model": "mock/echo", "prompt": ["a b", "c"], "n": 2, "echo": True})
    ).json()
    assert body["object"] == "text_completion"
    assert [(c["index"], c["text"]) for c in body["choices"]] == [(0, "a ba b"), (1, "a ba b"), (2, "cc"), (3, "cc")]


async def test_legacy_completion_stream_is_text_completion_chunks(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/llm/completions", json={"model": "mock/echo", "prompt": "one two", "stream": True}
    )
    frames = [orjson.loads(f.removeprefix("data: ")) for f in response.text.split("\n\n") if f and "[DONE]" not in f]
    assert {f["object"] for f in frames} == {"text_completion"}
    assert "".join(c["text"] for f in frames for c in f["choices"]) == "one two"


async def test_legacy_completion_token_prompt_needs_native_model(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/completions", json={"model": "mock/echo", "prompt": [1, 2, 3]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "prompt"


@pytest.mark.parametrize("encoding", [None, "float", "base64"])
async def test_embeddings_mock_in_both_encodings(client: httpx.AsyncClient, encoding: str | None) -> None:
    request: dict[str, Any] = {"model": "mock/mock-embedding", "input": ["alpha", "beta"], "dimensions": 4}
    if encoding:
        request["encoding_format"] = encoding
    body = (await client.post("/v1/embeddings", json=request)).json()
    vectors = [d["embedding"] for d in body["data"]]
    if encoding == "base64":
        vectors = [list(struct.unpack("<4f", base64.b64decode(v))) for v in vectors]
    assert [len(v) for v in vectors] == [4, 4] and vectors[0] != vectors[1]
    assert [d["index"] for d in body["data"]] == [0, 1]


async def test_embeddings_on_anthropic_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/embeddings", json={"model": "claude-sonnet-4-5", "input": "x"})
    assert response.status_code == 400 and "does not support embeddings" in response.json()["error"]["message"]


async def test_models_lists(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/api/llm/models")).json()["data"]
    assert {m["provider"] for m in everything} == {"openai", "anthropic", "google", "mock"}
    claude = next(m for m in everything if m["id"] == "claude-sonnet-4-5")
    assert claude["available"] is False and claude["pricing"]["input"] > 0 and claude["context_window"] > 0
    v1 = (await client.get("/v1/models")).json()
    assert v1["object"] == "list"
    assert {m["owned_by"] for m in v1["data"]} == {"openai", "mock"}  # only configured providers
    assert "mock/echo" in {m["id"] for m in v1["data"]}
    google = (await client.get("/api/llm/models/gemini")).json()["data"]
    assert google and {m["provider"] for m in google} == {"google"}
    assert (await client.get("/api/llm/models/nobody")).status_code == 404
    assert (await client.get("/v1/models/gpt-4o")).json()["id"] == "gpt-4o"


async def test_providers_listing(client: httpx.AsyncClient) -> None:
    data = {p["name"]: p for p in (await client.get("/api/llm/providers")).json()["data"]}
    assert set(data) == {"openai", "anthropic", "google", "mock"}
    assert data["openai"]["configured"] is True and data["anthropic"]["configured"] is False
    assert data["openai"]["models"] > 0
    missing = (await client.get("/api/llm/providers/anthropic/test")).json()
    assert missing == {"provider": "anthropic", "ok": False, "latency_ms": None, "error": "not configured"}


async def test_auth_disabled_serves_without_token() -> None:
    app: Starlette = build_app(make_settings(auth_disabled=True, jwt_secret=None))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_deeply_nested_body_is_400_not_500(client: httpx.AsyncClient) -> None:
    deep = (
        b'{"model": "mock/echo", "messages": [{"role": "user", "content": "x"}], "metadata": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}"
    )
    response = await client.post("/v1/chat/completions", content=deep)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
