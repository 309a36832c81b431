"""The official openai SDK against the gateway on loopback (uvicorn in a thread, mock provider): a limited call
is `openai.RateLimitError`, and with retries on, the SDK's own retry logic waits as told and gets through."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from gateway.app import build_app
from tests.conftest import make_settings, token
from tests.servers import serve_in_thread

pytestmark = pytest.mark.slow

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]
WINDOW_MS = 3000  # 2 calls per 3 s: one frees every 1.5 s (the SDK's own first backoff is under 0.5 s)


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    settings = make_settings(llm_rate_limit_max_requests=2, llm_rate_limit_window_ms=WINDOW_MS)
    with serve_in_thread(build_app(settings)) as url:
        yield url


def client(gateway: str, user: str, *, retries: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=token(user), max_retries=retries)


def test_sdk_sees_rate_limit_error_with_headers(gateway: str) -> None:
    with client(gateway, "sdk-plain", retries=0) as sdk:
        first = sdk.chat.completions.with_raw_response.create(model="mock/echo", messages=USER)
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-reset-requests"] == "1.5s"
        sdk.chat.completions.create(model="mock/echo", messages=USER)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="mock/echo", messages=USER)
    error = caught.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    assert error.response.headers["retry-after"] == "2"
    assert 0 < int(error.response.headers["retry-after-ms"]) <= 1500
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_sdk_retries_honour_retry_after(gateway: str) -> None:
    with client(gateway, "sdk-retry", retries=3) as sdk:
        sdk.chat.completions.create(model="mock/echo", messages=USER)
        sdk.chat.completions.create(model="mock/echo", messages=USER)
        started = time.monotonic()
        answer = sdk.chat.completions.with_raw_response.create(model="mock/echo", messages=USER)
        waited = time.monotonic() - started
    assert answer.parse().choices[0].message.content == "Hello"
    assert 1.0 <= waited < 4.0  # about one slot (1.5 s less the time spent), not the SDK's own backoff
    assert answer.http_request.headers["x-stainless-retry-count"] == "1"  # one refusal, one retry
    assert answer.retries_taken == 1


def test_sdk_streaming_call_is_limited_too(gateway: str) -> None:
    with client(gateway, "sdk-stream", retries=0) as sdk:
        for _ in range(2):
            chunks = list(sdk.chat.completions.create(model="mock/echo", messages=USER, stream=True))
            assert chunks
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="mock/echo", messages=USER, stream=True)
