"""The LLM metrics layer: the outermost layer of the pipeline, so it sees every outcome, 429s included.

For a whole answer it counts the call, its latency, tokens and cost when the reply comes back. For a stream it
wraps the chunk stream in a `TappedStream` (nothing is buffered) and records when the stream ends: time to the
first content chunk, stream duration, and the tokens of the usage chunk that every stream carries inside the
pipeline. The cost is the `x-gateway-cost` header the budget layer sets, or, for streams (whose cost is known
only at the end), what `cost_of(target, usage)` says when one is given. Each outcome also lands in the
request's `RequestRecord` for the access-log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from gateway.context import CURRENT, RequestRecord
from gateway.errors import GatewayError
from gateway.metrics import NONE, Metrics
from gateway.streams import Outcome, TappedStream, tap, usage_of
from gateway.types import ChatCall, Chunk, Handler, Reply, Target
from gateway.usage import Usage, usage_from, usage_of_reply

logger = logging.getLogger("gateway.llm")

CostOf = Callable[[Target, Usage], Decimal | None]
CANCELLED = "499"  # the caller left before the stream ended (nginx's convention)
REJECTION_REASONS = {"rate_limit_exceeded": "rate_limit", "budget_exceeded": "budget"}


def _cost(raw: str | None) -> Decimal | None:
    if not raw:
        return None
    try:
        cost = Decimal(raw)
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and cost >= 0 else None


def _has_content(data: dict[str, object]) -> bool:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    first = choices[0]
    if not isinstance(first, dict):
        return False
    if first.get("text"):
        return True
    delta = first.get("delta")
    return isinstance(delta, dict) and bool(
        delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content")
    )


class LLMMetrics:
    """Layer: counts and times every LLM call by provider, model, status and cache outcome."""

    def __init__(self, metrics: Metrics, *, cost_of: CostOf | None = None) -> None:
        self._metrics = metrics
        self._cost_of = cost_of

    async def __call__(self, call: ChatCall, next: Handler) -> Reply:
        record = CURRENT.get()
        if record is not None:
            record.user = call.principal.user
        metrics = self._metrics
        in_flight = metrics.bound(metrics.llm_in_flight, call.target.provider)
        in_flight.inc()
        started = time.perf_counter()
        try:
            reply = await next(call)
        except GatewayError as exc:
            in_flight.dec()
            self._failed(call, exc, started, record)
            raise
        except BaseException:
            in_flight.dec()
            self._failed(call, None, started, record)
            raise
        cache = reply.headers.get("x-gateway-cache", "bypass")
        metrics.cache_lookup(cache)
        if reply.stream is None:
            in_flight.dec()
            usage = usage_of_reply(reply)
            cost = _cost(reply.headers.get("x-gateway-cost"))
            self._done(call, reply.target, "200", cache, started, usage, cost, record)
            return reply
        reply.stream = _StreamWatch(self, call, reply, cache, started, in_flight, record).wrap()
        return reply

    def _failed(self, call: ChatCall, exc: GatewayError | None, started: float, record: RequestRecord | None) -> None:
        status = str(exc.status) if exc is not None else "500"
        provider = getattr(exc, "provider", None) or call.target.provider
        model = self._metrics.model_label(call.target.model)
        children = self._metrics.llm_child(provider, model, status, NONE)
        children.requests.inc()
        children.duration.observe(time.perf_counter() - started)
        self._count_error(provider, status, exc)
        if record is not None:
            record.calls += 1
            record.provider = record.provider or provider
            record.model = record.model or call.target.model
            record.error_counted = True

    def _count_error(self, provider: str, status: str, exc: GatewayError | None) -> None:
        metrics = self._metrics
        metrics.bound(metrics.errors, exc.type if exc is not None else "api_error", provider, status).inc()
        if status == "429":
            reason = REJECTION_REASONS.get(exc.code or "", "upstream") if exc is not None else "upstream"
            metrics.bound(metrics.rejections, reason).inc()

    def _done(
        self,
        call: ChatCall,
        target: Target,
        status: str,
        cache: str,
        started: float,
        usage: Usage | None,
        cost: Decimal | None,
        record: RequestRecord | None,
    ) -> None:
        metrics = self._metrics
        provider = target.provider
        model = metrics.model_label(target.model)
        children = metrics.llm_child(provider, model, status, cache)
        children.requests.inc()
        children.duration.observe(time.perf_counter() - started)
        if usage is not None:
            if usage.prompt_tokens:
                metrics.bound(metrics.llm_tokens, provider, model, "prompt").inc(usage.prompt_tokens)
            if usage.completion_tokens:
                metrics.bound(metrics.llm_tokens, provider, model, "completion").inc(usage.completion_tokens)
        if cost is None and usage is not None and self._cost_of is not None and cache != "hit":
            cost = self._cost_of(target, usage)
        if cost is not None:  # a zero cost still makes the series, so cost panels show 0 rather than no data
            metrics.bound(metrics.llm_cost, provider, model, metrics.user_label(call.principal.user)).inc(float(cost))
        if record is not None:
            record.calls += 1
            record.provider = provider
            record.model = target.model
            record.cache = cache
            if usage is not None:
                record.prompt_tokens += usage.prompt_tokens
                record.completion_tokens += usage.completion_tokens
            if cost is not None:
                record.add_cost(cost)


class _StreamWatch:
    """Per-stream state: when the first content chunk came, and the usage of the last chunk."""

    __slots__ = ("_cache", "_call", "_first_at", "_in_flight", "_layer", "_record", "_reply", "_started", "_usage")

    def __init__(
        self,
        layer: LLMMetrics,
        call: ChatCall,
        reply: Reply,
        cache: str,
        started: float,
        in_flight: object,
        record: RequestRecord | None,
    ) -> None:
        self._layer = layer
        self._call = call
        self._reply = reply
        self._cache = cache
        self._started = started
        self._in_flight = in_flight
        self._record = record
        self._first_at: float | None = None
        self._usage: Usage | None = None

    def wrap(self) -> TappedStream:
        assert self._reply.stream is not None
        return tap(self._reply.stream, on_chunk=self._on_chunk, on_end=self._on_end)

    def _on_chunk(self, chunk: Chunk) -> None:
        data = chunk.data
        if self._first_at is None and _has_content(data):
            self._first_at = time.perf_counter()
        usage = usage_of(data)
        if usage is not None:
            self._usage = usage_from(usage)

    def _on_end(self, outcome: Outcome, exc: BaseException | None) -> None:
        self._in_flight.dec()  # type: ignore[attr-defined]  # a Gauge child
        layer = self._layer
        metrics = layer._metrics
        target = self._reply.target
        model = metrics.model_label(target.model)
        now = time.perf_counter()
        if self._first_at is not None:
            metrics.bound(metrics.ttft, target.provider, model).observe(self._first_at - self._started)
            if self._record is not None:
                self._record.ttft_ms = round((self._first_at - self._started) * 1000, 2)
        metrics.bound(metrics.stream_duration, target.provider, model).observe(now - self._started)
        if outcome == "ok":
            status = "200"
        elif outcome == "cancelled":
            status = CANCELLED
        else:
            status = str(exc.status) if isinstance(exc, GatewayError) else "500"
            layer._count_error(target.provider, status, exc if isinstance(exc, GatewayError) else None)
            if self._record is not None:
                self._record.error_counted = True
        cost = _cost(self._reply.headers.get("x-gateway-cost"))
        layer._done(self._call, target, status, self._cache, self._started, self._usage, cost, self._record)


class UpstreamTimer:
    """Wraps the terminal handler: adds the time spent waiting for providers to the request's record, so the
    access-log middleware can tell the gateway's own overhead apart (for a stream: until the reply opened)."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def __call__(self, call: ChatCall) -> Reply:
        started = time.perf_counter()
        try:
            return await self._handler(call)
        finally:
            record = CURRENT.get()
            if record is not None:
                record.upstream_s += time.perf_counter() - started
