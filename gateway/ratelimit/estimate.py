"""A cheap estimate of a call's prompt tokens, taken from token limits before the call; the layers settle the
difference with the vendor's reported usage afterwards. About four characters per token (the usual English
ratio), plus a few tokens per message for the role and framing; token-array prompts count exactly."""

from __future__ import annotations

from typing import Any

from gateway.types import ChatCall

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return 0


def _input_tokens(value: Any) -> int:
    """An embeddings `input` or a completions `prompt`: a string, a list of strings, or token arrays."""
    if isinstance(value, str):
        return -(-len(value) // CHARS_PER_TOKEN)
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return len(value)
        return sum(_input_tokens(v) for v in value)
    return 0


def prompt_tokens(call: ChatCall) -> int:
    body = call.body
    if call.kind == "embedding":
        return _input_tokens(body.get("input"))
    if call.kind == "completion":
        return _input_tokens(body.get("prompt"))
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    chars = 0
    for message in messages:
        if isinstance(message, dict):
            chars += _text_chars(message.get("content"))
    return -(-chars // CHARS_PER_TOKEN) + PER_MESSAGE * len(messages)
