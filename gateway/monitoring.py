"""`/metrics` = `/api/metrics/prometheus`, `/api/metrics/custom` and `POST /api/metrics/reset` (CONTRACT §3).

`/custom` is the Prometheus figures read back as JSON (the same collection, merged across workers): totals by
route, provider, model and user, cache hit ratio, latency percentiles estimated from the histogram buckets as
`histogram_quantile` does. Prometheus counters never go down (a scraper's `rate()` depends on it), so a reset
does not touch them: it takes a baseline, and `/custom` counts from it. In multiprocess mode the baseline is a
file in the metrics directory, so every worker answers from the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.metrics_core import Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.routes import admin_only, json_response, principal_of
from gateway.types import JSON

logger = logging.getLogger("gateway.metrics")

BASELINE_FILE = "custom-baseline.json"
Key = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)
_RESETTABLE = ("_total", "_bucket", "_sum", "_count")


def _now_iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Baseline:
    """The counter values at the last reset (empty: count from start)."""

    def __init__(self, directory: str | None) -> None:
        self._file = Path(directory) / BASELINE_FILE if directory else None
        self._values: dict[Key, float] = {}
        self._since = time.time()

    def load(self) -> tuple[float, dict[Key, float]]:
        if self._file is not None and self._file.is_file():
            data = orjson.loads(self._file.read_bytes())
            values = {(name, tuple(tuple(pair) for pair in labels)): value for name, labels, value in data["values"]}
            return float(data["since"]), values
        return self._since, self._values

    def store(self, since: float, values: dict[Key, float]) -> None:
        self._since, self._values = since, values
        if self._file is not None:
            rows = [[name, [list(pair) for pair in labels], value] for (name, labels), value in values.items()]
            temporary = self._file.with_suffix(".tmp")
            temporary.write_bytes(orjson.dumps({"since": since, "values": rows}))
            temporary.replace(self._file)


def samples(families: Iterable[Metric]) -> tuple[dict[Key, float], dict[str, str]]:
    """({(sample, labels): value} of the counters and histograms, {name: type})."""
    values: dict[Key, float] = {}
    types: dict[str, str] = {}
    for family in families:
        types[family.name] = family.type
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values, types


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """`histogram_quantile` over cumulative (upper bound, count) pairs; None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return previous_bound


class _View:
    """Sums over the delta since the baseline, by chosen labels."""

    def __init__(self, current: dict[Key, float], baseline: dict[Key, float]) -> None:
        self.delta: dict[Key, float] = {}
        for key, value in current.items():
            if key[0].endswith(_RESETTABLE):
                value -= baseline.get(key, 0.0)
            self.delta[key] = value

    def total(self, name: str, by: str | None = None, **where: str) -> Any:
        sums: dict[str, float] = defaultdict(float)
        grand = 0.0
        for (sample, labels), value in self.delta.items():
            if sample != name:
                continue
            label_map = dict(labels)
            if any(label_map.get(k) != v for k, v in where.items()):
                continue
            grand += value
            if by is not None:
                sums[label_map.get(by, "")] += value
        return dict(sums) if by is not None else grand

    def percentiles_ms(self, name: str) -> JSON:
        merged: dict[float, float] = defaultdict(float)
        for (sample, labels), value in self.delta.items():
            if sample == f"{name}_bucket":
                merged[float(dict(labels)["le"])] += value
        buckets = sorted(merged.items())
        result: JSON = {}
        for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            estimate = quantile(q, buckets)
            result[label] = None if estimate is None else round(estimate * 1000, 3)
        return result


def custom_figures(metrics: Metrics, baseline: Baseline) -> JSON:
    current, _ = samples(metrics.collect())
    since, base = baseline.load()
    view = _View(current, base)
    http_requests = view.total("http_requests_total", by="status")
    by_provider: dict[str, JSON] = {}
    for provider, count in view.total("llm_requests_total", by="provider").items():
        by_provider[provider] = {"requests": int(count)}
    for provider, row in by_provider.items():
        statuses = view.total("llm_requests_total", by="status", provider=provider)
        row["errors"] = int(sum(v for s, v in statuses.items() if s != "200"))
        row["prompt_tokens"] = int(view.total("llm_tokens_total", provider=provider, type="prompt"))
        row["completion_tokens"] = int(view.total("llm_tokens_total", provider=provider, type="completion"))
        row["cost"] = round(view.total("llm_cost_total", provider=provider), 10)
    hits = view.total("gateway_cache_lookups_total", result="hit")
    misses = view.total("gateway_cache_lookups_total", result="miss")
    llm_statuses = view.total("llm_requests_total", by="status")
    return {
        "since": _now_iso(since),
        "http": {
            "requests": int(sum(http_requests.values())),
            "by_status": {k: int(v) for k, v in sorted(http_requests.items())},
            "by_route": {k: int(v) for k, v in sorted(view.total("http_requests_total", by="route").items())},
            "latency_ms": view.percentiles_ms("http_request_duration_seconds"),
            "overhead_ms": view.percentiles_ms("gateway_overhead_seconds"),
        },
        "llm": {
            "requests": int(sum(llm_statuses.values())),
            "by_status": {k: int(v) for k, v in sorted(llm_statuses.items())},
            "prompt_tokens": int(view.total("llm_tokens_total", type="prompt")),
            "completion_tokens": int(view.total("llm_tokens_total", type="completion")),
            "cost": round(view.total("llm_cost_total"), 10),
            "by_provider": by_provider,
            "by_model": {k: int(v) for k, v in sorted(view.total("llm_requests_total", by="model").items())},
            "cost_by_model": {k: round(v, 10) for k, v in sorted(view.total("llm_cost_total", by="model").items())},
            "cost_by_user": {k: round(v, 10) for k, v in sorted(view.total("llm_cost_total", by="user").items())},
            "latency_ms": view.percentiles_ms("llm_request_duration_seconds"),
            "time_to_first_token_ms": view.percentiles_ms("gateway_llm_time_to_first_token_seconds"),
            "in_flight": int(view.total("gateway_llm_in_flight")),
        },
        "cache": {
            "hits": int(hits),
            "misses": int(misses),
            "bypass": int(view.total("gateway_cache_lookups_total", result="bypass")),
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else 0.0,
        },
        "errors": {k: int(v) for k, v in sorted(view.total("error_rate_total", by="type").items())},
        "rate_limit_rejections": {
            k: int(v) for k, v in sorted(view.total("gateway_rate_limit_rejections_total", by="reason").items())
        },
        "active_connections": int(view.total("active_connections")),
        "circuits": {p: s for p, s in sorted((metrics.circuit_source() if metrics.circuit_source else {}).items())},
    }


def metrics_routes(metrics: Metrics) -> list[BaseRoute]:
    baseline = Baseline(metrics.multiprocess_dir)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    async def custom(request: Request) -> Response:
        return json_response(custom_figures(metrics, baseline))

    async def reset(request: Request) -> Response:
        values, types = samples(metrics.collect())
        kept = {key: value for key, value in values.items() if key[0].endswith(_RESETTABLE)}
        now = time.time()
        baseline.store(now, kept)
        names = sorted(
            f"{name}_total" if kind == "counter" else name
            for name, kind in types.items()
            if kind in ("counter", "histogram")
        )
        logger.info("custom metrics reset", extra={"by": principal_of(request).user, "figures": names})
        return json_response(
            {
                "reset": names,
                "since": _now_iso(now),
                "note": "/api/metrics/custom counts from now on; Prometheus counters are monotonic and keep counting",
            }
        )

    return [
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/api/metrics/prometheus", prometheus, methods=["GET"]),
        Route("/api/metrics/custom", custom, methods=["GET"]),
        Route("/api/metrics/reset", admin_only(reset), methods=["POST"]),
    ]


class SummaryLogger:
    """Writes the custom figures to `gateway.metrics` (metrics.log) every `interval_s`, while the app runs."""

    def __init__(self, metrics: Metrics, *, interval_s: float) -> None:
        self._metrics = metrics
        self._interval_s = interval_s
        self._baseline = Baseline(None)  # since this worker started; independent of resets
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="metrics-summary")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                figures = custom_figures(self._metrics, self._baseline)
            except Exception:
                logger.exception("metrics summary failed")
                continue
            logger.info(
                "metrics summary",
                extra={"http": figures["http"], "llm": figures["llm"], "cache": figures["cache"]},
            )
