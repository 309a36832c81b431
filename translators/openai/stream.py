"""OpenAI SSE -> OpenAI chunks: a pass-through that keeps each frame's original bytes.

It parses each `data:` payload once (the pipeline reads usage and finish reasons) and hands the original bytes
on, so nothing is re-serialised. The gateway always asks OpenAI for the usage chunk; the route hides it from a
caller who did not ask (`routes.sse_frames`).
"""

from __future__ import annotations

from typing import Any

import orjson

from translators.errors import StreamError, VendorError, VendorErrorKind
from translators.sse import SSEEvent

JSON = dict[str, Any]


class StreamTranslator:
    """Feed SSE events; get `(chunk, raw_bytes)` pairs to send. `done` turns true at `[DONE]`."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

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
                VendorError("bad_response", "the upstream sent a stream frame that is not JSON")
            ) from None
        if not isinstance(chunk, dict):
            raise StreamError(VendorError("bad_response", "the upstream sent a stream frame that is not an object"))
        error = chunk.get("error")
        if error:
            message = str(error.get("message", "") if isinstance(error, dict) else error)
            kind: VendorErrorKind = "overloaded" if "overloaded" in message.lower() else "server"
            raise StreamError(VendorError(kind, message or "the upstream stream failed"))
        return [(chunk, data)]

    def finish(self) -> list[tuple[JSON, bytes | None]]:
        if not self.done:  # the connection ended without `[DONE]`: a truncated answer must not look complete
            raise StreamError(VendorError("connection", "the upstream stream ended before it was complete"))
        return []
