"""Several deployments of one provider share load by weight and in-flight count; an unhealthy one is skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock

from gateway.app import build_app
from gateway.errors import UpstreamError
from gateway.providers.balance import BalancedProvider
from gateway.settings import Settings, SettingsError
from gateway.types import JSON, ChatCall, Principal, Reply, Target
from tests.conftest import SECRET, auth
from translators.errors import VendorError

pytestmark = pytest.mark.anyio
CALL = ChatCall(kind="chat", body={}, target=Target("openai", "gpt-4o"), principal=Principal("u"), request_id="r")


class Stub:
    def __init__(self, name: str, *, delay: float = 0.0, fail: bool = False) -> None:
        self.name, self.delay, self.fail, self.calls = name, delay, fail, 0

    async def send(self, call: ChatCall) -> Reply:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise UpstreamError.from_vendor("openai", VendorError("server", "down", status=500))
        return Reply(call.target, body={"served_by": self.name})

    async def list_models(self) -> list[JSON]:
        return []

    async def aclose(self) -> None:
        return None


async def test_balance_shares_sequential_and_concurrent_load_by_weight() -> None:
    heavy, light = Stub("heavy", delay=0.01), Stub("light", delay=0.01)
    balanced = BalancedProvider("openai", [(heavy, 2), (light, 1)])
    for _ in range(30):
        await balanced.send(CALL)
    assert (heavy.calls, light.calls) == (20, 10)
    await asyncio.gather(*(balanced.send(CALL) for _ in range(30)))
    assert (heavy.calls, light.calls) == (40, 20)


async def test_balance_skips_a_failing_deployment_until_its_cooldown_ends() -> None:
    now = [0.0]
    broken, healthy = Stub("broken", fail=True), Stub("healthy")
    balanced = BalancedProvider("openai", [(broken, 1), (healthy, 1)], cooldown_s=30, clock=lambda: now[0])
    with pytest.raises(UpstreamError):
        await balanced.send(CALL)
    for _ in range(5):
        assert (await balanced.send(CALL)).body == {"served_by": "healthy"}
    assert broken.calls == 1
    now[0] = 31.0
    with pytest.raises(UpstreamError):
        await balanced.send(CALL)  # back in rotation after the cool-down
    assert broken.calls == 2


def config(tmp_path: Path) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[[providers.openai.deployments]]\nbase_url = "https://east.openai.test/v1"\napi_key_env = "KEY_EAST"\n'
        '[[providers.openai.deployments]]\nbase_url = "https://west.openai.test/v1"\n'
        'api_key_env = "KEY_WEST"\nweight = 1\n'
    )
    return str(path)


def test_deployments_need_their_key_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="api_key_env 'KEY_WEST'"):
        Settings.from_env({"JWT_SECRET": SECRET, "GATEWAY_CONFIG": config(tmp_path), "KEY_EAST": "sk-east"})


async def test_deployments_in_the_app_share_calls_and_fail_over_between_them(
    tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    env = {
        "JWT_SECRET": SECRET,
        "GATEWAY_CONFIG": config(tmp_path),
        "KEY_EAST": "sk-east",
        "KEY_WEST": "sk-west",
        "UPSTREAM_TRANSPORT": "httpx",
        "RETRY_BASE_DELAY_MS": "1",
    }
    settings = Settings.from_env(env)
    answer = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    httpx_mock.add_response(url="https://east.openai.test/v1/chat/completions", json=answer)
    httpx_mock.add_response(url="https://west.openai.test/v1/chat/completions", json=answer)
    httpx_mock.add_response(
        url="https://east.openai.test/v1/chat/completions", status_code=500, json={"error": {"message": "x"}}
    )
    httpx_mock.add_response(url="https://west.openai.test/v1/chat/completions", json=answer)
    app = build_app(settings)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=auth()) as c:
            for _ in range(3):
                assert (await c.post("/v1/chat/completions", json=body)).status_code == 200
    sent = [(r.url.host, r.headers["authorization"]) for r in httpx_mock.get_requests()]
    assert sent == [
        ("east.openai.test", "Bearer sk-east"),
        ("west.openai.test", "Bearer sk-west"),
        ("east.openai.test", "Bearer sk-east"),
        ("west.openai.test", "Bearer sk-west"),
    ]
    assert orjson.loads(httpx_mock.get_requests()[-1].content)["model"] == "gpt-4o"


async def test_first_byte_timeout_per_provider_is_a_504(tmp_path: Path) -> None:
    import asyncio as aio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.servers import serve_in_thread

    async def slow(request: Request) -> JSONResponse:
        await aio.sleep(2)
        return JSONResponse({})

    path = tmp_path / "gateway.toml"
    path.write_text("[providers.openai]\nfirst_byte_timeout_s = 0.3\n")
    with serve_in_thread(Starlette(routes=[Route("/v1/chat/completions", slow, methods=["POST"])])) as upstream:
        env = {
            "JWT_SECRET": SECRET,
            "GATEWAY_CONFIG": str(path),
            "OPENAI_API_KEY": "sk-x",
            "OPENAI_BASE_URL": f"{upstream}/v1",
            "FAILOVER_ENABLED": "false",
        }
        app = build_app(Settings.from_env(env))
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", headers=auth()
            ) as c:
                started = aio.get_running_loop().time()
                response = await c.post("/v1/chat/completions", json=body)
                elapsed = aio.get_running_loop().time() - started
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 1.5
