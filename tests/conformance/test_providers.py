"""One conformance suite for every provider (TensorZero's macro idea, STYLE §1.9): the same scenarios, streamed
and not, against OpenAI, Anthropic and Gemini (rule-enforcing loopback fakes, served in-process) and the mock,
with the same OpenAI-shaped expectations. A provider that answers differently from the others fails here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from gateway.app import build_app
from tests.conftest import auth, make_settings
from tests.fakes.anthropic_upstream import FakeAnthropicState, build_fake_anthropic
from tests.fakes.gemini_upstream import GeminiState, build_fake_gemini
from tests.fakes.openai_upstream import FakeState, build_fake_openai

pytestmark = pytest.mark.anyio

MODELS = {
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-5",
    "google": "gemini-2.5-flash",
    "mock": "mock/conformance",
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "basic_text": {"messages": [{"role": "user", "content": "Say hello"}]},
    "system_and_multi_turn": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me something."},
        ]
    },
    "tool_call": {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER]},
    "tool_result_roundtrip": {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temp_c": 18}'},
        ],
        "tools": [WEATHER],
    },
}


class _ByHost(httpx.AsyncBaseTransport):
    """Sends each vendor's calls to its fake app, in-process."""

    def __init__(self, apps: dict[str, Starlette]) -> None:
        self._transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transports[request.url.host].handle_async_request(request)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    fakes = _ByHost(
        {
            "openai.fake": build_fake_openai(FakeState()),
            "anthropic.fake": build_fake_anthropic(FakeAnthropicState(api_key="sk-ant-conf")),
            "google.fake": build_fake_gemini(GeminiState(api_key="AIza-conf")),
        }
    )
    settings = make_settings(
        openai_base_url="http://openai.fake/v1",
        anthropic_api_key="sk-ant-conf",
        anthropic_base_url="http://anthropic.fake",
        google_api_key="AIza-conf",
        google_base_url="http://google.fake",
    )
    app = build_app(settings, upstream_transport=fakes)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=auth()) as c:
            yield c


async def ask(client: httpx.AsyncClient, provider: str, scenario: str, *, stream: bool) -> dict[str, Any]:
    """The answer as one chat.completion, assembled from chunks when streamed (checking the chunk rules on the way)."""
    body = {"model": MODELS[provider], **SCENARIOS[scenario]}
    if not stream:
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        assert response.headers["x-gateway-provider"] == provider
        return dict(response.json())
    response = await client.post(
        "/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert response.status_code == 200, response.text
    frames = [f.removeprefix("data: ") for f in response.text.split("\n\n") if f]
    assert frames[-1] == "[DONE]"
    chunks = [orjson.loads(f) for f in frames[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    content, finish, calls = "", None, {}
    for chunk in chunks[:-1]:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            finish = choice["finish_reason"] or finish
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    call["index"], {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if call.get("id"):
                    assert slot["id"] is None, "a tool call's id is sent once, first"
                    slot["id"] = call["id"]
                    slot["function"]["name"] = call["function"]["name"]
                slot["function"]["arguments"] += call.get("function", {}).get("arguments") or ""
    message = {"role": "assistant", "content": content or None, "tool_calls": [calls[i] for i in sorted(calls)] or None}
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": chunks[-1]["usage"],
    }


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("scenario", ["basic_text", "system_and_multi_turn", "tool_result_roundtrip"])
async def test_text_answer_is_openai_shaped(
    client: httpx.AsyncClient, provider: str, scenario: str, stream: bool
) -> None:
    answer = await ask(client, provider, scenario, stream=stream)
    assert answer["object"] == "chat.completion"
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert not choice["message"].get("tool_calls")
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", list(MODELS))
async def test_tool_call_is_openai_shaped(client: httpx.AsyncClient, provider: str, stream: bool) -> None:
    answer = await ask(client, provider, "tool_call", stream=stream)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert isinstance(call["id"], str) and call["id"]
    assert isinstance(orjson.loads(call["function"]["arguments"]), dict)
