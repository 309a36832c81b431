"""Component health checks behind `/api/health/*` (CONTRACT §3, §10).

Parts of the gateway register a check (`async () -> {"status": "ok"|"degraded"|"down", ...details}`) under a
component name; the routes run the checks concurrently, each bounded by a timeout, and answer 200 when nothing
required is down, 503 otherwise. Checks must never put a secret in their details.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.errors import NotFoundError
from gateway.types import JSON

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[JSON]]
CHECK_TIMEOUT_S = 2.0
_RANK = {"ok": 0, "degraded": 1, "down": 2}


@dataclass(frozen=True, slots=True)
class _Entry:
    check: Check
    required: bool  # a required component that is down makes the gateway `down` (503)
    dependency: bool  # an external dependency (Redis, the ledger): listed by /api/health/dependencies


class _Cached:
    """A check whose answer is reused for `ttl_s`, and shared by concurrent polls: a check that calls a vendor
    cannot be turned into a stream of vendor calls by health polling."""

    __slots__ = ("_at", "_check", "_result", "_running", "_ttl_s")

    def __init__(self, check: Check, ttl_s: float) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._at = -math.inf
        self._result: JSON | None = None
        self._running: asyncio.Future[JSON] | None = None

    async def __call__(self) -> JSON:
        if self._result is not None and time.monotonic() - self._at < self._ttl_s:
            return {**self._result, "cached": True}
        if self._running is not None:
            return {**await asyncio.shield(self._running), "cached": True}
        self._running = asyncio.ensure_future(self._check())
        try:
            result = await asyncio.shield(self._running)
        finally:
            self._running = None
        self._result, self._at = result, time.monotonic()
        return result


class HealthRegistry:
    def __init__(self, *, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self._entries: dict[str, _Entry] = {}
        self._timeout_s = timeout_s

    def add(
        self, name: str, check: Check, *, required: bool = True, dependency: bool = False, cache_s: float = 0.0
    ) -> None:
        """Register a check. `cache_s` > 0 reuses its answer that long (for checks that call a vendor)."""
        self._entries[name] = _Entry(_Cached(check, cache_s) if cache_s > 0 else check, required, dependency)

    def names(self, *, dependencies_only: bool = False) -> list[str]:
        return [n for n, e in self._entries.items() if e.dependency or not dependencies_only]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    async def report(self, names: Iterable[str], *, strict: bool = False) -> tuple[int, JSON]:
        """(HTTP status, `{"status", "components"}`) for the named components. An optional component that is down
        makes the whole `degraded` (200); with `strict` (one component asked for by name) it is `down` (503)."""
        selected = [n for n in names if n in self._entries]
        results = await asyncio.gather(*(self._run(n) for n in selected))
        components = dict(zip(selected, results, strict=True))
        worst = "ok"
        for name, result in components.items():
            status = str(result.get("status", "down"))
            if status == "down" and not self._entries[name].required and not strict:
                status = "degraded"
            if _RANK.get(status, 2) > _RANK[worst]:
                worst = status
        return (503 if worst == "down" else 200), {"status": worst, "components": components}

    async def _run(self, name: str) -> JSON:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await self._entries[name].check()
        except TimeoutError:
            result = {"status": "down", "error": f"no answer within {self._timeout_s:g} s"}
        except Exception as exc:  # noqa: BLE001  # a failing check reports its component down, logged
            logger.warning("health check failed", extra={"component": name, "error": type(exc).__name__})
            result = {"status": "down", "error": type(exc).__name__}
        result.setdefault("checked_in_ms", round((time.perf_counter() - started) * 1000, 2))
        return result


def health_routes(registry: HealthRegistry) -> list[BaseRoute]:
    """`/api/health` (liveness: no I/O), `/detailed` (every component), `/dependencies`, `/{component}`."""

    async def live(request: Request) -> Response:
        return Response(b'{"status":"ok","components":{}}', media_type="application/json")

    async def answer(names: Iterable[str], *, strict: bool = False) -> Response:
        status, body = await registry.report(names, strict=strict)
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    async def detailed(request: Request) -> Response:
        return await answer(registry.names())

    async def dependencies(request: Request) -> Response:
        return await answer(registry.names(dependencies_only=True))

    async def component(request: Request) -> Response:
        name = request.path_params["component"]
        if name not in registry:
            raise NotFoundError(f"No health check named '{name}'; see /api/health/detailed.")
        return await answer([name], strict=True)

    return [
        Route("/api/health", live, methods=["GET"]),
        Route("/api/health/detailed", detailed, methods=["GET"]),
        Route("/api/health/dependencies", dependencies, methods=["GET"]),
        Route("/api/health/{component}", component, methods=["GET"]),
    ]


def redis_check(redis: Any) -> Check:
    """Redis answers PING; its latency is reported."""

    async def check() -> JSON:
        started = time.perf_counter()
        await redis.ping()
        return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    return check
