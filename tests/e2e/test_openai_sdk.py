"""The official openai SDK against the gateway as shipped: uvicorn on loopback, the default aiohttp upstream
transport, and a loopback fake of the OpenAI API (plus the in-process mock provider)."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from gateway.app import build_app
from tests.conftest import make_settings, token
from tests.e2e.assembled import assemble
from tests.fakes.openai_upstream import FakeState, build_fake_openai
from tests.servers import serve_in_thread

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    with serve_in_thread(build_fake_openai(state)) as upstream:
        settings = make_settings(upstream_transport="aiohttp", openai_base_url=f"{upstream}/v1", mock_stream_delay_ms=1)
        with serve_in_thread(build_app(settings)) as gateway:
            yield gateway, state


@pytest.fixture(params=["/v1", "/api/llm"])
async def sdk(stack: tuple[str, FakeState], request: pytest.FixtureRequest) -> AsyncIterator[openai.AsyncOpenAI]:
    gateway, _ = stack
    http_client = None
    if request.param == "/api/llm":
        # the SDK appends /chat/completions to its base URL, so a rewriting transport maps it onto /api/llm/chat
        http_client = openai.DefaultAsyncHttpxClient(transport=_Rewrite())
    async with openai.AsyncOpenAI(
        base_url=f"{gateway}/v1", api_key=token(), max_retries=0, http_client=http_client
    ) as client:
        yield client


# the SDK's own httpx (openai 3.x ships `httpx2`, older releases use `httpx`)
SDK_HTTPX = importlib.import_module(openai.DefaultAsyncHttpxClient.__mro__[1].__module__.split(".")[0])


class _Rewrite(SDK_HTTPX.AsyncHTTPTransport):  # type: ignore[misc,name-defined]
    """Sends the SDK's /v1/* calls to the /api/llm/* routes, so one test body checks both route families."""

    async def handle_async_request(self, request):  # type: ignore[no-untyped-def]
        path = request.url.path
        mapped = {
            "/v1/chat/completions": "/api/llm/chat",
            "/v1/completions": "/api/llm/completions",
            "/v1/embeddings": "/api/llm/embeddings",
        }.get(path, path)
        request.url = request.url.copy_with(path=mapped)
        return await super().handle_async_request(request)


async def test_sdk_chat(sdk: openai.AsyncOpenAI) -> None:
    answer = await sdk.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hello from fake OpenAI"
    assert answer.usage is not None and answer.usage.total_tokens == 13


async def test_sdk_stream(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )  # type: ignore[arg-type]
    answer = await assemble(stream)
    assert answer.text == "Hello from fake OpenAI"
    assert answer.usage is not None and answer.usage.completion_tokens == 4


async def test_sdk_embeddings_float_and_base64(sdk: openai.AsyncOpenAI) -> None:
    default = await sdk.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=2
    )  # SDK asks base64
    assert [d.embedding for d in default.data] == [[1.0, 1.0], [2.0, 2.0]]
    floats = await sdk.embeddings.create(model="text-embedding-3-small", input="a", encoding_format="float")
    assert floats.data[0].embedding == [1.0, 1.0, 1.0]


async def test_sdk_completions(sdk: openai.AsyncOpenAI) -> None:
    native = await sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="Capital of France?")
    assert native.choices[0].text == " Paris."
    through_chat = await sdk.completions.create(model="mock/echo", prompt="say this", max_tokens=10)
    assert through_chat.object == "text_completion" and through_chat.choices[0].text == "say this"


async def test_sdk_models(stack: tuple[str, FakeState]) -> None:
    async with openai.AsyncOpenAI(base_url=f"{stack[0]}/v1", api_key=token(), max_retries=0) as sdk:
        ids = {m.id async for m in sdk.models.list()}
    assert {"gpt-4o", "mock/echo"} <= ids


async def test_sdk_mock_provider_stream(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "a b c"


@pytest.mark.parametrize(
    ("model", "exception"),
    [
        ("fail-400", openai.BadRequestError),
        ("fail-401", openai.AuthenticationError),
        ("fail-404", openai.NotFoundError),
        ("fail-429", openai.RateLimitError),
        ("fail-500", openai.InternalServerError),
        ("nobody-knows-this", openai.NotFoundError),
        ("mock/error-529", openai.InternalServerError),
    ],
)
async def test_sdk_raises_the_right_exception(sdk: openai.AsyncOpenAI, model: str, exception: type[Exception]) -> None:
    name = model if model.startswith(("mock/", "nobody")) else f"openai/{model}"
    with pytest.raises(exception):
        await sdk.chat.completions.create(model=name, messages=USER)  # type: ignore[arg-type]


async def test_sdk_bad_token_is_authentication_error(stack: tuple[str, FakeState]) -> None:
    async with openai.AsyncOpenAI(base_url=f"{stack[0]}/v1", api_key="sk-not-a-jwt", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.chat.completions.create(model="mock/echo", messages=USER)  # type: ignore[arg-type]


async def test_sdk_mid_stream_failure_raises_api_error(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(model="mock/err-in-stream", messages=USER, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_client_disconnect_cancels_upstream(stack: tuple[str, FakeState]) -> None:
    gateway, state = stack
    before = state.streams_cancelled
    body = {"model": "openai/slow-stream", "messages": USER, "stream": True}
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream(
            "POST", f"{gateway}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {token()}"}
        ) as response:
            async for line in response.aiter_lines():
                if "tick" in line:
                    break  # leave mid-stream: the connection closes here
    deadline = time.monotonic() + 3
    while state.streams_cancelled == before and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert state.streams_cancelled == before + 1
