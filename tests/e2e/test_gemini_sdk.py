"""The official openai SDK against the gateway (uvicorn, aiohttp upstream transport) in front of a loopback fake
Gemini API that enforces Gemini's own rules: the SDK must not be able to tell that Gemini answered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from gateway.app import build_app
from tests.conftest import make_settings, token
from tests.e2e.assembled import assemble
from tests.fakes.gemini_upstream import GeminiState, build_fake_gemini
from tests.servers import serve_in_thread

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

KEY = "AIza-e2e-fake-key"
MODEL = "gemini-2.5-flash"
NO_FAILOVER: dict[str, Any] = {"fallbacks": []}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, GeminiState]]:
    state = GeminiState(api_key=KEY)
    with serve_in_thread(build_fake_gemini(state)) as url:
        yield url, state


@pytest.fixture(scope="module")
def gateway(upstream: tuple[str, GeminiState]) -> Iterator[str]:
    settings = make_settings(upstream_transport="aiohttp", google_api_key=KEY, google_base_url=upstream[0])
    with serve_in_thread(build_app(settings)) as url:
        yield url


@pytest.fixture
async def sdk(gateway: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key=token(), max_retries=0) as client:
        yield client


async def test_sdk_chat(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello Gemini"}],
        temperature=0.5,
    )
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].message.content == "Echo: Hello Gemini"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


async def test_sdk_stream(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "stream this please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    answer = await assemble(stream)
    assert answer.text == "Echo: stream this please"
    assert answer.finish == "stop"
    assert answer.usage is not None and answer.usage.total_tokens > 0


async def test_sdk_tools_round_trip(sdk: openai.AsyncOpenAI, upstream: tuple[str, GeminiState]) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await sdk.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], tool_choice="required")
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Paris"}'
    # the client echoes history back as OpenAI clients do; the fake refuses a call without its thought signature
    messages.append(message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'})
    second = await sdk.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == 'Tool results: get_weather -> {"temp_c":18}'
    sent = upstream[1].requests[-1]
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnLWZha2UrLz0="


async def test_sdk_stream_tool_call(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += delta.id or ""
                slot["name"] += (delta.function.name if delta.function else None) or ""
                slot["arguments"] += (delta.function.arguments if delta.function else None) or ""
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["arguments"] == '{"city":"Paris"}'
    assert calls[0]["id"].startswith("call_")


async def test_sdk_embeddings_base64_default(sdk: openai.AsyncOpenAI, upstream: tuple[str, GeminiState]) -> None:
    result = await sdk.embeddings.create(model="gemini-embedding-001", input=["a", "bbb"], dimensions=3)
    assert [d.embedding for d in result.data] == [[1.0, 0.25, 0.5], [3.0, 0.25, 0.5]]
    assert upstream[1].paths[-1].endswith(":batchEmbedContents")


async def test_sdk_embeddings_float(sdk: openai.AsyncOpenAI, upstream: tuple[str, GeminiState]) -> None:
    result = await sdk.embeddings.create(model="gemini-embedding-001", input="hello", encoding_format="float")
    assert result.data[0].embedding == [5.0, 0.25, 0.5]
    assert upstream[1].paths[-1].endswith(":embedContent")


@pytest.mark.parametrize(
    ("model", "error_class", "status"),
    [
        ("gemini-overloaded", openai.InternalServerError, 503),
        ("gemini-ratelimited", openai.RateLimitError, 429),
        ("gemini-missing", openai.NotFoundError, 404),
    ],
)
async def test_sdk_vendor_errors_raise_the_right_class(
    sdk: openai.AsyncOpenAI, model: str, error_class: type[openai.APIStatusError], status: int
) -> None:
    with pytest.raises(error_class) as info:
        await sdk.chat.completions.create(
            model=f"google/{model}", messages=[{"role": "user", "content": "x"}], extra_body=NO_FAILOVER
        )
    assert info.value.status_code == status


async def test_sdk_untranslatable_request_is_bad_request(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], logprobs=True)
    assert info.value.param == "logprobs"


async def test_sdk_invalid_vendor_key_is_bad_request_with_invalid_api_key(upstream: tuple[str, GeminiState]) -> None:
    settings = make_settings(upstream_transport="aiohttp", google_api_key="AIza-wrong", google_base_url=upstream[0])
    with serve_in_thread(build_app(settings)) as gateway:
        async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key=token(), max_retries=0) as sdk:
            with pytest.raises(openai.BadRequestError) as info:
                await sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "x"}], extra_body=NO_FAILOVER
                )
    assert info.value.code == "invalid_api_key"
