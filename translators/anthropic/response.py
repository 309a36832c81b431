"""Anthropic Message -> OpenAI chat.completion (wire-formats §6.6-6.8), and the models list -> OpenAI Models.

Text blocks are joined into `content`; `tool_use` blocks become `tool_calls` (ids kept, `input` serialised as the
`arguments` string); thinking is exposed as `reasoning_content` (the text) and `thinking_blocks` (the blocks with
their signatures, which the caller echoes back on the assistant message to continue a tool round while
reasoning), as OpenAI-compatible gateways do. The id, clock and model are passed in: the vendor gives no
`created`, and the response names the model id the caller was routed to.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(usage: JSON, key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def usage_from(usage: Any) -> JSON:
    """Anthropic usage -> OpenAI usage. `input_tokens` excludes cache reads and writes; OpenAI's
    `prompt_tokens` includes them, with the cached subset in `prompt_tokens_details.cached_tokens`."""
    if not isinstance(usage, dict):
        usage = {}
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + cache_write
    completion = _count(usage, "output_tokens")
    details: JSON = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_write_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def arguments(value: Any) -> str:
    """A tool_use `input` object as OpenAI's `arguments` string (compact, UTF-8 kept)."""
    return json.dumps(value if value is not None else {}, ensure_ascii=False, separators=(",", ":"))


def thinking_entry(block: JSON, index: int) -> JSON:
    """One `thinking_blocks` entry; `index` lets stream accumulators merge entries as they do tool calls."""
    if block.get("type") == "redacted_thinking":
        return {"index": index, "type": "redacted_thinking", "data": block.get("data", "")}
    return {
        "index": index,
        "type": "thinking",
        "thinking": block.get("thinking", ""),
        "signature": block.get("signature", ""),
    }


def parse_response(body: JSON, *, completion_id: str, created: int, model: str) -> JSON:
    """An Anthropic `message` -> an OpenAI `chat.completion`. Raises ValueError on a body that is not one."""
    blocks = body.get("content") if isinstance(body, dict) else None
    if not isinstance(blocks, list) or body.get("type", "message") != "message":
        raise ValueError("the answer is not an Anthropic message")
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[JSON] = []
    tool_calls: list[JSON] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments(block.get("input"))},
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            if kind == "thinking":
                reasoning.append(str(block.get("thinking", "")))
            thinking.append(thinking_entry(block, len(thinking)))
    content = "".join(texts)
    message: JSON = {
        "role": "assistant",
        "content": None if not content and tool_calls else content,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(body.get("stop_reason"))}
        ],
        "usage": usage_from(body.get("usage")),
        "system_fingerprint": None,
    }


def parse_models(body: JSON) -> list[JSON]:
    """`GET /v1/models` page -> OpenAI `Model` objects (`created` from `created_at`, RFC 3339)."""
    data = body.get("data") if isinstance(body, dict) else None
    models: list[JSON] = []
    for item in data if isinstance(data, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        models.append(
            {"id": item["id"], "object": "model", "created": _unix(item.get("created_at")), "owned_by": "anthropic"}
        )
    return models


def _unix(value: Any) -> int:
    if not isinstance(value, str):
        return 0
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
