"""The reference floors of issue 10: the thinnest chat proxy on the gateway's own stack, with no features.

    python bench/thin_proxy.py --client aiohttp        raw aiohttp.ClientSession
    python bench/thin_proxy.py --client httpx          httpx.AsyncClient over gateway/transport.py (aiohttp)
    python bench/thin_proxy.py --client httpx-default  httpx.AsyncClient over httpx's own transport

Starlette + uvicorn (uvloop, httptools) + orjson. `POST /v1/chat/completions` reads the body, parses it with
orjson (to know whether it streams), sends it re-encoded to the upstream and returns the answer's bytes, or
the SSE bytes as they arrive. No auth, no validation, no logs, no metrics: what the gateway is compared with.
The fake upstream (bench/upstream) serves JSON under `/json/...` and SSE under `/sse/...`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: import gateway.transport

HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}


def build(client_kind: str, upstream: str) -> Starlette:
    json_url = upstream.rstrip("/") + "/json/v1/chat/completions"
    sse_url = upstream.rstrip("/") + "/sse/v1/chat/completions"
    state: dict[str, Any] = {}

    if client_kind == "aiohttp":
        import aiohttp

        async def chat(request: Request) -> Response:
            body = orjson.loads(await request.body())
            session: aiohttp.ClientSession = state["session"]
            if body.get("stream"):
                upstream_response = await session.post(sse_url, data=orjson.dumps(body), headers=HEADERS)

                async def frames() -> AsyncIterator[bytes]:
                    try:
                        async for part in upstream_response.content.iter_any():
                            yield part
                    finally:
                        upstream_response.release()

                return StreamingResponse(frames(), media_type="text/event-stream")
            async with session.post(json_url, data=orjson.dumps(body), headers=HEADERS) as r:
                raw = await r.read()
                return Response(raw, status_code=r.status, media_type="application/json")

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=30)
            async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
                state["session"] = session
                yield

    else:
        import httpx

        from gateway.transport import make_client, make_transport

        async def chat(request: Request) -> Response:
            body = orjson.loads(await request.body())
            client: httpx.AsyncClient = state["client"]
            if body.get("stream"):
                req = client.build_request("POST", sse_url, content=orjson.dumps(body), headers=HEADERS)
                upstream_response = await client.send(req, stream=True)

                async def frames() -> AsyncIterator[bytes]:
                    try:
                        async for part in upstream_response.aiter_raw():
                            yield part
                    finally:
                        await upstream_response.aclose()

                return StreamingResponse(frames(), media_type="text/event-stream")
            r = await client.post(json_url, content=orjson.dumps(body), headers=HEADERS)
            return Response(r.content, status_code=r.status_code, media_type="application/json")

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            kind = "aiohttp" if client_kind == "httpx" else "httpx"
            client = make_client(make_transport(kind, max_connections=512), timeout_s=600, connect_timeout_s=10)
            async with client:
                state["client"] = client
                yield

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/api/health", health)],
        lifespan=lifespan,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--client", choices=("aiohttp", "httpx", "httpx-default"), default="httpx")
    p.add_argument("--upstream", default="http://127.0.0.1:18080", help="the fake upstream (bench/upstream)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18090)
    args = p.parse_args()
    uvicorn.run(
        build(args.client, args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
