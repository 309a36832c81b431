"""Per-layer cost of the gateway, in µs per request: `.venv/bin/python bench/layers.py [--requests 5000]`.

The real app (`build_app`, every default layer on, settings as bench/run.py gives them) is driven in-process,
one request at a time, through its ASGI interface; the upstream is the nginx fake (started here on core 1, the
process pins itself to core 0). Probes are put between the HTTP middlewares and around each pipeline layer:

    middleware k  = (time inside the probe just outside it) - (time inside the probe just inside it),
                    each minus the time its sends spent further out, so a middleware's `send` wrapper counts
                    as its own
    route         = the innermost middleware probe minus the pipeline: Starlette routing, body read,
                    validation, building the call, writing the response
    layer j       = its inclusive time minus the next layer's
    upstream      = the terminal (provider, httpx, aiohttp, the loopback round trip to nginx)

Then a few parts are timed alone over many iterations (JWT verify from the cache, request validation, the
httpx client over aiohttp vs raw aiohttp for one upstream call). Non-stream chat only: stream layers do their
work while the stream is iterated, after the pipeline returned. Wall time at c=1 in one loop, so apart from
the upstream round trip it is the CPU the request costs. Times are this thread's CPU time (the machine is shared);
the probes' own cost, measured on no-op middlewares and layers, is subtracted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import BENCH, JWT_SECRET, NGINX_CONF, Bench, say

STATS: dict[str, float] = collections.defaultdict(float)  # name -> total ns
# CPU time of this thread: immune to other processes taking the core (the machine is shared), and the upstream
# round trip counts only the CPU spent while waiting. One call costs ~0.6 µs; `calibrate` subtracts the probes.
clock = time.thread_time_ns


class Probe:
    """Sits between two middlewares: time inside, and time its sends spend outside."""

    def __init__(self, app: Any, *, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def timed_send(message: Any) -> None:
            t = clock()
            await send(message)
            STATS[self.name + ".out"] += clock() - t

        t0 = clock()
        await self.app(scope, receive, timed_send)
        STATS[self.name + ".in"] += clock() - t0


class TimedLayer:
    def __init__(self, layer: Any, name: str) -> None:
        self.layer = layer
        self.name = name

    async def __call__(self, call: Any, next: Any) -> Any:
        t0 = clock()
        try:
            return await self.layer(call, next)
        finally:
            STATS["layer." + self.name] += clock() - t0


def instrument(app: Any) -> tuple[list[str], list[str]]:
    """Probes between the app's middlewares; returns (probe names outermost first, middleware names)."""
    from starlette.middleware import Middleware

    names = [getattr(m.cls, "__name__", str(m.cls)) for m in app.user_middleware]
    stack: list[Any] = [Middleware(Probe, name="p0")]
    for i, m in enumerate(app.user_middleware, start=1):
        stack += [m, Middleware(Probe, name=f"p{i}")]
    app.user_middleware = stack
    return [f"p{i}" for i in range(len(names) + 1)], names


def patch_compose() -> list[str]:
    """Wrap each pipeline layer (and the terminal) in a timer; returns the layer names in order."""
    import gateway.app

    order: list[str] = []
    original = gateway.app.compose

    def compose(layers: Any, *, terminal: Any) -> Any:
        wrapped = []
        for layer in layers:
            name = type(layer).__name__
            order.append(name)
            wrapped.append(TimedLayer(layer, name))
        order.append("upstream")

        async def timed_terminal(call: Any) -> Any:
            t0 = clock()
            try:
                return await terminal(call)
            finally:
                STATS["layer.upstream"] += clock() - t0

        return original(wrapped, terminal=timed_terminal)

    gateway.app.compose = compose  # type: ignore[assignment]
    return order


def chat_body(i: int | None) -> bytes:
    tag = "fixed" if i is None else f"{os.getpid()}-{i}"
    return orjson.dumps(
        {
            "model": "gpt-4o-mini",
            "temperature": 0,
            "max_tokens": 64,
            "messages": [
                {"role": "system", "content": "You are a concise assistant."},
                {"role": "user", "content": f"What is the capital of France? Answer in two sentences. [{tag}]"},
            ],
        }
    )


async def request(app: Any, token: str, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:18090"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + token.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 18090),
        "state": {},
    }
    sent = False
    finished = asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    return status


def per_request(n: int) -> dict[str, float]:
    return {k: v / n / 1000 for k, v in STATS.items()}


async def drive(app: Any, token: str, *, n: int, unique: bool, warm: int) -> tuple[dict[str, float], float]:
    bodies = [chat_body(i if unique else None) for i in range(n + warm)]
    for body in bodies[:warm]:
        assert await request(app, token, body) == 200
    STATS.clear()
    t0 = clock()
    for body in bodies[warm:]:
        status = await request(app, token, body)
        if status != 200:
            raise SystemExit(f"layers: HTTP {status}")
    total = (clock() - t0) / n / 1000
    return per_request(n), total


def breakdown(
    stats: dict[str, float], probes: list[str], mw_names: list[str], layers: list[str]
) -> list[tuple[str, float]]:
    def inner(p: str) -> float:
        return stats.get(p + ".in", 0.0) - stats.get(p + ".out", 0.0)

    rows: list[tuple[str, float]] = []
    for k, name in enumerate(mw_names, start=1):
        rows.append((f"middleware {name}", inner(probes[k - 1]) - inner(probes[k])))
    pipeline = stats.get("layer." + layers[0], 0.0)
    rows.append(("route (routing, body, validation, call, response)", inner(probes[-1]) - pipeline))
    for j, name in enumerate(layers[:-1]):
        rows.append((f"layer {name}", stats.get("layer." + name, 0.0) - stats.get("layer." + layers[j + 1], 0.0)))
    rows.append(("upstream (provider + httpx + aiohttp; CPU while waiting)", stats.get("layer.upstream", 0.0)))
    return rows


class _NoopMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class _NoopLayer:
    async def __call__(self, call: Any, next: Any) -> Any:
        return await next(call)


async def calibrate(n: int = 3000) -> tuple[float, float]:
    """The probes' own cost per no-op middleware and per no-op layer (µs), subtracted from the figures."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import Response
    from starlette.routing import Route

    from gateway.pipeline import compose

    async def endpoint(request: Any) -> Response:
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])
    app.user_middleware = [Middleware(_NoopMiddleware) for _ in range(4)]
    probes, names = instrument(app)
    for _ in range(300):
        await request(app, "x", b"{}")
    STATS.clear()
    for _ in range(n):
        await request(app, "x", b"{}")
    rows = breakdown(per_request(n), probes, names, ["upstream"])
    per_middleware = statistics.median(us for name, us in rows if name.startswith("middleware"))
    layers = [TimedLayer(_NoopLayer(), f"noop{i}") for i in range(4)]

    async def terminal(call: Any) -> Any:
        t0 = clock()
        STATS["layer.upstream"] += clock() - t0

    handler = compose(layers, terminal=terminal)  # type: ignore[arg-type]
    STATS.clear()
    for _ in range(n):
        await handler(None)  # type: ignore[arg-type]
    stats = per_request(n)
    per_layer = statistics.median(stats[f"layer.noop{i}"] - stats[f"layer.noop{i + 1}"] for i in range(3))
    return per_middleware, per_layer


def timeit(fn: Callable[[], Any], n: int = 20000) -> float:
    for _ in range(min(n, 1000)):
        fn()
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n / 1000


async def atimeit(fn: Callable[[], Awaitable[Any]], n: int = 3000) -> float:
    for _ in range(200):
        await fn()
    samples = []
    for _ in range(5):
        t0 = clock()
        for _ in range(n // 5):
            await fn()
        samples.append((clock() - t0) / (n // 5) / 1000)
    return statistics.median(samples)


async def parts(settings: Any, token: str, upstream: str) -> list[tuple[str, float]]:
    """A few parts timed alone."""
    import aiohttp

    from gateway.auth import TokenVerifier
    from gateway.transport import make_client, make_transport
    from translators.schema import validate_chat

    rows: list[tuple[str, float]] = []
    verifier = TokenVerifier(settings.jwt_secret)
    verifier.verify(token)
    rows.append(("JWT verify, cached per token", timeit(lambda: verifier.verify(token))))
    fresh = TokenVerifier(settings.jwt_secret)
    rows.append(("JWT verify, uncached (HS256 decode)", timeit(lambda: fresh._decode(token), 5000)))
    body = chat_body(1)
    parsed = orjson.loads(body)
    rows.append(("orjson.loads of the request body", timeit(lambda: orjson.loads(body))))
    rows.append(("request validation (validate_chat, pydantic)", timeit(lambda: validate_chat(parsed))))
    answer = (BENCH / "upstream/www/json/v1/chat/completions").read_bytes()
    rows.append(("orjson.loads of the upstream answer", timeit(lambda: orjson.loads(answer))))

    url = upstream + "/json/v1/chat/completions"
    headers = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def raw() -> None:
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()

        rows.append(("upstream call, raw aiohttp (CPU)", await atimeit(raw)))
    for kind in ("aiohttp", "httpx"):
        client = make_client(make_transport(kind, max_connections=64), timeout_s=600, connect_timeout_s=10)
        async with client:

            async def via_httpx(client: Any = client) -> None:
                r = await client.post(url, content=body, headers=headers)
                assert r.status_code == 200

            rows.append((f"upstream call, httpx over gateway transport '{kind}' (CPU)", await atimeit(via_httpx)))
    return rows


async def main_async(args: argparse.Namespace, bench: Bench) -> None:
    layer_names = patch_compose()
    from gateway.app import build_app
    from gateway.log import configure_from
    from gateway.settings import Settings

    env = bench.gateway_env("json")
    settings = Settings.from_env(env)
    log_sink = open(os.devnull if args.no_log_file else bench.tmp / "gateway.log", "w")
    real_stdout = sys.stdout
    sys.stdout = log_sink  # the gateway logs to stdout; here that is a file, as under a process manager
    try:
        configure_from(settings)
    finally:
        sys.stdout = real_stdout
    app = build_app(settings)
    probes, mw_names = instrument(app)
    mw_cost, layer_cost = await calibrate()
    out: list[str] = [f"probe cost subtracted: {mw_cost:.1f} µs per middleware, {layer_cost:.1f} µs per layer"]
    async with app.router.lifespan_context(app):
        for label, unique in (("cache miss (distinct bodies)", True), ("cache hit (one body)", False)):
            stats, total = await drive(app, bench.token, n=args.requests, unique=unique, warm=300)
            rows = [
                (
                    name,
                    us - (mw_cost if name.startswith("middleware") else layer_cost if name.startswith("layer") else 0),
                )
                for name, us in breakdown(stats, probes, mw_names, layer_names)
                if us != 0  # a layer the request never reached (after a cache hit)
            ]
            out += [f"\n{label}: {total:.1f} µs CPU per request end to end (c=1, in-process), of which:", ""]
            out += ["| part | µs/request |", "|---|---|"]
            out += [f"| {name} | {us:.1f} |" for name, us in rows]
            accounted = sum(us for _, us in rows)
            out.append(f"| (driver, probes, Starlette's outer middleware: the rest) | {total - accounted:.1f} |")
        others = await parts(settings, bench.token, bench.upstream)
    out += ["", "Parts timed alone:", "", "| part | µs/call |", "|---|---|"]
    out += [f"| {name} | {us:.1f} |" for name, us in others]
    say("\n".join(out))
    log_sink.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--no-log-file", action="store_true", help="send the gateway's log lines to /dev/null")
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    ns = argparse.Namespace(
        seconds=1, proxy_core="0", load_core="1", upstream_port=18080, proxy_port=18090, workers=1, gateway_env=[]
    )
    with tempfile.TemporaryDirectory(prefix="llmgw-layers-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=18080, www=BENCH / "upstream" / "www"))
        from gateway.auth import issue_token

        bench = Bench(ns, tmp, issue_token(JWT_SECRET, sub="bench-user", ttl_s=86400))
        nginx = bench.start("nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core="1")
        try:
            bench.wait_ready(nginx, f"{bench.upstream}/health")
            import uvloop

            uvloop.run(main_async(args, bench))
        finally:
            nginx.stop()


if __name__ == "__main__":
    main()
