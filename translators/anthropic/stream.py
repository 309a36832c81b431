"""Anthropic Messages SSE events -> OpenAI chat.completion.chunk dicts (wire-formats §4.5, §6.9). No I/O.

    message_start        -> role chunk {"role": "assistant", "content": ""}; input usage
    content_block_start  text (non-empty) -> content; tool_use -> tool call header (index, id, name, "")
    content_block_delta  text_delta -> content; input_json_delta -> argument fragment;
                         thinking_delta -> reasoning_content; signature_delta -> kept for the block
    content_block_stop   thinking block -> one `thinking_blocks` entry with its signature (to echo back)
    message_delta        stop_reason and cumulative usage (replaced, never summed)
    message_stop         final chunk with finish_reason, then the usage chunk (`choices: []`)
    ping, unknown        nothing
    error                StreamError: the route sends one error event and no [DONE]

A stream that ends before `message_stop` raises StreamError from `finish()`: a truncated answer never looks
complete.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from translators.anthropic.errors import stream_error
from translators.anthropic.response import arguments, finish_reason, thinking_entry, usage_from
from translators.errors import StreamError, VendorError
from translators.sse import SSEEvent

JSON = dict[str, Any]


class StreamTranslator:
    """Feed Anthropic SSE events one at a time; get the OpenAI chunks to send for each."""

    __slots__ = (
        "_base",
        "_blocks",
        "_done",
        "_finish",
        "_include_usage",
        "_started",
        "_thinking_count",
        "_tool_count",
        "_usage",
    )

    def __init__(self, *, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self._base: JSON = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        self._include_usage = include_usage
        self._blocks: dict[int, JSON] = {}  # anthropic block index -> {"type", "tool": k} or thinking state
        self._tool_count = 0
        self._thinking_count = 0
        self._usage: JSON = {}
        self._finish: str | None = None
        self._started = False
        self._done = False

    def feed(self, event: SSEEvent) -> list[JSON]:
        if self._done or not event.data:
            return []
        try:
            payload = orjson.loads(event.data)  # several times faster than json.loads, once per event
        except orjson.JSONDecodeError:
            try:
                payload = json.loads(event.data)  # what orjson refuses but JSON allows: escaped lone surrogates
            except ValueError:
                raise StreamError(
                    VendorError("bad_response", "the upstream sent a stream frame that is not JSON")
                ) from None
        if not isinstance(payload, dict):
            raise StreamError(VendorError("bad_response", "the upstream sent a stream frame that is not an object"))
        kind = payload.get("type", event.event)
        handler = _HANDLERS.get(kind)
        return handler(self, payload) if handler is not None else []

    def finish(self) -> list[JSON]:
        if not self._done:
            raise StreamError(VendorError("connection", "the upstream stream ended before message_stop"))
        return []

    # ---- events ------------------------------------------------------------------------------------

    def _message_start(self, payload: JSON) -> list[JSON]:
        message = payload.get("message")
        if isinstance(message, dict) and isinstance(message.get("usage"), dict):
            self._usage.update(message["usage"])
        return self._start()

    def _start(self) -> list[JSON]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, payload: JSON) -> list[JSON]:
        out = self._start()
        index = payload.get("index")
        block = payload.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return out
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = {"type": "text"}
            if block.get("text"):
                out.append(self._chunk({"content": block["text"]}))
        elif kind == "tool_use":
            slot = self._tool_count
            self._tool_count += 1
            self._blocks[index] = {"type": "tool_use", "slot": slot}
            header = {
                "index": slot,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": ""},
            }
            out.append(self._chunk({"tool_calls": [header]}))
            if block.get("input"):  # a block that arrives whole (no input_json_delta follows)
                out.append(self._arguments(slot, arguments(block["input"])))
        elif kind in ("thinking", "redacted_thinking"):
            self._blocks[index] = {
                "type": kind,
                "thinking": [block["thinking"]] if block.get("thinking") else [],
                "signature": block.get("signature", ""),
                "data": block.get("data", ""),
            }
            if block.get("thinking"):
                out.append(self._chunk({"reasoning_content": block["thinking"]}))
        return out

    def _block_delta(self, payload: JSON) -> list[JSON]:
        out = self._start()
        delta = payload.get("delta")
        state = self._blocks.get(payload.get("index"))  # type: ignore[arg-type]  # None finds nothing
        if not isinstance(delta, dict) or state is None:
            return out
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            out.append(self._chunk({"content": delta["text"]}))
        elif kind == "input_json_delta" and state["type"] == "tool_use" and delta.get("partial_json"):
            out.append(self._arguments(state["slot"], delta["partial_json"]))
        elif kind == "thinking_delta" and delta.get("thinking") and state["type"] == "thinking":
            state["thinking"].append(delta["thinking"])
            out.append(self._chunk({"reasoning_content": delta["thinking"]}))
        elif kind == "signature_delta" and state["type"] == "thinking":
            state["signature"] += delta.get("signature", "")
        return out

    def _block_stop(self, payload: JSON) -> list[JSON]:
        state = self._blocks.pop(payload.get("index"), None)  # type: ignore[arg-type]  # None finds nothing
        if state is None or state["type"] not in ("thinking", "redacted_thinking"):
            return []
        block = {
            "type": state["type"],
            "thinking": "".join(state["thinking"]),
            "signature": state["signature"],
            "data": state["data"],
        }
        entry = thinking_entry(block, self._thinking_count)
        self._thinking_count += 1
        return [self._chunk({"thinking_blocks": [entry]})]

    def _message_delta(self, payload: JSON) -> list[JSON]:
        delta = payload.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason"):
            self._finish = finish_reason(delta["stop_reason"])
        usage = payload.get("usage")
        if isinstance(usage, dict):  # cumulative counts: the latest value replaces the earlier one
            self._usage.update({k: v for k, v in usage.items() if v is not None})
        return []

    def _message_stop(self, payload: JSON) -> list[JSON]:
        out = self._start()
        self._done = True
        final = self._chunk({}, finish=self._finish or ("tool_calls" if self._tool_count else "stop"))
        out.append(final)
        if self._include_usage:
            out.append({**self._base, "choices": [], "usage": usage_from(self._usage)})
        return out

    def _error(self, payload: JSON) -> list[JSON]:
        raise StreamError(stream_error(payload.get("error")))

    # ---- chunks ------------------------------------------------------------------------------------

    def _arguments(self, slot: int, fragment: str) -> JSON:
        return self._chunk({"tool_calls": [{"index": slot, "function": {"arguments": fragment}}]})

    def _chunk(self, delta: JSON, *, finish: str | None = None) -> JSON:
        chunk: JSON = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI: every chunk but the last carries `usage: null`
        return chunk


_HANDLERS = {
    "message_start": StreamTranslator._message_start,
    "content_block_start": StreamTranslator._block_start,
    "content_block_delta": StreamTranslator._block_delta,
    "content_block_stop": StreamTranslator._block_stop,
    "message_delta": StreamTranslator._message_delta,
    "message_stop": StreamTranslator._message_stop,
    "error": StreamTranslator._error,
}
