"""`llm-gateway` / `python -m gateway`: read the settings, then serve with uvicorn.

With `--demo` no keys are needed: the mock provider is on, a random JWT secret is made and a ready bearer
token and a working `curl` line are printed. SIGTERM finishes in-flight requests and streams (bounded by
SHUTDOWN_GRACE_S) and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from gateway import __version__
from gateway.auth import issue_token, random_secret
from gateway.http_protocol import GatewayHttpProtocol
from gateway.log import configure_from
from gateway.metrics import prepare_multiprocess_dir
from gateway.settings import Settings, SettingsError, read_dotenv

DEMO_FLAG = "LLM_GATEWAY_DEMO"  # carries --demo to worker and reload processes


def environment(env_file: Path) -> dict[str, str]:
    """The process environment over the `.env` file: a real variable wins."""
    return {**read_dotenv(env_file), **os.environ}


def create_app() -> Starlette:
    """The app factory uvicorn calls in each worker or reload process (settings come from the environment)."""
    from gateway.app import build_app

    env = environment(Path(".env"))
    settings = Settings.from_env(env, demo=env.get(DEMO_FLAG) == "1")
    configure_from(settings)
    return frozen(build_app(settings))


def frozen(app: Starlette) -> Starlette:
    """Everything made so far (modules, models, catalog, the app) lives as long as the server: move it out of the
    garbage collector's generations, so that collections made while serving no longer walk it (≈ 40-55 µs of
    GC per streamed answer before, bench/README.md). Done here, once per server process, not in the app's
    lifespan: tests start hundreds of apps in one process."""
    gc.collect()
    gc.freeze()
    return app


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful stop, which makes the exit status -15; a finished graceful
    stop is a clean exit, so the captured signal is dropped."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-gateway",
        description="OpenAI-compatible gateway to OpenAI, Anthropic and Gemini. Configure with environment "
        "variables or a .env file (see env.example); flags override HOST, PORT and WORKERS.",
    )
    p.add_argument(
        "--demo", action="store_true", help="no keys needed: mock provider, random JWT secret, a printed token"
    )
    p.add_argument("--host", help="listen address (HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (PORT, default 3007)")
    p.add_argument("--workers", type=int, help="worker processes (WORKERS, default 1)")
    p.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    p.add_argument("--env-file", default=".env", type=Path, help="read variables from this file (default .env)")
    p.add_argument("--version", action="version", version=f"llm-gateway {__version__}")
    return p


def raise_open_files_limit() -> None:
    """Every open stream holds two sockets (caller and upstream); a soft limit of 1,024 open files, common by
    default, would refuse the 500th concurrent stream. Raise the soft limit to the hard one (no privilege needed)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    env = environment(args.env_file)
    for flag, var in ((args.host, "HOST"), (args.port, "PORT"), (args.workers, "WORKERS")):
        if flag is not None:
            env[var] = str(flag)
    if args.demo:
        env.setdefault("JWT_SECRET", random_secret())
        env[DEMO_FLAG] = "1"
    try:
        settings = Settings.from_env(env, demo=args.demo)
    except SettingsError as exc:
        sys.stderr.write(f"llm-gateway: {exc}\n")
        raise SystemExit(2) from None
    configure_from(settings)
    raise_open_files_limit()
    if settings.auth_disabled:
        sys.stderr.write(
            "llm-gateway: WARNING AUTH_DISABLED=true: every caller is an admin. Never do this in production.\n"
        )
    if args.demo:
        _print_demo(settings)

    common = {
        "host": settings.host,
        "port": settings.port,
        "timeout_graceful_shutdown": settings.shutdown_grace_s,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # TRUSTED_PROXIES alone decides whom X-Forwarded-For is believed from (uvicorn would trust 127.0.0.1)
        "proxy_headers": False,
        "lifespan": "on",
        "http": GatewayHttpProtocol,  # uvicorn's httptools protocol with a leaner response path
    }
    if (settings.workers > 1 and not args.reload) or settings.prometheus_multiproc_dir:
        # several workers share their metrics through files (prometheus-client multiprocess mode); the variable
        # must be in the environment before a worker imports prometheus_client. Stale files are removed.
        env["PROMETHEUS_MULTIPROC_DIR"] = prepare_multiprocess_dir(settings.prometheus_multiproc_dir)
    if args.reload or settings.workers > 1:
        os.environ.update(env)  # the worker processes build their settings from the same environment
        uvicorn.run("gateway.__main__:create_app", factory=True, reload=args.reload, workers=settings.workers, **common)  # type: ignore[arg-type]
        return
    from gateway.app import build_app

    server = _Server(uvicorn.Config(frozen(build_app(settings)), **common))  # type: ignore[arg-type]
    server.run()
    if not server.started:
        raise SystemExit(1)


def _print_demo(settings: Settings) -> None:
    token = issue_token(settings.jwt_secret or "", sub="demo", admin=True)
    base = f"http://{settings.host}:{settings.port}"
    sys.stdout.write(
        "\nllm-gateway demo: mock provider on, no vendor keys needed.\n"
        f"Bearer token (user 'demo', admin, valid 24 h):\n\n  {token}\n\nTry:\n\n"
        f"  curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {token}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"model": "mock/echo", "messages": [{"role": "user", "content": "Hello!"}]}\'\n\n'
        f"OpenAI SDK: OpenAI(base_url='{base}/v1', api_key='<the token>')\n\n"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
