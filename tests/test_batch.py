"""POST /api/llm/batch: order, per-item errors, size limit, parallel and sequential runs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import build_app
from gateway.settings import Settings
from tests.conftest import auth, make_settings

pytestmark = pytest.mark.anyio


def item(model: str = "mock/echo", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as c:
            yield c


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(failover_enabled=True, retry_base_delay_ms=1, batch_max_size=10, batch_max_concurrency=4)
    async for c in client_for(settings):
        yield c


@pytest.mark.parametrize("parallel", [True, False])
async def test_batch_results_keep_input_order(client: httpx.AsyncClient, parallel: bool) -> None:
    # the first item is the slowest, so a parallel run finishes it last
    requests = [item("mock/slow-80", "a"), item("mock/echo", "b"), item("mock/slow-20", "c"), item("mock/echo", "d")]
    response = await client.post("/api/llm/batch", json={"requests": requests, "parallel": parallel})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200] * 4
    assert [r["body"]["model"] for r in results] == ["slow-80", "echo", "slow-20", "echo"]
    assert results[1]["body"]["choices"][0]["message"]["content"] == "b"
    assert results[3]["body"]["choices"][0]["message"]["content"] == "d"


async def test_batch_one_failure_never_fails_the_batch(client: httpx.AsyncClient) -> None:
    requests = [
        item(),
        item("mock/error-400"),
        {"model": "mock/echo"},  # no messages
        item("no-such-model"),
        item(stream=True),
        "not an object",
        item("mock/error-500", fallbacks=[]),
        item("mock/flaky-1"),  # fails once, retried by failover
    ]
    response = await client.post("/api/llm/batch", json={"requests": requests})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 400, 400, 404, 400, 400, 502, 200]
    assert results[2]["body"]["error"]["param"] == "messages"
    assert results[3]["body"]["error"]["code"] == "model_not_found"
    assert results[4]["body"]["error"]["param"] == "stream"
    assert results[6]["body"]["error"]["code"] == "upstream_error"
    for failed in (results[1], results[5]):
        assert set(failed["body"]["error"]) == {"message", "type", "param", "code"}


async def test_batch_over_max_size_is_400_naming_requests(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/llm/batch", json={"requests": [item()] * 11})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "requests"
    assert "BATCH_MAX_SIZE" in error["message"]


async def test_batch_at_max_size_is_served(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/llm/batch", json={"requests": [item()] * 10})
    assert [r["status"] for r in response.json()["results"]] == [200] * 10


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "requests"), ({"requests": "x"}, "requests"), ({"requests": [], "parallel": "yes"}, "parallel")],
)
async def test_batch_bad_envelope_is_400(client: httpx.AsyncClient, body: dict[str, Any], param: str) -> None:
    response = await client.post("/api/llm/batch", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_batch_empty_gives_no_results(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/llm/batch", json={"requests": []})
    assert response.json() == {"results": []}


async def test_batch_parallel_runs_items_concurrently(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.post("/api/llm/batch", json={"requests": [item("mock/slow-150")] * 4, "parallel": True})
    elapsed = time.monotonic() - started
    assert [r["status"] for r in response.json()["results"]] == [200] * 4
    assert elapsed < 0.45  # 4 items at concurrency 4: about one item's time, not four


async def test_batch_sequential_runs_one_at_a_time(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.post("/api/llm/batch", json={"requests": [item("mock/slow-100")] * 3, "parallel": False})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_batch_parallel_is_bounded_by_max_concurrency() -> None:
    settings = make_settings(batch_max_concurrency=2)
    async for client in client_for(settings):
        started = time.monotonic()
        response = await client.post("/api/llm/batch", json={"requests": [item("mock/slow-100")] * 4})
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.2  # two waves of two


async def test_batch_needs_a_token() -> None:
    async for client in client_for(make_settings()):
        response = await client.post("/api/llm/batch", json={"requests": [item()]}, headers={"authorization": ""})
        assert response.status_code == 401
