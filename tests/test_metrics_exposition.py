"""The Prometheus exposition after real calls through the app: every CONTRACT §8 name, with the label sets the
dashboards use, parsed back with prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpx import HTTPXMock
from starlette.applications import Starlette

from gateway.app import build_app
from gateway.metrics import HTTP_BUCKETS, FastHistogram, LoopValue, Metrics, fast
from tests.conftest import OPENAI_BASE, auth, make_settings

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Hello there"}]
OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}


def parse(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """{family name: [(sample name, labels, value)]}."""
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def samples_named(families: dict[str, Any], family: str, sample: str) -> list[tuple[dict[str, str], float]]:
    return [(labels, value) for name, labels, value in families[family] if name == sample]


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = build_app(make_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as client:
            yield app, client


async def traffic(client: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{OPENAI_BASE}/chat/completions", json=OPENAI_REPLY)
    assert (await client.post("/v1/chat/completions", json={"model": "mock/echo", "messages": USER})).status_code == 200
    streamed = await client.post(
        "/api/llm/chat",
        json={"model": "mock/echo", "messages": USER, "stream": True},
    )
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER})
    assert response.status_code == 200
    limited = await client.post("/v1/chat/completions", json={"model": "mock/error-429", "messages": USER})
    assert limited.status_code == 429
    assert (await client.get("/nowhere")).status_code == 404
    assert (await client.get("/v1/models", headers={"authorization": "Bearer nope"})).status_code == 401


async def test_exposition_has_every_contract_metric_with_its_labels(
    gateway: tuple[Starlette, httpx.AsyncClient], httpx_mock: HTTPXMock
) -> None:
    _, client = gateway
    await traffic(client, httpx_mock)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = parse(response.text)

    http = samples_named(families, "http_requests", "http_requests_total")
    assert {"route", "method", "status"} <= set(http[0][0])
    routes = {(labels["route"], labels["status"]) for labels, _ in http}
    assert ("/v1/chat/completions", "200") in routes
    assert ("/api/llm/chat", "200") in routes
    assert ("/v1/chat/completions", "429") in routes
    assert ("unmatched", "404") in routes  # unknown paths share one label value
    assert ("/v1/models", "401") in routes  # refused before routing, still labelled by its template
    durations = samples_named(families, "http_request_duration_seconds", "http_request_duration_seconds_bucket")
    assert {"route", "method", "le"} == set(durations[0][0])

    llm = {
        (lb["provider"], lb["model"], lb["status"], lb["cache"]): v
        for lb, v in samples_named(families, "llm_requests", "llm_requests_total")
    }
    assert llm[("mock", "echo", "200", "bypass")] == 2
    assert llm[("openai", "gpt-4o-mini", "200", "bypass")] == 1
    assert llm[("mock", "error-429", "429", "none")] == 1
    llm_buckets = samples_named(families, "llm_request_duration_seconds", "llm_request_duration_seconds_bucket")
    assert {"provider", "model", "cache", "le"} == set(llm_buckets[0][0])
    bounds = {float(labels["le"]) for labels, _ in llm_buckets}
    assert min(bounds) == 0.01 and 600 in bounds  # 10 ms to 10 min

    tokens = {(lb["provider"], lb["type"]): v for lb, v in samples_named(families, "llm_tokens", "llm_tokens_total")}
    assert tokens[("openai", "prompt")] == 11 and tokens[("openai", "completion")] == 3
    assert tokens[("mock", "prompt")] > 0 and tokens[("mock", "completion")] > 0  # the stream's usage chunk counted

    costs = {
        (lb["provider"], lb["model"], lb["user"]): v for lb, v in samples_named(families, "llm_cost", "llm_cost_total")
    }
    assert costs[("openai", "gpt-4o-mini", "alice")] > 0  # priced from the bundled table
    assert costs[("mock", "echo", "alice")] == 0  # the mock is free: a zero series, so panels show 0
    assert samples_named(families, "cache_hit_ratio", "cache_hit_ratio") == [({}, 0.0)]
    assert samples_named(families, "active_connections", "active_connections") == [({}, 1.0)]  # this scrape
    errors = {
        (lb["type"], lb["provider"], lb["status"])
        for lb, _ in samples_named(families, "error_rate", "error_rate_total")
    }
    assert ("rate_limit_error", "mock", "429") in errors
    assert ("not_found_error", "none", "404") in errors
    assert ("authentication_error", "none", "401") in errors

    overhead = samples_named(families, "gateway_overhead_seconds", "gateway_overhead_seconds_bucket")
    assert min(float(labels["le"]) for labels, _ in overhead) < 0.001  # sub-millisecond buckets
    ttft = samples_named(
        families, "gateway_llm_time_to_first_token_seconds", "gateway_llm_time_to_first_token_seconds_count"
    )
    assert ttft == [({"provider": "mock", "model": "echo"}, 1.0)]
    stream = samples_named(families, "gateway_llm_stream_duration_seconds", "gateway_llm_stream_duration_seconds_count")
    assert stream == [({"provider": "mock", "model": "echo"}, 1.0)]
    in_flight = dict(
        (lb["provider"], v) for lb, v in samples_named(families, "gateway_llm_in_flight", "gateway_llm_in_flight")
    )
    assert in_flight == {"mock": 0.0, "openai": 0.0}
    rejections = {
        lb["reason"]: v
        for lb, v in samples_named(families, "gateway_rate_limit_rejections", "gateway_rate_limit_rejections_total")
    }
    assert rejections == {"upstream": 1.0}


async def test_exposition_routes_are_public_and_identical(gateway: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, client = gateway
    anonymous = {"authorization": ""}
    first = await client.get("/metrics", headers=anonymous)
    second = await client.get("/api/metrics/prometheus", headers=anonymous)
    assert first.status_code == second.status_code == 200
    names = [{n for n in parse(r.text) if not n.endswith("_created")} for r in (first, second)]
    assert names[0] == names[1]
    assert "http_requests" in names[0]


async def test_exposition_circuit_state_comes_from_the_breakers(gateway: tuple[Starlette, httpx.AsyncClient]) -> None:
    app, client = gateway
    app.state.metrics.circuit_source = lambda: {"openai": "open", "mock": "closed", "google": "half_open"}
    families = parse((await client.get("/metrics")).text)
    states = {lb["provider"]: v for lb, v in samples_named(families, "gateway_circuit_state", "gateway_circuit_state")}
    assert states == {"openai": 2.0, "mock": 0.0, "google": 1.0}


async def test_exposition_cache_hit_ratio_follows_reply_headers(gateway: tuple[Starlette, httpx.AsyncClient]) -> None:
    app, client = gateway
    metrics = app.state.metrics
    for result in ("hit", "hit", "hit", "miss", "bypass"):
        metrics.cache_lookup(result)
    families = parse((await client.get("/metrics")).text)
    assert samples_named(families, "cache_hit_ratio", "cache_hit_ratio") == [({}, 0.75)]


def test_single_process_values_are_lock_free_and_exact() -> None:
    metrics = Metrics()
    children = metrics.http_child("/v1/chat/completions", "POST", "200")
    assert type(children.requests._value) is LoopValue  # prometheus-client's value, without its lock
    for _ in range(1000):
        children.requests.inc()
        children.duration.observe(0.002)
    text = metrics.exposition().decode()
    assert 'http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1000.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/v1/chat/completions"} 1000.0' in text


@given(st.lists(st.one_of(st.floats(0, 1e4), st.sampled_from([0.0, 0.0005, 0.001, 600.0, 601.0])), max_size=40))
def test_fast_children_expose_what_prometheus_clients_own_updates_do(amounts: list[float]) -> None:
    """`fast` skips prometheus-client's per-call checks and scans the buckets by bisect: same samples, bucket
    edges (an amount equal to a bound counts in that bound's bucket) included."""
    own, quick = CollectorRegistry(), CollectorRegistry()
    for registry, wrap in ((own, lambda child: child), (quick, fast)):
        histogram = Histogram("h_seconds", "h", ("route",), buckets=HTTP_BUCKETS, registry=registry)
        counter = Counter("c", "c", ("route",), registry=registry)
        gauge = Gauge("g", "g", registry=registry)
        h, c, g = wrap(histogram.labels("/x")), wrap(counter.labels("/x")), wrap(gauge)
        for amount in amounts:
            h.observe(amount)
            c.inc(amount)
            g.inc(2)
            g.dec()

    def samples(registry: CollectorRegistry) -> list[str]:
        return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]

    assert samples(quick) == samples(own)
    assert type(fast(Histogram("h2", "h", registry=CollectorRegistry()))) is FastHistogram
