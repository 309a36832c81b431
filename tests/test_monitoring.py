"""`/api/metrics/custom` (the exposition's figures as JSON) and the admin-only `POST /api/metrics/reset`."""

from __future__ import annotations

import httpx
import pytest

from gateway.monitoring import quantile
from tests.conftest import auth

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Hello there"}]


async def chat(client: httpx.AsyncClient, model: str = "mock/echo", **extra: object) -> httpx.Response:
    return await client.post("/v1/chat/completions", json={"model": model, "messages": USER, **extra})


async def test_custom_reports_the_same_figures_as_the_exposition(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await chat(client)).status_code == 200
    assert (await chat(client, "mock/error-503")).status_code in (502, 503)
    figures = (await client.get("/api/metrics/custom")).json()
    assert figures["llm"]["requests"] == 4
    assert figures["llm"]["by_status"]["200"] == 3
    mock = figures["llm"]["by_provider"]["mock"]
    assert mock["requests"] == 4 and mock["errors"] == 1
    assert mock["prompt_tokens"] == figures["llm"]["prompt_tokens"] > 0
    assert figures["http"]["by_route"]["/v1/chat/completions"] == 4
    assert figures["llm"]["latency_ms"]["p50"] is not None
    assert figures["cache"] == {"hits": 0, "misses": 0, "bypass": 3, "hit_ratio": 0.0}
    assert figures["active_connections"] == 1  # this request


async def test_reset_needs_the_admin_role(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/metrics/reset")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    anonymous = await client.post("/api/metrics/reset", headers={"authorization": ""})
    assert anonymous.status_code == 401


async def test_reset_says_what_it_reset_and_custom_counts_from_then(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await chat(client)
    response = await client.post("/api/metrics/reset", headers=auth("root", admin=True))
    assert response.status_code == 200
    body = response.json()
    assert {"http_requests_total", "llm_requests_total", "llm_tokens_total", "llm_cost_total"} <= set(body["reset"])
    assert "llm_request_duration_seconds" in body["reset"]
    assert body["since"].endswith("Z")
    await chat(client)
    figures = (await client.get("/api/metrics/custom")).json()
    assert figures["llm"]["requests"] == 1
    assert figures["since"] == body["since"]
    exposition = (await client.get("/metrics")).text
    assert 'llm_requests_total{cache="bypass",model="echo",provider="mock",status="200"} 3.0' in exposition


def test_quantile_interpolates_like_histogram_quantile() -> None:
    buckets = [(0.1, 0.0), (0.2, 50.0), (0.4, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.2)
    assert quantile(0.75, buckets) == pytest.approx(0.3)
    assert quantile(0.5, []) is None
    assert quantile(0.99, [(1.0, 0.0), (float("inf"), 4.0)]) == 1.0  # past the last finite bucket
