"""Budget alerts against a local SMTP sink (aiosmtpd) and a local webhook receiver: one alert per crossing."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from email import message_from_bytes
from typing import Any

import anyio
import httpx
import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.alerts import Alerter, SMTPTarget
from gateway.app import build_app
from gateway.settings import GatewayConfig
from gateway.spend import Cap
from tests.conftest import auth, make_settings
from tests.servers import free_port, serve_in_thread

pytestmark = pytest.mark.anyio


class Sink:
    """aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Sink]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}?from=gateway@example.com", sink
    controller.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]], dict[str, int]]]:
    received: list[dict[str, Any]] = []
    failures = {"left": 0}

    async def receive(request: Request) -> Response:
        if failures["left"] > 0:
            failures["left"] -= 1
            return Response(status_code=503)
        received.append(await request.json())
        return Response(status_code=204)

    with serve_in_thread(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as base:
        yield f"{base}/hook", received, failures


def cap(period_key: str = "2026-11-03", limit: int = 1000, owner: str = "global") -> Cap:
    return Cap(owner, "day", period_key, limit, time.time() + 3600)


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


@pytest.fixture
async def alerter(
    smtp: tuple[str, Sink], webhook: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> AsyncIterator[Alerter]:
    alerts = Alerter(
        threshold=0.8,
        currency="USD",
        email="ops@example.com",
        smtp_url=smtp[0],
        webhook=webhook[0],
        backoff_s=0.01,
    )
    await alerts.start()
    yield alerts
    await alerts.close()


async def test_alerts_fire_once_per_crossing_per_period(
    alerter: Alerter,
    smtp: tuple[str, Sink],
    webhook: tuple[str, list[dict[str, Any]], dict[str, int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.costs")
    sink, received = smtp[1], webhook[1]
    alerter.observe(cap(), 500)  # 50%: nothing
    alerter.observe(cap(), 800)  # 80%: the threshold alert
    alerter.observe(cap(), 900)  # still above it: no second one
    await wait_for(lambda: len(received) == 1 and len(sink.messages) == 1)
    alerter.observe(cap(), 1000)  # used up: its own alert, once
    alerter.observe(cap(), 1500)
    alerter.observe(cap("2026-11-04"), 850)  # the next day is a new period
    await wait_for(lambda: len(received) == 3 and len(sink.messages) == 3)
    await anyio.sleep(0.1)
    assert [(a["event"], a["period"]) for a in received] == [
        ("budget_threshold", "2026-11-03"),
        ("budget_exhausted", "2026-11-03"),
        ("budget_threshold", "2026-11-04"),
    ]
    assert received[0] == {
        "event": "budget_threshold",
        "budget": "daily",
        "scope": "global",
        "user": None,
        "period": "2026-11-03",
        "threshold": 0.8,
        "limit": "0.000001",
        "spent": "0.0000008",
        "currency": "USD",
        "message": "The daily budget of the gateway for 2026-11-03 passed 80%: 0.0000008 of 0.000001 USD.",
    }
    first = sink.messages[0]
    assert first["To"] == "ops@example.com" and first["From"] == "gateway@example.com"
    assert "passed 80%" in str(first["Subject"]).replace("\r\n", "")  # long subjects are folded
    assert sum("budget" in r.getMessage() for r in caplog.records if r.name == "gateway.costs") == 3


async def test_alerts_failing_webhook_is_retried_without_blocking(
    alerter: Alerter, webhook: tuple[str, list[dict[str, Any]], dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.costs")
    received, failures = webhook[1], webhook[2]
    failures["left"] = 2  # the receiver answers 503 twice
    started = time.perf_counter()
    alerter.observe(cap(owner="user:alice"), 990)
    assert time.perf_counter() - started < 0.05  # observe only schedules
    await wait_for(lambda: len(received) == 1)
    assert received[0]["user"] == "alice" and received[0]["scope"] == "user"
    retries = [r for r in caplog.records if r.getMessage() == "budget alert delivery failed"]
    assert [getattr(r, "attempt", None) for r in retries] == [1, 2]


async def test_alerts_unreachable_channel_gives_up_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.costs")
    alerts = Alerter(
        threshold=0.5, currency="USD", webhook=f"http://127.0.0.1:{free_port()}/nobody", attempts=2, backoff_s=0.01
    )
    await alerts.start()
    alerts.observe(cap(), 600)
    await wait_for(lambda: any(r.getMessage() == "budget alert not delivered" for r in caplog.records))
    await alerts.close()


@pytest.mark.redis
async def test_alerts_two_replicas_send_one_alert(
    redis_url: str, webhook: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> None:
    client = Redis.from_url(redis_url)
    prefix = f"test:{uuid.uuid4().hex}:"
    replicas = [Alerter(threshold=0.8, currency="USD", webhook=webhook[0], redis=client, prefix=prefix) for _ in "ab"]
    for replica in replicas:
        await replica.start()
    for replica in replicas:
        replica.observe(cap(), 850)
    for replica in replicas:
        await replica.close()
    await anyio.sleep(0.05)
    assert len(webhook[1]) == 1
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    await client.delete(*keys)
    await client.aclose()


async def test_alerts_budget_crossing_through_the_app_posts_once(
    webhook: tuple[str, list[dict[str, Any]], dict[str, int]],
) -> None:
    settings = make_settings(
        config=GatewayConfig(prices={"mock/*": {"input": 100.0, "output": 100.0}}),
        cost_budget_daily=Decimal("0.01"),
        cost_alert_threshold=0.5,
        cost_alert_webhook=webhook[0],
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as client:
            body = {"model": "mock/echo", "messages": [{"role": "user", "content": "x" * 40}], "max_tokens": 5}
            statuses = []
            while 429 not in statuses and len(statuses) < 20:  # ~$0.0023 a call: 50% passes on the 3rd
                statuses.append((await client.post("/v1/chat/completions", json=body)).status_code)
                await anyio.sleep(0.01)  # let its settle run
            await wait_for(lambda: len(webhook[1]) >= 2)
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
    assert [a["event"] for a in webhook[1]] == ["budget_threshold", "budget_exhausted"]


def test_alerts_smtp_url_forms() -> None:
    plain = SMTPTarget.parse("smtp://mail.local")
    assert (plain.port, plain.ssl, plain.starttls, plain.sender) == (25, False, False, "llm-gateway@localhost")
    submission = SMTPTarget.parse("smtp://bot%40corp.com:s3cret@mail.corp.com:587")
    assert submission.starttls and submission.username == "bot@corp.com" and submission.password == "s3cret"
    assert submission.sender == "bot@corp.com"
    assert SMTPTarget.parse("smtps://mail.corp.com").port == 465
    with pytest.raises(ValueError, match=r"\*\*\*"):
        SMTPTarget.parse("http://user:secret@mail.corp.com")
