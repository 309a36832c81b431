"""What one HTTP request did, gathered while it runs, for its access-log line and its log context.

The access-log middleware puts a fresh `RequestRecord` in `CURRENT` for each request; the metrics layer fills in
provider, model, cache, tokens and cost as calls finish; every log line written meanwhile carries the request id
and user (`gateway/log.py`). The record is one mutable object per request: the ContextVar holds a reference, so
writes from the endpoint (and from the tasks a streaming response runs in) reach the middleware.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    user: str | None = None
    provider: str | None = None
    model: str | None = None
    cache: str | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal | None = None
    ttft_ms: float | None = None
    upstream_s: float = 0.0  # time spent waiting for providers (the rest is the gateway's overhead)
    error_counted: bool = False  # the metrics layer already counted this request's error

    def add_cost(self, cost: Decimal) -> None:
        self.cost = cost if self.cost is None else self.cost + cost


CURRENT: ContextVar[RequestRecord | None] = ContextVar("gateway_request", default=None)


def current() -> RequestRecord | None:
    return CURRENT.get()
