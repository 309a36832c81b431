"""OpenAI SSE -> OpenAI chunks: a pass-through that keeps each frame's original bytes.

It parses each `data:` payload once (the pipeline needs usage and finish reasons) and hands the original
bytes on, so nothing is re-serialised. When the gateway itself asked for `include_usage`, the usage-only
chunk is withheld from a caller who did not ask for it (but still reported through `usage`).
"""

from __future__ import annotations

from typing import Any

import orjson

from translators.errors import StreamError, VendorError, VendorErrorKind
from translators.sse import SSEEvent

JSON = dict[str, Any]


class StreamTranslator:
    """Feed SSE events; get `(chunk, raw_bytes_or_None)` pairs to send. `done` turns true at `[DONE]`."""

    __slots__ = ("_include_usage", "done", "usage")

    def __init__(self, *, include_usage: bool) -> None:
        self._include_usage = include_usage
        self.done = False
        self.usage: JSON | None = None

    def feed(self, event: SSEEvent) -> list[tuple[JSON, bytes | None]]:
        data = event.data
        if data[:6] == b"[DONE]":
            self.done = True
            return []
        if not data:
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamError(
                VendorError("bad_response", "the upstream stream sent a frame that is not JSON")
            ) from None
        if not isinstance(chunk, dict):
            raise StreamError(VendorError("bad_response", "the upstream stream sent a frame that is not an object"))
        error = chunk.get("error")
        if error:
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            kind: VendorErrorKind = "overloaded" if "overloaded" in str(message).lower() else "server"
            raise StreamError(VendorError(kind, str(message) or "the upstream stream failed"))
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
            if not self._include_usage and not chunk.get("choices"):
                return []  # the gateway asked for this usage-only chunk, not the caller
            if not self._include_usage:
                chunk = {k: v for k, v in chunk.items() if k != "usage"}
                return [(chunk, None)]
        return [(chunk, data)]

    def finish(self) -> list[tuple[JSON, bytes | None]]:
        if not self.done:  # the connection ended without `[DONE]`: a truncated answer must not look complete
            raise StreamError(VendorError("connection", "the upstream stream ended before it was complete"))
        return []
