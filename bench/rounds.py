"""Issue 10's ratios, measured in interleaved rounds: `.venv/bin/python bench/rounds.py [--rounds 5] [--seconds 3]`.

This machine is a shared VM: the same cell measured a minute apart can differ by 2x (bench/README.md). `run.py`
measures each proxy in one block, so a slow minute lands on one side of a ratio. Here the thin proxy and the
gateway run side by side for the whole run (both pinned to the proxy core, only one under load at a time), and
every round measures all of them back to back, so each round's ratios compare neighbours in time. The report
gives every round, then the median and range of each ratio, with the targets judged on the median:

    c=64 RPS, gateway / thin-httpx                         >= 0.70   (issue 10)
    added latency at c=1 over direct nginx, p50 / p99      <= 0.6 / 2 ms
    cache hit (memory) RPS / thin-httpx RPS                >= 2.0
    Anthropic and Gemini stream RPS / OpenAI pass-through  >= 0.80
    cache hit CPU / cache miss CPU, per request            <= 1/3    (issue 4; also from 4 pairs of 1 s cells,
                                                                     miss then hit, so a slow phase lands on both)
    thin-httpx's own added p50 and p99 at c=1              (references beside the gateway's: this VM's noise)

Same set-up as run.py (nginx + wrk on the load core, the gateway as a user runs it); needs nginx and wrk.

`--baseline DIR` adds an older tree's gateway (e.g. `git worktree add /tmp/base HEAD~1`), imported from DIR and
measured in the same rounds on the chat cells (c=1, c=64 miss, hit): a before/after for a commit message that
the VM's slow phases cannot skew.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import BENCH, JWT_SECRET, NGINX_CONF, ROOT, Bench, Proc, say

PORTS = {"thin": 18091, "gateway": 18092, "gateway-sse": 18093, "base": 18094}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
# (label, how a round's figures give it, target, higher is better)
TARGETS: list[tuple[str, Callable[[dict[str, float]], float], float, bool]] = [
    ("c=64 RPS gateway / thin-httpx", lambda r: r["gw_rps"] / r["thin_rps"], 0.70, True),
    ("added p50 at c=1 (ms)", lambda r: (r["gw_c1_p50"] - r["direct_c1_p50"]) / 1000, 0.6, False),
    ("thin-httpx added p50 at c=1 (ms, ref.)", lambda r: (r["thin_c1_p50"] - r["direct_c1_p50"]) / 1000, 0.0, False),
    ("added p99 at c=1 (ms)", lambda r: (r["gw_c1_p99"] - r["direct_c1_p99"]) / 1000, 2.0, False),
    ("thin-httpx added p99 at c=1 (ms, ref.)", lambda r: (r["thin_c1_p99"] - r["direct_c1_p99"]) / 1000, 0.0, False),
    ("cache hit RPS / thin-httpx RPS", lambda r: r["hit_rps"] / r["thin_rps"], 2.0, True),
    ("anthropic stream / OpenAI pass-through", lambda r: r["anthropic_stream_rps"] / r["openai_stream_rps"], 0.8, True),
    ("gemini stream / OpenAI pass-through", lambda r: r["gemini_stream_rps"] / r["openai_stream_rps"], 0.8, True),
    ("cache hit CPU / miss CPU (issue 4)", lambda r: r["hit_cpu"] / r["gw_cpu"], 1 / 3, False),
    ("same, 1 s cells paired (issue 4)", lambda r: r["pair_hit_cpu"] / r["pair_miss_cpu"], 1 / 3, False),
]


def measure(bench: Bench, proc: Proc | None, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One wrk cell, with the proxy's CPU µs per request."""
    cpu0 = proc.cpu_s() if proc else 0.0
    result = fn()
    if result["errors"]:
        raise SystemExit(f"rounds: {result['errors']} errors in a cell: {result}")
    if proc is not None and result.get("requests"):
        result["cpu_us_per_req"] = (proc.cpu_s() - cpu0) / result["requests"] * 1e6
    return result


def one_round(bench: Bench, procs: dict[str, Proc], index: int = 0) -> dict[str, float]:
    up = bench.upstream
    url = {name: f"http://127.0.0.1:{port}/v1/chat/completions" for name, port in PORTS.items()}
    thin, gateway, sse = procs["thin"], procs["gateway"], procs["gateway-sse"]
    r: dict[str, float] = {}
    if "base" in procs and index % 2:  # every other round the baseline goes first: no side always comes later
        baseline_cells(bench, procs["base"], url["base"], r)
    direct = measure(bench, None, lambda: bench.wrk("chat.lua", f"{up}/json/v1/chat/completions", conns=1))
    r["direct_c1_p50"], r["direct_c1_p99"] = direct["p50_us"], direct["p99_us"]
    t1 = measure(bench, thin, lambda: bench.wrk("chat.lua", url["thin"], conns=1, unique=True))
    r["thin_c1_p50"], r["thin_c1_p99"] = t1["p50_us"], t1["p99_us"]
    t64 = measure(bench, thin, lambda: bench.wrk("chat.lua", url["thin"], conns=64, unique=True))
    r["thin_rps"], r["thin_cpu"] = t64["rps"], t64["cpu_us_per_req"]
    g1 = measure(bench, gateway, lambda: bench.wrk("chat.lua", url["gateway"], conns=1, unique=True))
    r["gw_c1_p50"], r["gw_c1_p99"] = g1["p50_us"], g1["p99_us"]
    g64 = measure(bench, gateway, lambda: bench.wrk("chat.lua", url["gateway"], conns=64, unique=True))
    r["gw_rps"], r["gw_cpu"] = g64["rps"], g64["cpu_us_per_req"]
    hit = measure(bench, gateway, lambda: bench.wrk("chat.lua", url["gateway"], conns=64, unique=False))
    r["hit_rps"], r["hit_cpu"] = hit["rps"], hit["cpu_us_per_req"]
    r["pair_hit_cpu"], r["pair_miss_cpu"] = paired_hit_miss(bench, gateway, url["gateway"])
    for label, model in MODELS.items():
        s = measure(
            bench, sse, lambda m=model: bench.wrk("chat_stream.lua", url["gateway-sse"], conns=16, model=m, unique=True)
        )
        r[f"{label}_stream_rps"], r[f"{label}_stream_cpu"] = s["rps"], s["cpu_us_per_req"]
    if "base" in procs and not index % 2:
        baseline_cells(bench, procs["base"], url["base"], r)
    return r


def paired_hit_miss(bench: Bench, gateway: Proc, url: str, pairs: int = 4) -> tuple[float, float]:
    """Issue 4's hit/miss CPU, each pair of 1 s cells back to back (miss, hit, miss, hit...): a slow phase of
    the VM, which lasts seconds, then lands on both sides of the ratio instead of on one 3 s cell."""
    totals = {True: [0.0, 0], False: [0.0, 0]}  # unique (a miss) -> [CPU seconds, requests]
    for _ in range(pairs):
        for unique in (True, False):
            cpu0 = gateway.cpu_s()
            result = bench.wrk("chat.lua", url, conns=64, unique=unique, seconds=1)
            if result["errors"]:
                raise SystemExit(f"rounds: {result['errors']} errors in a paired cell: {result}")
            totals[unique][0] += gateway.cpu_s() - cpu0
            totals[unique][1] += result["requests"]
    hit_cpu, hits = totals[False]
    miss_cpu, misses = totals[True]
    return hit_cpu / hits * 1e6, miss_cpu / misses * 1e6


def baseline_cells(bench: Bench, base: Proc, url: str, r: dict[str, float]) -> None:
    """The baseline tree's chat cells (c=1, c=64 miss, hit), into the round's figures."""
    b1 = measure(bench, base, lambda: bench.wrk("chat.lua", url, conns=1, unique=True))
    b64 = measure(bench, base, lambda: bench.wrk("chat.lua", url, conns=64, unique=True))
    bhit = measure(bench, base, lambda: bench.wrk("chat.lua", url, conns=64, unique=False))
    r["base_c1_p50"], r["base_rps"], r["base_cpu"] = b1["p50_us"], b64["rps"], b64["cpu_us_per_req"]
    r["base_hit_rps"], r["base_hit_cpu"] = bhit["rps"], bhit["cpu_us_per_req"]


BASELINE = [  # (label, this tree's figure, the baseline's)
    ("c=1 p50 (ms)", "gw_c1_p50", "base_c1_p50", 1 / 1000),
    ("c=64 RPS", "gw_rps", "base_rps", 1.0),
    ("miss CPU µs/req", "gw_cpu", "base_cpu", 1.0),
    ("hit RPS", "hit_rps", "base_hit_rps", 1.0),
    ("hit CPU µs/req", "hit_cpu", "base_hit_cpu", 1.0),
]


def baseline_report(rounds: list[dict[str, float]]) -> str:
    lines = ["", "Against the baseline tree (medians; after / before per round, then its median):", ""]
    lines += ["| figure | baseline | this tree | after / before |", "|---|---|---|---|"]
    for label, now, before, scale in BASELINE:
        ratios = [r[now] / r[before] for r in rounds]
        b = statistics.median(r[before] for r in rounds) * scale
        a = statistics.median(r[now] for r in rounds) * scale
        lines.append(f"| {label} | {b:,.2f} | {a:,.2f} | {statistics.median(ratios):.3f} |")
    return "\n".join(lines)


def report(rounds: list[dict[str, float]]) -> str:
    lines = [
        "| round | thin RPS | gateway RPS | hit RPS | gw CPU µs | hit CPU µs | "
        + " | ".join(t[0] for t in TARGETS)
        + " |"
    ]
    lines.append("|" + "---|" * (6 + len(TARGETS)))
    for i, r in enumerate(rounds, start=1):
        cells = [f"{r['thin_rps']:,.0f}", f"{r['gw_rps']:,.0f}", f"{r['hit_rps']:,.0f}"]
        cells += [f"{r['gw_cpu']:.0f}", f"{r['hit_cpu']:.0f}"]
        cells += [f"{fn(r):.2f}" for _, fn, _, _ in TARGETS]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    lines += ["", "| target | median | min | max | goal | |", "|---|---|---|---|---|---|"]
    for label, fn, goal, higher in TARGETS:
        values = [fn(r) for r in rounds]
        median = statistics.median(values)
        if goal == 0.0:  # a reference figure, not a target
            lines.append(f"| {label} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | - | |")
            continue
        met = median >= goal if higher else median <= goal
        sign = ">=" if higher else "<="
        lines.append(
            f"| {label} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | {sign} {goal:.2f} "
            f"| {'MET' if met else 'MISS'} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each cell (default 3)")
    p.add_argument("--proxy-core", default="0")
    p.add_argument("--load-core", default="1")
    p.add_argument("--upstream-port", type=int, default=18080)
    p.add_argument("--json", type=Path, help="also write every round's figures to this file")
    p.add_argument("--baseline", type=Path, help="also measure the gateway of this older tree, in the same rounds")
    args = p.parse_args()
    ns = argparse.Namespace(
        seconds=args.seconds,
        proxy_core=args.proxy_core,
        load_core=args.load_core,
        upstream_port=args.upstream_port,
        proxy_port=PORTS["gateway"],
        workers=1,
        gateway_env=[],
    )
    with tempfile.TemporaryDirectory(prefix="llmgw-rounds-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "nginx.conf").write_text(
            NGINX_CONF.format(tmp=tmp, port=args.upstream_port, www=BENCH / "upstream" / "www")
        )
        sys.path.insert(0, str(ROOT))
        from gateway.auth import issue_token

        bench = Bench(ns, tmp, issue_token(JWT_SECRET, sub="bench-user", ttl_s=86400))
        procs: dict[str, Proc] = {}
        procs["nginx"] = bench.start(
            "nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core=args.load_core
        )
        try:
            bench.wait_ready(procs["nginx"], f"{bench.upstream}/health")
            thin_cmd = [sys.executable, str(BENCH / "thin_proxy.py"), "--client", "httpx"]
            thin_cmd += ["--upstream", bench.upstream, "--port", str(PORTS["thin"])]
            procs["thin"] = bench.start("thin", thin_cmd, core=args.proxy_core)
            for name, prefix in (("gateway", "json"), ("gateway-sse", "sse")):
                env = bench.gateway_env(prefix) | {"PORT": str(PORTS[name]), "COST_DB_PATH": str(tmp / f"{name}.db")}
                procs[name] = bench.start(name, bench.gateway_cmd(), core=args.proxy_core, env=env)
            if args.baseline:
                env = bench.gateway_env("json") | {"PORT": str(PORTS["base"]), "COST_DB_PATH": str(tmp / "base.db")}
                env["PYTHONPATH"] = str(args.baseline.resolve())  # ahead of the editable install's finder
                procs["base"] = bench.start("base", bench.gateway_cmd(), core=args.proxy_core, env=env)
            for name in [n for n in PORTS if n in procs]:
                bench.wait_ready(procs[name], f"http://127.0.0.1:{PORTS[name]}/api/health")
            warm = [("thin", "chat.lua"), ("gateway", "chat.lua"), ("gateway-sse", "chat_stream.lua")]
            for name, script in warm + ([("base", "chat.lua")] if args.baseline else []):
                bench.wrk(
                    script, f"http://127.0.0.1:{PORTS[name]}/v1/chat/completions", conns=16, seconds=2, unique=True
                )
            rounds: list[dict[str, float]] = []
            started = time.monotonic()
            for i in range(args.rounds):
                rounds.append(one_round(bench, procs, i))
                say(f"rounds: {i + 1}/{args.rounds} done ({time.monotonic() - started:.0f}s)")
        finally:
            for proc in reversed(procs.values()):
                proc.stop()
    say("")
    say(report(rounds))
    if args.baseline:
        say(baseline_report(rounds))
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))


if __name__ == "__main__":
    main()
