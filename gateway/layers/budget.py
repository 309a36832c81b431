"""The budget and cost layer (after rate limits, before the cache): every LLM call is admitted against its
budgets, costed exactly from the vendor's usage, and written to the ledger.

    before the call   reserve the worst case (prompt estimate + max output at the output price, capped at what
                      remains) on the global and the caller's daily/monthly budgets; 429 budget_exceeded when one
                      has nothing left after the calls in flight, Retry-After until its period resets
    whole answers     cost from `usage`; `x-gateway-cost` header; settle; one ledger record
    streams           watched through a TappedStream (nothing buffered, chunks untouched); when the stream ends,
                      cost from the usage chunk every stream carries inside the pipeline. No `x-gateway-cost`
                      header: headers leave before the cost is known, and an estimate under that name would lie.
                      The exact cost is in the ledger: `/api/llm/costs/history?request_id=<x-request-id>`.
    disconnects       billed for what was generated (the vendor's usage if it came, else counted from the streamed
                      text: ~4 characters a token), status `client_closed`; a stream that failed: status `error`
    cache hits        (`x-gateway-cache: hit` from the cache layer inside) cost 0, tokens recorded as saved

Settling and alerts run in background tasks (tracked, drained at shutdown); the ledger write is a list append.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from gateway.alerts import Alerter
from gateway.errors import BudgetExceededError, ServiceUnavailableError
from gateway.ids import unique_hex
from gateway.ledger import Ledger, Record
from gateway.pricing import PriceTable, format_nanos
from gateway.spend import Cap, Hold, MemorySpend, Refusal, SpendStore
from gateway.spend.periods import PeriodClock, Periods
from gateway.streams import Outcome, tap, usage_of
from gateway.types import JSON, ChatCall, Chunk, Handler, Reply, Target
from gateway.usage import Usage, usage_from, usage_of_reply

logger = logging.getLogger("gateway.costs")

CHARS_PER_TOKEN = 4
DEFAULT_MAX_OUTPUT = 4096  # worst case when neither the request nor the catalog bounds the answer
SETTLE_ATTEMPTS = 3
COST_HEADER = "x-gateway-cost"

MaxOutput = Callable[[Target], int | None]
UserBudgets = Mapping[str, tuple[int | None, int | None]]  # user -> (daily, monthly) in nano-units


def estimate_tokens(value: Any) -> int:
    """A rough token count of a request part: its JSON size / 4 (errs high, as a reservation should)."""
    if value is None:
        return 0
    return math.ceil(len(orjson.dumps(value)) / CHARS_PER_TOKEN)


def estimate_prompt(call: ChatCall) -> int:
    body = call.body
    if call.kind == "embedding":
        return estimate_tokens(body.get("input"))
    if call.kind == "completion":
        return estimate_tokens(body.get("prompt"))
    return estimate_tokens(body.get("messages")) + estimate_tokens(body.get("tools"))


def _text_length(chunk: JSON) -> int:
    """Characters of generated text in one chunk (content, reasoning, tool arguments, legacy text)."""
    total = 0
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return 0
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        text = choice.get("text")
        if isinstance(text, str):
            total += len(text)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        for key in ("content", "reasoning_content", "refusal"):
            part = delta.get(key)
            if isinstance(part, str):
                total += len(part)
        for tool in delta.get("tool_calls") or ():
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                total += len(function["arguments"])
    return total


def _answer_length(body: JSON | None) -> int:
    if not isinstance(body, dict):
        return 0
    total = 0
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("text"), str):
            total += len(choice["text"])
        message = choice.get("message")
        if isinstance(message, dict):
            total += _text_length({"choices": [{"delta": message}]})
    return total


class Budget:
    """Layer: budgets before the call, exact cost and one ledger record after it."""

    def __init__(
        self,
        *,
        pricing: PriceTable,
        ledger: Ledger,
        currency: str,
        clock: PeriodClock,
        spend: SpendStore | None = None,
        daily: int | None = None,
        monthly: int | None = None,
        users: UserBudgets | None = None,
        alerts: Alerter | None = None,
        max_output: MaxOutput | None = None,
    ) -> None:
        self.pricing = pricing
        self.ledger = ledger
        self.currency = currency
        self.clock = clock
        self._spend = spend
        self._daily = daily
        self._monthly = monthly
        self._users = dict(users or {})
        self._alerts = alerts
        self._max_output = max_output
        self._budgets_on = spend is not None and bool(daily or monthly or any(d or m for d, m in self._users.values()))
        self._caps_for: dict[str, tuple[Cap, ...]] = {}
        self._caps_periods: Periods | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_spent: dict[str, int] = {}  # cap key -> spend after the latest settle (for metrics)

    # ---- budgets -----------------------------------------------------------------------------------

    def caps(self, user: str) -> tuple[Cap, ...]:
        """The budgets that apply to a call by `user` in the current period (cached until the day changes)."""
        periods = self.clock.current()
        if periods is not self._caps_periods:
            self._caps_for.clear()
            self._caps_periods = periods
        caps = self._caps_for.get(user)
        if caps is None:
            daily, monthly = self._users.get(user, (None, None))
            caps = _caps("global", self._daily, self._monthly, periods) + _caps(f"user:{user}", daily, monthly, periods)
            if len(self._caps_for) < 10_000:
                self._caps_for[user] = caps
        return caps

    def all_caps(self) -> list[Cap]:
        """Every configured budget for the current period (start-up seeding)."""
        periods = self.clock.current()
        caps = list(_caps("global", self._daily, self._monthly, periods))
        for user, (daily, monthly) in self._users.items():
            caps += _caps(f"user:{user}", daily, monthly, periods)
        return caps

    async def seed(self) -> None:
        """In-process figures start from the ledger, so a restart mid-period keeps the period's spend."""
        if not isinstance(self._spend, MemorySpend):
            return
        periods = self.clock.current()
        for cap in self.all_caps():
            since = periods.day_start if cap.period == "day" else periods.month_start
            spent = await self.ledger.spent(since_us=int(since * 1e6), user=cap.user)
            self._spend.seed(cap, spent)
            self._last_spent[cap.key] = spent

    def used_ratios(self) -> dict[tuple[str, str], float]:
        """Spend / limit of every configured budget this period, as last seen by this process (for metrics)."""
        return {(cap.owner, cap.period): self._last_spent.get(cap.key, 0) / cap.limit for cap in self.all_caps()}

    def worst_case(self, call: ChatCall) -> int:
        body = call.body
        output = 0
        if call.kind != "embedding":
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            if not isinstance(limit, int) or limit <= 0:
                limit = (self._max_output(call.target) if self._max_output else None) or DEFAULT_MAX_OUTPUT
            choices = body.get("n")
            output = limit * (choices if isinstance(choices, int) and choices > 0 else 1)
        worst = self.pricing.worst_case_nanos(
            call.target, prompt_tokens=estimate_prompt(call), max_output_tokens=output
        )
        return worst or 0

    async def _reserve(self, call: ChatCall, caps: Sequence[Cap]) -> Hold:
        assert self._spend is not None
        try:
            result = await self._spend.reserve(unique_hex(), caps, self.worst_case(call))
        except Exception as exc:  # budgets fail closed: no unmetered spend while the store is down
            logger.error("budget store unreachable; refusing the call", extra={"error": type(exc).__name__})
            raise ServiceUnavailableError(
                "The budget store is unreachable, so the call cannot be admitted; try again shortly.",
                code="budget_store_unavailable",
            ) from exc
        if isinstance(result, Refusal):
            raise self._refused(result)
        return result

    def _refused(self, refusal: Refusal) -> BudgetExceededError:
        cap = refusal.cap
        whose = f"user '{cap.user}'" if cap.user is not None else "this gateway"
        budget = "daily" if cap.period == "day" else "monthly"
        limit = f"{format_nanos(cap.limit)} {self.currency}"
        if refusal.spent >= cap.limit:
            resets = datetime.fromtimestamp(cap.resets_at, self.clock.tz).isoformat()
            message = f"The {budget} budget of {whose} ({limit}) is used up; it resets at {resets}."
            retry_after = max(1.0, cap.resets_at - self.clock.now())
        else:
            message = (
                f"The {budget} budget of {whose} ({limit}) is fully committed to calls in flight; "
                "retry when they finish."
            )
            retry_after = 1.0
        return BudgetExceededError(message, retry_after_s=retry_after)

    def _settle_later(self, hold: Hold, actual: int) -> None:
        if isinstance(self._spend, MemorySpend):  # no I/O: settle inline, no task per call
            self._settled(hold, self._spend.settle_now(hold, actual))
            return
        task = asyncio.get_running_loop().create_task(self._settle(hold, actual))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, hold: Hold, actual: int) -> None:
        assert self._spend is not None
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                after = await self._spend.settle(hold, actual)
                break
            except Exception as exc:  # noqa: BLE001  # retried, then logged; the hold expires on its own
                logger.warning("budget settle failed", extra={"attempt": attempt, "error": type(exc).__name__})
                await asyncio.sleep(0.2 * attempt)
        else:
            logger.error("budget settle gave up", extra={"hold": hold.id, "cost": format_nanos(actual)})
            return
        self._settled(hold, after)

    def _settled(self, hold: Hold, after: list[int]) -> None:
        for cap, spent in zip(hold.caps, after, strict=True):
            self._last_spent[cap.key] = spent
            if self._alerts is not None:
                self._alerts.observe(cap, spent)

    async def drain(self) -> None:
        """Wait for settles in progress (shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- the layer ---------------------------------------------------------------------------------

    async def __call__(self, call: ChatCall, next: Handler) -> Reply:
        started = time.perf_counter()
        timestamp_us = time.time_ns() // 1000
        hold: Hold | None = None
        if self._budgets_on:
            caps = self.caps(call.principal.user)
            if caps:
                hold = await self._reserve(call, caps)
        try:
            reply = await next(call)
        except BaseException:
            if hold is not None:
                self._settle_later(hold, 0)
            raise
        meter = _Meter(self, call, reply, hold, started, timestamp_us)
        if reply.stream is None:
            meter.whole_answer()
        else:
            reply.stream = tap(reply.stream, on_chunk=meter.on_chunk, on_end=meter.on_end)
        return reply

    def finish(
        self,
        call: ChatCall,
        reply: Reply,
        hold: Hold | None,
        usage: Usage,
        status: str,
        started: float,
        timestamp_us: int,
    ) -> int | None:
        """Cost one finished call, settle its hold, write its record; returns the cost (None: unpriced)."""
        headers = reply.headers
        cache_hit = headers.get("x-gateway-cache") == "hit"
        cost = 0 if cache_hit else self.pricing.cost_nanos(reply.target, usage)
        if hold is not None:
            self._settle_later(hold, cost or 0)
        self.ledger.add(
            Record(
                id=unique_hex(),
                request_id=call.request_id,
                timestamp_us=timestamp_us,
                user=call.principal.user,
                provider=reply.target.provider,
                model=reply.target.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                cost=cost,
                currency=self.currency,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
                cache_hit=cache_hit,
                fallback_from=headers.get("x-gateway-fallback"),
                status=status,
            )
        )
        return cost


def _caps(owner: str, daily: int | None, monthly: int | None, periods: Periods) -> tuple[Cap, ...]:
    caps: tuple[Cap, ...] = ()
    if daily:
        caps += (Cap(owner, "day", periods.day, daily, periods.day_end),)
    if monthly:
        caps += (Cap(owner, "month", periods.month, monthly, periods.month_end),)
    return caps


class _Meter:
    """Per-call state between the reply and the end of its stream."""

    __slots__ = ("_budget", "_call", "_chars", "_hold", "_reply", "_started", "_timestamp_us", "_usage")

    def __init__(
        self, budget: Budget, call: ChatCall, reply: Reply, hold: Hold | None, started: float, timestamp_us: int
    ) -> None:
        self._budget = budget
        self._call = call
        self._reply = reply
        self._hold = hold
        self._started = started
        self._timestamp_us = timestamp_us
        self._usage: Usage | None = None
        self._chars = 0

    def whole_answer(self) -> None:
        reply = self._reply
        usage = usage_of_reply(reply)
        if usage is None:  # a vendor that sent no usage: estimate, never skip
            usage = Usage(
                prompt_tokens=estimate_prompt(self._call),
                completion_tokens=math.ceil(_answer_length(reply.body) / CHARS_PER_TOKEN),
            )
        cost = self._budget.finish(self._call, reply, self._hold, usage, "ok", self._started, self._timestamp_us)
        if cost is not None:
            reply.headers[COST_HEADER] = format_nanos(cost)

    def on_chunk(self, chunk: Chunk) -> None:
        data = chunk.data
        raw_usage = usage_of(data)
        if raw_usage is not None:
            self._usage = usage_from(raw_usage)
        elif self._usage is None:
            self._chars += _text_length(data)

    def on_end(self, outcome: Outcome, exc: BaseException | None) -> None:
        usage = self._usage
        if usage is None:
            usage = Usage(
                prompt_tokens=estimate_prompt(self._call),
                completion_tokens=math.ceil(self._chars / CHARS_PER_TOKEN),
            )
        status = {"ok": "ok", "cancelled": "client_closed", "error": "error"}[outcome]
        self._budget.finish(self._call, self._reply, self._hold, usage, status, self._started, self._timestamp_us)
