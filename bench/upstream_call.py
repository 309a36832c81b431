"""CPU µs per upstream call, in-process: `flock /tmp/bench.lock .venv/bin/python bench/upstream_call.py`.

The gateway's own upstream step next to its floors, one call at a time against the nginx fake (started here on
core 1; this process pins itself to core 0, uvloop as under uvicorn):

    raw aiohttp              aiohttp.ClientSession, body read whole / stream read with iter_any: the floor
    httpx client             httpx.AsyncClient over `make_transport("aiohttp")` (bench/thin_proxy.py --client httpx)
    OpenAIProvider.send      the provider as the registry builds it (body build, headers, transport, answer check)

JSON calls read the whole answer; stream calls read every chunk of the 43-frame SSE answer. Times are this
thread's CPU time, the median of `--rounds` rounds (the machine is shared). `--root DIR` imports `gateway` from
another tree (e.g. an exported older commit), for a before/after comparison with the same script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BODY = b'{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
clock = time.thread_time_ns


async def measure(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """µs of this thread's CPU per call."""
    t0 = clock()
    for _ in range(n):
        await fn()
    return (clock() - t0) / n / 1000


async def run(args: argparse.Namespace, upstream: str) -> list[tuple[str, float]]:
    import aiohttp
    import orjson

    from gateway.providers.registry import build_providers
    from gateway.settings import Settings
    from gateway.transport import make_client, make_transport
    from gateway.types import ChatCall, Principal, Target

    body = orjson.loads(BODY)

    def provider(prefix: str) -> Any:
        env = {"JWT_SECRET": "x" * 40, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": f"{upstream}/{prefix}/v1"}
        return build_providers(Settings.from_env(env))["openai"]

    json_provider, sse_provider = provider("json"), provider("sse")
    target = Target("openai", "gpt-4o")
    principal = Principal("bench")
    json_call = ChatCall(kind="chat", body=body, target=target, principal=principal, request_id="r-1")
    sse_call = ChatCall(
        kind="chat", body={**body, "stream": True}, target=target, principal=principal, request_id="r-1", stream=True
    )

    async def provider_json() -> None:
        reply = await json_provider.send(json_call)
        assert reply.body is not None

    async def provider_stream() -> None:
        reply = await sse_provider.send(sse_call)
        chunks = [c async for c in reply.stream]
        assert len(chunks) > 40, len(chunks)

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30))
    json_url, sse_url = f"{upstream}/json/v1/chat/completions", f"{upstream}/sse/v1/chat/completions"

    async def raw_json() -> None:
        async with session.post(json_url, data=BODY, headers=HEADERS) as r:
            await r.read()

    async def raw_stream() -> None:
        async with session.post(sse_url, data=BODY, headers=HEADERS) as r:
            async for _ in r.content.iter_any():
                pass

    client = make_client(make_transport("aiohttp", max_connections=64), timeout_s=600, connect_timeout_s=10)

    async def httpx_json() -> None:
        r = await client.post(json_url, content=BODY, headers=HEADERS)
        assert r.status_code == 200

    async def httpx_stream() -> None:
        async with client.stream("POST", sse_url, content=BODY, headers=HEADERS) as r:
            async for _ in r.aiter_raw():
                pass

    cases: list[tuple[str, Callable[[], Awaitable[Any]], int]] = [
        ("JSON: raw aiohttp", raw_json, args.n),
        ("JSON: httpx client over make_transport('aiohttp')", httpx_json, args.n),
        ("JSON: OpenAIProvider.send", provider_json, args.n),
        ("stream: raw aiohttp", raw_stream, args.n // 4),
        ("stream: httpx client over make_transport('aiohttp')", httpx_stream, args.n // 4),
        ("stream: OpenAIProvider.send + every chunk", provider_stream, args.n // 4),
    ]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _, fn, n in cases:  # warm-up: connections, caches
        await measure(fn, min(n, 200))
    for _ in range(args.rounds):  # interleaved, so a burst of load elsewhere spreads over every case
        for name, fn, n in cases:
            samples[name].append(await measure(fn, n))
    await session.close()
    await client.aclose()
    await json_provider.aclose()
    await sse_provider.aclose()
    return [(name, statistics.median(values)) for name, values in samples.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="JSON calls per round (streams: a quarter)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--root", type=Path, default=BENCH.parent, help="the tree `gateway` is imported from")
    p.add_argument("--upstream-port", type=int, default=18180)
    args = p.parse_args()
    sys.path.insert(0, str(BENCH))
    from run import NGINX_CONF, Bench, say

    sys.path.insert(0, str(args.root.resolve()))
    os.sched_setaffinity(0, {0})
    ns = argparse.Namespace(upstream_port=args.upstream_port, proxy_port=0)
    with tempfile.TemporaryDirectory(prefix="llmgw-upstream-") as tmp_name:
        tmp = Path(tmp_name)
        conf = NGINX_CONF.format(tmp=tmp, port=args.upstream_port, www=BENCH / "upstream" / "www")
        (tmp / "nginx.conf").write_text(conf)
        bench = Bench(ns, tmp, token="")
        nginx = bench.start("nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core="1")
        try:
            bench.wait_ready(nginx, f"{bench.upstream}/health")
            import uvloop

            rows = uvloop.run(run(args, bench.upstream))
        finally:
            nginx.stop()
    import gateway

    say(f"gateway from {Path(gateway.__file__).parent}; median of {args.rounds} rounds, µs CPU per call\n")
    say("| call | µs CPU |\n|---|---|")
    say("\n".join(f"| {name} | {us:.1f} |" for name, us in rows))


if __name__ == "__main__":
    main()
