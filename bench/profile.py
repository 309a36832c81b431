"""Profile the gateway under load with py-spy: `.venv/bin/python bench/profile.py [--cell chat|stream|hit]`.

Same set-up as bench/run.py (nginx + wrk on one core, the gateway alone on the other, every default layer on),
while py-spy samples the gateway for `--seconds`. Prints the functions with the most samples, inclusive
(the function and what it calls) and self, and keeps the collapsed stacks (`--out`, for a flame graph).
py-spy is a tool, not a dependency: `.venv/bin/pip install py-spy`.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import BENCH, JWT_SECRET, NGINX_CONF, Bench, say

CELLS = {  # wrk script, unique bodies, upstream prefix, connections
    "chat": ("chat.lua", True, "json", 64),
    "chat-c1": ("chat.lua", True, "json", 1),
    "hit": ("chat.lua", False, "json", 64),
    "stream": ("chat_stream.lua", True, "sse", 16),
}


def summarize(collapsed: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [
            f.split(" (", 1)[0] + " (" + f.split(" (", 1)[1].split(":")[0].rsplit("/", 2)[-1] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", choices=sorted(CELLS), default="chat")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=Path("/tmp/gateway-profile.txt"), help="collapsed stacks")
    p.add_argument("--gateway-env", nargs="*", default=[], metavar="VAR=VALUE")
    args = p.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    script, unique, prefix, conns = CELLS[args.cell]
    ns = argparse.Namespace(
        seconds=args.seconds,
        proxy_core="0",
        load_core="1",
        upstream_port=18080,
        proxy_port=18090,
        workers=1,
        gateway_env=args.gateway_env,
    )
    with tempfile.TemporaryDirectory(prefix="llmgw-profile-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=18080, www=BENCH / "upstream" / "www"))
        from gateway.auth import issue_token

        bench = Bench(ns, tmp, issue_token(JWT_SECRET, sub="bench-user", ttl_s=86400))
        nginx = bench.start("nginx", ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], core="1")
        try:
            bench.wait_ready(nginx, f"{bench.upstream}/health")
            url = f"{bench.proxy}/v1/chat/completions"
            with bench.proxy_process("gateway", bench.gateway_cmd(), env=bench.gateway_env(prefix)) as proc:
                bench.wrk(script, url, conns=conns, seconds=2, model=args.model, unique=unique)
                result: dict[str, object] = {}
                load = threading.Thread(
                    target=lambda: result.update(
                        bench.wrk(script, url, conns=conns, seconds=args.seconds + 2, model=args.model, unique=unique)
                    )
                )
                load.start()
                subprocess.run(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--duration",
                        str(args.seconds),
                        "--rate",
                        str(args.rate),
                        "--format",
                        "raw",
                        "--output",
                        str(args.out),
                        "--nonblocking",
                    ],
                    check=True,
                    capture_output=True,
                )
                load.join()
        finally:
            nginx.stop()
    say(f"wrk: {result.get('rps')} RPS, p50 {result.get('p50_us')} us, errors {result.get('errors')}")
    say(summarize(args.out, args.top))


if __name__ == "__main__":
    main()
