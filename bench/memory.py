"""Memory and scaling of the gateway (issue 10), on the same fake upstream and gateway set-up as bench/run.py.

    flock /tmp/bench.lock .venv/bin/python bench/memory.py idle              # idle RSS, gateway and gateway-min
    flock /tmp/bench.lock .venv/bin/python bench/memory.py streams           # 1,000 concurrent slow streams
    flock /tmp/bench.lock .venv/bin/python bench/memory.py soak --minutes 10 # RSS every 10 s at a steady load
    flock /tmp/bench.lock .venv/bin/python bench/memory.py workers           # WORKERS=1 against WORKERS=2

idle     the gateway as run.py starts it (and gateway-min), RSS after start and after a 1 s warm-up.
streams  nginx serves the OpenAI SSE body under `/slow/` at `--rate` bytes/s per connection (limit_rate), so one
         stream lasts ≈ 13,295 / rate s; an asyncio client (aiohttp, one connection per stream, on the load core)
         opens `--streams` streams through the gateway over `--ramp` s and reads them to the end. RSS before, at
         the peak and after; errors; every stream must end with `data: [DONE]` and carry the same chunk count.
soak     wrk (bench/wrk/soak.lua: distinct bodies, so every request is a cache miss and a store, and a ledger
         row) at `--conns` connections, each pausing `--delay-ms` between requests; RSS sampled every `--every` s.
         Flat means every sample after the warm-up is within ±10% of the first sample after it.
workers  chat c=64 with WORKERS=1 and WORKERS=2: RPS, the gateway's CPU per request (every worker and the
         supervisor, from /proc), RSS of each worker. With `--layout pinned` the gateway has core 0 and nginx + wrk
         core 1 (as run.py); `--layout shared` (the default here) lets everything use both cores, the only way two
         workers can each get a core on a 2-core machine.

Prints one JSON object per run (and `--json FILE` keeps them). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import BENCH, CLK_TCK, JWT_SECRET, NGINX_CONF, ROOT, Bench, Proc, say

SLOW_LOCATION = """
        location /slow/ {{
            alias {www}/sse/;
            default_type text/event-stream;
            limit_rate {rate};
        }}
        location = /health"""


# ---- process figures (the gateway with WORKERS>1 is a supervisor and its worker processes) ------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    pids = [pid]
    for child in children(pid):
        pids += tree(child)
    return pids


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def workers_of(proc: Proc) -> list[int]:
    """The processes that serve requests: the gateway itself with WORKERS=1, else uvicorn's worker processes
    (the supervisor's children other than its multiprocessing helpers, which hold no app)."""
    kids = [pid for pid in children(proc.pid) if "gateway" in _cmdline(pid) or "multiprocessing" in _cmdline(pid)]
    return [pid for pid in kids if "resource_tracker" not in _cmdline(pid)] or [proc.pid]


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


class Sampler:
    """RSS of the serving processes every `every` s, in a thread, while a benchmark runs."""

    def __init__(self, proc: Proc, every: float) -> None:
        self.proc, self.every = proc, every
        self.samples: list[tuple[float, float]] = []  # (seconds since start, RSS MiB summed over workers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = sum(rss_mib(pid) for pid in workers_of(self.proc))
            self.samples.append((round(time.monotonic() - self._started, 1), round(rss, 1)))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max((rss for _, rss in self.samples), default=0.0)


# ---- set-up --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_setup(args: argparse.Namespace) -> Iterator[Bench]:
    """nginx (with the `/slow/` prefix) on the load core, a Bench from run.py with its token and gateway env."""
    with tempfile.TemporaryDirectory(prefix="llmgw-memory-") as tmp_name:
        tmp = Path(tmp_name)
        www = BENCH / "upstream" / "www"
        conf = NGINX_CONF.replace("\n        location = /health", SLOW_LOCATION, 1)
        (tmp / "nginx.conf").write_text(conf.format(tmp=tmp, port=args.upstream_port, www=www, rate=args.rate))
        sys.path.insert(0, str(ROOT))
        from gateway.auth import issue_token

        bench = Bench(args, tmp, issue_token(JWT_SECRET, sub="bench-user", ttl_s=86400))
        bench.admin_token = issue_token(JWT_SECRET, sub="bench-admin", admin=True, ttl_s=86400)  # type: ignore[attr-defined]
        nginx = bench.start("nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core=args.load_core)
        try:
            bench.wait_ready(nginx, f"{bench.upstream}/health")
            yield bench
        finally:
            nginx.stop()


def get_json(bench: Bench, path: str) -> Any:
    request = urllib.request.Request(
        bench.proxy + path,
        headers={"authorization": f"Bearer {bench.admin_token}"},  # type: ignore[attr-defined]
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def settle(proc: Proc, seconds: float = 3.0) -> float:
    time.sleep(seconds)
    return round(sum(rss_mib(pid) for pid in workers_of(proc)), 1)


# ---- idle ----------------------------------------------------------------------------------------------------


def run_idle(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {}
    chat = f"{bench.proxy}/v1/chat/completions"
    for name, minimal in (("gateway", False), ("gateway-min", True)):
        with bench.proxy_process(name, bench.gateway_cmd(), env=bench.gateway_env("json", minimal=minimal)) as proc:
            started = round(proc.rss_mib(), 1)
            bench.warm("chat.lua", chat)
            out[name] = {"started_mib": started, "idle_mib": round(proc.rss_mib(), 1)}
            say(f"  {name}: {out[name]}")
    return out


# ---- 1,000 slow streams --------------------------------------------------------------------------------------


async def hold_streams(url: str, token: str, n: int, ramp_s: float) -> dict[str, Any]:
    import aiohttp

    state = {"open": 0, "max_open": 0}
    chunks: dict[int, int] = {}
    models: dict[str, int] = {}  # who answered: over the pool limit, failover moves a stream to another provider
    waits: list[float] = []  # seconds from the request to the answer's headers (a full pool shows here)
    errors: dict[str, int] = {}
    done = 0
    durations: list[float] = []

    async def one(i: int, session: aiohttp.ClientSession) -> None:
        nonlocal done
        await asyncio.sleep(ramp_s * i / n)
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "temperature": 0,
            "messages": [{"role": "user", "content": f"What is the capital of France? [{time.time_ns()}-{i}]"}],
        }
        started = time.monotonic()
        try:
            async with session.post(url, json=body, headers={"authorization": f"Bearer {token}"}) as response:
                if response.status != 200:
                    errors[f"HTTP {response.status}"] = errors.get(f"HTTP {response.status}", 0) + 1
                    return
                waits.append(time.monotonic() - started)
                state["open"] += 1
                state["max_open"] = max(state["max_open"], state["open"])
                count, last = 0, b""
                try:
                    async for line in response.content:
                        if line.startswith(b"data:"):
                            last = line.strip()
                            count += last != b"data: [DONE]"
                            if count == 1:
                                model = json.loads(last[5:]).get("model", "?")
                                models[model] = models.get(model, 0) + 1
                finally:
                    state["open"] -= 1
                if last == b"data: [DONE]":
                    done += 1
                    chunks[count] = chunks.get(count, 0) + 1
                    durations.append(time.monotonic() - started)
                else:
                    errors["no [DONE]"] = errors.get("no [DONE]", 0) + 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(i, session) for i in range(n)))
    durations.sort()
    waits.sort()
    return {
        "streams": n,
        "completed_with_done": done,
        "max_concurrent_open": state["max_open"],
        "chunks_per_stream": {str(k): v for k, v in sorted(chunks.items())},
        "errors": errors,
        "answered_by": models,
        "headers_wait_s_p50": round(waits[len(waits) // 2], 2) if waits else None,
        "headers_wait_s_max": round(waits[-1], 2) if waits else None,
        "stream_s_min": round(durations[0], 1) if durations else None,
        "stream_s_max": round(durations[-1], 1) if durations else None,
    }


def run_streams(bench: Bench) -> dict[str, Any]:
    args = bench.args
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})  # the client shares the load core
    chat = f"{bench.proxy}/v1/chat/completions"
    with bench.proxy_process("gateway-slow", bench.gateway_cmd(), env=bench.gateway_env("slow")) as proc:
        asyncio.run(hold_streams(chat, bench.token, 16, 0.0))  # warm-up: imports and pools, as an idle RSS is taken
        before = settle(proc, 1.0)
        with Sampler(proc, 0.25) as sampler:
            cpu0 = cpu_s(proc.pid)
            started = time.monotonic()
            result = asyncio.run(hold_streams(chat, bench.token, args.streams, args.ramp))
            result["first_round_s"] = round(time.monotonic() - started, 1)
            peaks = [sampler.peak]
            for _ in range(args.rounds - 1):  # again: memory freed by the first round is reused, not grown
                again = asyncio.run(hold_streams(chat, bench.token, args.streams, args.ramp))
                peaks.append(sampler.peak)
                result["completed_with_done"] += again["completed_with_done"]
                result["streams"] += again["streams"]
                result["max_concurrent_open"] = min(result["max_concurrent_open"], again["max_concurrent_open"])
                for key in ("errors", "answered_by", "chunks_per_stream"):
                    for kind, n in again[key].items():
                        result[key][kind] = result[key].get(kind, 0) + n
            result["gateway_cpu_s"] = round(cpu_s(proc.pid) - cpu0, 1)
        after = settle(proc, 5.0)
        after_idle = settle(proc, 35.0 - 5.0)  # the upstream pool closes idle connections after 30 s
        result |= {
            "rate_bytes_per_s": args.rate,
            "rss_before_mib": before,
            "rss_peak_mib": sampler.peak,
            "rss_peak_after_each_round_mib": peaks,
            "rss_after_mib": after,
            "rss_after_35s_mib": after_idle,
            "rss_growth_peak_mib": round(sampler.peak - before, 1),
            "upstream_max_connections": bench.gateway_env("slow").get("UPSTREAM_MAX_CONNECTIONS", "default"),
        }
    say(f"  streams: {json.dumps(result)}")
    return result


# ---- soak ----------------------------------------------------------------------------------------------------


def run_soak(bench: Bench) -> dict[str, Any]:
    args = bench.args
    chat = f"{bench.proxy}/v1/chat/completions"
    os.environ["BENCH_DELAY_MS"] = str(args.delay_ms)
    with bench.proxy_process("gateway-soak", bench.gateway_cmd(), env=bench.gateway_env("json")) as proc:
        bench.warm("chat.lua", chat)
        load: dict[str, Any] = {}
        seconds = args.minutes * 60
        thread = threading.Thread(
            target=lambda: load.update(bench.wrk("soak.lua", chat, conns=args.conns, seconds=seconds, unique=True))
        )
        cpu0 = cpu_s(proc.pid)
        with Sampler(proc, args.every) as sampler:
            thread.start()
            progress(sampler, thread, seconds)
            thread.join()
        cpu = cpu_s(proc.pid) - cpu0
        cache = get_json(bench, "/api/llm/cache/stats")
    samples = sampler.samples
    steady = [rss for t, rss in samples if t >= args.warmup] or [rss for _, rss in samples]
    ref = steady[0]
    result = {
        "minutes": args.minutes,
        "conns": args.conns,
        "delay_ms": args.delay_ms,
        "requests": load.get("requests"),
        "rps": load.get("rps"),
        "errors": load.get("errors"),
        "cpu_us_per_req": round(cpu / load["requests"] * 1e6) if load.get("requests") else None,
        "rss_first_mib": samples[0][1],
        "rss_first_after_warmup_mib": ref,
        "rss_min_mib": min(steady),
        "rss_max_mib": max(steady),
        "rss_last_mib": samples[-1][1],
        "flat_within_10pct": all(abs(rss - ref) <= 0.1 * ref for rss in steady),
        "warmup_s": args.warmup,
        "cache": {k: cache.get(k) for k in ("entries", "bytes", "hits", "misses")},
        "samples": samples,
    }
    say(f"  soak: {json.dumps({k: v for k, v in result.items() if k != 'samples'})}")
    return result


def progress(sampler: Sampler, thread: threading.Thread, seconds: float) -> None:
    shown = 0
    while thread.is_alive():
        time.sleep(1)
        if len(sampler.samples) >= shown + 6:
            shown = len(sampler.samples)
            t, rss = sampler.samples[-1]
            say(f"    {t:6.0f}/{seconds:.0f} s  RSS {rss:.1f} MiB")


# ---- workers -------------------------------------------------------------------------------------------------


def run_workers(bench: Bench) -> dict[str, Any]:
    args = bench.args
    chat = f"{bench.proxy}/v1/chat/completions"
    out: dict[str, Any] = {"layout": f"gateway on cores {args.proxy_core}, nginx + wrk on cores {args.load_core}"}
    for workers in (1, 2):
        args.workers = workers
        with bench.proxy_process(f"gateway-w{workers}", bench.gateway_cmd(), env=bench.gateway_env("json")) as proc:
            wait_for_workers(proc, workers)
            bench.warm("chat.lua", chat)
            pids = tree(proc.pid)
            cpu0 = sum(cpu_s(p) for p in pids)
            load = bench.wrk("chat.lua", chat, conns=64, unique=True)
            cpu = sum(cpu_s(p) for p in pids) - cpu0
            out[f"workers={workers}"] = {
                "rps": load["rps"],
                "p50_ms": round(load["p50_us"] / 1000, 2),
                "p99_ms": round(load["p99_us"] / 1000, 2),
                "errors": load["errors"],
                "cpu_us_per_req": round(cpu / load["requests"] * 1e6),
                "cpu_cores_used": round(cpu / load["seconds"], 2),
                "worker_rss_mib": [round(rss_mib(p), 1) for p in workers_of(proc)],
            }
            say(f"  workers={workers}: {out[f'workers={workers}']}")
    one, two = out["workers=1"]["rps"], out["workers=2"]["rps"]
    out["rps_ratio_2_to_1"] = round(two / one, 2)
    return out


def wait_for_workers(proc: Proc, n: int, timeout_s: float = 30.0) -> None:
    """With WORKERS>1 the health check may answer before every worker has started: wait until n serve."""
    deadline = time.monotonic() + timeout_s
    while n > 1 and len(workers_of(proc)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0 if n > 1 else 0)


# ---- main ----------------------------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "idle": run_idle,
    "streams": run_streams,
    "soak": run_soak,
    "workers": run_workers,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(COMMANDS))
    p.add_argument("--streams", type=int, default=1000, help="streams: concurrent slow streams (default 1000)")
    p.add_argument("--rate", type=int, default=600, help="streams: bytes/s of each upstream stream (default 600)")
    p.add_argument("--rounds", type=int, default=2, help="streams: rounds of --streams, one after the other (2)")
    p.add_argument("--ramp", type=float, default=3.0, help="streams: seconds over which they open (default 3)")
    p.add_argument("--minutes", type=float, default=10.0, help="soak: duration (default 10)")
    p.add_argument("--conns", type=int, default=4, help="soak: wrk connections (default 4)")
    p.add_argument("--delay-ms", type=int, default=10, help="soak: pause of each connection per request (10)")
    p.add_argument("--every", type=float, default=10.0, help="soak: RSS sample period, s (default 10)")
    p.add_argument("--warmup", type=float, default=60.0, help="soak: seconds before flatness is judged (60)")
    p.add_argument("--seconds", type=float, default=10.0, help="workers: seconds per cell (default 10)")
    p.add_argument("--layout", choices=("shared", "pinned"), default="shared", help="workers: core layout")
    p.add_argument("--upstream-port", type=int, default=18080)
    p.add_argument("--proxy-port", type=int, default=18090)
    p.add_argument("--gateway-env", nargs="*", default=[], metavar="VAR=VALUE", help="extra gateway variables")
    p.add_argument("--json", type=Path, help="also write the result to this file")
    args = p.parse_args()
    args.workers = 1
    args.proxy_core, args.load_core = "0", "1"
    if args.command == "workers" and args.layout == "shared":
        args.proxy_core = args.load_core = "0,1"
    with bench_setup(args) as bench:
        say(f"bench/memory.py {args.command}: gateway on cores {args.proxy_core}, nginx + load on {args.load_core}")
        result = COMMANDS[args.command](bench)
    say(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
