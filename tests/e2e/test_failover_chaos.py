"""Chaos: a loopback OpenAI fake that fails a third of its calls at random (500, 503, 429, a dropped stream),
a healthy fallback configured, ~1000 requests (a quarter streamed) through the gateway: no 5xx and no broken
stream ever reaches the client, and the cost ledger holds one record per answered call."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.app import build_app
from gateway.settings import GatewayConfig
from tests.conftest import auth, make_settings
from tests.servers import serve_in_thread

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

REQUESTS = 1000
CONCURRENCY = 32
FAILURE_RATIO = 0.33


def chaotic_openai(seed: int, outcomes: Counter[str]) -> Starlette:
    rng = random.Random(seed)

    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        roll = rng.random()
        if roll < FAILURE_RATIO:
            kind = rng.choice(["500", "503", "429", "drop"])
            outcomes[kind] += 1
            if kind == "429":
                return Response(b'{"error":{"message":"slow down","type":"requests"}}', 429, {"retry-after-ms": "2"})
            if kind != "drop":
                return Response(b'{"error":{"message":"boom","type":"server_error"}}', int(kind))
        else:
            kind = "ok"
            outcomes["ok"] += 1
        role = {"role": "assistant", "content": ""}
        if not body.get("stream"):
            if kind == "drop":
                return Response(b'{"error":{"message":"bad gateway","type":"server_error"}}', 502)
            message = {"role": "assistant", "content": "fine"}
            return Response(
                orjson.dumps(
                    {
                        "id": "c",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                    }
                ),
                media_type="application/json",
            )

        def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
            chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        async def frames() -> AsyncIterator[bytes]:
            yield frame(role)
            if kind == "drop":  # the connection breaks before the first token
                raise RuntimeError("chaos: connection dropped")
            yield frame({"content": "fine"})
            yield frame({}, "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


async def test_failover_chaos_no_5xx_reaches_the_client() -> None:
    outcomes: Counter[str] = Counter()
    with serve_in_thread(chaotic_openai(7, outcomes)) as upstream:
        settings = make_settings(
            upstream_transport="aiohttp",
            openai_base_url=f"{upstream}/v1",
            failover_enabled=True,
            retry_max_attempts=2,
            retry_base_delay_ms=1,
            config=GatewayConfig(fallbacks={"gpt-4o": ("mock/echo",)}),
        )
        app = build_app(settings)
        statuses: Counter[int] = Counter()
        providers: Counter[str] = Counter()
        broken_streams = 0
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway.test", headers=auth(), timeout=30
            ) as client:
                semaphore = asyncio.Semaphore(CONCURRENCY)

                async def one(index: int) -> None:
                    nonlocal broken_streams
                    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"q{index}"}]}
                    if index % 4 == 0:
                        body["stream"] = True
                    async with semaphore:
                        response = await client.post("/v1/chat/completions", json=body)
                    statuses[response.status_code] += 1
                    providers[response.headers.get("x-gateway-provider", "?")] += 1
                    if body.get("stream") and not response.text.rstrip().endswith("data: [DONE]"):
                        broken_streams += 1

                await asyncio.gather(*(one(i) for i in range(REQUESTS)))
                summary = (await client.get("/api/llm/costs/summary", params={"period": "all"})).json()
    assert statuses == Counter({200: REQUESTS}), statuses
    assert broken_streams == 0
    assert summary["total"]["requests"] == REQUESTS  # one ledger record per answered call, not per attempt
    assert sum(v for k, v in outcomes.items() if k != "ok") > REQUESTS * 0.2  # the chaos did happen
    assert providers["mock"] > 0 and providers["openai"] > providers["mock"]  # retries saved most calls
