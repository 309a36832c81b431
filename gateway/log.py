"""Logging set-up: one JSON object per line on stdout (or readable text), configured in one place.

Modules log with `logging.getLogger(__name__)` and pass fields through `extra=`; this formatter writes them.
Every line written while a request runs carries its `request_id` and `user` (from `gateway.context`).
Secrets never reach a line: the configured keys and JWT secret are masked literally, anything shaped like a key,
a JWT or a bearer token is masked by pattern, and fields that hold prompt or completion text are replaced unless
LOG_PROMPTS=true. With LOG_DIR, the same lines also go to size-rotated files, by topic:

    combined.log   everything            error.log    errors only
    llm.log        access lines, LLM calls, providers, failover
    costs.log      ledger, budgets, prices           metrics.log   metrics and health
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gateway.context import CURRENT

if TYPE_CHECKING:
    from gateway.settings import Settings

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_SECRET = re.compile(
    r"(sk-[A-Za-z0-9_-]{8,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|AIza[0-9A-Za-z_-]{20,}"
    r"|(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,})"
)
REDACTED = "[redacted]"
FLUSH_AFTER_S = 0.2  # how long a buffered access line may wait before it is written
PIPE_BUF = 4096  # writes up to this size are atomic on a pipe (POSIX; Linux's value)
_PLAIN = frozenset({int, float, bool})  # values that cannot carry a secret
# `extra=` fields that would carry what a user wrote or a model answered.
PROMPT_FIELDS = frozenset(
    {"prompt", "prompts", "messages", "content", "input", "body", "completion", "text", "system", "contents"}
)
# Which loggers feed which LOG_DIR file (by name prefix); combined.log and error.log take every logger.
TOPICS: dict[str, tuple[str, ...]] = {
    "llm.log": ("gateway.access", "gateway.llm", "gateway.providers", "gateway.layers.failover", "gateway.resilience"),
    "costs.log": ("gateway.costs", "gateway.layers.budget", "gateway.pricing", "gateway.ledger", "gateway.budget"),
    "metrics.log": ("gateway.metrics", "gateway.layers.metrics", "gateway.health", "gateway.monitoring"),
}
LOG_FILES = ("error.log", "combined.log", *TOPICS)


class Redactor:
    """Masks secrets: the exact configured values (any shape) and anything that looks like a key or a JWT.

    Most strings in a log line (ids, routes, model names) hold no secret; substring checks tell so for a
    fraction of a regex's cost, and only a string that might hold one goes through the patterns."""

    __slots__ = ("_literal", "_values")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._values = tuple(values)
        self._literal = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                assert self._literal is not None
                text = self._literal.sub(REDACTED, text)
                break
        if _marked(text):
            return _SECRET.sub(REDACTED, text)
        return text

    def suspects(self, text: str) -> bool:
        """Whether `text` might hold a secret: False means `self(text)` would return it unchanged. Checking
        several strings joined by a newline at once is as safe (no secret or pattern spans a newline)."""
        for value in self._values:
            if value in text:
                return True
        return _marked(text)


def _marked(text: str) -> bool:
    """Every `_SECRET` match contains one of these (spelt out: a generator would cost more than the checks)."""
    return "sk-" in text or "eyJ" in text or "AIza" in text or "earer " in text


_DEFAULT_REDACTOR = Redactor()


def redact(text: str) -> str:
    """Mask anything shaped like an OpenAI/Anthropic key, a JWT, a bearer token or a Google API key."""
    return _DEFAULT_REDACTOR(text)


def _clean(value: Any, redactor: Redactor) -> Any:
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {k: _clean(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, redactor) for v in value]
    return value


@functools.lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    """`2026-11-26T10:00:00` for a Unix second: formatted once per second, not once per line."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


class JSONFormatter(logging.Formatter):
    def __init__(self, *, redactor: Redactor = _DEFAULT_REDACTOR, log_prompts: bool = False) -> None:
        super().__init__()
        self._redactor = redactor
        self._log_prompts = log_prompts

    def format(self, record: logging.LogRecord) -> str:
        cached = record.__dict__.get("_gateway_line")
        if cached is not None and cached[0] is self:  # stdout and the LOG_DIR files share one formatting
            return str(cached[1])
        line = self._format(record)
        record._gateway_line = (self, line)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields).decode()

    def line(self, created: float, level: str, name: str, message: str, fields: dict[str, Any]) -> bytes:
        """One JSON line (no newline): what `format` gives for a record carrying `fields` as its extras."""
        redactor = self._redactor
        millis = int((created - int(created)) * 1000)
        entry: dict[str, Any] = {
            "time": f"{_utc_second(int(created))}.{millis:03d}Z",
            "level": level.lower(),
            "logger": name,
            "message": message,
        }
        texts = [message]  # the plain strings, checked for secrets together below
        for key, value in fields.items():
            if value is None or type(value) in _PLAIN:
                entry[key] = value
            elif key in PROMPT_FIELDS and not self._log_prompts:
                entry[key] = REDACTED
            elif type(value) is str:
                entry[key] = value
                texts.append(value)
            else:
                entry[key] = _clean(value, redactor)
        # one check for all of them: an access line has ten strings, and none holds a secret unless a caller
        # put one in a request id, a model name or a JWT subject
        if redactor.suspects("\n".join(texts)):
            entry["message"] = redactor(message)
            for key, value in entry.items():
                if type(value) is str and key in fields:
                    entry[key] = redactor(value)
        return orjson.dumps(entry, default=str)


def info_line(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """`logger.info(message, extra=fields)`, written straight to the stream when the only handler that takes the
    line is the usual one: a plain stream handler (stdout) with the JSON formatter. Built for the access line,
    written once per request: a `LogRecord`, its handler chain and its formatting cost about 20 µs, this ~4 µs.
    Any other set-up (text format, LOG_DIR files, a test's capturing handler) takes the `logging` path.

    Inside the event loop lines are buffered and written a few times a second (`LineBuffer`): a write system
    call per line was ~8% of a cache hit's CPU."""
    if not logger.isEnabledFor(logging.INFO):
        return
    direct = _direct_handler(logger)
    if direct is None:
        logger.info(message, extra=fields)
        return
    buffer, formatter = direct
    buffer.add(formatter.line(time.time(), "INFO", logger.name, message, fields))


class LineBuffer:
    """Lines for one stream handler, written a few times a second instead of one write system call per line.

    Writes are grouped into at most PIPE_BUF bytes (whole lines), so that several workers sharing one stdout
    pipe never interleave inside a line, as single-line writes never did. Pending lines are written within
    `FLUSH_AFTER_S`, at shutdown (`flush_lines`, called by the app's lifespan and at exit), and at once outside
    an event loop."""

    __slots__ = ("_handler", "_lines")

    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self._handler = handler
        self._lines: list[bytes] = []

    def add(self, line: bytes) -> None:
        if not self._lines:
            try:
                asyncio.get_running_loop().call_later(FLUSH_AFTER_S, self.flush)
            except RuntimeError:  # no loop running: write it now
                self._lines.append(line)
                self.flush()
                return
        self._lines.append(line)

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        handler = self._handler
        with handler.lock or contextlib.nullcontext():
            stream = handler.stream
            group: list[bytes] = []
            size = 0
            for line in lines:
                if group and size + len(line) + 1 > PIPE_BUF:
                    stream.write((b"\n".join(group) + b"\n").decode())
                    stream.flush()
                    group, size = [], 0
                group.append(line)
                size += len(line) + 1
            stream.write((b"\n".join(group) + b"\n").decode())
            stream.flush()


def _direct_handler(logger: logging.Logger) -> tuple[LineBuffer, JSONFormatter] | None:
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        handlers += current.handlers
        current = current.parent if current.propagate else None
    key = tuple(handlers)
    cached = _DIRECT.get(logger.name)
    if cached is not None and cached[0] == key:
        return cached[1]
    direct = None
    if len(handlers) == 1:
        handler = handlers[0]
        formatter = handler.formatter
        if (
            type(handler) is logging.StreamHandler
            and isinstance(formatter, JSONFormatter)
            and handler.level <= logging.INFO
            and handler.terminator == "\n"
            and all(isinstance(f, RequestContextFilter) for f in handler.filters)  # the fields carry the context
        ):
            direct = (_buffer_for(handler), formatter)
    _DIRECT[logger.name] = (key, direct)
    return direct


def _buffer_for(handler: logging.StreamHandler[Any]) -> LineBuffer:
    for buffer in _BUFFERS:
        if buffer._handler is handler:
            return buffer
    buffer = LineBuffer(handler)
    _BUFFERS.append(buffer)
    return buffer


def flush_lines() -> None:
    """Write every buffered line now (at exit, and before the handlers are replaced)."""
    for buffer in _BUFFERS:
        buffer.flush()


_BUFFERS: list[LineBuffer] = []
atexit.register(flush_lines)
_DIRECT: dict[str, tuple[tuple[logging.Handler, ...], tuple[LineBuffer, JSONFormatter] | None]] = {}


class TextFormatter(logging.Formatter):
    """For humans: `time level logger: message [request_id]`; secrets masked the same way."""

    def __init__(self, *, redactor: Redactor = _DEFAULT_REDACTOR) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            line = f"{line} [{request_id}]"
        return self._redactor(line)


class RequestContextFilter(logging.Filter):
    """Stamps the running request's id and user on every record that does not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = CURRENT.get()
        if current is not None:
            if getattr(record, "request_id", None) is None:
                record.request_id = current.request_id
            if getattr(record, "user", None) is None and current.user is not None:
                record.user = current.user
        return True


class TopicFilter(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self._exact = frozenset(prefixes)
        self._children = tuple(p + "." for p in prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        return name in self._exact or name.startswith(self._children)


def file_handlers(log_dir: str, *, formatter: logging.Formatter, max_bytes: int, backups: int) -> list[logging.Handler]:
    """The five LOG_DIR files, created now (not at the first line), each rotated past `max_bytes`."""
    directory = Path(log_dir)
    directory.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = []
    for name in LOG_FILES:
        handler = logging.handlers.RotatingFileHandler(
            directory / name, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        handler.setFormatter(formatter)
        if name == "error.log":
            handler.setLevel(logging.ERROR)
        elif name in TOPICS:
            handler.addFilter(TopicFilter(TOPICS[name]))
        handlers.append(handler)
    return handlers


def configure_logging(
    *,
    fmt: str = "json",
    level: str = "info",
    log_dir: str | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    log_prompts: bool = False,
    secrets: Iterable[str | None] = (),
) -> None:
    redactor = Redactor(secrets)
    formatter: logging.Formatter = (
        JSONFormatter(redactor=redactor, log_prompts=log_prompts) if fmt == "json" else TextFormatter(redactor=redactor)
    )
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(formatter)
    handlers: list[logging.Handler] = [stdout]
    if log_dir:
        # files are always JSON lines, whatever LOG_FORMAT says: they are read by machines
        file_formatter = formatter if fmt == "json" else JSONFormatter(redactor=redactor, log_prompts=log_prompts)
        handlers += file_handlers(log_dir, formatter=file_formatter, max_bytes=max_bytes, backups=backups)
    context = RequestContextFilter()
    for handler in handlers:
        handler.addFilter(context)
    root = logging.getLogger()
    flush_lines()
    _BUFFERS.clear()
    _DIRECT.clear()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # the gateway writes its own access line
    # httpx writes an INFO line for every upstream call: a second line per request (~54 µs CPU each, bench/README.md)
    # saying what the access line already says; its warnings still come through
    logging.getLogger("httpx").setLevel(logging.WARNING)


def configure_from(settings: Settings) -> None:
    """`configure_logging` with every LOG_* setting, and the configured secrets masked wherever they appear."""
    configure_logging(
        fmt=settings.log_format,
        level=settings.log_level,
        log_dir=settings.log_dir,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        log_prompts=settings.log_prompts,
        secrets=(settings.openai_api_key, settings.anthropic_api_key, settings.google_api_key, settings.jwt_secret),
    )
