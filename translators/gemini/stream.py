"""Gemini `streamGenerateContent?alt=sse` events -> OpenAI `chat.completion.chunk` dicts (wire-formats §5.4, §6.9).

Each event is a whole `GenerateContentResponse` fragment: text parts are increments, `functionCall` parts arrive
complete (one tool-call chunk each, with id, name and the full arguments), `usageMetadata` is a running total
(last wins) and `finishReason` is final only at the end. Gemini sends no end marker, so `finish()` emits each
choice's finish chunk and the usage chunk; a stream that stops before any candidate said why it finished was cut
off and raises `StreamError`, so a truncated answer never looks complete. An `{"error": ...}` fragment raises
`StreamError` too. Tool-call ids come from the `new_tool_call_id` callable the caller passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from translators.errors import StreamError, VendorError
from translators.gemini.errors import parse_error
from translators.gemini.response import blocked_reason, finish_reason, parts_of, tool_call, usage
from translators.sse import SSEEvent

JSON = dict[str, Any]


class _Choice:
    __slots__ = ("finish", "tool_calls")

    def __init__(self) -> None:
        self.tool_calls = 0
        self.finish: str | None = None


class StreamTranslator:
    """Feed SSE events, get OpenAI chunks. State: the choices seen (in order), the last usage, a block reason."""

    __slots__ = ("_base", "_blocked", "_choices", "_include_usage", "_new_id", "_seen_any", "_usage")

    def __init__(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        include_usage: bool,
        new_tool_call_id: Callable[[], str],
    ) -> None:
        self._base: JSON = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self._include_usage = include_usage
        self._new_id = new_tool_call_id
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None
        self._blocked: str | None = None
        self._seen_any = False

    def _chunk(self, index: int, delta: JSON, finish: str | None = None) -> JSON:
        chunk = {
            **self._base,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def feed(self, event: SSEEvent) -> list[JSON]:
        data = event.data
        if not data.strip():
            return []
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamError(VendorError("bad_response", "Gemini sent a stream event that is not JSON")) from None
        if isinstance(body, list) and len(body) == 1:  # some Google front ends wrap the object in an array
            body = body[0]
        if not isinstance(body, dict):
            raise StreamError(VendorError("bad_response", "Gemini sent a stream event that is not an object"))
        if "error" in body:
            error = body["error"]
            status = error.get("code") if isinstance(error, dict) else None
            raise StreamError(parse_error(status if isinstance(status, int) else 500, body, {}))
        self._seen_any = True
        if body.get("usageMetadata") is not None:
            self._usage = body["usageMetadata"]
        if self._blocked is None:
            self._blocked = blocked_reason(body)
        out: list[JSON] = []
        found = body.get("candidates")
        for position, candidate in enumerate(found if isinstance(found, list) else ()):
            if not isinstance(candidate, dict):
                continue
            own_index = candidate.get("index")
            index = own_index if isinstance(own_index, int) else position
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice()
                out.append(self._chunk(index, {"role": "assistant", "content": ""}))
            texts: list[str] = []
            thoughts: list[str] = []
            for part in parts_of(candidate):
                if isinstance(part.get("functionCall"), dict):
                    if texts:
                        out.append(self._chunk(index, {"content": "".join(texts)}))
                        texts = []
                    call = tool_call(part, self._new_id())
                    out.append(self._chunk(index, {"tool_calls": [{"index": choice.tool_calls, **call}]}))
                    choice.tool_calls += 1
                    continue
                text = part.get("text")
                if isinstance(text, str) and text:
                    (thoughts if part.get("thought") is True else texts).append(text)
            if thoughts:
                out.append(self._chunk(index, {"reasoning_content": "".join(thoughts)}))
            if texts:
                out.append(self._chunk(index, {"content": "".join(texts)}))
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason:
                choice.finish = reason
        return out

    def finish(self) -> list[JSON]:
        out: list[JSON] = []
        if not self._choices:
            if self._blocked is None:
                message = "the Gemini stream ended before any answer" if not self._seen_any else "no candidates"
                raise StreamError(VendorError("connection" if not self._seen_any else "bad_response", message))
            out.append(self._chunk(0, {"role": "assistant", "content": ""}))
            out.append(self._chunk(0, {}, "content_filter"))
        for index in sorted(self._choices):
            choice = self._choices[index]
            if choice.finish is None:
                raise StreamError(VendorError("connection", "the Gemini stream ended before it was complete"))
            out.append(self._chunk(index, {}, finish_reason(choice.finish, called=choice.tool_calls > 0)))
        if self._include_usage:
            out.append({**self._base, "choices": [], "usage": usage(self._usage)})
        return out
