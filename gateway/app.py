"""The composition root: every part of the gateway is built and wired here, outermost first.

    HTTP front door   request id, access log, errors, auth, rate limit  (one pure-ASGI middleware, front.py)
    call pipeline     [layers...] -> Dispatch(providers)                (the parsed call, in order)
    routes            /api/llm/* and /v1/*                              (body -> ChatCall -> pipeline -> reply)

Nothing does I/O at import: provider clients are created when the app starts and closed when it stops.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from gateway.auth import TokenVerifier, read_public_key
from gateway.batch import Batch
from gateway.cache.routes import cache_health, cache_routes
from gateway.catalog import Catalog
from gateway.costs import Costs
from gateway.fetch import FetchPolicy, GuardedFetcher
from gateway.health import HealthRegistry, health_routes, redis_check
from gateway.jwks import JWKSKeys
from gateway.layers.cache import Cache
from gateway.layers.failover import Failover, breakers_from
from gateway.layers.metrics import LLMMetrics, UpstreamTimer
from gateway.layers.provider_quota import ProviderQuota
from gateway.layers.ratelimit import RateLimit
from gateway.log import flush_lines
from gateway.metrics import Metrics
from gateway.middleware.auth import Authenticator
from gateway.middleware.front import FrontMiddleware
from gateway.middleware.ratelimit import HTTPRateLimit
from gateway.monitoring import SummaryLogger, metrics_routes
from gateway.openapi import openapi_route
from gateway.pipeline import Dispatch, compose
from gateway.providers.base import Provider
from gateway.providers.registry import build_providers
from gateway.ratelimit.gcra import optional_rate
from gateway.ratelimit.limiter import build_limiter
from gateway.routes import LLMRoutes
from gateway.routing import FixedPaths
from gateway.settings import Settings
from gateway.store import make_redis
from gateway.types import ASGIApp, Layer

logger = logging.getLogger(__name__)
JWKS_MAX_BYTES = 1024 * 1024  # a key set is a few KiB


class GatewayApp(Starlette):
    """Starlette without its ServerErrorMiddleware and ExceptionMiddleware: the front door (`FrontMiddleware`)
    renders every error in the OpenAI shape, the router's 404/405 included, so those two layers only added a
    `send` wrapper and a frame to every request and every streamed chunk."""

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = FixedPaths(self.router)  # fixed-path routes by one lookup (routing.py)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def cors_middleware(settings: Settings) -> list[Middleware]:
    """CORS only for CORS_ORIGINS; credentials only when CORS_ALLOW_CREDENTIALS is set."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id", "cache-control"],
            expose_headers=["x-request-id", "x-gateway-provider", "x-gateway-cache", "x-gateway-cost", "retry-after"],
            allow_credentials=settings.cors_allow_credentials,
            max_age=600,
        )
    ]


def build_app(settings: Settings, *, upstream_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    catalog = Catalog.bundled(settings.config.aliases)
    providers: dict[str, Provider] = {}  # filled at start-up by the lifespan
    redis = make_redis(settings.redis_url)  # shared by every Redis-backed part; no I/O until first use

    health = HealthRegistry()
    on_startup: list[Callable[[], Awaitable[None]]] = []  # run in order when the app starts
    on_shutdown: list[Callable[[], Awaitable[None]]] = []  # run in reverse order when it stops
    metrics = Metrics(
        max_users=settings.metrics_max_users,
        max_models=settings.metrics_max_models,
        multiprocess_dir=settings.prometheus_multiproc_dir,
    )  # breakers and budgets feed it at scrape time: metrics.circuit_source / metrics.budget_source
    summary = SummaryLogger(metrics, interval_s=settings.metrics_log_interval_s)
    on_startup.append(summary.start)
    on_shutdown.append(summary.stop)
    on_shutdown.append(metrics.aclose)

    limiter = build_limiter(settings, redis)  # rate limits: shared in Redis, per-process memory as the fallback
    llm_limit = RateLimit(
        limiter,
        requests=optional_rate(settings.llm_rate_limit_max_requests, settings.llm_rate_limit_window_ms),
        users=settings.config.users,
    )
    provider_quota = ProviderQuota(limiter, settings.config.providers)
    on_shutdown += [llm_limit.meter.drain, provider_quota.meter.drain]  # settle the last token counts
    health.add("rate_limits", limiter.health, required=False)

    cache = Cache.from_settings(settings, redis) if settings.cache_enabled else None  # None: not in the pipeline
    if cache is not None:
        on_shutdown.append(cache.aclose)  # finish the last writes to Redis
    health.add("cache", cache_health(cache), required=False)

    costs = Costs(settings, redis=redis, catalog=catalog)  # prices, cost ledger, budgets and alerts
    on_startup.append(costs.start)
    on_shutdown.append(costs.close)  # settle calls in flight, send alerts, write every buffered ledger record
    health.add("costs", costs.check, required=False, dependency=True)
    metrics.budget_source = costs.used_ratios

    # The call pipeline, outermost first. Each layer is `async (call, next) -> Reply`. Intended order:
    # metrics (sees every outcome), per-user rate limits, budget and cost ledger, response cache,
    # failover (retries, circuit breakers, fallback chains), per-provider quotas, then Dispatch.
    breakers = breakers_from(settings)  # circuit state: the failover layer keeps it, routes/health/metrics read it
    metrics.circuit_source = breakers.states
    layers: list[Layer] = [
        LLMMetrics(metrics, cost_of=costs.pricing.cost_of),  # outermost: sees every outcome, 429s included
        llm_limit,  # per-user LLM requests and tokens: 429 rate_limit_exceeded
        *costs.layers,  # budgets (429 budget_exceeded), exact cost, x-gateway-cost, one ledger record per call
        *([cache] if cache is not None else []),  # response cache: hit / miss / bypass (hits cost 0)
        Failover.from_settings(settings, catalog=catalog, configured=providers, breakers=breakers),  # after the cache
        provider_quota,  # keep last, inside failover: a provider at its own rpm/tpm is a retryable 429
    ]
    pipeline = compose(layers, terminal=UpstreamTimer(Dispatch(providers)))

    routes = LLMRoutes(catalog=catalog, providers=providers, pipeline=pipeline, max_body_bytes=settings.max_body_bytes)
    routes.breakers = breakers
    batch = Batch(routes, max_size=settings.batch_max_size, max_concurrency=settings.batch_max_concurrency)
    verifier = None
    if not settings.auth_disabled:
        jwks = None
        if settings.jwt_jwks_url:
            policy = replace(FetchPolicy.for_images(settings), max_bytes=JWKS_MAX_BYTES, timeout_s=5.0)
            jwks_fetcher = GuardedFetcher(policy)
            on_shutdown.append(jwks_fetcher.aclose)
            jwks = JWKSKeys(settings.jwt_jwks_url, jwks_fetcher, ttl_s=settings.jwt_jwks_cache_s)
        verifier = TokenVerifier(
            settings.jwt_secret,
            public_key=read_public_key(settings.jwt_public_key),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_s=settings.jwt_leeway_s,
            jwks=jwks,
        )
    middleware = [
        *cors_middleware(settings),  # outermost: its headers reach every answer, 401s and 429s included
        Middleware(
            FrontMiddleware,  # request id, header limits, access log + metrics, errors, auth, rate limit, body timeout
            metrics=metrics,
            authenticator=Authenticator(verifier),
            rate_limit=HTTPRateLimit(  # per user, or per client IP when there is none
                limiter=limiter,
                rate=optional_rate(settings.rate_limit_max_requests, settings.rate_limit_window_ms),
                trusted_proxies=settings.trusted_proxies,
            ),
            body_timeout_s=settings.body_read_timeout_s,
            hsts=settings.hsts,
            max_header_count=settings.max_header_count,
            max_header_bytes=settings.max_header_bytes,
        ),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        providers.update(build_providers(settings, upstream_transport=upstream_transport))
        for step in on_startup:
            await step()
        logger.info("gateway ready", extra={"providers": sorted(providers)})
        try:
            yield
        finally:
            for step in reversed(on_shutdown):
                await step()
            for provider in providers.values():
                await provider.aclose()
            providers.clear()
            if redis is not None:
                await redis.aclose()
            flush_lines()  # the last access lines

    health.add("providers", routes.providers_health)
    if redis is not None:
        health.add("redis", redis_check(redis), required=False, dependency=True)

    app = GatewayApp(
        routes=[
            *routes.routes(),  # first: the router tries routes in order, and these carry the LLM calls
            *health_routes(health),
            *metrics_routes(metrics),
            *batch.routes(),
            *cache_routes(cache, settings),
            *costs.routes(),
            openapi_route(),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.providers = providers
    app.state.redis = redis
    app.state.health = health
    app.state.cache = cache  # None when CACHE_ENABLED=false; `.stats.hits` / `.stats.misses` feed cache_hit_ratio
    app.state.breakers = breakers
    app.state.metrics = metrics
    return app
