"""OpenAI request bodies: the caller's body with the resolved model id and without gateway-only fields."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

GATEWAY_ONLY_FIELDS = ("fallbacks",)


def build_request(body: JSON, *, model: str, force_usage: bool = False) -> JSON:
    """A shallow copy of `body` for OpenAI. `force_usage` asks a stream for its usage chunk so that streamed
    calls are metered as exactly as whole ones; the stream translator hides that chunk from a caller who did
    not ask for it."""
    out = {k: v for k, v in body.items() if k not in GATEWAY_ONLY_FIELDS}
    out["model"] = model
    if force_usage and out.get("stream"):
        options = dict(out.get("stream_options") or {})
        options["include_usage"] = True
        out["stream_options"] = options
    return out
