"""The cache's management routes (CONTRACT §3, §5, §10) and its health check.

    GET    /api/llm/cache/stats        hits, misses, hit ratio, entries, bytes, per tier (any valid token)
    DELETE /api/llm/cache              drop every entry (admin)          -> {"deleted": n}
    DELETE /api/llm/cache/{pattern}    drop keys matching a glob (admin) -> {"deleted": n}

A pattern is a glob over the readable key `provider:model:hash` (`*` any run, `?` one character), e.g.
`anthropic:*` or `*:gpt-4o*:*`; anything but `[A-Za-z0-9._:/*?-]` is refused (400 naming `pattern`), so no
Redis glob syntax beyond `*` and `?` is ever passed on. A `?` in a URL must be sent as `%3F`.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.errors import InvalidRequestError
from gateway.health import Check
from gateway.layers.cache import Cache
from gateway.routes import admin_only, json_response
from gateway.settings import Settings
from gateway.types import JSON

PATTERN = re.compile(r"[A-Za-z0-9._:/*?-]{1,512}")


def checked_pattern(raw: str) -> str:
    if not PATTERN.fullmatch(raw):
        raise InvalidRequestError(
            "The pattern must be a glob over provider:model:hash using only letters, digits and . _ : / * ? -",
            param="pattern",
        )
    return raw


def disabled_report(settings: Settings) -> JSON:
    off = {"enabled": False}
    return {
        "enabled": False,
        "strategy": settings.cache_mode,
        "hits": 0,
        "misses": 0,
        "hit_ratio": 0.0,
        "entries": 0,
        "bytes": 0,
        "tiers": {"memory": off, "redis": off},
    }


def cache_routes(cache: Cache | None, settings: Settings) -> list[BaseRoute]:
    async def stats(request: Request) -> Response:
        return json_response(await cache.report() if cache is not None else disabled_report(settings))

    @admin_only
    async def clear(request: Request) -> Response:
        deleted = await cache.store.delete() if cache is not None else 0
        return json_response({"deleted": deleted})

    @admin_only
    async def clear_matching(request: Request) -> Response:
        pattern = checked_pattern(request.path_params["pattern"])
        deleted = await cache.store.delete(pattern) if cache is not None else 0
        return json_response({"deleted": deleted})

    return [
        Route("/api/llm/cache/stats", stats, methods=["GET"]),
        Route("/api/llm/cache", clear, methods=["DELETE"]),
        Route("/api/llm/cache/{pattern:path}", clear_matching, methods=["DELETE"]),
    ]


def cache_health(cache: Cache | None) -> Check:
    """`ok`; `degraded` when the Redis tier does not answer (hybrid serves from memory, redis passes through)."""

    async def check() -> JSON:
        if cache is None:
            return {"status": "ok", "enabled": False}
        store = cache.store
        result: JSON = {"status": "ok", "strategy": store.strategy}
        if store.memory is not None:
            result["entries"] = len(store.memory)
        if store.redis is not None:
            if await store.redis.probe():
                result["redis"] = "ok"
            else:
                result["status"] = "degraded"
                result["redis"] = "unavailable"
                result["serving"] = "memory only" if store.memory is not None else "pass-through"
        return result

    return check
