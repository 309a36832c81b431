"""One command for the whole comparison of issue 10: `.venv/bin/python bench/run.py` (add `--help`).

It starts the fake upstream (nginx, bench/upstream) and wrk on one core, each proxy under test alone on the
other core, and measures side by side:

    direct     wrk straight at nginx: the upstream's own cost, subtracted to get the "added" latency
    thin-*     bench/thin_proxy.py, the floors (raw aiohttp; httpx over gateway/transport.py)
    gateway    `python -m gateway` as a user runs it: JWT auth, rate limits in memory, cache on (memory),
               cost ledger (SQLite), metrics, JSON logs to a file; layers that do not exist yet are simply
               not configured (unknown variables are ignored by Settings.from_env)

Cells: c=1 latency (p50, p99), c=64 throughput (RPS, p50, p99), c=16 streams (OpenAI pass-through and the
Anthropic and Gemini translators: chunks/s and time to first chunk), embeddings, a memory-cache hit, idle
RSS and CPU per request. Each cell runs `--seconds` (default 6). Everything listens on 127.0.0.1 only.
Needs nginx and wrk (`apt-get install -y nginx wrk`); the pytest suite never runs this.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WRK_DIR = BENCH / "wrk"
JWT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"  # known, so the wrk scripts carry a valid token
CLK_TCK = os.sysconf("SC_CLK_TCK")
ORDER = ("direct", "thin-aiohttp", "thin-httpx", "thin-httpx-default", "gateway-min", "gateway")

NGINX_CONF = """
daemon off;
worker_processes 1;
error_log {tmp}/nginx-error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    etag off;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        # the bodies are static files; POST to a static file is a 405, served as the file (GET) instead
        error_page 405 =200 $uri;
        location /json/ {{ default_type application/json; }}
        location /sse/ {{ default_type text/event-stream; add_header cache-control no-cache; }}
        location = /health {{ return 200 "ok"; }}
    }}
}}
"""


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    token: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.args.upstream_port}"

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.args.proxy_port}"

    # ---- processes -------------------------------------------------------------------------------------

    def start(self, name: str, cmd: list[str], *, core: str, env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                ["taskset", "-c", core, *cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.tmp,
                start_new_session=True,
            )
        return Proc(name, popen, log)

    def wait_ready(self, proc: Proc, url: str, timeout_s: float = 40.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise SystemExit(f"{proc.name} exited ({proc.popen.returncode}); log:\n{proc.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            time.sleep(0.1)
        raise SystemExit(f"{proc.name} not ready after {timeout_s}s; log:\n{proc.log.read_text()[-3000:]}")

    @contextlib.contextmanager
    def proxy_process(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Iterator[Proc]:
        proc = self.start(name, cmd, core=self.args.proxy_core, env=env)
        try:
            self.wait_ready(proc, self.proxy + "/api/health")
            yield proc
        finally:
            proc.stop()

    # ---- load ------------------------------------------------------------------------------------------

    def wrk(
        self,
        script: str,
        url: str,
        *,
        conns: int,
        seconds: float | None = None,
        model: str | None = None,
        unique: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        env = {**os.environ, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_UNIQUE": "1" if unique else "0"}
        path = "/" + url.split("/", 3)[3]
        env["BENCH_PATH"] = path
        if auth:
            env["BENCH_TOKEN"] = self.token
        if model:
            env["BENCH_MODEL"] = model
        duration = seconds if seconds is not None else self.args.seconds
        cmd = [
            "taskset",
            "-c",
            self.args.load_core,
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
        ]
        cmd += ["-s", str(WRK_DIR / script), url]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
                errors = sum(result[k] for k in ("non2xx", "connect_err", "read_err", "write_err", "timeouts"))
                result["errors"] = errors
                return result
        raise SystemExit(f"wrk gave no result: {out.stdout}\n{out.stderr}")

    def stream_client(self, url: str, model: str, *, auth: bool = True) -> dict[str, Any]:
        cmd = ["taskset", "-c", self.args.load_core, sys.executable, str(BENCH / "stream_client.py")]
        cmd += ["--url", url, "--model", model, "--seconds", str(min(3.0, self.args.seconds))]
        if auth:
            cmd += ["--token", self.token]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
                return result
        raise SystemExit(f"stream_client failed: {out.stdout}\n{out.stderr}")

    def cell(self, target: str, name: str, proc: Proc | None, fn: Any) -> dict[str, Any]:
        """Run one measurement, recording the proxy's CPU seconds per request alongside wrk's figures."""
        cpu0 = proc.cpu_s() if proc else 0.0
        result: dict[str, Any] = fn()
        if proc is not None and "requests" in result and result["requests"]:
            result["cpu_us_per_req"] = round((proc.cpu_s() - cpu0) / result["requests"] * 1e6, 1)
            result["cpu_util"] = round((proc.cpu_s() - cpu0) / result.get("seconds", 1), 2)
        self.results.setdefault(target, {})[name] = result
        short = {k: result[k] for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req", "errors") if k in result}
        short |= {k: result[k] for k in ("ttfc_p50_us", "chunks", "incomplete") if k in result}
        say(f"  {target:<15} {name:<22} {json.dumps(short)}")
        return result

    # ---- targets ---------------------------------------------------------------------------------------

    def run_direct(self) -> None:
        up = self.upstream
        self.cell("direct", "chat c1", None, lambda: self.wrk("chat.lua", f"{up}/json/v1/chat/completions", conns=1))
        self.cell("direct", "chat c64", None, lambda: self.wrk("chat.lua", f"{up}/json/v1/chat/completions", conns=64))
        self.cell(
            "direct", "stream c16", None, lambda: self.wrk("chat_stream.lua", f"{up}/sse/v1/chat/completions", conns=16)
        )
        self.cell("direct", "stream ttfc", None, lambda: self.stream_client(f"{up}/sse/v1/chat/completions", "x"))
        self.cell(
            "direct", "embeddings c64", None, lambda: self.wrk("embeddings.lua", f"{up}/json/v1/embeddings", conns=64)
        )

    def warm(self, script: str, url: str, *, model: str | None = None, unique: bool = True) -> None:
        self.wrk(script, url, conns=16, seconds=1, model=model, unique=unique)

    def run_thin(self, client: str) -> None:
        name = f"thin-{client}"
        cmd = [sys.executable, str(BENCH / "thin_proxy.py"), "--client", client]
        cmd += ["--upstream", self.upstream, "--port", str(self.args.proxy_port)]
        with self.proxy_process(name, cmd) as proc:
            chat = f"{self.proxy}/v1/chat/completions"
            self.warm("chat.lua", chat)
            self.results.setdefault(name, {})["idle"] = {"rss_mib": round(proc.rss_mib(), 1)}
            self.cell(name, "chat c1", proc, lambda: self.wrk("chat.lua", chat, conns=1, unique=True))
            self.cell(name, "chat c64", proc, lambda: self.wrk("chat.lua", chat, conns=64, unique=True))
            self.cell(name, "stream c16", proc, lambda: self.wrk("chat_stream.lua", chat, conns=16, unique=True))
            self.cell(name, "stream ttfc", proc, lambda: self.stream_client(chat, "gpt-4o-mini"))
            self.results[name]["loaded"] = {"rss_mib": round(proc.rss_mib(), 1)}

    def gateway_env(self, prefix: str, *, minimal: bool = False) -> dict[str, str]:
        """The gateway's environment: fresh (no inherited gateway variables), upstreams on nginx. `minimal`
        turns every optional layer off, to show what the layers cost on top of the bare gateway."""
        up = f"{self.upstream}/{prefix}"
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")}
        env |= {
            "HOST": "127.0.0.1",
            "PORT": str(self.args.proxy_port),
            "WORKERS": str(self.args.workers),
            "JWT_SECRET": JWT_SECRET,
            "OPENAI_API_KEY": "sk-bench",
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "GOOGLE_API_KEY": "bench-google-key",
            "OPENAI_BASE_URL": f"{up}/v1",
            "ANTHROPIC_BASE_URL": up,
            "GOOGLE_BASE_URL": up,
            "UPSTREAM_TRANSPORT": "aiohttp",
            # limits on, in memory, high enough never to refuse a benchmark request
            "RATE_LIMIT_WINDOW_MS": "60000",
            "RATE_LIMIT_MAX_REQUESTS": "1000000000",
            "LLM_RATE_LIMIT_WINDOW_MS": "60000",
            "LLM_RATE_LIMIT_MAX_REQUESTS": "1000000000",
            "RATE_LIMIT_STORE": "memory",
            # the cache on, in memory: the chat cells send a distinct body each time (a miss, then a store)
            "CACHE_ENABLED": "true",
            "CACHE_STRATEGY": "memory",
            "COST_TRACKING_ENABLED": "true",
            "COST_DB_PATH": str(self.tmp / "costs.db"),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "METRICS_LOG_INTERVAL_S": "60",
            "FAILOVER_ENABLED": "true",
        }
        if minimal:
            env |= {
                "RATE_LIMIT_MAX_REQUESTS": "0",
                "LLM_RATE_LIMIT_MAX_REQUESTS": "0",
                "CACHE_ENABLED": "false",
                "COST_TRACKING_ENABLED": "false",
                "FAILOVER_ENABLED": "false",
                "LOG_LEVEL": "warning",
            }
        for item in self.args.gateway_env:  # extra or overriding variables from the command line
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def gateway_cmd(self) -> list[str]:
        return [sys.executable, "-m", "gateway"]

    def providers(self) -> list[tuple[str, str]]:
        """(label, model) of each provider whose module exists, OpenAI first."""
        found = [("openai", "gpt-4o-mini")]
        if (ROOT / "gateway/providers/anthropic.py").exists():
            found.append(("anthropic", "claude-sonnet-4-5"))
        if (ROOT / "gateway/providers/google.py").exists():
            found.append(("gemini", "gemini-2.5-flash"))
        return found

    def run_gateway(self, name: str = "gateway", *, minimal: bool = False) -> None:
        chat = f"{self.proxy}/v1/chat/completions"
        embeddings = f"{self.proxy}/v1/embeddings"
        with self.proxy_process(name, self.gateway_cmd(), env=self.gateway_env("json", minimal=minimal)) as proc:
            self.results.setdefault(name, {})["started"] = {"rss_mib": round(proc.rss_mib(), 1)}
            self.warm("chat.lua", chat)
            self.results[name]["idle"] = {"rss_mib": round(proc.rss_mib(), 1)}
            self.cell(name, "chat c1", proc, lambda: self.wrk("chat.lua", chat, conns=1, unique=True))
            self.cell(name, "chat c64", proc, lambda: self.wrk("chat.lua", chat, conns=64, unique=True))
            if minimal:
                return
            self.cell(
                name, "embeddings c64", proc, lambda: self.wrk("embeddings.lua", embeddings, conns=64, unique=True)
            )
            self.cell(name, "cache hit c64", proc, lambda: self.wrk("chat.lua", chat, conns=64, unique=False))
            for label, model in self.providers()[1:]:
                self.cell(
                    name,
                    f"{label} json c64",
                    proc,
                    lambda m=model: self.wrk("chat.lua", chat, conns=64, model=m, unique=True),
                )
            self.results[name]["loaded"] = {"rss_mib": round(proc.rss_mib(), 1)}
        with self.proxy_process(name + "-sse", self.gateway_cmd(), env=self.gateway_env("sse")) as proc:
            self.warm("chat_stream.lua", chat)
            for label, model in self.providers():
                self.cell(
                    name,
                    f"{label} stream c16",
                    proc,
                    lambda m=model: self.wrk("chat_stream.lua", chat, conns=16, model=m, unique=True),
                )
                self.cell(name, f"{label} stream ttfc", proc, lambda m=model: self.stream_client(chat, m))

    def run(self) -> None:
        targets = self.args.targets
        if "direct" in targets:
            self.run_direct()
        for client in ("aiohttp", "httpx", "httpx-default"):
            if f"thin-{client}" in targets:
                self.run_thin(client)
        if "gateway-min" in targets:
            self.run_gateway("gateway-min", minimal=True)
        if "gateway" in targets:
            self.run_gateway()


# ---- report ------------------------------------------------------------------------------------------------


def _get(results: dict[str, Any], target: str, cell: str, key: str) -> float | None:
    value = results.get(target, {}).get(cell, {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return "-" if value is None else f"{value * scale:,.{digits}f}"


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    rows = [
        t
        for t in ("direct", "thin-aiohttp", "thin-httpx", "thin-httpx-default", "gateway-min", "gateway")
        if t in results
    ]
    header = (
        "| target | c=1 p50 ms | c=1 p99 ms | added p50 ms | c=64 RPS | c=64 p50 ms | c=64 p99 ms | CPU µs/req "
        "| stream c=16 RPS | chunks/s | TTFC p50 ms | idle RSS MiB |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    direct_p50 = _get(results, "direct", "chat c1", "p50_us")
    for t in rows:
        lines.append(_row(results, t, direct_p50))
    gw = results.get("gateway", {})
    if gw:
        lines += [
            "",
            "| gateway cell | RPS | p50 ms | p99 ms | CPU µs/req | chunks/resp | TTFC p50 ms | errors |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for cell, r in gw.items():
            if "rps" not in r:
                continue
            ttfc = gw.get(cell.replace("c16", "ttfc"), {}) if "stream" in cell else {}
            lines.append(
                f"| {cell} | {_fmt(r['rps'])} | {_fmt(r['p50_us'], 1e-3, 2)} | {_fmt(r['p99_us'], 1e-3, 2)} "
                f"| {_fmt(r.get('cpu_us_per_req'))} | {ttfc.get('chunks', ['-'])[0] if ttfc else '-'} "
                f"| {_fmt(ttfc.get('ttfc_p50_us'), 1e-3, 2) if ttfc else '-'} | {r['errors']} |"
            )
        lines += ["", targets(results)]
    return "\n".join(lines)


def _row(results: dict[str, Any], t: str, direct_p50: float | None) -> str:
    stream_cell = "openai stream c16" if t == "gateway" else "stream c16"
    ttfc_cell = "openai stream ttfc" if t == "gateway" else "stream ttfc"
    p50 = _get(results, t, "chat c1", "p50_us")
    p99 = _get(results, t, "chat c1", "p99_us")
    added = None if p50 is None or direct_p50 is None or t == "direct" else p50 - direct_p50
    chunks = results.get(t, {}).get(ttfc_cell, {}).get("chunks", [None])[0]
    srps = _get(results, t, stream_cell, "rps")
    cells = [
        t,
        _fmt(p50, 1e-3, 3),
        _fmt(p99, 1e-3, 3),
        _fmt(added, 1e-3, 3),
        _fmt(_get(results, t, "chat c64", "rps")),
        _fmt(_get(results, t, "chat c64", "p50_us"), 1e-3, 2),
        _fmt(_get(results, t, "chat c64", "p99_us"), 1e-3, 2),
        _fmt(_get(results, t, "chat c64", "cpu_us_per_req")),
        _fmt(srps),
        _fmt(srps * chunks if srps and chunks else None),
        _fmt(_get(results, t, ttfc_cell, "ttfc_p50_us"), 1e-3, 2),
        _fmt(results.get(t, {}).get("idle", {}).get("rss_mib"), digits=1),
    ]
    return "| " + " | ".join(cells) + " |"


def targets(results: dict[str, Any]) -> str:
    """Issue 10's targets that one run can check, each met or missed."""
    out = ["Targets (issue 10):"]

    def check(label: str, ok: bool | None, detail: str) -> None:
        mark = "n/a " if ok is None else ("MET " if ok else "MISS")
        out.append(f"  [{mark}] {label}: {detail}")

    gw64 = _get(results, "gateway", "chat c64", "rps")
    thin64 = _get(results, "thin-httpx", "chat c64", "rps")
    ratio = gw64 / thin64 if gw64 and thin64 else None
    check("c=64 RPS >= 70% of thin httpx-over-aiohttp", None if ratio is None else ratio >= 0.7, f"{_fmt(ratio, 100)}%")
    d50, g50 = _get(results, "direct", "chat c1", "p50_us"), _get(results, "gateway", "chat c1", "p50_us")
    d99, g99 = _get(results, "direct", "chat c1", "p99_us"), _get(results, "gateway", "chat c1", "p99_us")
    a50 = (g50 - d50) / 1000 if g50 and d50 else None
    a99 = (g99 - d99) / 1000 if g99 and d99 else None
    check("added p50 at c=1 <= 0.6 ms", None if a50 is None else a50 <= 0.6, f"{_fmt(a50, digits=3)} ms")
    check("added p99 at c=1 <= 2 ms", None if a99 is None else a99 <= 2.0, f"{_fmt(a99, digits=3)} ms")
    hit = _get(results, "gateway", "cache hit c64", "rps")
    hr = hit / thin64 if hit and thin64 else None
    check("memory cache hit >= 2x thin proxy RPS", None if hr is None else hr >= 2.0, f"{_fmt(hr, digits=2)}x")
    base = _get(results, "gateway", "openai stream c16", "rps")
    for label in ("anthropic", "gemini"):
        r = _get(results, "gateway", f"{label} stream c16", "rps")
        sr = r / base if r and base else None
        check(f"{label} stream >= 80% of OpenAI pass-through", None if sr is None else sr >= 0.8, f"{_fmt(sr, 100)}%")
    rss = results.get("gateway", {}).get("idle", {}).get("rss_mib")
    check("idle RSS <= 80 MiB", None if rss is None else rss <= 80, f"{_fmt(rss, digits=1)} MiB")
    return "\n".join(out)


def main() -> None:
    all_targets = ["direct", "thin-aiohttp", "thin-httpx", "gateway-min", "gateway"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=6.0, help="duration of each cell (default 6)")
    p.add_argument(
        "--targets",
        nargs="+",
        default=all_targets,
        choices=[*all_targets, "thin-httpx-default"],
        help="what to measure (default: all but thin-httpx-default)",
    )
    p.add_argument("--proxy-core", default="0", help="the core of the proxy under test (default 0)")
    p.add_argument("--load-core", default="1", help="the core of nginx and wrk (default 1)")
    p.add_argument("--upstream-port", type=int, default=18080)
    p.add_argument("--proxy-port", type=int, default=18090)
    p.add_argument("--workers", type=int, default=1, help="gateway WORKERS (default 1)")
    p.add_argument("--gateway-env", nargs="*", default=[], metavar="VAR=VALUE", help="extra gateway variables")
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    args = p.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: `{tool}` not found; apt-get install -y nginx wrk")

    with tempfile.TemporaryDirectory(prefix="llmgw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "nginx.conf").write_text(
            NGINX_CONF.format(tmp=tmp, port=args.upstream_port, www=BENCH / "upstream" / "www")
        )
        sys.path.insert(0, str(ROOT))
        from gateway.auth import issue_token  # the gateway's own helper: HS256, sub, exp

        bench = Bench(args, tmp, issue_token(JWT_SECRET, sub="bench-user", ttl_s=86400))
        nginx = bench.start("nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core=args.load_core)
        try:
            bench.wait_ready(nginx, f"{bench.upstream}/health")
            started = time.monotonic()
            say(
                f"bench: proxy on core {args.proxy_core}, nginx + wrk on core {args.load_core}, {args.seconds:g}s cells"
            )
            bench.run()
            say(f"\nbench: done in {time.monotonic() - started:.0f}s; load average {os.getloadavg()[0]:.2f}\n")
        finally:
            nginx.stop()
    say(report(bench.results))
    if args.json:
        args.json.write_text(json.dumps(bench.results, indent=2))


if __name__ == "__main__":
    main()
