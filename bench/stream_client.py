"""Time to first chunk of an SSE chat stream, one request at a time (wrk measures only whole responses).

    python bench/stream_client.py --url http://127.0.0.1:18091/v1/chat/completions --model claude-sonnet-4-5 \
        --token "$JWT" --seconds 3

Keeps one keep-alive connection, sends a streaming chat request, and times the first `data:` line after the
request was written; reads the rest, counts the chunks (`data:` lines, `[DONE]` excluded) and checks the
stream ended with `[DONE]`. Prints one `BENCH_JSON {...}` line (times in microseconds).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import urlsplit


def one(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, int, bool]:
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"stream_client: HTTP {response.status}: {response.read()[:300]!r}")
    first = 0.0
    chunks = 0
    done = False
    while True:
        line = response.readline()
        if not line:
            break
        if line.startswith(b"data:"):
            if not first:
                first = time.perf_counter() - started
            if line.strip() == b"data: [DONE]":
                done = True
            else:
                chunks += 1
    response.read()  # marks the response complete, so the connection can carry the next request
    return first, chunks, done


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--token", default="")
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    parts = urlsplit(args.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    headers = {"content-type": "application/json"}
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"
    ttfc: list[float] = []
    totals: list[float] = []
    chunk_counts: set[int] = set()
    incomplete = 0
    deadline = time.perf_counter() + args.seconds
    n = 0
    while time.perf_counter() < deadline or n < 5:
        n += 1
        body = json.dumps(
            {
                "model": args.model,
                "stream": True,
                "temperature": 0,
                "messages": [{"role": "user", "content": f"What is the capital of France? [{time.time_ns()}-{n}]"}],
            }
        ).encode()
        started = time.perf_counter()
        first, chunks, done = one(conn, parts.path, body, headers)
        totals.append(time.perf_counter() - started)
        ttfc.append(first)
        chunk_counts.add(chunks)
        incomplete += not done
    ttfc.sort()
    result = {
        "requests": n,
        "ttfc_p50_us": round(statistics.median(ttfc) * 1e6),
        "ttfc_p99_us": round(ttfc[min(len(ttfc) - 1, int(len(ttfc) * 0.99))] * 1e6),
        "total_p50_us": round(statistics.median(totals) * 1e6),
        "chunks": sorted(chunk_counts),
        "incomplete": incomplete,
    }
    print("BENCH_JSON " + json.dumps(result))  # noqa: T201 - a command-line tool's output


if __name__ == "__main__":
    main()
