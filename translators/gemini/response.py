"""Gemini `GenerateContentResponse` -> OpenAI `chat.completion` (wire-formats §6.6-6.8, traps 14, 16-19, 24).

One choice per candidate. Text parts are joined, thought parts become the `reasoning_content` extension, each
`functionCall` part becomes a tool call. Gemini gives no tool-call ids, so the caller passes ids in
(`count_tool_calls` says how many); a `thoughtSignature` is carried inside the id (see `request.join_signature`).
A blocked prompt (`promptFeedback.blockReason`, no candidates) is one choice with empty content and
`finish_reason: "content_filter"`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from translators.gemini.request import join_signature

JSON = dict[str, Any]

FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def finish_reason(reason: Any, *, called: bool) -> str:
    """Gemini finishReason -> OpenAI finish_reason. Gemini has no tool-call reason: calls come with STOP."""
    if reason == "MAX_TOKENS":
        return "length"
    if reason in FILTERED:
        return "content_filter"
    return "tool_calls" if called else "stop"


def usage(metadata: Any) -> JSON:
    """usageMetadata -> OpenAI usage: completion includes thoughts; prompt includes cached and tool-use prompt."""
    meta = metadata if isinstance(metadata, dict) else {}
    prompt = _count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount")
    completion = _count(meta, "candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(meta, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _count(meta: JSON, key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def candidates(body: JSON) -> list[JSON]:
    """The answer's candidates, sorted by index; a non-list or a non-object candidate is a bad answer."""
    found = body.get("candidates")
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        raise ValueError("`candidates` is not a list of objects")
    return sorted(found, key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)


def parts_of(candidate: JSON) -> Iterator[JSON]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if isinstance(parts, list):
        yield from (p for p in parts if isinstance(p, dict))


def function_calls(parts: Sequence[JSON]) -> Iterator[JSON]:
    for part in parts:
        call = part.get("functionCall")
        if isinstance(call, dict):
            yield part


def count_tool_calls(body: JSON) -> int:
    """How many tool-call ids `parse_response` will need."""
    return sum(1 for c in candidates(body) for _ in function_calls(list(parts_of(c))))


def tool_call(part: JSON, call_id: str) -> JSON:
    """One functionCall part -> an OpenAI tool call (its own id when Gemini sent one, else `call_id`)."""
    call = part["functionCall"]
    own = call.get("id")
    base = own if isinstance(own, str) and own else call_id
    signature = part.get("thoughtSignature")
    args = call.get("args")
    return {
        "id": join_signature(base, signature if isinstance(signature, str) else None),
        "type": "function",
        "function": {
            "name": str(call.get("name") or ""),
            "arguments": orjson.dumps(args if isinstance(args, dict) else {}).decode(),
        },
    }


def blocked_reason(body: JSON) -> str | None:
    feedback = body.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return reason if isinstance(reason, str) and reason else None


def parse_response(body: JSON, *, completion_id: str, created: int, model: str, tool_call_ids: Sequence[str]) -> JSON:
    """The OpenAI answer. Raises ValueError for a body that is not a Gemini answer (the gateway's 502)."""
    ids = iter(tool_call_ids)
    choices: list[JSON] = []
    found = candidates(body)
    for position, candidate in enumerate(found):
        index = candidate.get("index") if isinstance(candidate.get("index"), int) else position
        parts = list(parts_of(candidate))
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[JSON] = []
        for part in parts:
            text = part.get("text")
            if isinstance(part.get("functionCall"), dict):
                calls.append(tool_call(part, next(ids, f"call_{len(calls)}")))
            elif isinstance(text, str) and text:
                (thoughts if part.get("thought") is True else texts).append(text)
        message: JSON = {
            "role": "assistant",
            "content": "".join(texts) if texts or not calls else None,
            "refusal": None,
        }
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        if calls:
            message["tool_calls"] = calls
        reason = finish_reason(candidate.get("finishReason"), called=bool(calls))
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reason})
    if not found:
        if blocked_reason(body) is None:
            raise ValueError("the answer has neither candidates nor a promptFeedback.blockReason")
        message = {"role": "assistant", "content": "", "refusal": None}
        choices.append({"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"})
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
        "usage": usage(body.get("usageMetadata")),
    }
