"""Instructions per request, counted by valgrind: `.venv/bin/python bench/instructions.py [--cell hit|miss|stream]`.

This VM's speed swings by 2x within minutes (bench/README.md), so a 3 % change cannot be seen in timings.
valgrind's cachegrind counts the instructions a process executes, the same for the same work whatever else the
machine is doing. Each figure here is the difference between two runs of one in-process driver, N1 and N2
requests, divided by N2 - N1: start-up and import costs cancel out.

The driver builds the gateway as `bench/run.py` configures it (every default layer on, the nginx fake as the
upstream), and feeds raw HTTP/1.1 requests to the gateway's own protocol class (`GatewayHttpProtocol`) over an
in-memory transport, one at a time: HTTP parsing, the app, the response head and the ledger's writer thread are
counted; the kernel's socket work is not. `--cell hit` sends one body again and again (a memory-cache hit after
the first), `--cell miss` a new body each time (an upstream call through aiohttp, and a store), `--cell stream` a
new streamed body each time (42 chunks from the SSE fake; `--model` picks the vendor, so the translators count).

    --n1 N --n2 M      the two run lengths (200 and 1,200): a later window (say 1,200 and 2,200) shows whether a
                       request costs more once the process has served many (a growing cache or ledger)
    --trees DIR...     compare source trees (e.g. `git worktree add /tmp/before HEAD~3`); each is compiled to
                       .pyc first: code run from source costs a different number of instructions per request
    --ablate NAME...   also count with one part taken out, to price it: LLMMetrics, RateLimit, Budget (pipeline
                       layers), access (the access line and HTTP metrics), log (the access line only), httprl
                       (the general rate limit), valid (request validation), ledger (the ledger row)

The ledger writes full batches only here (its flush interval would make batch sizes, and so the count, follow
the machine's speed). Two runs of one tree still differ by up to 1.5 % (timers, the writer thread's turns for
the GIL): run twice before believing a smaller change. Needs valgrind and nginx (Debian packages).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve()
ABLATIONS = ("LLMMetrics", "RateLimit", "Budget", "access", "log", "httprl", "valid", "ledger")


def ablate(names: set[str]) -> None:
    """Take parts out before the app is built (monkeypatching: this is a measuring tool, not the product)."""
    import gateway.app
    import gateway.middleware.access_log
    import gateway.routes
    from gateway.layers.budget import Budget
    from gateway.middleware.ratelimit import HTTPRateLimit

    if names & {"LLMMetrics", "RateLimit", "Budget"}:
        compose = gateway.app.compose  # type: ignore[attr-defined]

        def without_layers(layers: list[Any], *, terminal: Any) -> Any:
            return compose([layer for layer in layers if type(layer).__name__ not in names], terminal=terminal)

        setattr(gateway.app, "compose", without_layers)  # noqa: B010
    if "log" in names:
        setattr(gateway.middleware.access_log, "info_line", lambda *args, **kwargs: None)  # noqa: B010
    if "access" in names:
        setattr(gateway.middleware.access_log.AccessLog, "finish", lambda *args, **kwargs: None)  # noqa: B010
    if "httprl" in names:
        setattr(HTTPRateLimit, "applies", lambda self, path: False)  # noqa: B010
    if "valid" in names:
        stub = lambda body: types.SimpleNamespace(model=body["model"], stream=body.get("stream"))  # noqa: E731
        setattr(gateway.routes, "validate_chat", stub)  # noqa: B010
    if "ledger" in names:

        class NoLedger:
            def __init__(self, real: Any) -> None:
                self.real = real

            def add(self, record: Any) -> None:
                pass

            def __getattr__(self, name: str) -> Any:
                return getattr(self.real, name)

        init = Budget.__init__

        def without_ledger(self: Budget, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self.ledger = NoLedger(self.ledger)

        setattr(Budget, "__init__", without_ledger)  # noqa: B010


def recording_transport() -> Any:
    """The protocol tests' in-memory transport (tests/fakes/transport.py), taken from this checkout: an older tree
    measured with --trees may not have it."""
    spec = importlib.util.spec_from_file_location("fake_transport", HERE.parent.parent / "tests/fakes/transport.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RecordingTransport()


async def drive(bench: Any, cell: str, n: int, model: str) -> None:
    """`n` requests (after 20 to warm up) through the gateway's protocol, one at a time."""
    from layers import chat_body  # bench/layers.py
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from gateway.app import build_app
    from gateway.http_protocol import GatewayHttpProtocol
    from gateway.ledger.batch import BatchWriter
    from gateway.log import configure_from
    from gateway.settings import Settings

    # The ledger writes a batch when it holds MAX_BATCH rows or every FLUSH_INTERVAL_S; under valgrind the
    # interval would cut batches of a size that depends on the machine's speed, and a batch's commit is shared
    # by its rows. Full batches only, as under load (bench/README.md): the count stops following the clock.
    assert BatchWriter.__init__.__kwdefaults__ is not None
    BatchWriter.__init__.__kwdefaults__["interval_s"] = 3600.0
    settings = Settings.from_env(bench.gateway_env("sse" if cell == "stream" else "json"))
    real_stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # the gateway's log lines, for the whole run
    configure_from(settings)
    app = build_app(settings)
    config = Config(app, log_config=None, access_log=False, proxy_headers=False)
    config.load()
    token: bytes = bench.token.encode()

    def raw(body: bytes) -> bytes:
        return (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + token + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        )

    def body(i: int | None) -> bytes:
        fields = orjson.loads(chat_body(i)) | {"model": model}
        if cell == "stream":
            fields["stream"] = True
        return raw(orjson.dumps(fields))

    same = body(None)
    requests: Iterator[bytes] = (same if cell == "hit" else body(i) for i in range(n + 20))
    try:
        async with app.router.lifespan_context(app):
            protocol = GatewayHttpProtocol(config=config, server_state=ServerState(), app_state={})
            transport = recording_transport()
            protocol.connection_made(transport)
            for number, request in enumerate(requests):
                protocol.data_received(request)
                while protocol.tasks:
                    await asyncio.gather(*protocol.tasks)
                # a request that failed (a timeout under valgrind's slowness, say) took another path: no count
                answer = transport.output
                complete = answer.endswith(b"0\r\n\r\n") and b"data: [DONE]" in answer
                if not answer.startswith(b"HTTP/1.1 200 ") or (cell == "stream" and not complete):
                    raise SystemExit(f"instructions: request {number} did not succeed: {answer[:600]!r}")
                transport.writes.clear()
    finally:
        sys.stdout.close()
        sys.stdout = real_stdout


def inner(args: argparse.Namespace) -> None:
    """One counted run (under valgrind): the driver in this process, nginx started here."""
    sys.path.insert(0, str(Path(args.tree)))
    sys.path.insert(0, str(Path(args.tree) / "bench"))
    from run import BENCH, JWT_SECRET, NGINX_CONF, Bench

    from gateway.auth import issue_token

    ablate(set(args.ablated))
    ns = argparse.Namespace(
        seconds=1,
        proxy_core="0",
        load_core="1",
        upstream_port=args.port,
        proxy_port=18090,
        workers=1,
        gateway_env=args.gateway_env,
    )
    with tempfile.TemporaryDirectory(prefix="llmgw-instr-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=args.port, www=BENCH / "upstream" / "www"))
        bench = Bench(ns, tmp, issue_token(JWT_SECRET, sub="bench-user", ttl_s=86400))
        nginx = bench.start("nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core="1")
        try:
            bench.wait_ready(nginx, f"{bench.upstream}/health")
            import uvloop

            uvloop.run(drive(bench, args.cell, args.n, args.model))
        finally:
            nginx.stop()


def count(tree: Path, args: argparse.Namespace, n: int, ablated: tuple[str, ...], port: int) -> int:
    """Instructions of one whole run of `n` requests."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONHASHSEED": "0"}
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    cmd += [sys.executable, str(HERE), "--inner", "--tree", str(tree), "--cell", args.cell, "--n", str(n)]
    cmd += ["--model", args.model, "--gateway-env", *args.gateway_env]
    cmd += ["--port", str(port), *(["--ablated", *ablated] if ablated else [])]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"instructions: run failed ({' '.join(cmd)}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", choices=("hit", "miss", "stream"), default="hit")
    p.add_argument("--model", default="gpt-4o-mini", help="the chat model (claude-sonnet-4-5, gemini-2.5-flash...)")
    p.add_argument("--trees", nargs="*", type=Path, default=[HERE.parent.parent])
    p.add_argument("--ablate", nargs="*", choices=ABLATIONS, default=[])
    p.add_argument("--n1", type=int, default=200)
    p.add_argument("--n2", type=int, default=1200)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=18180, help=argparse.SUPPRESS)
    p.add_argument("--ablated", nargs="*", default=[], help=argparse.SUPPRESS)
    p.add_argument("--gateway-env", nargs="*", default=[], metavar="VAR=VALUE", help="extra gateway variables")
    args = p.parse_args()
    if args.inner:
        inner(args)
        return
    for tree in args.trees:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        dirs = [str(tree / d) for d in ("gateway", "translators", "bench")]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], env=env, check=True, capture_output=True)
    jobs: list[tuple[Path, tuple[str, ...]]] = [(tree, ()) for tree in args.trees]
    jobs += [(args.trees[0], (name,)) for name in args.ablate]
    runs = [(job, n) for job in jobs for n in (args.n1, args.n2)]

    def one_run(item: tuple[tuple[Path, tuple[str, ...]], int]) -> int:
        (tree, ablated), n = item
        return count(tree, args, n, ablated, 18180 + runs.index(item))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one valgrind per core
        counts = list(pool.map(one_run, runs))
    per_request = {job: (counts[2 * i + 1] - counts[2 * i]) / (args.n2 - args.n1) for i, job in enumerate(jobs)}
    full = per_request[jobs[0]]
    lines = [
        f"instructions per {args.cell} request, {args.model} (runs of {args.n1} and {args.n2} requests, in-process):",
        "",
    ]
    lines += ["| tree | without | instructions | vs the first |", "|---|---|---|---|"]
    for (tree, ablated), value in per_request.items():
        change = f"{value - full:+,.0f} ({value / full - 1:+.1%})"
        lines.append(f"| {tree} | {', '.join(ablated) or '-'} | {value:,.0f} | {change} |")
    sys.path.insert(0, str(HERE.parent))
    from run import say

    say("\n".join(lines))


if __name__ == "__main__":
    main()
