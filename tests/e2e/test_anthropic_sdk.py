"""The official openai SDK against the gateway as shipped (uvicorn on loopback, the default aiohttp upstream
transport) with Claude behind it: a loopback fake of the Anthropic API that enforces Anthropic's rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from gateway.app import build_app
from tests.conftest import make_settings, token
from tests.e2e.assembled import assemble
from tests.fakes.anthropic_upstream import FakeAnthropicState, RuleViolationError, build_fake_anthropic, check_request
from tests.servers import serve_in_thread

pytestmark = pytest.mark.anyio

API_KEY = "sk-ant-e2e-key"
MODEL = "claude-sonnet-4-5"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, FakeAnthropicState]]:
    state = FakeAnthropicState(api_key=API_KEY)
    with serve_in_thread(build_fake_anthropic(state)) as upstream:
        settings = make_settings(upstream_transport="aiohttp", anthropic_api_key=API_KEY, anthropic_base_url=upstream)
        with serve_in_thread(build_app(settings)) as gateway:
            yield gateway, state


@pytest.fixture
async def sdk(stack: tuple[str, FakeAnthropicState]) -> AsyncIterator[openai.AsyncOpenAI]:
    gateway, _ = stack
    async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key=token(), max_retries=0) as client:
        yield client


@pytest.fixture
def state(stack: tuple[str, FakeAnthropicState]) -> FakeAnthropicState:
    return stack[1]


async def test_sdk_chat_answers_from_claude(sdk: openai.AsyncOpenAI, state: FakeAnthropicState) -> None:
    completion = await sdk.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "Hello"},
            {"role": "user", "content": "there"},
        ],
        temperature=1.5,
    )
    assert completion.choices[0].message.content == "Hello from fake Claude"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    assert completion.usage is not None and completion.usage.total_tokens == 18
    sent = state.requests[-1]
    assert sent["system"] == "Be brief."
    assert sent["temperature"] == 1.0
    assert state.headers[-1]["x-api-key"] == API_KEY


async def test_sdk_reads_the_adjusted_header(sdk: openai.AsyncOpenAI) -> None:
    raw = await sdk.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}], temperature=2
    )
    assert raw.headers["x-gateway-adjusted"] == "temperature"
    assert raw.headers["x-gateway-provider"] == "anthropic"


async def test_sdk_stream_assembles_the_answer(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    answer = await assemble(stream)
    assert answer.text == "Hello from fake Claude"
    assert answer.finish == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens == 11


async def test_sdk_tool_call_round_trip(sdk: openai.AsyncOpenAI, state: FakeAnthropicState) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await sdk.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert isinstance(call, openai.types.chat.ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"})
    second = await sdk.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool said: 18 C and sunny"
    check_request(state.requests[-1])  # the fake accepted it; re-check its own rules explicitly


async def test_sdk_streamed_tool_call_accumulates(sdk: openai.AsyncOpenAI) -> None:
    async with sdk.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "toolu_fake_01",
        "get_weather",
        {"city": "Paris"},
    )
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("model", "exception"),
    [
        ("claude-fail-400", openai.BadRequestError),
        ("claude-fail-401", openai.AuthenticationError),
        ("claude-fail-403", openai.PermissionDeniedError),
        ("claude-fail-404", openai.NotFoundError),
        ("claude-fail-429", openai.RateLimitError),
        ("claude-fail-500", openai.InternalServerError),
        ("claude-fail-529", openai.InternalServerError),
    ],
)
async def test_sdk_raises_the_matching_exception(
    sdk: openai.AsyncOpenAI, model: str, exception: type[openai.APIStatusError]
) -> None:
    with pytest.raises(exception) as exc:
        await sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}])
    if model == "claude-fail-529":
        assert exc.value.status_code == 503
        assert exc.value.code == "overloaded"


async def test_sdk_gets_a_400_naming_the_param_anthropic_cannot_honour(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], n=2)
    assert exc.value.param == "n"


async def test_sdk_stream_error_mid_stream_raises_api_error(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="claude-overloaded-mid-stream", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    text = ""
    with pytest.raises(openai.APIError, match="Overloaded"):
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    assert text.startswith("Hello")


async def test_fake_saw_no_rule_violation(sdk: openai.AsyncOpenAI, state: FakeAnthropicState) -> None:
    await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert state.violations == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]},  # no max_tokens
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]},
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        },
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "text", "text": "no result"}]},
            ],
        },
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": " "}]}]},
    ],
)
def test_fake_rejects_what_anthropic_rejects(body: dict[str, object]) -> None:
    with pytest.raises(RuleViolationError):
        check_request(body)
