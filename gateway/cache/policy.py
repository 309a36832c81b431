"""What may be read from and written to the cache.

- By default only deterministic calls are cached: `temperature` 0 or a `seed` given (embeddings always are);
  CACHE_POLICY=all caches every call.
- The caller's `Cache-Control` header: `no-cache` skips the read (the answer is still stored, refreshing the
  entry), `no-store` skips the write, `max-age=N` stores with a TTL of at most N seconds and serves only
  entries younger than N (so `max-age=0` reads nothing and stores nothing).
- Only normal answers are stored: every choice finished with `stop` or `tool_calls` (a `length` cut,
  a content filter or an error is not an answer to repeat), or an embeddings list with data.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.types import JSON, CallKind, ChatCall

NORMAL_FINISH = frozenset({"stop", "tool_calls"})


@dataclass(frozen=True, slots=True)
class Directives:
    no_cache: bool = False
    no_store: bool = False
    max_age: int | None = None


NO_DIRECTIVES = Directives()


def parse_cache_control(value: str | None) -> Directives:
    """The request directives the cache honours; unknown or malformed ones are ignored."""
    if not value:
        return NO_DIRECTIVES
    no_cache = no_store = False
    max_age: int | None = None
    for part in value.split(","):
        name, _, argument = part.strip().lower().partition("=")
        name = name.strip()
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "max-age":
            argument = argument.strip().strip('"')
            if argument.isdigit():
                seconds = int(argument)
                max_age = seconds if max_age is None else min(max_age, seconds)
    return Directives(no_cache=no_cache, no_store=no_store, max_age=max_age)


def deterministic(call: ChatCall) -> bool:
    """Would the same request give the same answer? Embeddings yes; chat and completions at temperature 0
    or with a seed."""
    if call.kind == "embedding":
        return True
    body = call.body
    if body.get("seed") is not None:
        return True
    temperature = body.get("temperature")
    return isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0


def storable(kind: CallKind, body: JSON) -> bool:
    """Is this answer a normal, complete one worth serving again?"""
    if "error" in body:
        return False
    if kind == "embedding":
        data = body.get("data")
        return isinstance(data, list) and bool(data)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        if not isinstance(reason, str) or reason not in NORMAL_FINISH:
            return False
    return True
