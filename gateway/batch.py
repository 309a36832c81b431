"""`POST /api/llm/batch`: several chat requests in one call, each answered on its own (CONTRACT §3, §10).

`{"requests": [chat requests], "parallel": bool}` -> `{"results": [{"status", "body"}]}` in input order. Every
item is validated and runs through the whole pipeline as the caller (limits, budget, cache, cost, failover)
exactly as `/api/llm/chat` would run it; an item's failure is its own OpenAI error body with its status and
never fails the batch. Items are non-streaming (`stream: true` gets a 400 result). A batch larger than
BATCH_MAX_SIZE is refused whole (400 naming `requests`); a parallel one runs at most BATCH_MAX_CONCURRENCY
items at once (default: parallel).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.errors import INTERNAL_ERROR, GatewayError, InvalidRequestError, error_body
from gateway.routes import LLMRoutes, json_response, principal_of, read_json
from gateway.types import JSON, Principal

logger = logging.getLogger(__name__)

_Run = Callable[[int], Awaitable[None]]


class Batch:
    def __init__(self, routes: LLMRoutes, *, max_size: int, max_concurrency: int) -> None:
        self._routes = routes
        self._max_size = max_size
        self._max_concurrency = max_concurrency

    async def batch(self, request: Request) -> Response:
        body = await read_json(request, self._routes.max_body_bytes)
        items = body.get("requests")
        if not isinstance(items, list):
            raise InvalidRequestError("`requests` must be a list of chat completion requests.", param="requests")
        if len(items) > self._max_size:
            raise InvalidRequestError(
                f"A batch takes at most {self._max_size} requests (BATCH_MAX_SIZE); this one has {len(items)}.",
                param="requests",
            )
        parallel = body.get("parallel", True)
        if not isinstance(parallel, bool):
            raise InvalidRequestError("`parallel` must be true or false.", param="parallel")
        principal = principal_of(request)
        request_id: str = request.scope["state"]["request_id"]
        cache_control = request.headers.get("cache-control", "").lower() or None
        results: list[JSON] = [{} for _ in items]

        async def run(index: int) -> None:
            results[index] = await self._item(
                items[index], principal=principal, request_id=f"{request_id}-{index}", cache_control=cache_control
            )

        if parallel and len(items) > 1:
            await self._run_parallel(run, len(items))
        else:
            for index in range(len(items)):
                await run(index)
        return json_response({"results": results})

    async def _run_parallel(self, run: _Run, count: int) -> None:
        """At most `max_concurrency` workers, each taking the next item: no task per waiting item."""
        positions = iter(range(count))

        async def worker() -> None:
            for index in positions:
                await run(index)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._max_concurrency, count)):
                group.create_task(worker())

    async def _item(self, item: object, *, principal: Principal, request_id: str, cache_control: str | None) -> JSON:
        try:
            if not isinstance(item, dict):
                raise InvalidRequestError("Each batch item must be a chat completion request (a JSON object).")
            if item.get("stream"):
                raise InvalidRequestError(
                    "Streaming is not available in a batch; send this request to /api/llm/chat.", param="stream"
                )
            call = self._routes.chat_call(item, principal=principal, request_id=request_id, cache_control=cache_control)
            reply = await self._routes.pipeline(call)
            answer = reply.body if reply.body is not None else orjson.loads(reply.raw or b"null")
            return {"status": 200, "body": answer}
        except GatewayError as exc:
            return {"status": exc.status, "body": error_body(exc)}
        except Exception:
            logger.exception("batch item failed", extra={"request_id": request_id})
            return {"status": INTERNAL_ERROR.status, "body": error_body(INTERNAL_ERROR)}

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/llm/batch", self.batch, methods=["POST"])]
