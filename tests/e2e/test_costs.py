"""Costs through the whole app: vendors faked by pytest-httpx, the ASGI client with a token.

Every case checks three figures against each other: the cost worked out by hand from the vendor's usage and the
bundled price, the `x-gateway-cost` header (whole answers), and the ledger record behind `/api/llm/costs/history`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from gateway.app import build_app
from gateway.settings import GatewayConfig, Settings
from tests.conftest import ANTHROPIC_BASE, GOOGLE_BASE, OPENAI_BASE, auth, make_settings
from tests.servers import serve_in_thread

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MOCK_PRICES = {"mock/*": {"input": 100.0, "output": 200.0}}  # 100 and 200 micro-USD a token
HELLO = [{"role": "user", "content": "Hello"}]


def fixture(vendor: str, case: str, name: str) -> Any:
    path = FIXTURES / vendor / case / name
    return path.read_bytes() if name.endswith(".sse") else json.loads(path.read_text())


def settings_for(**overrides: Any) -> Settings:
    overrides.setdefault("config", GatewayConfig(prices=MOCK_PRICES))
    return make_settings(anthropic_api_key="sk-ant-test", google_api_key="AIza-test-key", **overrides)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings_for())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as c:
            yield c


async def recorded(client: httpx.AsyncClient, response: httpx.Response) -> dict[str, Any]:
    """The ledger record of a response, found by its request id."""
    found = await client.get("/api/llm/costs/history", params={"request_id": response.headers["x-request-id"]})
    [record] = found.json()["data"]
    return record  # type: ignore[no-any-return]


def sse(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


# ---- OpenAI -------------------------------------------------------------------------------------------

OPENAI_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200},
}
# gpt-4o: 800 x $2.50 + 200 cached x $1.25 + 500 x $10.00 per million = $0.00725
OPENAI_COST = "0.00725"


async def test_costs_openai_whole_answer_header_equals_record_equals_hand_price(
    client: httpx.AsyncClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=f"{OPENAI_BASE}/chat/completions",
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": OPENAI_USAGE,
        },
    )
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO})
    assert response.status_code == 200
    assert response.headers["x-gateway-cost"] == OPENAI_COST
    record = await recorded(client, response)
    assert Decimal(str(record["cost"])) == Decimal(OPENAI_COST)
    assert (record["provider"], record["model"], record["cached_tokens"], record["status"]) == (
        "openai",
        "gpt-4o",
        200,
        "ok",
    )


async def test_costs_openai_stream_is_recorded_exactly_and_the_usage_chunk_stays_hidden(
    client: httpx.AsyncClient, httpx_mock: HTTPXMock
) -> None:
    head = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": OPENAI_USAGE},
    ]
    httpx_mock.add_response(
        url=f"{OPENAI_BASE}/chat/completions",
        headers={"content-type": "text/event-stream"},
        stream=IteratorStream([sse(chunks)]),
    )
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO, "stream": True})
    assert response.status_code == 200
    assert "x-gateway-cost" not in response.headers  # sent before the stream's cost exists
    assert b'"usage"' not in response.content  # the caller did not ask for usage
    sent = orjson.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent["stream_options"] == {"include_usage": True}  # the gateway asked for it itself
    record = await recorded(client, response)
    assert Decimal(str(record["cost"])) == Decimal(OPENAI_COST)


# ---- Anthropic ----------------------------------------------------------------------------------------


async def test_costs_anthropic_whole_answer_prices_cache_reads_as_cached(
    client: httpx.AsyncClient, httpx_mock: HTTPXMock
) -> None:
    body = fixture("anthropic", "basic_text", "vendor_response.json")
    body["usage"] = {"input_tokens": 800, "cache_read_input_tokens": 200, "output_tokens": 500}
    httpx_mock.add_response(url=f"{ANTHROPIC_BASE}/v1/messages", json=body)
    response = await client.post("/v1/chat/completions", json={"model": "claude-sonnet-4-5", "messages": HELLO})
    assert response.status_code == 200
    # claude-sonnet-4-5: 800 x $3 + 200 cache reads x $0.30 + 500 x $15 per million = $0.00996
    assert response.headers["x-gateway-cost"] == "0.00996"
    record = await recorded(client, response)
    assert Decimal(str(record["cost"])) == Decimal("0.00996")
    assert (record["provider"], record["prompt_tokens"], record["cached_tokens"]) == ("anthropic", 1000, 200)


async def test_costs_anthropic_stream_recorded_from_its_usage(client: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{ANTHROPIC_BASE}/v1/messages",
        headers={"content-type": "text/event-stream"},
        stream=IteratorStream([fixture("anthropic", "basic_text", "vendor_stream.sse")]),
    )
    response = await client.post(
        "/v1/chat/completions", json={"model": "claude-sonnet-4-5", "messages": HELLO, "stream": True}
    )
    assert response.status_code == 200
    # the recorded stream: 10 input x $3 + 12 output x $15 per million = $0.00021
    record = await recorded(client, response)
    assert Decimal(str(record["cost"])) == Decimal("0.00021")
    assert (record["prompt_tokens"], record["completion_tokens"]) == (10, 12)


# ---- Gemini -------------------------------------------------------------------------------------------


async def test_costs_gemini_whole_answer_counts_thoughts_as_output(
    client: httpx.AsyncClient, httpx_mock: HTTPXMock
) -> None:
    body = fixture("gemini", "basic_text", "vendor_response.json")
    body["usageMetadata"] = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 400,
        "candidatesTokenCount": 300,
        "thoughtsTokenCount": 200,
        "totalTokenCount": 1500,
    }
    httpx_mock.add_response(url=f"{GOOGLE_BASE}/v1beta/models/gemini-2.5-flash:generateContent", json=body)
    response = await client.post("/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": HELLO})
    assert response.status_code == 200
    # gemini-2.5-flash: 600 x $0.30 + 400 cached x $0.03 + (300 + 200 thoughts) x $2.50 per million = $0.001442
    assert response.headers["x-gateway-cost"] == "0.001442"
    record = await recorded(client, response)
    assert Decimal(str(record["cost"])) == Decimal("0.001442")


async def test_costs_gemini_stream_recorded_from_its_usage(client: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{GOOGLE_BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        headers={"content-type": "text/event-stream"},
        stream=IteratorStream([fixture("gemini", "basic_text", "vendor_stream.sse")]),
    )
    response = await client.post(
        "/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": HELLO, "stream": True}
    )
    assert response.status_code == 200
    # 9 x $0.30 + 8 x $2.50 per million = $0.0000227
    record = await recorded(client, response)
    assert Decimal(str(record["cost"])) == Decimal("0.0000227")


# ---- mock ---------------------------------------------------------------------------------------------


async def test_costs_mock_whole_answer_and_stream_cost_the_same(client: httpx.AsyncClient) -> None:
    request = {"model": "mock/echo", "messages": [{"role": "user", "content": "one two three four five"}]}
    whole = await client.post("/v1/chat/completions", json=request)
    usage = whole.json()["usage"]
    by_hand = Decimal(usage["prompt_tokens"] * 100 + usage["completion_tokens"] * 200) / 10**6
    assert Decimal(whole.headers["x-gateway-cost"]) == by_hand
    assert Decimal(str((await recorded(client, whole))["cost"])) == by_hand
    streamed = await client.post(
        "/v1/chat/completions", json={**request, "stream": True, "stream_options": {"include_usage": True}}
    )
    usage_chunk = [orjson.loads(line[6:]) for line in streamed.text.splitlines() if '"usage":{' in line][-1]
    assert usage_chunk["usage"] == usage
    assert Decimal(str((await recorded(client, streamed))["cost"])) == by_hand


async def test_costs_mock_embedding_costs_its_input_tokens(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/embeddings", json={"model": "mock/mock-embedding", "input": "abcdefgh"})
    tokens = response.json()["usage"]["prompt_tokens"]
    assert Decimal(response.headers["x-gateway-cost"]) == Decimal(tokens * 100) / 10**6


# ---- routes -------------------------------------------------------------------------------------------


async def chat_as(client: httpx.AsyncClient, user: str, n: int = 1) -> None:
    for _ in range(n):
        answer = await client.post(
            "/v1/chat/completions",
            json={"model": "mock/echo", "messages": HELLO},
            headers=auth(user),
        )
        assert answer.status_code == 200


async def test_costs_summary_totals_by_provider_model_and_user(client: httpx.AsyncClient) -> None:
    await chat_as(client, "alice", 2)
    await chat_as(client, "bob", 1)
    admin = await client.get("/api/llm/costs/summary", params={"period": "day"}, headers=auth("root", admin=True))
    body = admin.json()
    assert body["currency"] == "USD" and body["since"] and body["until"]
    assert body["total"]["requests"] == 3
    assert set(body["by_user"]) == {"alice", "bob"}
    assert body["by_model"]["echo"]["requests"] == 3 and set(body["by_provider"]) == {"mock"}
    assert set(body["total"]) >= {"cost", "requests", "prompt_tokens", "completion_tokens", "cached_tokens"}
    mine = (await client.get("/api/llm/costs/summary", headers=auth("bob"))).json()
    assert mine["total"]["requests"] == 1 and set(mine["by_user"]) == {"bob"}


async def test_costs_history_pages_newest_first_and_a_user_sees_only_their_own(client: httpx.AsyncClient) -> None:
    await chat_as(client, "alice", 5)
    await chat_as(client, "bob", 2)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/llm/costs/history", params=params, headers=auth("alice"))).json()
        seen += [r["id"] for r in page["data"]]
        assert all(r["user"] == "alice" for r in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    everyone = (await client.get("/api/llm/costs/history", headers=auth("root", admin=True))).json()["data"]
    assert len(everyone) == 7
    stamps = [r["timestamp"] for r in everyone]
    assert stamps == sorted(stamps, reverse=True)
    bob = await client.get("/api/llm/costs/history", params={"user": "bob"}, headers=auth("root", admin=True))
    assert [r["user"] for r in bob.json()["data"]] == ["bob", "bob"]
    record = everyone[0]
    assert set(record) >= {
        "id",
        "request_id",
        "timestamp",
        "user",
        "provider",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "cost",
        "currency",
        "latency_ms",
        "cache_hit",
        "fallback_from",
        "status",
    }


async def test_costs_a_user_filter_naming_someone_else_is_forbidden(client: httpx.AsyncClient) -> None:
    for route in ("/api/llm/costs/history", "/api/llm/costs/summary"):
        refused = await client.get(route, params={"user": "bob"}, headers=auth("alice"))
        assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    own = await client.get("/api/llm/costs/history", params={"user": "alice"}, headers=auth("alice"))
    assert own.status_code == 200


async def test_costs_users_route_is_admin_only(client: httpx.AsyncClient) -> None:
    await chat_as(client, "alice", 2)
    await chat_as(client, "bob", 1)
    assert (await client.get("/api/llm/costs/users", headers=auth("alice"))).status_code == 403
    body = (await client.get("/api/llm/costs/users", headers=auth("root", admin=True))).json()
    assert body["currency"] == "USD"
    assert [(u["user"], u["requests"]) for u in body["data"]] == [("alice", 2), ("bob", 1)]  # costliest first


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"period": "week"}, "period"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "@"}, "cursor"),
    ],
)
async def test_costs_bad_query_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    route = "/api/llm/costs/summary" if param == "period" else "/api/llm/costs/history"
    response = await client.get(route, params=params)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


async def test_costs_health_reports_the_ledger_writable(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health/costs")
    assert response.status_code == 200
    component = response.json()["components"]["costs"]
    assert component["status"] == "ok" and component["store"] == "sqlite"


# ---- budgets through the app --------------------------------------------------------------------------


async def test_costs_budget_refusal_is_an_openai_shaped_429(httpx_mock: HTTPXMock) -> None:
    app = build_app(settings_for(cost_budget_daily=Decimal("0.000001")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as client:
            first = await client.post("/v1/chat/completions", json={"model": "mock/echo", "messages": HELLO})
            assert first.status_code == 200  # admitted while money remained; it crosses the budget
            await asyncio.sleep(0.05)  # its settle runs in the background
            refused = await client.post("/v1/chat/completions", json={"model": "mock/echo", "messages": HELLO})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert refused.json()["error"]["type"] == "insufficient_quota"
    assert int(refused.headers["retry-after"]) >= 1


async def concurrent_calls(settings: Settings, calls: int) -> tuple[list[httpx.Response], list[dict[str, Any]]]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as client:
            body = {"model": "mock/slow-50", "messages": HELLO, "max_tokens": 40}
            responses = await asyncio.gather(*(client.post("/v1/chat/completions", json=body) for _ in range(calls)))
            history = await client.get(
                "/api/llm/costs/history", params={"limit": "500"}, headers=auth("root", admin=True)
            )
    return list(responses), history.json()["data"]


# one call: prompt 5 tokens x $100 + ~22 tokens x $200 per million ~ $0.0049; the budget fits about ten
BUDGET = Decimal("0.05")


async def check_concurrency(responses: list[httpx.Response], records: list[dict[str, Any]]) -> None:
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded" for r in refused)
    assert len(records) == len(ok) and refused
    spend = sum(Decimal(str(r["cost"])) for r in records)
    one_call = max(Decimal(str(r["cost"])) for r in records)
    assert spend <= BUDGET + one_call
    assert 5 <= len(ok) <= 11


async def test_costs_fifty_concurrent_calls_never_overshoot_the_budget_by_more_than_one_call() -> None:
    responses, records = await concurrent_calls(settings_for(cost_budget_daily=BUDGET), 50)
    await check_concurrency(responses, records)


@pytest.mark.redis
async def test_costs_fifty_concurrent_calls_hold_the_budget_in_redis(redis_url: str) -> None:
    settings = settings_for(
        cost_budget_daily=BUDGET, cost_store="redis", redis_url=redis_url, cost_prefix=f"test:{uuid.uuid4().hex}:"
    )
    responses, records = await concurrent_calls(settings, 50)
    await check_concurrency(responses, records)


# ---- a client that leaves mid-stream ------------------------------------------------------------------


@pytest.mark.slow
async def test_costs_client_that_disconnects_mid_stream_is_billed_as_client_closed() -> None:
    settings = settings_for(mock_stream_delay_ms=30, upstream_transport="aiohttp")
    words = " ".join(f"word{n}" for n in range(60))
    body = {"model": "mock/echo", "stream": True, "messages": [{"role": "user", "content": words}]}
    with serve_in_thread(build_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base, headers=auth(), timeout=10) as client:
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                request_id = response.headers["x-request-id"]
                lines = 0
                async for line in response.aiter_lines():
                    lines += line.startswith("data: ")
                    if lines == 5:
                        break  # leave after a few words
            data: list[dict[str, Any]] = []
            with anyio.fail_after(5):
                while not data:
                    await anyio.sleep(0.05)
                    history = await client.get("/api/llm/costs/history", params={"request_id": request_id})
                    data = history.json()["data"]
    [record] = data
    assert record["status"] == "client_closed"
    full = len(words) // 4  # what the whole answer would have cost in completion tokens
    assert 0 < record["completion_tokens"] < full
    by_hand = Decimal(record["prompt_tokens"] * 100 + record["completion_tokens"] * 200) / 10**6
    assert Decimal(str(record["cost"])) == by_hand


async def test_costs_tracking_disabled_removes_the_layer_and_says_so_on_the_routes() -> None:
    app = build_app(settings_for(cost_tracking_enabled=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as client:
            answer = await client.post("/v1/chat/completions", json={"model": "mock/echo", "messages": HELLO})
            summary = await client.get("/api/llm/costs/summary")
    assert answer.status_code == 200 and "x-gateway-cost" not in answer.headers
    assert summary.status_code == 404 and "COST_TRACKING_ENABLED" in summary.json()["error"]["message"]
