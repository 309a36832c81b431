"""One access-log line and the HTTP metrics for every request, written by `front.py` when the request ends.

It sees the final status of every answer, the errors the front door renders included. The `route` label is
Starlette's route template (`/api/health/{component}`), never the raw path, so a scan of random URLs cannot blow
up the label set. The line goes to `gateway.access` (through `log.info_line`, the cheap path for one line per
request); the LLM details (provider, model, cache, tokens, cost) come from the request's `RequestRecord`, filled
by the metrics layer.
"""

from __future__ import annotations

import logging
import time

from gateway.context import RequestRecord
from gateway.log import info_line
from gateway.metrics import NONE, Metrics
from gateway.types import Principal, Scope

logger = logging.getLogger("gateway.access")

UNMATCHED = "unmatched"  # no route answered (404s): one label value for every unknown path
# The OpenAI error type of a status, for errors answered before any LLM call was made.
STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}


def route_of(scope: Scope) -> str:
    """The route template that served the request. Requests refused before routing (401s) are matched here."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        router = getattr(app, "router", None)
        for candidate in getattr(router, "routes", ()):
            match, _ = candidate.matches(scope)
            if match.value:  # Match.PARTIAL (wrong method) or FULL
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class AccessLog:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def finish(
        self, scope: Scope, record: RequestRecord, status: int, started: float, headers_at: float | None
    ) -> None:
        ended = time.perf_counter()
        route = route_of(scope)
        method = scope["method"]
        metrics = self.metrics
        children = metrics.http_child(route, method, str(status))
        children.requests.inc()
        children.duration.observe(ended - started)
        if headers_at is not None:
            metrics.overhead_child(route).observe(max(0.0, headers_at - started - record.upstream_s))
        if status >= 400 and not record.error_counted:
            metrics.bound(metrics.errors, STATUS_TYPES.get(status, "api_error"), NONE, str(status)).inc()
            if status == 429:
                metrics.bound(metrics.rejections, "rate_limit").inc()
        principal: Principal | None = scope["state"].get("principal")
        if principal is not None:
            record.user = principal.user
        info_line(
            logger,
            f"{method} {route} {status}",
            {
                "request_id": record.request_id,
                "user": record.user,
                "route": route,
                "method": method,
                "status": status,
                "latency_ms": round((ended - started) * 1000, 2),
                "provider": record.provider,
                "model": record.model,
                "cache": record.cache,
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens,
                "tokens": record.prompt_tokens + record.completion_tokens,
                "cost": None if record.cost is None else str(record.cost),
                "ttft_ms": record.ttft_ms,
            },
        )
